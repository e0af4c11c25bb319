"""The closure figures of the tickets received on each Beijing day, per category and street,
from which the figures of a span of days over several streets add up (`bot.reports.spans`):
a city's stats since a moment of one's own read a month's tickets in seconds, where adding
up its days made ahead (`bot.reports.city`) and reading only the two part days at its ends
takes a fraction of that.

`DayFigures` holds, for each (day, category, street), the counts and sums of a `Tally` —
everything but the middle, which does not add up — and the cycles of its done tickets in
whole microseconds, from which any span's medians are picked exactly (`storage.summed_days`
adds up any run of the days). Each ticket counts on the day it was received, as it was when
its days were read: the SLA verdict of a ticket still open is as of then.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.org import OrgMap
from storage.figures_sql import beijing_day_number, gathered, numbers_of, span, span_micros
from storage.models import Ticket
from storage.stats import (
    DONE,
    EVERYTHING,
    TICKET_STREET,
    figure_rows,
    figure_settings,
    scoped,
    side_by_side,
    tally_sums,
)

#: The columns of `DayFigures.rows`: the day, the category's number, the street (0: none),
#: then `tally_sums`' aggregates in their order.
KEYS = 3
SUMS = 11


@dataclass(frozen=True, slots=True)
class DayFigures:
    """Figures of the tickets received on some days, per (day, category, street).

    `rows` has a row per group: its day (`storage.figures_sql.day_number`), the index of its
    category in `categories`, its street (0: none) and its sums. `groups` has a row per
    group with done tickets — day, category, street, how many — and `cycles` holds their
    cycles, group after group."""

    categories: tuple[str, ...]
    rows: np.ndarray
    groups: np.ndarray
    cycles: np.ndarray

    @classmethod
    def of(cls, categories: Sequence[str], rows: Sequence[Sequence[int]],
           cycles: np.ndarray) -> DayFigures:
        """From rows of sums and a row of (day, category, street, cycle) for each done
        ticket."""
        found = cycles.astype(np.int64).reshape(-1, 4)
        found = found[np.lexsort((found[:, 3], found[:, 2], found[:, 1], found[:, 0]))]
        keys = found[:, :3]
        starts = np.flatnonzero(np.r_[True, np.any(keys[1:] != keys[:-1], axis=1)]) \
            if len(found) else np.zeros(0, dtype=np.int64)
        counts = np.diff(np.r_[starts, len(found)])
        return cls(tuple(categories),
                   np.array(rows, dtype=np.int64).reshape(-1, KEYS + SUMS),
                   np.column_stack([keys[starts], counts]).astype(np.int64).reshape(-1, 4),
                   np.ascontiguousarray(found[:, 3]))

    def as_json(self) -> dict[str, Any]:
        """A form `from_json` reads back, for a snapshot's body (the numbers packed)."""
        return {"categories": list(self.categories), "rows": _packed(self.rows),
                "groups": _packed(self.groups), "cycles": _packed(self.cycles)}

    @classmethod
    def from_json(cls, found: dict[str, Any]) -> DayFigures:
        return cls(tuple(found["categories"]),
                   _unpacked(found["rows"]).reshape(-1, KEYS + SUMS),
                   _unpacked(found["groups"]).reshape(-1, KEYS + 1),
                   _unpacked(found["cycles"]))


def _packed(numbers: np.ndarray) -> str:
    return base64.b64encode(numbers.astype("<i8").tobytes()).decode("ascii")


def _unpacked(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<i8").astype(np.int64)


async def read_days(session: AsyncSession, org: OrgMap, now: datetime,
                    *conditions: Any) -> DayFigures:
    """The figures of every ticket meeting `conditions` (on `Ticket`: the moments it was
    received between) per day, category and street, as of `now`: the sums and the cycles,
    two statements side by side on PostgreSQL."""
    await figure_settings(session)
    day = beijing_day_number(Ticket.created_at).label("day")
    c = figure_rows(org, EVERYTHING, now, TICKET_STREET, conditions, streets=True,
                    more=[day]).c
    place = func.coalesce(c.place, 0)
    sums = select(c.day, c.category, place, *tally_sums(c)).group_by(c.day, c.category, place)
    # The cycles from the done tickets alone, without the verdict `figure_rows` works out.
    done = scoped(EVERYTHING, [day, Ticket.category, TICKET_STREET.label("place"),
                               span_micros(span(Ticket.resolved_at, Ticket.created_at))
                               .label("cycle")],
                  Ticket.status.in_(DONE), Ticket.resolved_at.is_not(None), *conditions,
                  streets=True).subquery("done")
    d = done.c
    cycles = (select(d.day, d.category, gathered(func.coalesce(d.place, 0)), gathered(d.cycle))
              .group_by(d.day, d.category))
    summed, gathered_rows = await side_by_side(
        session, lambda s: s.execute(sums), lambda s: s.execute(cycles), narrow=False)
    rows = [tuple(row) for row in summed]
    found = [(day, category, numbers_of(streets), numbers_of(spans))
             for day, category, streets, spans in gathered_rows]
    categories = sorted({row[1] for row in rows} | {row[1] for row in found})
    number = {name: n for n, name in enumerate(categories)}
    cycles = [np.column_stack([np.full(len(spans), day), np.full(len(spans), number[category]),
                               np.array(streets, dtype=np.int64), np.array(spans, dtype=np.int64)])
              for day, category, streets, spans in found]
    return DayFigures.of(categories, [(row[0], number[row[1]], *row[2:]) for row in rows],
                         np.concatenate([np.zeros((0, 4), dtype=np.int64), *cycles]))
