"""Which database errors pass by themselves and which do not.

A transient error — the database is locked, restarting, unreachable, a connection dropped, a
serialisation conflict, a timeout — says nothing about the work: the same work succeeds when
tried again later. Everything else (a constraint the data breaks, a value the column cannot
hold, a bug) will fail the same way again.
"""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

# PostgreSQL SQLSTATE classes and codes that pass: connection exceptions, transaction
# rollbacks (serialisation failures, deadlocks), insufficient resources, operator
# intervention (shutdown, cannot connect now), lock not available.
_PG_TRANSIENT_CLASSES = ("08", "40", "53", "57")
_PG_TRANSIENT_CODES = ("55P03",)
_SQLITE_TRANSIENT_WORDS = ("locked", "busy", "disk i/o", "unable to open")


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        orig = getattr(current, "orig", None)
        if isinstance(orig, BaseException) and orig not in seen:
            seen.append(orig)
        current = current.__cause__ or current.__context__
    return seen


def _sqlstate(exc: BaseException) -> str | None:
    for name in ("sqlstate", "pgcode"):
        value = getattr(exc, name, None)
        if isinstance(value, str) and len(value) == 5:
            return value
    return None


def is_transient(exc: BaseException) -> bool:
    """True when trying the same work again later can succeed."""
    for error in _chain(exc):
        if isinstance(error, TransientError):
            return True
        if isinstance(error, (ConnectionError, TimeoutError, sa_exc.TimeoutError)):
            return True
        if isinstance(error, OSError) and not isinstance(error, FileNotFoundError):
            return True
        if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
            return True
        if isinstance(error, sa_exc.InterfaceError):
            return True
        code = _sqlstate(error)
        if code is not None and (code[:2] in _PG_TRANSIENT_CLASSES or code in _PG_TRANSIENT_CODES):
            return True
        if isinstance(error, sa_exc.OperationalError):
            orig = error.orig
            if "sqlite" in type(orig).__module__:
                text = str(orig).lower()
                return any(word in text for word in _SQLITE_TRANSIENT_WORDS)
            return True  # other drivers raise it for a server that is gone or refusing
        if type(error).__module__.startswith("asyncpg") and any(
            word in type(error).__name__ for word in ("Connection", "CannotConnectNow")
        ):
            return True
    return False


class TransientError(Exception):
    """Raised by gridbot itself for a condition that passes (a ticket that moved meanwhile)."""


def short_reason(exc: BaseException, limit: int = 300) -> str:
    """One line naming the error, without the statement or its parameters."""
    error = getattr(exc, "orig", None) or exc
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    text = f"{type(error).__name__}: {first}" if first else type(error).__name__
    return text[:limit]
