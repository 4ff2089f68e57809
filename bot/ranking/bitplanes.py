"""Bit-sliced integer arithmetic over papers: every paper's sum advanced at once, in C-level operations.

A set of papers is a Python int used as a bit mask: bit ``i`` stands for the paper at position ``i``. A
whole column of small non-negative integers, one per paper, is a list of such masks, its bit planes:
bit ``i`` of ``planes[j]`` is bit ``j`` of paper ``i``'s value. Adding, comparing with a threshold and
picking the largest values then take a few mask operations per plane, each costing one machine word per
30 papers, instead of a Python loop over the papers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

NEVER = 1 << 62
"""Larger than any count of papers or any sum: as ``k``, no limit."""


def sum_planes(
    size: int, adds: Iterable[tuple[int, int]], anywhere: Mapping[int, int], in_title: Mapping[int, int]
) -> list[int]:
    """Bit planes (``size`` of them) of the sums of ``(2 * anywhere[t] + in_title[t]) << j`` for ``(t, j)`` in ``adds``.

    ``anywhere[t]`` and ``in_title[t]`` are masks (missing: no paper), so each paper in ``anywhere[t]``
    gains 2 << j, 3 << j when it is in ``in_title[t]`` too (which must be a subset). Each addition is a
    ripple-carry adder run on whole masks: every paper's sum advances at once. ``size`` must leave room for
    the largest sum, so that no carry runs out of the top plane.
    """
    planes = [0] * size
    holding_of, titled_of = anywhere.get, in_title.get
    for tid, j in adds:
        holding = holding_of(tid, 0)
        if not holding:
            continue
        titled = titled_of(tid, 0)
        # Add (2 * holding + titled) << j: a half adder at plane j, a full adder at j + 1, then the carry.
        plane = planes[j]
        planes[j] = plane ^ titled
        carry = plane & titled
        plane = planes[j + 1]
        partial = plane ^ holding
        planes[j + 1] = partial ^ carry
        carry = (plane & holding) | (partial & carry)
        j += 2
        while carry:
            plane = planes[j]
            planes[j] = plane ^ carry
            carry &= plane
            j += 1
    return planes


def at_least(planes: Sequence[int], n: int, among: int) -> int:
    """The papers of ``among`` whose bit-sliced value in ``planes`` is at least ``n``."""
    if n <= 0:
        return among
    if n >> len(planes):
        return 0
    greater, equal = 0, among
    for j in range(len(planes) - 1, -1, -1):
        plane = planes[j]
        if n >> j & 1:
            equal &= plane
        else:
            greater |= equal & plane
            equal &= ~plane
    return greater | equal


def top(planes: Sequence[int], candidates: int, k: int) -> list[int]:
    """Positions of the ``k`` highest values among ``candidates`` (ties: lowest positions), unordered.

    Radix selection from the top plane down: at each plane, either every winner has that bit set (narrow to
    those), or all that have it are winners (take them and look for the rest among those that do not).
    """
    if candidates.bit_count() <= k:
        return lowest(candidates, k)
    winners = 0
    for plane in reversed(planes):
        high = candidates & plane
        count = high.bit_count()
        if count >= k:
            candidates = high
        else:
            winners |= high
            k -= count
            candidates &= ~plane
    return lowest(winners, NEVER) + lowest(candidates, k)


def lowest(mask: int, k: int) -> list[int]:
    """Positions of the lowest ``k`` set bits of ``mask``."""
    positions: list[int] = []
    while mask and len(positions) < k:
        low = mask & -mask
        positions.append(low.bit_length() - 1)
        mask ^= low
    return positions
