"""Passwords and one-time links of staff who sign in without WeCom, and the failed attempts
that hold an account back."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import LoginLink, StaffLogin


async def login_of(session: AsyncSession, person_id: int) -> StaffLogin | None:
    return await session.get(StaffLogin, person_id, populate_existing=True)


async def set_password(session: AsyncSession, person_id: int, password_hash: str, by: str,
                       now: datetime) -> StaffLogin:
    """Give the person this password (hashed); earlier failures are forgotten."""
    login = await login_of(session, person_id)
    if login is None:
        login = StaffLogin(person_id=person_id, failures=0)
        session.add(login)
    login.password_hash, login.password_set_at, login.password_set_by = password_hash, now, by
    login.failures, login.failed_since, login.locked_until = 0, None, None
    await session.flush()
    return login


async def record_failure(session: AsyncSession, person_id: int, now: datetime, *,
                         limit: int, window: timedelta, lock: timedelta) -> datetime | None:
    """Count a wrong password; the `limit`-th within `window` holds the account back for
    `lock`. Returns until when it is held back, if it is. One statement per attempt, so
    attempts made at once in several processes all count."""
    login = await login_of(session, person_id)
    if login is None:
        return None
    if login.failed_since is None or login.failed_since <= now - window:
        await session.execute(update(StaffLogin).where(StaffLogin.person_id == person_id)
                              .values(failures=1, failed_since=now))
    else:
        await session.execute(update(StaffLogin).where(StaffLogin.person_id == person_id)
                              .values(failures=StaffLogin.failures + 1))
    login = await login_of(session, person_id)
    assert login is not None
    if login.failures >= limit:
        login.locked_until = now + lock
        login.failures, login.failed_since = 0, None
        await session.flush()
        return login.locked_until
    return None


async def clear_failures(session: AsyncSession, person_id: int) -> None:
    await session.execute(update(StaffLogin).where(StaffLogin.person_id == person_id)
                          .values(failures=0, failed_since=None, locked_until=None))


async def add_link(session: AsyncSession, person_id: int, token_digest: str, by: str,
                   now: datetime, expires_at: datetime) -> LoginLink:
    link = LoginLink(token_digest=token_digest, person_id=person_id, created_at=now,
                     created_by=by, expires_at=expires_at)
    session.add(link)
    await session.flush()
    return link


async def use_link(session: AsyncSession, token_digest: str, now: datetime) -> int | None:
    """The person a link signs in, marking it used; None when there is no such link, or it
    was used or has expired. Of two uses at once, one wins."""
    person_id = await session.scalar(select(LoginLink.person_id).where(
        LoginLink.token_digest == token_digest, LoginLink.used_at.is_(None),
        LoginLink.expires_at > now))
    if person_id is None:
        return None
    result = await session.execute(update(LoginLink).where(
        LoginLink.token_digest == token_digest, LoginLink.used_at.is_(None)).values(used_at=now))
    return person_id if result.rowcount == 1 else None
