"""Time that tests control: a clock moved by hand, and a monotonic clock, wall clock and sleep that only move
each other."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

START = 1000.0
WALL_START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@dataclass
class FixedClock:
    """A clock tests move by hand."""

    current: datetime = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)

    def now(self) -> datetime:
        """The set time."""
        return self.current


class SteppedClock:
    """Monotonic and wall time that move only when code sleeps on it or a test calls ``advance``.

    ``sleeps`` records every sleep asked for, in order. Pass ``monotonic``, ``sleep`` and ``wall`` (as ``now``)
    to the code under test; give a fake server ``monotonic`` to stamp requests on the same clock.
    """

    def __init__(self) -> None:
        self._elapsed = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        """Seconds on the monotonic clock (starting at 1000)."""
        return START + self._elapsed

    def wall(self) -> datetime:
        """The wall-clock time (2026-01-05 12:00 UTC plus the time slept or advanced)."""
        return WALL_START + timedelta(seconds=self._elapsed)

    def advance(self, seconds: float) -> None:
        """Move both clocks forward, as if ``seconds`` passed without anyone sleeping."""
        self._elapsed += seconds

    async def sleep(self, seconds: float) -> None:
        """Record the sleep, move time forward by it, and let other tasks run once."""
        self.sleeps.append(seconds)
        self._elapsed += seconds
        await asyncio.sleep(0)
