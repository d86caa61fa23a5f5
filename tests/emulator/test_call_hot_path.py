"""What every call does, done without the slow readings: the call log's path, the caller asked about once.

The routes read the path, the ``Host`` and the token straight from the ASGI scope, and the caller is looked up once
per call (the call log and the handler both ask); these check the answers are the ones the slow way gave.
"""

from __future__ import annotations

import pytest
from emulator_harness import Emulator
from starlette.datastructures import URL
from starlette.requests import Request

from runcomfy.emulator.routing import authenticated, bearer, origin_of, url_path
from runcomfy.emulator.state import EmulatorState


def scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, object]:
    return {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "server": ("127.0.0.1", 8188),
    }


@pytest.mark.parametrize(
    "path",
    ["/v1/requests/abc/status", "/v1/requests/a?b#c/status", "/v1/requests/a\\b/status", "//x", "/ü/%41"],
)
def test_the_call_log_path_is_what_starlette_would_have_parsed(path: str) -> None:
    request = Request(scope(path, [(b"host", b"127.0.0.1:8188")]))
    assert url_path(request) == URL(scope=request.scope).path


def test_the_origin_and_the_token_are_read_as_the_headers_give_them() -> None:
    headers = [
        (b"host", b"localhost:8188"),
        (b"authorization", b"Bearer  tok "),
        (b"authorization", b"Bearer x"),
    ]
    request = Request(scope("/", headers))
    assert origin_of(request) == "http://localhost:8188"
    assert bearer(request) == "tok"  # the first Authorization header, as request.headers.get gave it
    assert bearer(Request(scope("/", [(b"authorization", b"Basic abc")]))) is None
    assert bearer(Request(scope("/", []))) is None


def test_the_caller_is_looked_up_again_once_a_token_is_added_or_forgotten() -> None:
    state = EmulatorState()
    request = Request(scope("/", [(b"host", b"127.0.0.1:8188"), (b"authorization", b"Bearer late-token")]))
    assert authenticated(state, request) is None
    user = state.add_static_token("late-token")  # added while the call is under way
    assert authenticated(state, request) == user
    state.reset()  # static tokens stay
    assert authenticated(state, request) == user
    state.close()


def test_a_status_call_is_logged_with_its_path_and_caller(emulator: Emulator) -> None:
    request_id = emulator.submit_ok("runcomfy/emulator/echo", {})
    assert emulator.status(request_id).status_code == 200
    assert emulator.status(request_id, token="not-a-token").status_code == 401
    calls = emulator.control("GET", "calls?route=status").json()["calls"]
    assert [(c["path"], c["authorized"], c["status"]) for c in calls] == [
        (f"/v1/requests/{request_id}/status", True, 200),
        (f"/v1/requests/{request_id}/status", False, 401),
    ]
