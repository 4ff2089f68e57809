"""Ledger marks written together: every mark asked for while a write is under way goes in the next one (group commit).

A digest marks each ledger row around each platform call: the intent (``sending`` with the row's key) before it and
the outcome after it. Written one transaction per mark, that is most of a digest's own work at a thousand channels.
``BatchedMarks`` is the ``DeliveryMarks`` the runner uses instead: a caller's ``mark`` returns only once its mark is
committed (so an intent is durable before the platform call, as before), but all the marks that channels posting
side by side ask for meanwhile share one transaction (``DeliveryBatches.mark_many``).

A database error does not abort the digest and loses no record of a message the platform took: a failed write is
retried (``retry_delays_s``); when it still fails, each caller gets the ``StoreError``: an intent that is not recorded
is not posted, and an outcome that is not recorded leaves the row ``sending`` with its key, which the next delivery
(the catch-up, the next start) reconciles by looking for the message on the platform before posting anything.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from bot.errors import StoreError
from bot.models import Delivery, DeliveryMark
from bot.ports import DeliveryBatches

log = logging.getLogger(__name__)

RETRY_DELAYS_S = (0.05, 0.25, 1.0, 2.0)
"""Waits before each retry of a failed write (then the marks in it fail)."""


@dataclass(slots=True)
class _Pending:
    delivery: Delivery
    mark: DeliveryMark
    done: asyncio.Future[Delivery]


class BatchedMarks:
    """``DeliveryMarks`` over ``DeliveryBatches``: marks asked for together are committed in one transaction.

    ``max_batch=1`` writes one transaction per mark (still one writer, with the retries): the bench's baseline.
    """

    def __init__(
        self,
        *,
        ledger: DeliveryBatches,
        retry_delays_s: Sequence[float] = RETRY_DELAYS_S,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_batch: int | None = None,
    ) -> None:
        self._ledger = ledger
        self._max_batch = max_batch
        self._delays = tuple(retry_delays_s)
        self._sleep = sleep
        self._queue: list[_Pending] = []
        self._writer: asyncio.Task[None] | None = None
        self.batches = 0
        """Transactions written (for the bench)."""

    async def mark(self, delivery: Delivery, mark: DeliveryMark) -> Delivery:
        """Record ``mark`` on the row with the marks asked for meanwhile; returns the row as marked once committed.

        ``StoreError`` when it could not be written even after the retries.
        """
        done: asyncio.Future[Delivery] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(delivery, mark, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write_all())
        # A caller cancelled (shutdown) still has its mark written: the writer does not depend on it.
        return await asyncio.shield(done)

    async def flush(self) -> None:
        """Wait until every mark asked for so far is written (or failed)."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    async def _write_all(self) -> None:
        await asyncio.sleep(0)  # let the other channels ask for their marks: they go in this batch
        while self._queue:
            await self._write(self._take())

    def _take(self) -> list[_Pending]:
        """The queued marks, at most one per row (a second mark of a row waits for the next batch)."""
        batch: list[_Pending] = []
        rows: set[int] = set()
        rest: list[_Pending] = []
        for pending in self._queue:
            full = self._max_batch is not None and len(batch) >= self._max_batch
            if full or pending.delivery.id in rows:
                rest.append(pending)
            else:
                rows.add(pending.delivery.id)
                batch.append(pending)
        self._queue = rest
        return batch

    async def _write(self, batch: list[_Pending]) -> None:
        items = [(p.delivery, p.mark) for p in batch]
        error: StoreError | None = None
        for delay in (*self._delays, None):
            try:
                marked = await self._ledger.mark_many(items)
            except StoreError as err:
                error = err
                if delay is None:
                    break
                log.warning("recording %d ledger mark(s) failed, retrying in %.2f s: %s", len(items), delay, err)
                await self._sleep(delay)
                continue
            self.batches += 1
            for pending, row in zip(batch, marked, strict=True):
                if not pending.done.done():
                    pending.done.set_result(row)
            return
        assert error is not None
        log.error("recording %d ledger mark(s) failed after retries; rows stay as recorded: %s", len(items), error)
        for pending in batch:
            if not pending.done.done():
                pending.done.set_exception(StoreError(str(error)))
