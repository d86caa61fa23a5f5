"""Bad input to any route is a 4xx in the service's error shape, never a 500, and never breaks a later call."""

from __future__ import annotations

import base64
import struct
import zlib

import httpx
import pytest
from emulator_harness import Emulator

ECHO = "runcomfy/emulator/echo"
FAIL = "runcomfy/emulator/fail"
SLOW = "runcomfy/emulator/slow"
KONTEXT = "blackforestlabs/flux-1-kontext/pro/edit"
DEEP = b"[" * 100_000 + b"]" * 100_000
JUST_TOO_DEEP = b"[" * 65 + b"]" * 65
LOGIN_LIMIT = 16 * 1024


def assert_service_error(response: httpx.Response, status: int | None = None) -> dict:
    """A 4xx (``status`` if given) with exactly the service's three error fields."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    if status is not None:
        assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "error_message", "detail"}
    assert body["error_code"] == response.status_code * 1000 + 1
    return body


def post_raw(emulator: Emulator, url: str, content: bytes | str) -> httpx.Response:
    headers = {**emulator.auth(), "content-type": "application/json"}
    return emulator.http.post(url, content=content, headers=headers)


def assert_still_healthy(emulator: Emulator) -> None:
    """Every read-back route still answers: nothing bad was stored."""
    for path in ("requests", "config", "clock", "faults", "calls"):
        assert emulator.control("GET", path).status_code == 200, path
    assert emulator.submit(ECHO, {"still": "alive"}).status_code == 200


def body_routes(emulator: Emulator) -> list[str]:
    """Every route that parses a JSON body."""
    rid = emulator.submit_ok(SLOW, {"seconds": 60})
    return [
        f"{emulator.base}/models/{ECHO}",
        f"{emulator.web}/api/cli-auth/poll",
        *(f"{emulator.web}/_emulator/{path}" for path in ("faults", "config", "clock", "tokens")),
        f"{emulator.web}/_emulator/requests/{rid}/fail",
    ]


# -- JSON the emulator could not keep ----------------------------------------------------------------------


@pytest.mark.parametrize("body", [DEEP, JUST_TOO_DEEP], ids=["deeper-than-python-recurses", "65-levels"])
def test_deeply_nested_json_is_a_422_on_every_route_that_reads_json(emulator: Emulator, body: bytes) -> None:
    for url in body_routes(emulator):
        response = post_raw(emulator, url, body)
        if url.endswith("/cli-auth/poll") and len(body) > LOGIN_LIMIT:
            assert_service_error(response, 413)  # the login poll's limit is smaller than this body
            continue
        assert assert_service_error(response, 422)["detail"][0]["type"] == "json_too_deep", url
    assert_still_healthy(emulator)


def test_sixty_four_levels_of_nesting_are_still_accepted(emulator: Emulator) -> None:
    nested: object = "bottom"
    for _ in range(63):
        nested = [nested]
    rid = emulator.submit_ok(ECHO, {"deep": nested})  # the object itself is the 64th level
    assert emulator.result(rid).json()["output"] == {"deep": nested}


@pytest.mark.parametrize(
    ("text", "loc"),
    [
        ('{"seed": NaN}', ["body", "seed"]),
        ('{"x": Infinity}', ["body", "x"]),
        ('{"x": [1, -Infinity]}', ["body", "x", 1]),
        ('{"x": {"y": 1e999}}', ["body", "x", "y"]),
    ],
)
def test_non_finite_numbers_are_a_422_naming_the_field(emulator: Emulator, text: str, loc: list) -> None:
    response = post_raw(emulator, f"{emulator.base}/models/{ECHO}", text)

    detail = assert_service_error(response, 422)["detail"]
    assert detail == [{"loc": loc, "msg": "Input should be a finite number", "type": "finite_number"}]
    assert_still_healthy(emulator)  # before the fix, the stored NaN broke the result and the request listing


def test_non_finite_numbers_are_refused_by_every_route_that_reads_json(emulator: Emulator) -> None:
    for url in body_routes(emulator):
        response = post_raw(emulator, url, '{"advance": NaN, "durations": {"*": 1e999}, "x": Infinity}')
        assert assert_service_error(response, 422)["detail"][0]["type"] == "finite_number", url
    assert_still_healthy(emulator)


def test_a_lone_surrogate_is_a_422_instead_of_a_result_that_cannot_be_sent(emulator: Emulator) -> None:
    emulator.control("POST", "config", {"durations": {"*": 0}})
    for text in ('{"x": "\\ud800"}', '{"\\udfff": 1}'):
        response = post_raw(emulator, f"{emulator.base}/models/{ECHO}", text)
        assert assert_service_error(response, 422)["detail"][0]["type"] == "string_unicode"
    response = post_raw(emulator, f"{emulator.base}/models/{FAIL}", '{"message": "\\ud83d"}')
    assert_service_error(response, 422)
    assert_still_healthy(emulator)


def test_a_body_of_a_million_tiny_values_is_a_422(emulator: Emulator) -> None:
    response = post_raw(emulator, f"{emulator.base}/models/{ECHO}", b'{"x": [' + b"[]," * 1_000_000 + b"[]]}")
    assert assert_service_error(response, 422)["detail"][0]["type"] == "json_too_large"


@pytest.mark.parametrize("body", [b"[1]", b'"text"', b"3", b"null", b"\xff\xfe{"])
def test_non_object_and_undecodable_bodies_are_4xx_on_every_route(emulator: Emulator, body: bytes) -> None:
    for url in body_routes(emulator):
        if url.endswith("/_emulator/faults") and body == b"[1]":
            continue  # a list of faults is valid; its item is refused below
        assert_service_error(post_raw(emulator, url, body))
    assert_service_error(post_raw(emulator, f"{emulator.web}/_emulator/faults", b"[1]"), 400)
    assert_still_healthy(emulator)


# -- the control plane's settings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        {"durations": {"*": -1}},
        {"durations": {"*": 10**12}},
        {"durations": {"*": True}},
        {"durations": {"*": "1"}},
        {"durations": [1]},
        {"workers": True},
        {"workers": 0},
        {"workers": 2.5},
        {"workers": 10**6},
        {"device_expires_s": False},
        {"device_expires_s": 10**30},
        {"device_poll_interval_s": -1},
        {"device_poll_interval_s": 10**9},
    ],
)
def test_config_refuses_booleans_negative_and_absurd_values_and_keeps_its_settings(
    emulator: Emulator, config: dict
) -> None:
    before = emulator.control("GET", "config").json()
    assert_service_error(emulator.control("POST", "config", config), 400)
    assert emulator.control("GET", "config").json() == before


def test_config_refuses_an_overflowing_duration_whole(emulator: Emulator) -> None:
    before = emulator.control("GET", "config").json()
    response = post_raw(emulator, f"{emulator.web}/_emulator/config", '{"durations": {"*": 1e999}}')
    assert_service_error(response, 422)
    response = emulator.control("POST", "config", {"workers": 1, "durations": {ECHO: 0, SLOW: -5}})
    assert_service_error(response, 400)  # all or nothing: the valid parts were not applied either
    assert emulator.control("GET", "config").json() == before


@pytest.mark.emulator_config(workers=3, durations={SLOW: 7}, device_expires_s=120, device_poll_interval_s=5)
def test_reset_restores_the_settings_the_emulator_was_started_with(emulator: Emulator) -> None:
    started = emulator.control("GET", "config").json()
    assert (
        started
        | {
            "workers": 3,
            "durations": {SLOW: 7.0},
            "device_expires_s": 120,
            "device_poll_interval_s": 5,
        }
        == started
    )
    changed = {
        "workers": 1,
        "durations": {"*": 0},
        "device_expires_s": 1,
        "device_poll_interval_s": 0,
        "cold_start_s": 9,
        "deployment_run_s": None,
        "webhook_duplicate": True,
    }
    assert emulator.control("POST", "config", changed).status_code == 200

    assert emulator.control("POST", "reset").status_code == 200

    assert emulator.control("GET", "config").json() == started
    login = emulator.http.post(f"{emulator.web}/api/cli-auth/start").json()
    assert (login["expires_in"], login["poll_interval"]) == (120, 5)


@pytest.mark.parametrize(
    "body",
    [{"advance": 1e308}, {"advance": 10**400}, {"advance": True}, {"advance": "30"}, {"advance": -1}, {}, []],
)
def test_clock_refuses_endless_negative_and_non_numeric_advances(emulator: Emulator, body: object) -> None:
    before = emulator.control("GET", "clock").json()
    assert_service_error(emulator.control("POST", "clock", body), 400)
    assert emulator.control("GET", "clock").json() == before


def test_clock_accepts_up_to_ten_years_a_step_and_stays_within_valid_dates(emulator: Emulator) -> None:
    ten_years = 10 * 365 * 86400
    rid = emulator.submit_ok(ECHO, {})
    assert emulator.control("POST", "clock", {"advance": ten_years}).status_code == 200
    assert_service_error(emulator.control("POST", "clock", {"advance": ten_years + 1}), 400)
    for _ in range(99):
        assert emulator.control("POST", "clock", {"advance": ten_years}).status_code == 200
    assert_service_error(emulator.control("POST", "clock", {"advance": ten_years}), 400)
    assert emulator.result(rid).status_code == 200
    started = emulator.http.post(f"{emulator.web}/api/cli-auth/start")
    assert started.status_code == 200


# -- faults -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        {"route": "me", "retry_after": "1\r\nSet-Cookie: a=b"},
        {"route": "me", "retry_after": "1\n"},
        {"route": "me", "retry_after": "\x00"},
        {"route": "me", "retry_after": 1e308},
        {"route": "me", "retry_after": True},
        {"route": "file", "kind": "redirect", "location": "https://x.example/\r\nX-Injected: 1"},
        {"route": "file", "kind": "redirect", "location": "https://x.example/\x7f"},
        {"route": "file", "kind": "redirect", "location": "https://x.example/€"},
        {"route": "file", "kind": "redirect", "location": ""},
        {"route": "file", "kind": "redirect", "location": 42},
        {"route": "me", "times": True},
        {"route": "me", "status": 101},
        {"route": "me", "status": True},
        {"route": "me", "kind": "latency", "seconds": 1e308},
        {"route": "me", "kind": "latency", "seconds": -1},
        {"route": "me", "kind": "latency", "seconds": "5"},
        {"route": ["me"]},
        {"route": "me", "request_id": 5},
    ],
)
def test_faults_that_would_break_the_response_are_refused(emulator: Emulator, fault: dict) -> None:
    assert_service_error(emulator.control("POST", "faults", fault), 400)
    assert emulator.control("GET", "faults").json()["faults"] == []
    assert emulator.http.get(f"{emulator.web}/api/auth/me", headers=emulator.auth()).status_code == 200


def test_a_fault_with_a_status_that_has_no_body_answers_without_one(emulator: Emulator) -> None:
    for status in (204, 304):
        fault = {"route": "me", "kind": "error", "status": status, "retry_after": 2}
        assert emulator.control("POST", "faults", fault).status_code == 200
        response = emulator.http.get(f"{emulator.web}/api/auth/me", headers=emulator.auth())
        assert response.status_code == status and response.content == b""
        assert response.headers["retry-after"] == "2"
    assert emulator.http.get(f"{emulator.web}/api/auth/me", headers=emulator.auth()).status_code == 200


def test_a_redirect_fault_keeps_any_printable_location(emulator: Emulator) -> None:
    location = "https://evil.example/a b?c=[d]&e=\\f"
    fault = {"route": "me", "kind": "redirect", "location": location}
    assert emulator.control("POST", "faults", fault).status_code == 200
    response = emulator.http.get(f"{emulator.web}/api/auth/me", headers=emulator.auth())
    assert response.status_code == 302 and response.headers["location"] == location


# -- query strings, paths and methods ------------------------------------------------------------------------


@pytest.mark.parametrize("since", ["9" * 5000, "¹", "٣", "-1", "1.5", ""])
def test_call_log_refuses_a_since_that_is_not_a_plain_sequence_number(emulator: Emulator, since: str) -> None:
    assert_service_error(emulator.http.get(f"{emulator.web}/_emulator/calls", params={"since": since}), 400)


def test_unknown_paths_and_methods_answer_in_the_service_shape(emulator: Emulator) -> None:
    assert_service_error(emulator.http.get(f"{emulator.web}/no/such/path"), 404)
    response = emulator.http.delete(f"{emulator.web}/api/auth/me", headers=emulator.auth())
    assert_service_error(response, 405)
    assert "GET" in response.headers["allow"]


def test_a_bug_answers_the_service_500_shape_without_a_traceback(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_token: str | None) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(emulator.server.state, "authenticate", broken)
    response = emulator.http.get(f"{emulator.web}/api/auth/me", headers=emulator.auth())
    assert response.status_code == 500
    assert set(response.json()) == {"error_code", "error_message", "detail"}
    assert response.json()["error_code"] == 500001
    assert "secret internals" not in response.text and "Traceback" not in response.text


@pytest.mark.parametrize("params", [{"limit": "9" * 5000}, {"offset": "¹"}, {"limit": "1e3"}])
def test_models_list_refuses_unparseable_paging(emulator: Emulator, params: dict) -> None:
    response = emulator.http.get(f"{emulator.base}/models", params=params, headers=emulator.auth())
    assert_service_error(response, 422)


# -- images to edit -----------------------------------------------------------------------------------------


def png(width: int, height: int, idat: bytes) -> bytes:
    """A PNG with valid chunk checksums around ``idat``, whatever ``idat`` holds."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "image",
    [
        png(64, 64, b"not zlib at all"),  # passes a container check, fails to decode
        png(64, 64, zlib.compress(b"\x00" * 10)),  # truncated pixel data
        png(8000, 8000, zlib.compress(b"\x00" * 100)),  # 64 megapixels declared in a few bytes
    ],
    ids=["corrupt", "truncated", "too-many-pixels"],
)
def test_an_image_that_cannot_be_edited_is_refused_at_submit_not_at_download(
    emulator: Emulator, image: bytes
) -> None:
    emulator.control("POST", "config", {"durations": {"*": 0}})
    uri = "data:image/png;base64," + base64.b64encode(image).decode()

    response = emulator.submit(KONTEXT, {"prompt": "hat", "image_url": uri})

    assert assert_service_error(response, 422)["detail"][0]["loc"] == ["body", "image_url"]
