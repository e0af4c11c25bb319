"""Days' figures summed day after day, so that the figures of any run of the days add up in
a subtraction instead of a pass over their rows (`bot.reports.spans`).

For each grouping (`storage.stats.STREET_GROUPINGS`: everything, per category, per street)
`SummedDays` keeps, day after day, the running sums of a `Tally`'s counts and the running
count of done tickets per group and per *span of cycles* (`storage.middles`): the spans
are the same for every day, so spans counted over different days add up, and for any run
of days the medians are picked from them exactly as from all its cycles at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from storage.day_figures import KEYS, SUMS, DayFigures
from storage.middles import DOUBLINGS, middles_in_spans, span_of
from storage.stats import STREET_GROUPINGS, Tally

#: The columns of `DayFigures.rows` that add up, then the one that is a lowest id.
_SUMMED = slice(KEYS, KEYS + SUMS - 1)
_FIRST_ID = KEYS + SUMS - 1
_NO_ID = np.iinfo(np.int64).max

#: Per grouping: the `DayFigures.rows` column of its key (None: one group) and how many
#: spans each doubling of the cycle is cut into. A street's spans are wider: a city's 200
#: streets of a month's 31 days are 1.6 million running counts as it is.
_GROUPINGS: dict[str, tuple[int | None, int]] = {"total": (None, 16), "category": (1, 16),
                                                 "street": (2, 8)}


@dataclass(frozen=True, slots=True)
class _Grouping:
    """One grouping's running figures over `SummedDays.days`.

    `keys` are its groups' (a category's name, a street's id, 0 for everything); `sums[d]`
    the counts and sums of the days before day `d`, per group; `firsts[d]` each group's
    lowest id on day `d`; `cells` each cycle's group and span (`group * spans + span`);
    `counts[d]` how many cycles of the days before day `d` each cell holds."""

    keys: tuple[Any, ...]
    spans: int
    sums: np.ndarray
    firsts: np.ndarray
    cells: np.ndarray
    counts: np.ndarray

    @classmethod
    def summed(cls, figures: DayFigures, column: int | None, per_doubling: int, days: int,
               row_day: np.ndarray, cycle_day: np.ndarray) -> _Grouping:
        """Grouped by the rows' `column` (None: all in one group), over `days` days: each
        row's day and each cycle's are `row_day` and `cycle_day`."""
        rows, groups = figures.rows, figures.groups
        if column is None:
            values = np.zeros(1, dtype=np.int64)
            row_group = np.zeros(len(rows), dtype=np.int64)
            cycle_group = np.zeros(len(figures.cycles), dtype=np.int64)
        else:
            values, row_group = np.unique(rows[:, column], return_inverse=True)
            cycle_group = np.repeat(np.searchsorted(values, groups[:, column]), groups[:, 3])
        count = len(values)
        sums = np.zeros((days + 1, count, SUMS - 1), dtype=np.int64)
        np.add.at(sums[1:], (row_day, row_group), rows[:, _SUMMED])
        firsts = np.full((days, count), _NO_ID, dtype=np.int64)
        np.minimum.at(firsts, (row_day, row_group), rows[:, _FIRST_ID])
        spans = per_doubling * DOUBLINGS
        cells = cycle_group * spans + span_of(figures.cycles, per_doubling)
        counts = np.zeros((days + 1, count * spans), dtype=np.int32)
        counts[1:] = np.bincount(cycle_day * (count * spans) + cells,
                                 minlength=days * count * spans).reshape(days, count * spans)
        keys = tuple(figures.categories[v] if column == 1 else v for v in values.tolist())
        return cls(keys, spans, np.cumsum(sums, axis=0), firsts, cells.astype(np.uint32),
                   np.cumsum(counts, axis=0, dtype=np.int32))


@dataclass(frozen=True, slots=True)
class SummedDays:
    """The figures of some days (`days`, numbered as `storage.figures_sql.day_number`),
    summed day after day per grouping; `cycles` in the order of their days, the cycles of
    day `d` from `starts[d]` to `starts[d + 1]`."""

    days: np.ndarray
    starts: np.ndarray
    cycles: np.ndarray
    groupings: dict[str, _Grouping]

    @classmethod
    def of(cls, figures: DayFigures) -> SummedDays:
        rows, groups = figures.rows, figures.groups
        days = np.unique(rows[:, 0])
        row_day = np.searchsorted(days, rows[:, 0])
        # `DayFigures` keeps its cycles in the order of their groups, and those by day.
        cycle_day = np.repeat(np.searchsorted(days, groups[:, 0]), groups[:, 3])
        starts = np.searchsorted(cycle_day, np.arange(len(days) + 1))
        found = {name: _Grouping.summed(figures, column, per_doubling, len(days), row_day,
                                        cycle_day)
                 for name, (column, per_doubling) in _GROUPINGS.items()}
        return cls(days, starts, figures.cycles, found)

    def between(self, first: int | None = None, last: int | None = None) -> tuple[int, int]:
        """The indexes into `days` of the days numbered `first` to `last` (every day when
        not given), as a range."""
        return (0 if first is None else int(np.searchsorted(self.days, first, "left")),
                len(self.days) if last is None else int(np.searchsorted(self.days, last,
                                                                        "right")))


def added_up(parts: Sequence[tuple[SummedDays, tuple[int, int]]],
             ) -> dict[str, dict[Any, Tally]]:
    """The tallies per grouping (`storage.stats.STREET_GROUPINGS`) of the days of each part
    in its range (`SummedDays.between`), as `storage.stats.tallies` finds them over the
    same tickets: keyed 0 for everything, by category name and by street id (None: none)."""
    found: dict[str, dict[Any, Tally]] = {}
    for name in STREET_GROUPINGS:
        found[name] = _tallies(name, [(part, first, last)
                                      for part, (first, last) in parts if last > first])
        if name == "street":
            found[name] = {key or None: tally for key, tally in found[name].items()}
    return found


def _tallies(name: str, sides: Sequence[tuple[SummedDays, int, int]]) -> dict[Any, Tally]:
    """Grouping `name`'s tallies over each side's days `first` to `last` (exclusive)."""
    if not sides:
        return {}
    keys = sorted({key for days, *_ in sides for key in days.groupings[name].keys})
    index = {key: n for n, key in enumerate(keys)}
    spans = sides[0][0].groupings[name].spans
    sums = np.zeros((len(keys), SUMS - 1), dtype=np.int64)
    firsts = np.full(len(keys), _NO_ID, dtype=np.int64)
    counted = np.zeros(len(keys) * spans, dtype=np.int64)
    # Each side's cells as cells of every side's, and its days' cycles with their cells.
    cycles_of = []
    for days, first, last in sides:
        grouping = days.groupings[name]
        mine = np.array([index[key] for key in grouping.keys], dtype=np.int64)
        # A side's groups are distinct: each adds to its own row.
        sums[mine] += grouping.sums[last] - grouping.sums[first]
        firsts[mine] = np.minimum(firsts[mine], grouping.firsts[first:last].min(axis=0))
        cells = (mine[:, None] * spans + np.arange(spans)).ravel()
        counted[cells] += grouping.counts[last] - grouping.counts[first]
        run = slice(days.starts[first], days.starts[last])
        cycles_of.append((cells, grouping.cells[run], days.cycles[run]))
    middles = middles_in_spans(counted.reshape(len(keys), spans), cycles_of)
    return {key: Tally(*sums[n, :6].tolist(), middles[n], *sums[n, 6:].tolist(),
                       int(firsts[n]))
            for n, key in enumerate(keys) if sums[n, 0] > 0}
