"""A monotonic clock that moves only when a test says so, with a ``sleep`` that waits for it.

Give ``clock.time`` and ``clock.sleep`` to code that takes a clock and a sleep (``ChannelPacer``,
``LoopMonitor``). ``clock.advance(s)`` moves time on and wakes every sleeper whose deadline has come;
``clock.slept`` records each delay asked for; ``await clock.wait_for_sleepers(n)`` waits (on events, not
time) until exactly ``n`` sleepers are waiting.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools


class ManualClock:
    """Seconds that pass only on ``advance``; sleepers wake in deadline order."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.slept: list[float] = []
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
        self.slept.append(delay)
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
