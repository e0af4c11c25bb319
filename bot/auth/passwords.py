"""Passwords and one-time links for staff without WeCom.

Passwords are hashed with scrypt from the standard library (N=2^14, r=8, p=1, a 16-byte
salt), stored as `scrypt$N$r$p$salt$hash`, and checked in a worker thread so that the
server keeps answering. Five wrong passwords for one account within 15 minutes hold that
account back for 15 minutes (kept in the database, so every process agrees), and one address
that keeps guessing is held back in memory (30 wrong attempts in 15 minutes), whichever
account it tries. An unknown account takes as long to refuse as a wrong password.

A one-time link carries a random token of 256 bits; only its SHA-256 digest is stored. It
signs its person in once, until it expires (24 hours unless said otherwise).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.org import OrgMap, PersonInfo
from storage import logins
from storage.db import SessionFactory

SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_BYTES = 2**14, 8, 1, 32
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 128
FAILURE_LIMIT = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCK_TIME = timedelta(minutes=15)
ADDRESS_LIMIT = 30
LINK_HOURS = 24.0
MAX_LINK_HOURS = 24.0 * 14

_DUMMY_HASH = ""  # made on first use: the hash an unknown account is checked against


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          maxmem=256 * n * r + 1024 * 1024, dklen=KEY_BYTES)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    key = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def check_password(password: str, stored: str | None) -> bool:
    """Whether `password` is the one `stored` was made from (False for no hash at all)."""
    global _DUMMY_HASH
    if not stored:
        if not _DUMMY_HASH:
            _DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
        stored, password = _DUMMY_HASH, password + "\x00never"
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        given = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(given, base64.b64decode(key))


def password_problem(password: str) -> str | None:
    """Why a new password is not good enough, in Chinese; None when it is."""
    if len(password) < MIN_PASSWORD_CHARS:
        return f"密码至少 {MIN_PASSWORD_CHARS} 个字符。"
    if len(password) > MAX_PASSWORD_CHARS:
        return f"密码最多 {MAX_PASSWORD_CHARS} 个字符。"
    if password.strip() != password or "\x00" in password:
        return "密码不能以空格开头或结尾。"
    return None


def link_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_link_token() -> str:
    return secrets.token_urlsafe(32)


def person_by_account(org: OrgMap, account: str) -> PersonInfo | None:
    """A person by their `wecom_userid` or `wechat_id`, as staff are named everywhere."""
    account = account.strip()
    return org.person_by_wecom(account) or org.person_by_wechat(account)


# ---------------------------------------------------------------- guessing from one address


class AddressGuard:
    """Wrong attempts per client address in this process: at `limit` within `window`
    seconds, that address is refused until the oldest attempt leaves the window."""

    def __init__(self, limit: int = ADDRESS_LIMIT, window: float = FAILURE_WINDOW.seconds,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self._clock = limit, window, clock
        self._failures: dict[str, deque[float]] = {}

    def _live(self, address: str) -> deque[float]:
        now = self._clock()
        failures = self._failures.setdefault(address, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            self._failures.pop(address, None)
            return deque()
        return failures

    def wait(self, address: str) -> float:
        """Seconds this address must wait before another attempt (0: it may try now)."""
        failures = self._live(address)
        if len(failures) < self.limit:
            return 0.0
        return max(failures[0] + self.window - self._clock(), 1.0)

    def failed(self, address: str) -> None:
        self._live(address)
        self._failures.setdefault(address, deque()).append(self._clock())
        if len(self._failures) > 10_000:  # forget the quietest addresses first
            for stale in list(self._failures)[:1000]:
                del self._failures[stale]


# ---------------------------------------------------------------- signing in


@dataclass(frozen=True, slots=True)
class Outcome:
    """A sign-in attempt: the person it signs in, or why not (`wait`: seconds held back)."""

    person_id: int | None = None
    wait: float = 0.0


async def sign_in(sessions: SessionFactory, org: OrgMap, account: str, password: str,
                  now: datetime) -> Outcome:
    """Check a password for the person named `account` (a staff member of the org map)."""
    person = person_by_account(org, account) if account.strip() else None
    if person is None or not org.is_staff(person.id):
        await asyncio.to_thread(check_password, password, None)
        return Outcome()
    async with sessions() as session, session.begin():
        login = await logins.login_of(session, person.id)
        stored = login.password_hash if login is not None else None
        if login is not None and login.locked_until is not None and login.locked_until > now:
            return Outcome(wait=(login.locked_until - now).total_seconds())
    if await asyncio.to_thread(check_password, password, stored):
        async with sessions() as session, session.begin():
            await logins.clear_failures(session, person.id)
        return Outcome(person_id=person.id)
    async with sessions() as session, session.begin():
        locked = await logins.record_failure(session, person.id, now, limit=FAILURE_LIMIT,
                                             window=FAILURE_WINDOW, lock=LOCK_TIME)
    return Outcome(wait=(locked - now).total_seconds() if locked is not None else 0.0)


async def set_password(sessions: SessionFactory, person: PersonInfo, password: str, by: str,
                       now: datetime) -> datetime:
    """Give the person a new password; returns when it was set."""
    password_hash = await asyncio.to_thread(hash_password, password)
    async with sessions() as session, session.begin():
        login = await logins.set_password(session, person.id, password_hash, by, now)
        assert login.password_set_at is not None
        return login.password_set_at


async def make_link(sessions: SessionFactory, person: PersonInfo, by: str, now: datetime,
                    hours: float = LINK_HOURS) -> tuple[str, datetime]:
    """A new one-time link token for the person, and when it expires."""
    token = new_link_token()
    expires_at = now + timedelta(hours=hours)
    async with sessions() as session, session.begin():
        await logins.add_link(session, person.id, link_digest(token), by, now, expires_at)
    return token, expires_at


async def use_link(sessions: SessionFactory, token: str, now: datetime) -> int | None:
    """The person a one-time link signs in (using it up); None when it does not work."""
    if not token or len(token) > 200:
        return None
    async with sessions() as session, session.begin():
        return await logins.use_link(session, link_digest(token), now)
