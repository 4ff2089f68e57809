"""Time that tests control.

* ``FixedClock``: a wall clock (``now()``) that a test sets by hand.
* ``SteppedClock``: a monotonic clock, a wall clock and a sleep that only move each other (a sleep returns at
  once, having moved time on by its length).
* ``ManualClock``: a monotonic clock that moves only when the test calls ``advance``, and a sleep that waits
  until it has moved far enough: for code whose timing relative to other tasks is what is tested (a pacer, a
  heartbeat). ``clock.sleeps`` records each delay asked for; ``await clock.wait_for_sleepers(n)`` waits (on
  events, not time) until exactly ``n`` sleepers are waiting.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
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


class ManualClock:
    """Seconds that pass only on ``advance``; sleepers wake in deadline order."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._changed: asyncio.Event | None = None

    def time(self) -> float:
        """The current time."""
        return self.now

    @property
    def sleeping(self) -> int:
        """How many sleepers are waiting."""
        return sum(not future.done() for _, _, future in self._sleepers)

    async def sleep(self, delay: float) -> None:
        """Wait until the clock has been advanced by ``delay`` (a delay of 0 or less only yields)."""
        self.sleeps.append(delay)
        if delay <= 0:
            await asyncio.sleep(0)
            return
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + delay, next(self._order), future))
        self._notify()
        try:
            await future
        finally:
            if not future.done():  # cancelled: no longer a sleeper
                future.cancel()
            self._notify()

    def advance(self, seconds: float) -> None:
        """Move time on and wake the sleepers that are due (they run when the test next awaits)."""
        self.now += seconds
        while self._sleepers and self._sleepers[0][0] <= self.now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)
        self._sleepers = [entry for entry in self._sleepers if not entry[2].done()]
        heapq.heapify(self._sleepers)
        self._notify()

    async def wait_for_sleepers(self, count: int, within_s: float = 5.0) -> None:
        """Wait until exactly ``count`` sleepers wait; fail the test after ``within_s`` seconds."""
        async with asyncio.timeout(within_s):
            while self.sleeping != count:
                self._changed = self._changed or asyncio.Event()
                await self._changed.wait()

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None
