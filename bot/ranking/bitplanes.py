"""Sets of papers as bit masks: a Python int whose bit ``i`` stands for the paper at position ``i``, so that a
union or an intersection costs one machine word per 30 papers, in C."""

from __future__ import annotations

NEVER = 1 << 62
"""Larger than any count of papers or any sum: as ``k``, no limit."""


def lowest(mask: int, k: int) -> list[int]:
    """Positions of the lowest ``k`` set bits of ``mask``."""
    positions: list[int] = []
    while mask and len(positions) < k:
        low = mask & -mask
        positions.append(low.bit_length() - 1)
        mask ^= low
    return positions
