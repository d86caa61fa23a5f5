"""The device approval page ``/cli-auth``: type the code, then Authorize or Deny.

Sign-in is implicit (the emulator has one web user). As on the real page, a code pre-filled through a
``?code=`` query string is refused, so a phishing link cannot approve a device for the user; the code must
be typed. A POST carrying a foreign ``Origin`` header (another site's form) is refused too, and only the
exact ``authorize`` or ``deny`` of the two buttons decides; any other ``action`` leaves the device pending.

Every answer here is an HTML page, refusals included: a person reads it in a browser, so it never answers in
the API's JSON error shape. It must never reveal a device code or a token.
"""

from __future__ import annotations

import html
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from runcomfy.emulator.accounts import WEB_USER_EMAIL
from runcomfy.emulator.bodies import LOGIN_BODY_LIMIT, read_body
from runcomfy.emulator.errors import ServiceError
from runcomfy.emulator.hosts import ServedHosts
from runcomfy.emulator.state import EmulatorState

_MAX_FORM_FIELDS = 16

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem} input[name=user_code]{font-size:1.6rem;letter-spacing:.2em;width:100%;
text-transform:uppercase;padding:.4rem} .buttons{margin-top:1rem;display:flex;gap:.5rem}
button{font-size:1rem;padding:.5rem 1.2rem} .error{color:#b00020} .ok{color:#0a7a2f} small{color:#666}
"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    document = (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<meta name=viewport content='width=device-width,initial-scale=1'><style>{_STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    headers = {
        "x-frame-options": "DENY",
        "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
        "cache-control": "no-store",
        "referrer-policy": "same-origin",  # no-referrer would make browsers send `Origin: null`
    }
    return HTMLResponse(document, status_code=status, headers=headers)


def _form(message: str = "") -> str:
    return (
        f"<p>Signed in as <b>{html.escape(WEB_USER_EMAIL)}</b> (RunComfy emulator).</p>"
        "<p>Type the code shown by <code>runcomfy login</code>, then authorize the device.</p>"
        f"{message}"
        "<form method=post action=/cli-auth>"
        "<label for=user_code>Device code</label>"
        "<input id=user_code name=user_code autocomplete=off autofocus required placeholder=ABCD-1234>"
        "<div class=buttons><button type=submit name=action value=authorize id=authorize>Authorize</button>"
        "<button type=submit name=action value=deny id=deny>Deny</button></div></form>"
        "<p><small>Only approve a code you started yourself.</small></p>"
    )


class FormRefused(Exception):
    """A posted form the page will not read; it answers with a page saying why."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message, self.status = message, status

    def page(self) -> HTMLResponse:
        """The refusal as a page."""
        return _page("Request refused", f"<p class=error>{html.escape(self.message)}</p>", self.status)


async def _read_form(request: Request) -> dict[str, list[str]]:
    """The posted form's fields; :class:`FormRefused` for a body too large or with too many fields."""
    try:
        body = await read_body(request, LOGIN_BODY_LIMIT)
        return parse_qs(body.decode("utf-8", "replace"), max_num_fields=_MAX_FORM_FIELDS)
    except ServiceError as exc:
        raise FormRefused(f"{exc.message}.", exc.status) from None
    except ValueError:
        raise FormRefused("The form has too many fields.", 400) from None


async def approval_page(request: Request, state: EmulatorState, served: ServedHosts) -> Response:
    """GET shows the form; POST decides on the typed code."""
    try:
        return await _answer(request, state, served)
    except FormRefused as refused:
        return refused.page()


async def _answer(request: Request, state: EmulatorState, served: ServedHosts) -> Response:
    if "code" in request.query_params or "user_code" in request.query_params:
        return _page(
            "Code not accepted",
            "<p class=error>Codes in links are refused to protect you from "
            "phishing. Open <a href=/cli-auth>/cli-auth</a> and type the code yourself.</p>",
            400,
        )
    if request.method == "GET":
        return _page("Authorize RunComfy CLI", _form())
    # The Host header was checked against the emulator's own names before this route ran; the form must
    # also come from that very origin, so another site's page (or a rebound name) cannot submit it.
    origin = request.headers.get("origin")
    if origin is not None and not served.same_origin(origin, request.headers.get("host", "")):
        raise FormRefused("Cross-site form submissions are refused.", 403)
    fields = await _read_form(request)
    action = fields.get("action", [])
    if action not in (["authorize"], ["deny"]):
        # Only the two buttons decide; anything else (a typo, a crafted value, no button) decides nothing.
        message = "<p class=error>Press Authorize or Deny to decide.</p>"
        return _page("Authorize RunComfy CLI", _form(message), 400)
    user_code = fields.get("user_code", [""])[0].strip()
    found = state.accounts.find_device(user_code) if user_code else None
    if found is None:
        message = "<p class=error>That code is unknown, already used or expired. Check it and try again.</p>"
        return _page("Authorize RunComfy CLI", _form(message), 400)
    digest, _record = found
    if action == ["deny"]:
        state.accounts.decide_device(digest, approve=False)
        return _page("Device denied", "<p>The CLI was not authorized. You can close this window.</p>")
    state.accounts.decide_device(digest, approve=True)
    return _page("Device authorized", "<p class=ok>The CLI is now signed in. You can close this window.</p>")
