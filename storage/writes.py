"""Rows a transaction writes at its end, each kind in one statement.

A batch of decisions produces many small rows — events, outbox messages, timers, what
conversations remember — that no decision of the same batch reads back. Collected here and
written together before the commit, they cost one round trip per kind instead of one per row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage import conversations
from storage.outbox import add_outbox_rows
from storage.ticket_rows import insert_events
from storage.timers import insert_timers


@dataclass(slots=True)
class PendingWrites:
    events: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    timers: list[dict[str, Any]] = field(default_factory=list)
    # What conversations remember (storage.conversations.collect): by sender and chat, by
    # sender for their home; a later decision's row replaces an earlier one's.
    remembered: dict[conversations.ChatKey, conversations.Row | None] = field(
        default_factory=dict)
    homes: dict[conversations.HomeKey, conversations.Row] = field(default_factory=dict)

    def absorb(self, other: PendingWrites) -> None:
        self.events += other.events
        self.outbox += other.outbox
        self.timers += other.timers
        for chat, row in other.remembered.items():
            self.remembered.pop(chat, None)
            self.remembered[chat] = row
        for home, row in other.homes.items():
            self.homes.pop(home, None)
            self.homes[home] = row

    async def flush(self, session: AsyncSession) -> None:
        """Insert everything collected (inside the caller's transaction) and start empty."""
        await insert_events(session, self.events)
        await add_outbox_rows(session, self.outbox)
        await insert_timers(session, self.timers)
        await conversations.write_all(session, self.remembered, self.homes)
        self.events, self.outbox, self.timers = [], [], []
        self.remembered, self.homes = {}, {}
