"""``login``, ``logout`` and ``whoami``.

Login shows the verification URL and the user code on stderr in every mode (even ``-q`` and ``--output json``:
the official CLI hid them there, making the flow impossible to finish). The browser is opened only when it can
be seen (not with ``--no-browser``, not without a display) and only for a safe URL.
"""

from __future__ import annotations

import os
import sys

import click

from runcomfy import config
from runcomfy.cli.context import app_context
from runcomfy.cli.signals import interrupts_raise
from runcomfy.errors import APIResponseError, Interrupted


def _can_open_browser(env: dict[str, str]) -> bool:
    if sys.platform == "darwin" or os.name == "nt":
        return True
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


@click.command("login")
@click.option(
    "--web-base", metavar="URL", help="Web/auth base URL (default: RUNCOMFY_WEB_BASE or www.runcomfy.com)."
)
@click.option("--no-browser", is_flag=True, help="Do not try to open a browser; just print the URL and code.")
def login_command(web_base: str | None, no_browser: bool) -> None:
    """Sign in with a device code and save the token to <config dir>/token.json.

    \b
    Examples:
      runcomfy login
      runcomfy login --no-browser        # on a server: open the URL on any device
    """
    from runcomfy.auth.credentials import save_token
    from runcomfy.auth.device import is_safe_verify_url

    app = app_context()
    out = app.output
    if app.local:
        out.progress(
            "info",
            "--local needs no login: its embedded emulator accepts its own token automatically; "
            "run any command with --local",
        )
        return
    client = app.client(web_base=web_base, for_login=True)
    flow = client.device_flow()
    with interrupts_raise():
        try:
            authorization = flow.start()
            if not is_safe_verify_url(authorization.verify_url, client.web_base):
                raise APIResponseError(
                    "the service sent an unsafe verification URL; refusing to show or open it"
                )
            out.progress("auth", "Authorize this device in your browser")
            out.always(f"   Open:       {authorization.verify_url}")
            out.always(f"   YOUR CODE:  {authorization.user_code}")
            out.always("   Type or paste this code into the page, then click Authorize.")
            if not no_browser and _can_open_browser(app.env):
                import webbrowser

                try:
                    webbrowser.open(authorization.verify_url, new=2)
                except webbrowser.Error as exc:
                    out.detail(f"(could not open a browser: {exc}; open the URL manually)")
            out.progress("wait", "Waiting for authorization (Ctrl-C to abort)...")
            token = flow.wait_for_token(
                authorization, on_retry=lambda e, d: out.verbose(f"{e}; retrying in {d:.0f}s")
            )
        except KeyboardInterrupt:
            raise Interrupted("login aborted") from None
    out.add_secret(token.reveal())
    path = save_token(token, app.env)
    out.progress("ok", f"Authorized; token saved to {path}")


@click.command("logout")
def logout_command() -> None:
    """Delete the saved token. (It is not revoked on the server: rotate it on your Profile page.)

    \b
    Examples:
      runcomfy logout
    """
    from runcomfy.auth.credentials import delete_token, token_path

    app = app_context()
    out = app.output
    existed = delete_token(app.env)
    out.progress("ok", "Logged out" if existed else f"Logged out (no token file at {token_path(app.env)})")
    if config.env_value(config.ENV_TOKEN, app.env) and not app.local:
        out.always(
            "warning: RUNCOMFY_TOKEN is still set in the environment and remains in effect; unset it to "
            "sign out completely"
        )


@click.command("whoami")
def whoami_command() -> None:
    """Show the signed-in user (on stdout, so it can be piped).

    \b
    Examples:
      runcomfy whoami
      runcomfy --output json whoami | jq -r .id
    """
    app = app_context()
    me = app.require_client().whoami()
    fields = ("display_name", "email", "id", "token_created_at", "token_type", "username")
    record = {key: me.get(key) for key in fields}
    label = next(
        (me[k] for k in ("email", "display_name", "username", "id") if isinstance(me.get(k), str)), "?"
    )
    app.output.record(
        record,
        [
            ("user", label),
            ("user id", record["id"]),
            ("token type", record["token_type"]),
            ("token created", record["token_created_at"]),
        ],
    )
