"""Who may call the emulator: API tokens (static ones given at start, or minted by a device-code login) and
the device-code sessions that mint them.

Shared by every emulated API: the Model API, the Serverless API and the Trainer API all take the same bearer
token, as the real service does. Tokens and device codes are kept only as SHA-256 digests, in memory and in
the store; a minted token exists in clear only between its approval and the one poll that hands it out.
This module knows nothing of HTTP and never logs or returns a token it was given.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import asdict, dataclass, field

from runcomfy.emulator.clock import Clock
from runcomfy.emulator.store import Store

NAMESPACE = uuid.UUID("5b0e7c1e-6a4f-4d0a-9a57-2f1f3c7e8d10")
USER_CODE_LETTERS = "BCDFGHJKLMNPQRSTVWXZ"  # no vowels, so a code never spells a word
WEB_USER_EMAIL = "you@emulator.local"
STATIC_TOKEN_TYPE = "api"


def token_digest(token: str) -> str:
    """The only form in which a token (or a device code) is kept."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class TokenRecord:
    """Who a token belongs to."""

    user_id: str
    email: str
    token_type: str
    created_at: float


@dataclass
class DeviceCode:
    """One device-code login session."""

    user_code: str
    created_at: float
    expires_at: float
    poll_interval: int
    status: str = "pending"
    access_token: str | None = None  # held only between approval and the poll that delivers it
    polls: int = field(default=0)


class Accounts:
    """Tokens and device-code sessions, written through to the store."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self.tokens = {k: TokenRecord(**v) for k, v in store.load("tokens").items()}
        self.devices = {k: DeviceCode(**v) for k, v in store.load("devices").items()}
        self.version = 0  # moves on whenever a token is added or forgotten (see routing.authenticated)

    def reset(self) -> None:
        """Forget device codes and minted tokens; keep the static ones (call after the store is cleared)."""
        static = {k: v for k, v in self.tokens.items() if v.token_type == STATIC_TOKEN_TYPE}
        self.tokens, self.devices = {}, {}
        self.version += 1
        for digest, record in static.items():
            self._put_token(digest, record)

    # -- tokens ------------------------------------------------------------------------------------------

    def _put_token(self, digest: str, record: TokenRecord) -> None:
        self.tokens[digest] = record
        self.version += 1
        self._store.put("tokens", digest, asdict(record))

    def add_static_token(self, token: str) -> TokenRecord:
        """Register a token given on the command line; each static token is its own user."""
        digest = token_digest(token)
        if digest not in self.tokens:
            user = uuid.uuid5(NAMESPACE, digest)
            record = TokenRecord(
                str(user), f"user-{digest[:8]}@emulator.local", STATIC_TOKEN_TYPE, self._clock.now()
            )
            self._put_token(digest, record)
        return self.tokens[digest]

    def authenticate(self, token: str | None) -> TokenRecord | None:
        """The owner of ``token``, or None if it is unknown."""
        if not token:
            return None
        return self.tokens.get(token_digest(token))

    # -- device-code login -------------------------------------------------------------------------------

    def start_device(self, *, expires_s: int, poll_interval_s: int) -> tuple[str, DeviceCode]:
        """A new device session: ``(device_code, record)``; the device code is returned once, never stored."""
        device_code = secrets.token_urlsafe(32)
        letters = "".join(secrets.choice(USER_CODE_LETTERS) for _ in range(4))
        digits = "".join(secrets.choice("0123456789") for _ in range(4))
        now = self._clock.now()
        record = DeviceCode(f"{letters}-{digits}", now, now + expires_s, poll_interval_s)
        self._put_device(token_digest(device_code), record)
        return device_code, record

    def _put_device(self, digest: str, record: DeviceCode) -> None:
        self.devices[digest] = record
        self._store.put("devices", digest, asdict(record))

    def poll_device(self, device_code: str) -> tuple[str, str | None]:
        """``(status, access_token)`` for a poll; the token is handed out exactly once."""
        digest = token_digest(device_code)
        record = self.devices.get(digest)
        if record is None:
            return "expired", None
        record.polls += 1
        if record.status == "pending" and self._clock.now() >= record.expires_at:
            record.status = "expired"
        token = None
        if record.status == "authorized":
            token, record.access_token = record.access_token, None
            if token is None:
                record.status = "expired"
        self._put_device(digest, record)
        return ("authorized", token) if token else (record.status, None)

    def find_device(self, user_code: str) -> tuple[str, DeviceCode] | None:
        """The pending session a typed user code belongs to (case and dash insensitive)."""
        wanted = "".join(ch for ch in user_code.upper() if ch.isalnum())
        now = self._clock.now()
        for digest, record in self.devices.items():
            if (
                record.user_code.replace("-", "") == wanted
                and record.status == "pending"
                and now < record.expires_at
            ):
                return digest, record
        return None

    def decide_device(self, digest: str, approve: bool) -> None:
        """Authorize (minting a CLI token for the web user) or deny a pending session."""
        record = self.devices[digest]
        if approve:
            token = "rcemu_" + secrets.token_urlsafe(32)
            user = uuid.uuid5(NAMESPACE, WEB_USER_EMAIL)
            self._put_token(
                token_digest(token), TokenRecord(str(user), WEB_USER_EMAIL, "cli", self._clock.now())
            )
            record.status, record.access_token = "authorized", token
        else:
            record.status = "denied"
        self._put_device(digest, record)
