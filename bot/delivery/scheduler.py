"""The daily digest on APScheduler 3.11, in the service's event loop: one job per distinct post time and zone,
plus the catch-up: at start and every ``catch_up_interval_s``, channels with unfinished ledger rows planned by now
get them delivered, whatever the schedule says."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Collection, Coroutine
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.delivery.runner import DigestRunner
from bot.delivery.schedule import missed_run, parse_post_time
from bot.models import ChannelRecord
from bot.ports import ChannelReader, Clock, DeliveryPlanning, SlotClaims

log = logging.getLogger(__name__)

Slot = tuple[str, str]
"""(post time HH:MM, IANA zone)."""
CATCH_UP_JOB = "catch-up"


class DigestScheduler:
    """Keeps one cron job per slot (each runs every channel of that slot together) and the catch-up job."""

    def __init__(
        self,
        *,
        runner: DigestRunner,
        channels: ChannelReader,
        ledger: DeliveryPlanning,
        clock: Clock,
        misfire_grace_s: int,
        catch_up_interval_s: float = 300.0,
        claims: SlotClaims | None = None,
    ) -> None:
        """``claims``: with several replicas, each slot's run of a day is claimed so that it runs once."""
        self._claims = claims
        self._runner = runner
        self._channels = channels
        self._ledger = ledger
        self._clock = clock
        self._grace = misfire_grace_s
        self._catch_up_interval_s = catch_up_interval_s
        self._scheduler = AsyncIOScheduler()
        self._tasks: set[asyncio.Task[None]] = set()
        self._slot_of: dict[int, Slot] = {}
        self._members: dict[Slot, set[int]] = {}

    async def start(self) -> None:
        """Start the scheduler, add a job per slot, run once what was missed while we were down, and catch up on
        unfinished posts now and every ``catch_up_interval_s``."""
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
            self._spawn(self._run_claimed(missed))
        # The missed runs deliver their channels' unfinished rows themselves.
        self._spawn(self.catch_up(skip={r.id for r in missed}))
        self._scheduler.add_job(
            self.catch_up,
            IntervalTrigger(seconds=self._catch_up_interval_s),
            id=CATCH_UP_JOB,
            replace_existing=True,
            misfire_grace_time=self._grace,
            coalesce=True,
            max_instances=1,
        )

    async def stop(self) -> None:
        """Stop scheduling and wait for running digests."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        await self.wait_idle()

    def jobs(self) -> dict[str, str]:
        """Job id -> next run time, for inspection."""
        return {job.id: str(job.next_run_time) for job in self._scheduler.get_jobs()}

    def channel_changed(self, record: ChannelRecord) -> None:
        """Move this one channel's job after its settings changed, without asking the database: its slot gets a
        job if it had none, and a slot it leaves empty loses its job."""
        new = (record.post_time, record.timezone) if record.categories and not record.paused else None
        old = self._slot_of.pop(record.id, None)
        if old is not None and old != new:
            members = self._members.get(old, set())
            members.discard(record.id)
            if not members:
                self._members.pop(old, None)
                if self._scheduler.get_job(self._job_id(old)) is not None:
                    self._scheduler.remove_job(self._job_id(old))
        if new is None:
            return
        self._slot_of[record.id] = new
        self._members.setdefault(new, set()).add(record.id)
        if old != new or self._scheduler.get_job(self._job_id(new)) is None:
            try:
                self._add_slot_job(new)
            except Exception:
                log.exception("could not schedule %s %s for %s", new[0], new[1], record.ref)

    def channels_resumed(self) -> None:
        """Re-read all slots and catch up, after paused channels became active again (a workspace came back)."""
        self._spawn(self._resync_logged())
        self._spawn(self.catch_up())

    async def _resync_logged(self) -> None:
        try:
            await self.resync()
        except Exception:
            log.exception("could not update the schedule")

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_idle(self) -> None:
        """Wait until background work (missed runs, schedule updates) is done."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def resync(self) -> list[ChannelRecord]:
        """Make the jobs match the channels' slots (read from the database: at start)."""
        records = await self._channels.all_active()
        slots: dict[Slot, set[int]] = defaultdict(set)
        for record in records:
            slots[(record.post_time, record.timezone)].add(record.id)
        self._members = dict(slots)
        self._slot_of = {channel_id: slot for slot, ids in slots.items() for channel_id in ids}
        wanted = {self._job_id(slot) for slot in slots}
        for job in self._scheduler.get_jobs():
            if job.id not in wanted and job.id != CATCH_UP_JOB:
                job.remove()
        for slot in slots:
            self._add_slot_job(slot)
        return records

    def _add_slot_job(self, slot: Slot) -> None:
        at = parse_post_time(slot[0])
        self._scheduler.add_job(
            self._run_slot,
            CronTrigger(day_of_week="mon-fri", hour=at.hour, minute=at.minute, timezone=ZoneInfo(slot[1])),
            id=self._job_id(slot),
            args=[slot],
            replace_existing=True,
            misfire_grace_time=self._grace,
            coalesce=True,
            max_instances=1,
        )

    async def catch_up(self, *, skip: Collection[int] = ()) -> None:
        """Deliver the unfinished rows planned by now of every active channel (but those in ``skip`` and those a run
        is posting to), independent of missed slots: what a stop, a crash or a failed post left behind. A paused
        channel's rows wait for its workspace to come back."""
        try:
            await self._take_over_abandoned()
            ids = [i for i in await self._ledger.unfinished_channels(planned_before=self._clock.now()) if i not in skip]
            # Many channels (a digest running or taken over): one read of every active channel, not one read each.
            active = {r.id: r for r in await self._channels.all_active()} if len(ids) > 1 else {}
            records = [r for i in ids if (r := active.get(i) or await self._channels.by_id(i)) is not None and r.active]
            if not records:
                return
            log.info("catching up on unfinished posts in %d channel(s)", len(records))
            delivered = await self._runner.catch_up(records)
        except Exception:
            log.exception("catching up on unfinished posts failed")
            return
        for ref, (posted, failed) in delivered.items():
            log.info("catch-up %s: %d posted, %d failed", ref, posted, failed)

    async def _run_slot(self, slot: Slot) -> None:
        records = [r for r in await self._channels.all_active() if (r.post_time, r.timezone) == slot]
        await self._run_claimed(records)

    def _slot_day(self, slot: Slot) -> date:
        """The day of the slot's latest occurrence (today in its zone once its time has come, else yesterday)."""
        local = self._clock.now().astimezone(ZoneInfo(slot[1]))
        at = parse_post_time(slot[0])
        return local.date() if (local.hour, local.minute) >= (at.hour, at.minute) else local.date() - timedelta(1)

    async def _run_claimed(self, records: list[ChannelRecord]) -> None:
        """Run these channels' digest; with several replicas only the slots this replica claims for their day."""
        if self._claims is None:
            await self._run_records(records)
            return
        slots: dict[Slot, list[ChannelRecord]] = defaultdict(list)
        for record in records:
            slots[(record.post_time, record.timezone)].append(record)
        claimed: list[tuple[str, date]] = []
        mine: list[ChannelRecord] = []
        for slot, members in sorted(slots.items()):
            key, day = f"{slot[0]} {slot[1]}", self._slot_day(slot)
            if await self._claims.claim_slot(key, day):
                claimed.append((key, day))
                mine.extend(members)
            else:
                log.info("the digest of slot %s on %s runs on another replica", key, day)
        if not mine:
            return
        await self._run_records(mine)
        for key, day in claimed:
            await self._claims.finish_slot(key, day)

    async def _take_over_abandoned(self) -> None:
        """Run the slot runs another replica claimed and died in (their lease ran out unfinished)."""
        if self._claims is None:
            return
        abandoned = await self._claims.abandoned_slots()
        if not abandoned:
            return
        records = await self._channels.all_active()
        for key, day in abandoned:
            if not await self._claims.claim_slot(key, day):
                continue
            members = [r for r in records if f"{r.post_time} {r.timezone}" == key]
            log.info("running the digest of slot %s on %s that another replica left unfinished", key, day)
            await self._run_records(members)
            await self._claims.finish_slot(key, day)

    async def _run_records(self, records: list[ChannelRecord]) -> None:
        try:
            outcomes = await self._runner.run(records)
        except Exception:
            log.exception("daily digest of %d channel(s) failed", len(records))
            return
        for ref, outcome in outcomes.items():
            log.info(
                "digest %s: %d posted, %d failed, %d listed, %d unfinished",
                ref,
                outcome.posted,
                outcome.failed,
                outcome.listed,
                outcome.unfinished,
            )

    @staticmethod
    def _job_id(slot: Slot) -> str:
        return f"digest {slot[0]} {slot[1]}"
