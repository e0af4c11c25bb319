"""Session cookies: stateless, signed with HMAC-SHA256 by a server secret, with an expiry.

A cookie is `<payload>.<signature>`, both base64url: the payload is compact JSON naming the
person (`p`), when the session was made and until when it holds (`iat`, `exp`, unix
seconds), how the person signed in (`via`) and the session's CSRF token (`csrf`), which the
console reads from `/api/v1/me` and sends back in `X-CSRF-Token` with every change. The
cookie is `HttpOnly`, `SameSite=Lax`, and `Secure` when gridbot's public address is https.

The secret is `GRIDBOT_SESSION_SECRET`, or one generated on first use and kept in
`var/session_secret`; changing it signs everyone out. The same secret signs the WeCom OAuth2
`state` (`sign`), under another purpose, so neither can stand for the other.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.config import Settings

COOKIE = "gridbot_session"
CSRF_HEADER = "X-CSRF-Token"
#: How people sign in; kept in the session.
WAYS_IN = ("wecom", "password", "link")
#: A cookie longer than this is not read at all.
MAX_COOKIE_CHARS = 1024


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def secret_path(settings: Settings) -> Path:
    return Path(settings.var_dir) / "session_secret"


def session_secret(settings: Settings) -> bytes:
    """`GRIDBOT_SESSION_SECRET`, else the secret kept under var/ (made on first use, readable
    by its owner only; several processes starting at once agree on one)."""
    if settings.session_secret:
        return settings.session_secret.encode("utf-8")
    path = secret_path(settings)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as file:
                file.write(secrets.token_urlsafe(48) + "\n")
    text = path.read_text().strip()
    if len(text) < 32:
        raise ValueError(f"{path} holds no usable session secret; delete it to make a new one")
    return text.encode("utf-8")


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in person's session as its cookie carries it."""

    person_id: int
    issued_at: int
    expires_at: int
    via: str
    csrf: str


class Signer:
    """Issues and reads session cookies; signs and checks short texts for other purposes."""

    def __init__(self, secret: bytes, lifetime_seconds: int) -> None:
        if len(secret) < 16:
            raise ValueError("the session secret is too short")
        self._key = hashlib.sha256(b"gridbot-sessions:" + secret).digest()
        self.lifetime = lifetime_seconds

    @classmethod
    def from_settings(cls, settings: Settings) -> Signer:
        return cls(session_secret(settings), int(settings.session_hours * 3600))

    def sign(self, purpose: str, text: str) -> str:
        """A hex HMAC of `text` for `purpose` ("session", "oauth-state", …)."""
        message = purpose.encode() + b"\x00" + text.encode("utf-8")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def verify(self, purpose: str, text: str, signature: str) -> bool:
        """Whether `signature` is `sign(purpose, text)` or its first 32 or more hex digits."""
        expected = self.sign(purpose, text)
        return 32 <= len(signature) <= len(expected) and hmac.compare_digest(
            expected[:len(signature)].encode(), signature.encode("utf-8", "replace"))

    def issue(self, person_id: int, via: str, now: int) -> tuple[str, Session]:
        """A new session for the person (a fresh CSRF token) and its cookie value."""
        session = Session(person_id, now, now + self.lifetime, via, secrets.token_urlsafe(24))
        payload = json.dumps({"p": person_id, "iat": session.issued_at,
                              "exp": session.expires_at, "via": via, "csrf": session.csrf},
                             separators=(",", ":"))
        body = _b64(payload.encode())
        return f"{body}.{_b64(bytes.fromhex(self.sign('session', body)))}", session

    def read(self, value: str | None, now: int) -> Session | None:
        """The session a cookie holds, or None: absent, malformed, forged or expired."""
        if not value or len(value) > MAX_COOKIE_CHARS or value.count(".") != 1:
            return None
        body, signature = value.split(".")
        try:
            given = _unb64(signature)
        except ValueError:
            return None
        # One spelling of a signature: base64's last character may carry bits that decoding
        # drops, so another spelling would decode to the same bytes.
        if _b64(given) != signature or not hmac.compare_digest(
                given, bytes.fromhex(self.sign("session", body))):
            return None
        try:
            data: Any = json.loads(_unb64(body))
            session = Session(int(data["p"]), int(data["iat"]), int(data["exp"]),
                              str(data["via"]), str(data["csrf"]))
        except (ValueError, KeyError, TypeError):
            return None
        if session.expires_at <= now or session.issued_at > now + 300:
            return None
        return session


#: The application's signer, made from the settings when the app is created.
SIGNER = web.AppKey("session_signer", Signer)


def secure_cookies(settings: Settings) -> bool:
    """Whether cookies get `Secure`: when staff reach gridbot over https."""
    return settings.public_url.lower().startswith("https://")


def set_session_cookie(response: web.StreamResponse, value: str, session: Session,
                       settings: Settings) -> None:
    response.set_cookie(COOKIE, value, max_age=session.expires_at - session.issued_at,
                        path="/", httponly=True, samesite="Lax",
                        secure=secure_cookies(settings))


def clear_session_cookie(response: web.StreamResponse, settings: Settings) -> None:
    response.del_cookie(COOKIE, path="/", httponly=True, samesite="Lax",
                        secure=secure_cookies(settings))
