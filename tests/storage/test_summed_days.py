"""Any run of days added up from their running sums is what the days' rows and cycles give
counted one by one: the sums, the lowest ids and the exact middle cycles."""

from __future__ import annotations

from typing import Any

import numpy as np

from storage.day_figures import KEYS, SUMS, DayFigures
from storage.middles import span_of
from storage.stats import Tally
from storage.summed_days import SummedDays, added_up

HOUR = 3_600_000_000


def _days(rng: np.random.Generator, first_day: int, days: int, categories: tuple[str, ...],
          per_day: int) -> DayFigures:
    """Random days: many equal cycles (whole hours), many under a second, a few of none or
    less (a clock set back), some of years; streets 0 (none) to 6."""
    size = days * per_day
    day = rng.integers(first_day, first_day + days, size)
    category = rng.integers(0, len(categories), size)
    street = rng.integers(0, 7, size)
    cycles = (rng.lognormal(3, 1.5, size) * HOUR).astype(np.int64)
    cycles[rng.random(size) < 0.2] //= HOUR  # shorter than a second: in the first span
    cycles = np.where(rng.random(size) < 0.3, cycles // HOUR * HOUR, cycles)
    cycles[rng.random(size) < 0.01] = rng.integers(-5 * HOUR, 1, 1)
    cycles[rng.random(size) < 0.01] = 3 * 365 * 24 * HOUR
    keys = np.unique(np.column_stack([day, category, street]), axis=0)
    sums = rng.integers(1, 1000, (len(keys), SUMS))
    # Half the tickets are not done: only some of the groups have cycles.
    done = rng.random(size) < 0.5
    return DayFigures.of(categories, np.column_stack([keys, sums]).tolist(),
                         np.column_stack([day, category, street, cycles])[done])


def _counted(parts: list[tuple[DayFigures, int, int]]) -> dict[str, dict[Any, Tally]]:
    """The tallies of the days `first` to `last` of each part, one row and cycle at a time."""
    found: dict[str, dict[Any, Tally]] = {"total": {}, "category": {}, "street": {}}
    cycles: dict[tuple[str, Any], list[int]] = {}
    for figures, first, last in parts:
        for row in figures.rows.tolist():
            if not first <= row[0] <= last:
                continue
            for grouping, key in (("total", 0), ("category", figures.categories[row[1]]),
                                  ("street", row[2] or None)):
                tally = found[grouping].setdefault(key, Tally(first_id=row[-1]))
                (tally.received, tally.closed, tally.cancelled, tally.open, tally.cycles,
                 tally.cycle_us, tally.rated, tally.rating_sum, tally.on_time, tally.late) = (
                    a + b for a, b in zip(
                        (tally.received, tally.closed, tally.cancelled, tally.open,
                         tally.cycles, tally.cycle_us, tally.rated, tally.rating_sum,
                         tally.on_time, tally.late), row[KEYS:KEYS + SUMS - 1], strict=True))
                tally.first_id = min(tally.first_id, row[-1])
        groups = figures.groups.repeat(figures.groups[:, 3], axis=0)
        for (day, category, street, _), cycle in zip(groups.tolist(), figures.cycles.tolist(),
                                                     strict=True):
            if first <= day <= last:
                for key in (("total", 0), ("category", figures.categories[category]),
                            ("street", street or None)):
                    cycles.setdefault(key, []).append(cycle)
    for (grouping, key), picked in cycles.items():
        picked.sort()
        n = len(picked)
        found[grouping][key].middle = ((picked[n // 2],) if n % 2
                                       else (picked[n // 2 - 1], picked[n // 2]))
    return found


def test_any_run_of_days_adds_up_to_its_rows_and_cycles() -> None:
    rng = np.random.default_rng(11)
    # Months of their own categories: one has none of "wish", another one more.
    may = _days(rng, 100, 31, ("complaint", "dispute", "repair"), 300)
    june = _days(rng, 131, 30, ("complaint", "dispute", "repair", "wish"), 300)
    today = _days(rng, 200, 1, ("repair", "zzz-new"), 40)
    runs = [
        [(may, 100, 130), (june, 131, 160)],  # two whole months
        [(may, 117, 130), (june, 131, 140), (today, 200, 200)],  # parts of each
        [(june, 150, 150)],  # one day
        [(may, 140, 150), (june, 131, 131)],  # none of May's days, June's first
        [(june, 170, 180)],  # no day at all
    ]
    summed = {id(figures): SummedDays.of(figures) for figures in (may, june, today)}
    for run in runs:
        found = added_up([(summed[id(figures)], summed[id(figures)].between(first, last))
                          for figures, first, last in run])
        expected = _counted(run)
        assert found == expected, run


def test_a_longer_cycle_never_lies_in_an_earlier_span() -> None:
    rng = np.random.default_rng(3)
    cycles = np.sort(np.concatenate([
        rng.integers(-10**9, 10**9, 10_000), np.arange(-3, 3), 2 ** np.arange(63),
        2 ** np.arange(1, 63) - 1, rng.integers(0, 2**62, 10_000),
        np.array([np.iinfo(np.int64).max])]))
    for per_doubling in (8, 16):
        spans = span_of(cycles, per_doubling)
        assert np.all(np.diff(spans) >= 0)
        assert spans.min() == 0 and spans.max() == 32 * per_doubling - 1
        # A span a doubling wide holds per_doubling spans of its cycles.
        doubling = span_of(np.arange(2**30, 2**31, 2**14), per_doubling)
        assert len(np.unique(doubling)) == per_doubling
