"""Device-code login (A.1-A.3), the approval page, and the model catalog (A.9)."""

from __future__ import annotations

import re
import uuid

from emulator_harness import Emulator


def start(emulator: Emulator) -> dict:
    response = emulator.http.post(f"{emulator.web}/api/cli-auth/start")
    assert response.status_code == 200
    return response.json()


def poll(emulator: Emulator, device_code: str):
    return emulator.http.post(f"{emulator.web}/api/cli-auth/poll", json={"device_code": device_code})


def approve(emulator: Emulator, user_code: str, action: str = "authorize", **headers: str):
    return emulator.http.post(
        f"{emulator.web}/cli-auth", data={"user_code": user_code, "action": action}, headers=headers
    )


def test_start_returns_the_five_fields_with_a_readable_user_code(emulator: Emulator) -> None:
    body = start(emulator)
    assert set(body) == {"device_code", "user_code", "verify_url", "expires_in", "poll_interval"}
    assert re.fullmatch(r"[A-Z]{4}-[0-9]{4}", body["user_code"])
    assert body["verify_url"] == f"{emulator.web}/cli-auth"
    assert body["expires_in"] == 600 and body["poll_interval"] == 2
    assert len(body["device_code"]) >= 32


def test_poll_is_pending_until_the_page_authorizes_then_delivers_a_working_token_once(
    emulator: Emulator,
) -> None:
    body = start(emulator)
    assert poll(emulator, body["device_code"]).json() == {"status": "pending"}
    page = approve(emulator, body["user_code"].lower().replace("-", ""))  # typed loosely: still matches
    assert page.status_code == 200 and "Device authorized" in page.text
    answer = poll(emulator, body["device_code"])
    assert answer.status_code == 200 and answer.json()["status"] == "authorized"
    token = answer.json()["access_token"]
    me = emulator.http.get(f"{emulator.web}/api/auth/me", headers=emulator.auth(token)).json()
    assert me["token_type"] == "cli" and me["email"] == "you@emulator.local"
    again = poll(emulator, body["device_code"])
    assert again.status_code == 410 and again.json() == {"status": "expired"}


def test_deny_answers_denied_with_410(emulator: Emulator) -> None:
    body = start(emulator)
    assert "Device denied" in approve(emulator, body["user_code"], "deny").text
    answer = poll(emulator, body["device_code"])
    assert answer.status_code == 410 and answer.json() == {"status": "denied"}


def test_code_expires_after_expires_in(emulator: Emulator) -> None:
    body = start(emulator)
    emulator.advance(601)
    answer = poll(emulator, body["device_code"])
    assert answer.status_code == 410 and answer.json() == {"status": "expired"}
    assert approve(emulator, body["user_code"]).status_code == 400


def test_unknown_device_code_is_expired_and_missing_one_is_400(emulator: Emulator) -> None:
    assert poll(emulator, "not-a-real-code").json() == {"status": "expired"}
    response = emulator.http.post(f"{emulator.web}/api/cli-auth/poll", json={})
    assert response.status_code == 400 and response.json()["error_code"] == 400001


def test_page_is_a_real_form_and_refuses_a_prefilled_code(emulator: Emulator) -> None:
    page = emulator.http.get(f"{emulator.web}/cli-auth")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert (
        "<form method=post action=/cli-auth>" in page.text
        and "Authorize" in page.text
        and "Deny" in page.text
    )
    assert page.headers["x-frame-options"] == "DENY"
    body = start(emulator)
    refused = emulator.http.get(f"{emulator.web}/cli-auth", params={"code": body["user_code"]})
    assert refused.status_code == 400 and "refused" in refused.text
    assert poll(emulator, body["device_code"]).json() == {"status": "pending"}


def test_page_refuses_a_cross_site_post_and_an_unknown_code(emulator: Emulator) -> None:
    body = start(emulator)
    assert approve(emulator, body["user_code"], Origin="https://evil.example").status_code == 403
    assert poll(emulator, body["device_code"]).json() == {"status": "pending"}
    assert approve(emulator, "ZZZZ-0000").status_code == 400


def test_me_returns_a_uuid_id_email_token_type_and_creation_time(emulator: Emulator) -> None:
    me = emulator.http.get(f"{emulator.web}/api/auth/me", headers=emulator.auth()).json()
    uuid.UUID(me["id"])
    assert me["email"].endswith("@emulator.local") and me["token_type"] == "api"
    assert me["token_created_at"].endswith("Z")
    other = emulator.http.get(
        f"{emulator.web}/api/auth/me", headers=emulator.auth(emulator.other_token)
    ).json()
    assert other["id"] != me["id"]


def test_models_list_pages_filters_and_includes_schema_on_request(emulator: Emulator) -> None:
    models = emulator.http.get(f"{emulator.base}/models", headers=emulator.auth()).json()
    ids = [m["model_id"] for m in models["models"]]
    assert models["total"] == len(ids) >= 7
    assert {"blackforestlabs/flux-1-kontext/pro/edit", "openai/gpt-image-2/text-to-image"} <= set(ids)
    assert all("input_schema" not in m for m in models["models"])
    page = emulator.http.get(
        f"{emulator.base}/models", params={"limit": 2, "offset": 1}, headers=emulator.auth()
    )
    assert [m["model_id"] for m in page.json()["models"]] == ids[1:3]
    found = emulator.http.get(
        f"{emulator.base}/models",
        params={"search": "KONTEXT", "include_schema": "true"},
        headers=emulator.auth(),
    ).json()
    assert [m["model_id"] for m in found["models"]] == ["blackforestlabs/flux-1-kontext/pro/edit"]
    assert found["models"][0]["input_schema"]["required"] == ["prompt", "image_url"]
    video = emulator.http.get(
        f"{emulator.base}/models", params={"category": "text-to-video"}, headers=emulator.auth()
    ).json()
    assert [m["model_id"] for m in video["models"]] == ["wan-ai/wan-2-2/text-to-video"]
    bad = emulator.http.get(f"{emulator.base}/models", params={"limit": 0}, headers=emulator.auth())
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "limit"]


def test_model_get_returns_the_schema_and_404_for_unknown(emulator: Emulator) -> None:
    record = emulator.http.get(
        f"{emulator.base}/models/openai/gpt-image-2/text-to-image", headers=emulator.auth()
    ).json()
    assert record["input_schema"]["properties"]["prompt"]["type"] == "string"
    assert record["required_inputs"] == ["prompt"] and "seed" in record["inputs"]
    missing = emulator.http.get(f"{emulator.base}/models/no/such", headers=emulator.auth())
    assert missing.status_code == 404 and missing.json()["error_code"] == 404001
    cats = emulator.http.get(f"{emulator.base}/models/categories", headers=emulator.auth()).json()
    assert "text-to-image" in cats["categories"] and cats["categories"] == sorted(cats["categories"])
