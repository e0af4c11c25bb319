"""The exact middle cycle (or two) of each group of cycles, without sorting them all.

The cycles are counted into *spans* a fixed share of the cycle wide (`span_of`): the same
for any set of cycles, so counts made apart (per day, `storage.summed_days`) add up. The
counts tell the span each group's middle lies in and its rank there; only the cycles of
those spans are then sorted (`middles_in_spans`), a few in a hundred.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Spans run from 2**20 µs (about a second: shorter cycles share the first span) over 32
#: doublings (beyond 140 years: the last span).
SHORTEST_BITS = 20
DOUBLINGS = 32

#: At most about this many (group, span) counts when every group is counted at once.
_CELLS = 1 << 21


def span_of(cycles: np.ndarray, per_doubling: int) -> np.ndarray:
    """Each cycle's span: a longer cycle never lies in an earlier span. The float's exponent
    and its top mantissa bits are its logarithm in steps of 1/`per_doubling` doubling (a
    power of two; negative and zero cycles lie in the first span)."""
    bits = per_doubling.bit_length() - 1
    logarithm = cycles.astype(np.float64).view(np.int64) >> (52 - bits)
    first = (1023 + SHORTEST_BITS) << bits
    return np.clip(logarithm - first, 0, (DOUBLINGS << bits) - 1)


def middles_of_groups(cycles: np.ndarray, codes: np.ndarray,
                      groups: int) -> list[tuple[int, ...]]:
    """The middle cycle, or the two middle ones, of the cycles of each group numbered 0 to
    `groups` - 1 (`codes`: each cycle's group); () for a group without cycles. The more
    groups, the wider the spans (16 a doubling for up to 4,096 groups)."""
    per_doubling = 16
    while per_doubling > 1 and groups * per_doubling * DOUBLINGS > _CELLS:
        per_doubling //= 2
    spans = per_doubling * DOUBLINGS
    cells = codes * spans + span_of(cycles, per_doubling)
    counted = np.bincount(cells, minlength=groups * spans).reshape(groups, spans)
    return middles_in_spans(counted, [(np.arange(groups * spans), cells, cycles)])


def middles_in_spans(counted: np.ndarray,
                     sides: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
                     ) -> list[tuple[int, ...]]:
    """The middle cycle, or two, of each group, from how many cycles each (group, span)
    holds (`counted`, a row per group) and the cycles counted: each side's cycles with
    their cells, which its first array turns into cells of `counted` (group * spans + span).
    """
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
