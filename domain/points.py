"""The points bank as handlers see it: a volunteer's balance and their latest entries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class PointsLine:
    """One entry of the ledger: earned (positive) or redeemed (negative)."""

    at: datetime
    points: int
    reason: str
    ticket_id: int | None = None


@dataclass(frozen=True, slots=True)
class PointsAccount:
    """A person's balance (the sum of all their entries) and their latest entries, newest
    first."""

    person_id: int
    balance: int = 0
    entries: tuple[PointsLine, ...] = ()
