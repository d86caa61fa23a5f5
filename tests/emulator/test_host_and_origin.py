"""The approval page decides only on its two buttons, and the emulator answers only to its own names.

A page on another site can reach a loopback server through DNS rebinding (its own name re-pointed at 127.0.0.1);
the browser then sends that name in ``Host`` and ``Origin``. These tests play that page with httpx, which
sends the ``Host`` header it is given.
"""

from __future__ import annotations

import httpx
import pytest
from emulator_harness import Emulator

EVIL = "evil.example"


def start(emulator: Emulator) -> dict:
    response = emulator.http.post(f"{emulator.web}/api/cli-auth/start")
    assert response.status_code == 200, response.text
    return response.json()


def poll(emulator: Emulator, device_code: str) -> httpx.Response:
    return emulator.http.post(f"{emulator.web}/api/cli-auth/poll", json={"device_code": device_code})


def post_form(emulator: Emulator, fields: list[tuple[str, str]], **headers: str) -> httpx.Response:
    body = "&".join(f"{name}={value}" for name, value in fields)
    headers = {"content-type": "application/x-www-form-urlencoded", **headers}
    return emulator.http.post(f"{emulator.web}/cli-auth", content=body, headers=headers)


def assert_service_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error_code", "error_message", "detail"}


# -- the two buttons -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "actions",
    [["deny_x"], ["authorize_x"], ["Authorize"], ["authorize%20"], ["deny", "authorize"], [""], []],
    ids=["deny_x", "authorize_x", "capitalised", "trailing-space", "both", "empty", "missing"],
)
def test_only_an_exact_authorize_or_deny_decides_anything_else_is_400_and_stays_pending(
    emulator: Emulator, actions: list[str]
) -> None:
    body = start(emulator)
    fields = [("user_code", body["user_code"])] + [("action", action) for action in actions]

    page = post_form(emulator, fields)

    assert page.status_code == 400
    assert page.headers["content-type"].startswith("text/html")
    assert "Device authorized" not in page.text and "Device denied" not in page.text
    assert poll(emulator, body["device_code"]).json() == {"status": "pending"}


def test_exact_deny_denies_and_exact_authorize_authorizes(emulator: Emulator) -> None:
    denied, authorized = start(emulator), start(emulator)
    assert (
        "Device denied" in post_form(emulator, [("user_code", denied["user_code"]), ("action", "deny")]).text
    )
    page = post_form(emulator, [("user_code", authorized["user_code"]), ("action", "authorize")])
    assert page.status_code == 200 and "Device authorized" in page.text
    assert poll(emulator, denied["device_code"]).json() == {"status": "denied"}
    assert poll(emulator, authorized["device_code"]).json()["status"] == "authorized"


# -- Host and Origin -----------------------------------------------------------------------------------------


def test_a_rebound_name_cannot_use_the_approval_form(emulator: Emulator) -> None:
    body = start(emulator)
    fields = [("user_code", body["user_code"]), ("action", "authorize")]

    # Before the fix, Origin was compared with the request's own Host, so a matching pair passed.
    response = post_form(emulator, fields, Host=EVIL, Origin=f"http://{EVIL}")

    assert 400 <= response.status_code < 500
    assert poll(emulator, body["device_code"]).json() == {"status": "pending"}
    page = emulator.http.get(f"{emulator.web}/cli-auth", headers={"Host": EVIL})
    assert 400 <= page.status_code < 500 and "<form" not in page.text


@pytest.mark.parametrize(
    "host",
    [EVIL, f"{EVIL}:{{port}}", "127.0.0.1:1", "localhost", "localhost:{port}.evil", "127.0.0.1:{port}:1", ""],
)
def test_every_route_refuses_a_host_that_is_not_the_emulator(emulator: Emulator, host: str) -> None:
    host = host.format(port=emulator.server.port)
    rid = emulator.submit_ok("runcomfy/emulator/echo", {})
    for method, url in [
        ("POST", f"{emulator.web}/api/cli-auth/start"),  # would hand out a verify URL on that host
        ("GET", f"{emulator.base}/requests/{rid}/status"),
        ("GET", f"{emulator.base}/requests/{rid}/result"),
        ("GET", f"{emulator.base}/models"),
        ("GET", f"{emulator.web}/_emulator/requests"),  # the control plane has no password: keep it local
        ("POST", f"{emulator.web}/_emulator/reset"),
    ]:
        response = emulator.http.request(method, url, headers={**emulator.auth(), "Host": host})
        assert_service_error(response, 400)
        assert EVIL not in response.text
    assert emulator.status(rid).status_code == 200  # the reset above was refused


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1", "LOCALHOST"])
def test_loopback_names_on_the_bound_port_are_served_and_urls_follow_them(
    emulator: Emulator, name: str
) -> None:
    authority = f"{name}:{emulator.server.port}"
    started = emulator.http.post(f"{emulator.web}/api/cli-auth/start", headers={"Host": authority})
    assert started.json()["verify_url"] == f"http://{authority}/cli-auth"
    fields = [("user_code", started.json()["user_code"]), ("action", "authorize")]

    page = post_form(emulator, fields, Host=authority, Origin=f"http://{authority.lower()}")

    assert page.status_code == 200 and "Device authorized" in page.text
    assert poll(emulator, started.json()["device_code"]).json()["status"] == "authorized"


@pytest.mark.parametrize(
    "origin",
    [
        "null",
        "http://evil.example",
        "http://localhost:{port}",
        "https://127.0.0.1:{port}",
        "http://127.0.0.1:1",
    ],
)
def test_the_form_must_come_from_the_origin_the_request_reached(emulator: Emulator, origin: str) -> None:
    body = start(emulator)
    fields = [("user_code", body["user_code"]), ("action", "authorize")]

    page = post_form(emulator, fields, Origin=origin.format(port=emulator.server.port))

    assert page.status_code == 403
    assert poll(emulator, body["device_code"]).json() == {"status": "pending"}


def test_an_allowed_forwarded_host_is_served_and_others_still_are_not() -> None:
    import httpx

    from runcomfy.emulator.server import EmulatorConfig, EmulatorServer, build_state

    server = EmulatorServer(
        build_state(EmulatorConfig(port=0, tokens=["t"])), port=0, allowed_hosts=[("localhost", 9000)]
    ).start()
    try:
        with httpx.Client(timeout=10) as client:
            forwarded = client.get(f"{server.origin}/api/auth/me", headers={"Host": "localhost:9000"})
            elsewhere = client.get(f"{server.origin}/api/auth/me", headers={"Host": "localhost:9001"})
    finally:
        server.stop()
    assert forwarded.status_code == 401  # reached the route (no token): the Host was accepted
    assert elsewhere.status_code == 400
