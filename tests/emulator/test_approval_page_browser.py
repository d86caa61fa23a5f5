"""The approval page driven in headless Chromium (Debian's browser, driven by Playwright), as a user would."""

from __future__ import annotations

import os
import shutil

import pytest
from emulator_harness import Emulator

CHROMIUM = os.environ.get("RUNCOMFY_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


@pytest.fixture
def page():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            yield browser.new_page()
        finally:
            browser.close()


def test_a_user_types_the_code_and_clicks_authorize(emulator: Emulator, page, tmp_path) -> None:
    start = emulator.http.post(f"{emulator.web}/api/cli-auth/start").json()
    page.goto(start["verify_url"])
    assert "Authorize RunComfy CLI" in page.title()
    page.fill("#user_code", start["user_code"])
    page.click("#authorize")
    page.wait_for_selector("text=Device authorized")
    page.screenshot(path=str(tmp_path / "authorized.png"))
    answer = emulator.http.post(
        f"{emulator.web}/api/cli-auth/poll", json={"device_code": start["device_code"]}
    )
    assert answer.json()["status"] == "authorized"
    token = answer.json()["access_token"]
    me = emulator.http.get(f"{emulator.web}/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["token_type"] == "cli"


def test_a_user_clicks_deny(emulator: Emulator, page) -> None:
    start = emulator.http.post(f"{emulator.web}/api/cli-auth/start").json()
    page.goto(start["verify_url"])
    page.fill("#user_code", start["user_code"])
    page.click("#deny")
    page.wait_for_selector("text=Device denied")
    answer = emulator.http.post(
        f"{emulator.web}/api/cli-auth/poll", json={"device_code": start["device_code"]}
    )
    assert answer.status_code == 410 and answer.json() == {"status": "denied"}


def test_a_link_with_the_code_prefilled_is_refused_in_the_browser(emulator: Emulator, page) -> None:
    start = emulator.http.post(f"{emulator.web}/api/cli-auth/start").json()
    response = page.goto(f"{start['verify_url']}?code={start['user_code']}")
    assert response is not None and response.status == 400
    assert page.locator("#authorize").count() == 0
