"""The daily digest on APScheduler 3.11, in the service's event loop: one job per distinct post time and zone."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Coroutine
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.delivery.runner import DigestRunner
from bot.delivery.schedule import missed_run, parse_post_time
from bot.models import ChannelRecord
from bot.ports import ChannelReader, Clock

log = logging.getLogger(__name__)

Slot = tuple[str, str]
"""(post time HH:MM, IANA zone)."""


class DigestScheduler:
    """Keeps one cron job per slot; each job runs every channel of that slot together."""

    def __init__(
        self, *, runner: DigestRunner, channels: ChannelReader, clock: Clock, misfire_grace_s: int
    ) -> None:
        self._runner = runner
        self._channels = channels
        self._clock = clock
        self._grace = misfire_grace_s
        self._scheduler = AsyncIOScheduler()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Start the scheduler, add a job per slot and run once what was missed while we were down."""
        self._scheduler.start()
        records = await self.resync()
        now = self._clock.now()
        missed = [
            r
            for r in records
            if missed_run(
                now=now,
                post_time=r.post_time,
                timezone=r.timezone,
                last_run=r.last_digest_at,
                since=r.created_at,
            )
        ]
        if missed:
            log.info("running the missed digest of %d channel(s) now", len(missed))
            self._spawn(self._run_records(missed))

    async def stop(self) -> None:
        """Stop scheduling and wait for running digests."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        await self.wait_idle()

    def jobs(self) -> dict[str, str]:
        """Job id -> next run time, for inspection."""
        return {job.id: str(job.next_run_time) for job in self._scheduler.get_jobs()}

    def channel_changed(self, _record: ChannelRecord) -> None:
        """Re-read all slots after a channel's settings changed."""
        self._spawn(self._resync_logged())

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_idle(self) -> None:
        """Wait until background work (missed runs, schedule updates) is done."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def resync(self) -> list[ChannelRecord]:
        """Make the jobs match the channels' slots."""
        records = await self._channels.all_active()
        slots: dict[Slot, list[int]] = defaultdict(list)
        for record in records:
            slots[(record.post_time, record.timezone)].append(record.id)
        wanted = {self._job_id(slot) for slot in slots}
        for job in self._scheduler.get_jobs():
            if job.id not in wanted:
                job.remove()
        for slot in slots:
            at = parse_post_time(slot[0])
            self._scheduler.add_job(
                self._run_slot,
                CronTrigger(
                    day_of_week="mon-fri", hour=at.hour, minute=at.minute, timezone=ZoneInfo(slot[1])
                ),
                id=self._job_id(slot),
                args=[slot],
                replace_existing=True,
                misfire_grace_time=self._grace,
                coalesce=True,
                max_instances=1,
            )
        return records

    async def _resync_logged(self) -> None:
        try:
            await self.resync()
        except Exception:
            log.exception("could not update the schedule")

    async def _run_slot(self, slot: Slot) -> None:
        records = [r for r in await self._channels.all_active() if (r.post_time, r.timezone) == slot]
        await self._run_records(records)

    async def _run_records(self, records: list[ChannelRecord]) -> None:
        try:
            outcomes = await self._runner.run(records)
        except Exception:
            log.exception("daily digest of %d channel(s) failed", len(records))
            return
        for ref, outcome in outcomes.items():
            log.info(
                "digest %s: %d posted, %d failed, %d listed",
                ref,
                outcome.posted,
                outcome.failed,
                outcome.listed,
            )

    @staticmethod
    def _job_id(slot: Slot) -> str:
        return f"digest {slot[0]} {slot[1]}"
