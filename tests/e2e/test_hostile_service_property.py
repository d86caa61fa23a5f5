"""Whatever a hostile or broken service answers, the command ends cleanly.

Hypothesis feeds arbitrary status codes, JSON (and non-JSON) bodies, redirects and headers from a loopback server
to ``status`` and ``result`` (which downloads). For every answer: no traceback and no "unexpected error", an exit
code from the table, the token in no output and no file the command wrote, no file outside the output directory,
no partial file, and in json mode nothing but JSON. The CLI runs in this process (``run_cli``), so a hundred
answers take seconds; retries are off (``RUNCOMFY_RETRY_WINDOW=0``), so nothing waits.
"""

from __future__ import annotations

import io
import json
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hostile_server import HostileServer, hostile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runcomfy.cli.context import AppContext
from runcomfy.cli.exit_codes import possible_codes
from runcomfy.cli.main import hoist_global_options, run_cli
from runcomfy.cli.output import Output

TOKEN = 'rc-canary-Prop-7f3"q\\z'  # a quote and a backslash: JSON escapes both
ECHOES = [TOKEN, TOKEN.upper(), TOKEN.lower(), json.dumps(TOKEN)[1:-1]]


@pytest.fixture(scope="module")
def service() -> Iterator[HostileServer]:
    yield from hostile()


def json_values() -> st.SearchStrategy[Any]:
    leaves = (
        st.none()
        | st.booleans()
        | st.integers(-(2**70), 2**70)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=20)
        | st.sampled_from(ECHOES)
    )
    return st.recursive(
        leaves,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
        ),
        max_leaves=15,
    )


def file_urls(origin: str) -> st.SearchStrategy[str]:
    names = st.sampled_from(
        ["a.png", "b.bin", "..%2f..%2fescape.txt", f"{TOKEN}.png", "", "x?y#z", "%00.png"]
    )
    return names.map(lambda name: f"{origin}/files/{name}") | st.sampled_from(
        ["https://evil.example.com/a.png", "http://127.0.0.1:1/x.png", "https://cdn.runcomfy.net:8443/a.png"]
    )


STATUS_CODES = st.sampled_from(
    [200, 200, 200, 202, 204, 301, 302, 307, 400, 401, 403, 404, 408, 409, 422, 429, 500, 503]
)
HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)


@st.composite
def answers(draw: st.DrawFn, origin: str) -> dict[str, Any]:
    """One hostile service: the result's answer and each file's answer."""
    record = {
        "request_id": draw(st.sampled_from(["r1", "r1", "other", *ECHOES])),
        "status": draw(
            st.sampled_from(["completed", "succeeded", "failed", "in_progress", "COMPLETED", "odd", *ECHOES])
        ),
        "output": draw(st.lists(file_urls(origin), max_size=3) | json_values()),
        "error": draw(json_values()),
    }
    if draw(st.integers(0, 2)):  # two in three: a finished request whose files are the hostile part
        record["request_id"], record["status"] = "r1", "completed"
        record["output"] = draw(st.lists(file_urls(origin), min_size=1, max_size=3))
    body = draw(st.sampled_from(["record", "record", "record", "raw-json", "bytes", "huge-number"]))
    if body == "record":
        raw: bytes = json.dumps(record).encode()
    elif body == "raw-json":
        raw = json.dumps(draw(json_values())).encode()
    elif body == "huge-number":
        raw = b'{"request_id": "r1", "status": "completed", "output": {"n": 1e999, "m": -1e400}}'
    else:
        raw = draw(st.binary(max_size=64))
    headers = {
        "Content-Type": draw(st.sampled_from(["application/json", "text/html", "", "application/json; x"]))
    }
    if draw(st.booleans()):
        headers["Retry-After"] = draw(HEADER_TEXT)
    status = 200 if record["status"] == "completed" and body == "record" else draw(STATUS_CODES)
    if 300 <= status < 400:
        headers["Location"] = draw(
            HEADER_TEXT | st.sampled_from(["mailto:x@y.z", "http:foo", f"{origin}/v1/x"])
        )
    files = {}
    for name in ("a.png", "b.bin"):
        file_status = draw(st.sampled_from([200, 200, 301, 302, 302, 307, 404, 500]))
        file_headers = {
            "Content-Type": draw(st.sampled_from(["image/png", "application/octet-stream", "text/plain"]))
        }
        if 300 <= file_status < 400:
            file_headers["Location"] = draw(
                st.sampled_from(
                    [
                        "mailto:x@y.z",
                        "data:,x",
                        "about:blank",
                        "http:foo",
                        "https:\\\\evil.com/x",
                        "http://[::1",
                        f"{origin}/files/b.bin",
                        "//evil.example.com/x",
                        "",
                    ]
                )
                | HEADER_TEXT
            )
        files[name] = (file_status, draw(st.binary(max_size=256)), file_headers)
    return {"status": status, "body": raw, "headers": headers, "files": files}


def run_in_process(args: list[str], home: Path, service: HostileServer, mode: str) -> tuple[int, str, str]:
    env = {
        "HOME": str(home),
        "RUNCOMFY_CONFIG_DIR": str(home / "config"),
        "RUNCOMFY_STATE_DIR": str(home / "state"),
        "RUNCOMFY_CACHE_DIR": str(home / "cache"),
        "RUNCOMFY_MODEL_API_BASE": service.base,
        "RUNCOMFY_WEB_BASE": service.origin,
        "RUNCOMFY_TOKEN": TOKEN,
        "RUNCOMFY_RETRY_WINDOW": "0",
        "NO_COLOR": "1",
    }
    stdout, stderr = io.StringIO(), io.StringIO()
    output = Output(mode, stdout=stdout, stderr=stderr, env=env, stderr_isatty=False)  # type: ignore[arg-type]
    logger = logging.getLogger("runcomfy")
    saved = (list(logger.handlers), logger.propagate)
    try:
        code = run_cli(hoist_global_options(["--output", mode, *args]), AppContext(output, env=env))
    finally:
        logger.handlers, logger.propagate = saved
    return code, stdout.getvalue(), stderr.getvalue()


def written_files(home: Path) -> list[Path]:
    return [p for p in home.rglob("*") if p.is_file()]


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.data(), mode=st.sampled_from(["pretty", "json"]), command=st.sampled_from(["result", "status"])
)
def test_any_answer_from_the_service_ends_cleanly(
    service: HostileServer, data: st.DataObject, mode: str, command: str
) -> None:
    answer = data.draw(answers(service.origin))
    route = "/v1/requests/r1/result" if command == "result" else "/v1/requests/r1/status"
    service.answer("GET", route, answer["status"], answer["body"], answer["headers"])
    for name, (status, body, headers) in answer["files"].items():
        service.answer("GET", f"/files/{name}", status, body, headers)

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        out = home / "out"
        args = [command, "r1", "--output-dir", str(out)] if command == "result" else [command, "r1"]
        code, stdout, stderr = run_in_process(args, home, service, mode)

        assert code in possible_codes(), (code, stderr)
        assert "Traceback" not in stderr and "unexpected error" not in stderr, stderr
        for echoed in ECHOES:
            assert echoed.lower() not in (stdout + stderr).lower()
        files = written_files(home)
        for path in files:
            assert (
                path.is_relative_to(out)
                or path.is_relative_to(home / "state")
                or path.is_relative_to(home / "cache")
            ), path
            assert ".part-" not in path.name, path
            assert TOKEN.lower() not in path.name.lower()
            if not path.is_relative_to(out):  # what the command wrote of its own (journal, cache): no token
                assert TOKEN.encode() not in path.read_bytes(), path
        if mode == "json":
            if stdout:
                json.loads(stdout, parse_constant=lambda name: pytest.fail(f"{name} in stdout"))
                assert stdout.count("\n") == 1
            if stderr:
                json.loads(stderr)
                assert stderr.count("\n") == 1
