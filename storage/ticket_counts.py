"""How many tickets there are per Beijing day received, status and category
(`ticket_counts`), kept by the database itself, so that a whole city's list can say how many
tickets it has without counting ten million rows.

Triggers on `tickets` (created by migration 0010, on SQLite and on PostgreSQL) add one to
the row of a ticket's (day, status, category) when it is written and take one from the row
it leaves when it changes status or category or is deleted, in the same transaction as the
change: every path that writes a ticket keeps the counts right, the one writer, the demo,
an import. A loader that writes tickets with triggers off (`bench/stats.py`, COPY as a
replica) fills the table afterwards with `REBUILD`.

`count_tickets` answers the token's list — filtered by status, category and/or received
since a moment, and by nothing else — from the counts of the whole days after that moment
and the tickets themselves for the rest of its day. A list filtered any other way, or a
person's, is counted from its tickets (their scope keeps them to a street's).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.figures_sql import day_number
from storage.models import Ticket, TicketCount

BEIJING_SECONDS = 8 * 3600
_BEIJING = timezone(timedelta(seconds=BEIJING_SECONDS))


def _day(dialect: str, column: str) -> str:
    """The Beijing day number (`figures_sql.day_number`) of a timestamp column in SQL."""
    if dialect == "postgresql":
        return f"CAST(FLOOR((EXTRACT(EPOCH FROM {column}) + {BEIJING_SECONDS}) / 86400) AS INTEGER)"
    return f"((CAST(strftime('%s', {column}) AS INTEGER) + {BEIJING_SECONDS}) / 86400)"


def _add(dialect: str, row: str, delta: int) -> str:
    sign = "+" if delta > 0 else "-"
    return (f"INSERT INTO ticket_counts (day, status, category, tickets) VALUES "
            f"({_day(dialect, row + '.created_at')}, {row}.status, {row}.category, {delta}) "
            f"ON CONFLICT (day, status, category) DO UPDATE SET tickets = "
            f"ticket_counts.tickets {sign} 1")


_CHANGED = ("OLD.status IS NOT NEW.status OR OLD.category IS NOT NEW.category"
            " OR OLD.created_at IS NOT NEW.created_at")


def create_statements(dialect: str) -> list[str]:
    """The triggers that keep `ticket_counts`, for `dialect` ("postgresql" or "sqlite")."""
    if dialect == "postgresql":
        changed = _CHANGED.replace("IS NOT", "IS DISTINCT FROM")
        return [
            "CREATE FUNCTION gridbot_ticket_counts() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            "BEGIN\n"
            "  IF TG_OP IN ('UPDATE', 'DELETE') THEN\n"
            f"    {_add(dialect, 'OLD', -1)};\n"
            "  END IF;\n"
            "  IF TG_OP IN ('UPDATE', 'INSERT') THEN\n"
            f"    {_add(dialect, 'NEW', 1)};\n"
            "  END IF;\n"
            "  RETURN NULL;\n"
            "END $$",
            "CREATE TRIGGER ticket_counts_insert AFTER INSERT OR DELETE ON tickets FOR EACH ROW"
            " EXECUTE FUNCTION gridbot_ticket_counts()",
            "CREATE TRIGGER ticket_counts_update AFTER UPDATE ON tickets FOR EACH ROW"
            f" WHEN ({changed}) EXECUTE FUNCTION gridbot_ticket_counts()",
        ]
    return [
        f"CREATE TRIGGER ticket_counts_insert AFTER INSERT ON tickets BEGIN "
        f"{_add(dialect, 'NEW', 1)}; END",
        f"CREATE TRIGGER ticket_counts_delete AFTER DELETE ON tickets BEGIN "
        f"{_add(dialect, 'OLD', -1)}; END",
        f"CREATE TRIGGER ticket_counts_update AFTER UPDATE ON tickets WHEN {_CHANGED} BEGIN "
        f"{_add(dialect, 'OLD', -1)}; {_add(dialect, 'NEW', 1)}; END",
    ]


def drop_statements(dialect: str) -> list[str]:
    if dialect == "postgresql":
        return ["DROP TRIGGER IF EXISTS ticket_counts_update ON tickets",
                "DROP TRIGGER IF EXISTS ticket_counts_insert ON tickets",
                "DROP FUNCTION IF EXISTS gridbot_ticket_counts()"]
    return [f"DROP TRIGGER IF EXISTS ticket_counts_{what}"
            for what in ("update", "delete", "insert")]


def rebuild_statements(dialect: str) -> list[str]:
    """Statements that make `ticket_counts` the counts of the tickets as they are."""
    return ["DELETE FROM ticket_counts",
            f"INSERT INTO ticket_counts (day, status, category, tickets) "
            f"SELECT {_day(dialect, 'created_at')} AS day, status, category, count(*) "
            f"FROM tickets GROUP BY 1, 2, 3"]


@dataclass(frozen=True, slots=True)
class CityFilter:
    """A list of the whole city's tickets filtered by nothing but these (None: any)."""

    statuses: Sequence[str] | None = None
    categories: Sequence[str] | None = None
    since: datetime | None = None


async def count_tickets(session: AsyncSession, statuses: Sequence[str] | None = None,
                        categories: Sequence[str] | None = None,
                        since: datetime | None = None) -> int:
    """How many tickets of the whole city have one of `statuses` and of `categories` (None:
    any) and were received at or after `since`."""
    counted = select(func.coalesce(func.sum(TicketCount.tickets), 0))
    counted_rows = select(func.count()).select_from(Ticket)
    for column, row_column, values in ((TicketCount.status, Ticket.status, statuses),
                                       (TicketCount.category, Ticket.category, categories)):
        if values is not None:
            counted = counted.where(column.in_(list(values)))
            counted_rows = counted_rows.where(row_column.in_(list(values)))
    rest = 0
    if since is not None:
        # The counts of the days after since's, and that day's tickets from since on.
        first = since.astimezone(_BEIJING).date()
        next_day = datetime(first.year, first.month, first.day, tzinfo=_BEIJING) + timedelta(1)
        counted = counted.where(TicketCount.day > day_number(first))
        rest = int(await session.scalar(counted_rows.where(
            Ticket.created_at >= since, Ticket.created_at < next_day)) or 0)
    return int(await session.scalar(counted) or 0) + rest

