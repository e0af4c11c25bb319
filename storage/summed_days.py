"""Days' figures summed day after day, so that the figures of any run of the days add up in
a subtraction instead of a pass over their rows (`bot.reports.spans`).

For each grouping (`storage.stats.STREET_GROUPINGS`: everything, per category, per street)
`SummedDays` keeps, day after day, the running sums of a `Tally`'s counts and the running
count of done tickets per group and per *span of cycles*: the spans are a fixed share of
the cycle wide (`span_of`), the same for every day and every set of days, so spans counted
over different days add up. The spans and their counts tell, for any run of days, the span
each group's middle cycle lies in and its rank there; only the cycles of those spans are
then read from the days' cycles and sorted. The medians come out exactly as
`storage.stats.middles_of_groups` picks them from all the cycles at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from storage.day_figures import KEYS, SUMS, DayFigures
from storage.stats import STREET_GROUPINGS, Tally

#: The columns of `DayFigures.rows` that add up, then the one that is a lowest id.
_SUMMED = slice(KEYS, KEYS + SUMS - 1)
_FIRST_ID = KEYS + SUMS - 1
_NO_ID = np.iinfo(np.int64).max

#: Cycles are counted into spans from 2**20 µs (about a second: shorter ones share the
#: first span) over 32 doublings (beyond 140 years: the last span).
_SHORTEST_BITS = 20
_DOUBLINGS = 32

#: Per grouping: the `DayFigures.rows` column of its key (None: one group) and how many
#: spans each doubling of the cycle is cut into. A street's spans are wider: a city's 200
#: streets of a month's 31 days are 1.6 million running counts as it is.
_GROUPINGS: dict[str, tuple[int | None, int]] = {"total": (None, 16), "category": (1, 16),
                                                 "street": (2, 8)}


def span_of(cycles: np.ndarray, per_doubling: int) -> np.ndarray:
    """Each cycle's span: a longer cycle never lies in an earlier span. The float's exponent
    and its top mantissa bits are its logarithm in steps of 1/`per_doubling` doubling
    (negative and zero cycles lie in the first span)."""
    bits = per_doubling.bit_length() - 1
    logarithm = cycles.astype(np.float64).view(np.int64) >> (52 - bits)
    first = (1023 + _SHORTEST_BITS) << bits
    return np.clip(logarithm - first, 0, (_DOUBLINGS << bits) - 1)


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
        spans = per_doubling * _DOUBLINGS
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
    middles = _middles(counted.reshape(len(keys), spans), cycles_of)
    return {key: Tally(*sums[n, :6].tolist(), middles[n], *sums[n, 6:].tolist(),
                       int(firsts[n]))
            for n, key in enumerate(keys) if sums[n, 0] > 0}


def _middles(counted: np.ndarray, sides: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
             ) -> list[tuple[int, ...]]:
    """The middle cycle, or two, of each group, from how many cycles each (group, span)
    holds (`counted`) and each side's cycles with their cells, which `cells` turns into
    cells of `counted`."""
    groups, spans = counted.shape
    sizes = counted.sum(axis=1)
    ends = np.cumsum(counted.ravel())
    before = ends[np.arange(groups) * spans + spans - 1] - sizes  # the groups before
    ranks = np.stack([(sizes - 1) // 2, sizes // 2]) + before
    held = sizes > 0
    cell_of = np.searchsorted(ends, ranks, side="right")
    cell = np.minimum(cell_of, len(ends) - 1)  # (for groups without cycles)
    within = ranks - (ends[cell] - counted.ravel()[cell])
    wanted = np.zeros(groups * spans, dtype=bool)
    wanted[cell_of[:, held].ravel()] = True
    found_cells, found_cycles = [], []
    for cells, side_cells, cycles in sides:
        kept = wanted[cells][side_cells]
        found_cells.append(cells[side_cells[kept]])
        found_cycles.append(cycles[kept])
    found_cell = np.concatenate([np.zeros(0, dtype=np.int64), *found_cells])
    found_cycle = np.concatenate([np.zeros(0, dtype=np.int64), *found_cycles])
    order = np.lexsort((found_cycle, found_cell))
    found_cell, found_cycle = found_cell[order], found_cycle[order]
    picked = found_cycle[np.minimum(np.searchsorted(found_cell, cell_of) + within,
                                    max(len(found_cycle) - 1, 0))] if len(found_cycle) \
        else np.zeros_like(cell_of)
    return [() if not size else (int(picked[0, g]),) if size % 2
            else (int(picked[0, g]), int(picked[1, g]))
            for g, size in enumerate(sizes.tolist())]
