"""The scheduler over fakes: one weekday job per post time and zone, the catch-up of a missed run."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.delivery.scheduler import DigestScheduler
from bot.errors import StoreError
from bot.models import ChannelRecord, ChannelRef, Paper, ScoredPaper
from bot.ports import ChannelReader
from tests.fakes.clock import FixedClock
from tests.fakes.core import TODAY, FakeCore, ctx, fake_core
from tests.fakes.repositories import FakePapers, fake_repositories

A, B, C = ChannelRef("test", "w1", "a"), ChannelRef("test", "w1", "b"), ChannelRef("test", "w1", "c")


@pytest.fixture
async def core() -> AsyncIterator[FakeCore]:
    """A core whose clock stands on Monday 2026-01-05 at 08:00 UTC, before the default 09:00 slot."""
    made = fake_core(clock=FixedClock(datetime(2026, 1, 5, 8, 0, tzinfo=UTC)))
    made.source.listings[frozenset({"cs.DC"})] = TODAY
    yield made
    await made.scheduler.stop()


async def subscribe(core: FakeCore, ref: ChannelRef, *lines: str) -> None:
    for line in ("subscribe cs.DC", "keywords add LLM", *lines):
        await core.commands.execute(ctx(channel=ref), line)


async def test_one_weekday_job_per_post_time_and_zone(core: FakeCore) -> None:
    await subscribe(core, A)
    await subscribe(core, B)
    await subscribe(core, C, "set time 07:30 Asia/Tokyo")
    await core.commands.execute(ctx(channel=ChannelRef("test", "w1", "idle")), "set max 3")  # no category: no job
    await core.scheduler.start()
    await core.scheduler.wait_idle()
    jobs = core.scheduler.jobs()
    assert sorted(jobs) == ["catch-up", "digest 07:30 Asia/Tokyo", "digest 09:00 UTC"]
    # APScheduler computes next runs from the real clock: check the weekday and the time of day only.
    utc = datetime.fromisoformat(jobs["digest 09:00 UTC"])
    assert utc.weekday() < 5 and (utc.hour, utc.minute, utc.utcoffset()) == (9, 0, timedelta(0))
    tokyo = datetime.fromisoformat(jobs["digest 07:30 Asia/Tokyo"])
    assert tokyo.weekday() < 5 and (tokyo.hour, tokyo.minute, tokyo.utcoffset()) == (7, 30, timedelta(hours=9))
    assert core.publisher.sent == []  # nothing was missed: every slot is still ahead


async def test_a_settings_change_moves_the_job_and_an_unused_slot_goes(core: FakeCore) -> None:
    await subscribe(core, A)
    await core.scheduler.start()
    await core.scheduler.wait_idle()
    assert sorted(core.scheduler.jobs()) == ["catch-up", "digest 09:00 UTC"]
    # The service tells the scheduler through on_schedule_change; the scheduler moves that channel's job.
    await core.commands.execute(ctx(channel=A), "set time 10:15 Europe/Berlin")
    core.scheduler.channel_changed(core.schedule_changes[-1])
    await core.scheduler.wait_idle()
    assert sorted(core.scheduler.jobs()) == ["catch-up", "digest 10:15 Europe/Berlin"]
    await core.commands.execute(ctx(channel=A), "unsubscribe cs.DC")
    assert await core.scheduler.resync() == []
    assert list(core.scheduler.jobs()) == ["catch-up"]  # the catch-up stays, whatever the slots


class CountingReader:
    """A ChannelReader over the fake store that counts what is asked of it."""

    def __init__(self, inner: ChannelReader) -> None:
        self.inner = inner
        self.reads = 0

    async def get(self, ref: ChannelRef) -> ChannelRecord | None:
        self.reads += 1
        return await self.inner.get(ref)

    async def by_id(self, channel_id: int) -> ChannelRecord | None:
        self.reads += 1
        return await self.inner.by_id(channel_id)

    async def all_active(self) -> list[ChannelRecord]:
        self.reads += 1
        return await self.inner.all_active()


async def test_a_settings_change_moves_only_that_channels_job_without_reading_the_database(core: FakeCore) -> None:
    for ref in (A, B, C):
        await subscribe(core, ref)
    reader = CountingReader(core.repos.channels)
    scheduler = DigestScheduler(
        runner=core.runner, channels=reader, ledger=core.repos.ledger, clock=core.clock, misfire_grace_s=60
    )
    await scheduler.start()
    try:
        await scheduler.wait_idle()
        reads = reader.reads
        await core.commands.execute(ctx(channel=A), "set time 10:15 Europe/Berlin")
        scheduler.channel_changed(core.schedule_changes[-1])
        assert sorted(scheduler.jobs()) == ["catch-up", "digest 09:00 UTC", "digest 10:15 Europe/Berlin"]
        for ref in (B, C):  # the 09:00 slot empties: its job goes
            await core.commands.execute(ctx(channel=ref), "set time 10:15 Europe/Berlin")
            scheduler.channel_changed(core.schedule_changes[-1])
        assert sorted(scheduler.jobs()) == ["catch-up", "digest 10:15 Europe/Berlin"]
        for _ in range(5):
            await core.commands.execute(ctx(channel=A), "keywords add RL")
            scheduler.channel_changed(core.schedule_changes[-1])
        await core.commands.execute(ctx(channel=A), "unsubscribe cs.DC")  # no category: no job of its own
        scheduler.channel_changed(core.schedule_changes[-1])
        assert sorted(scheduler.jobs()) == ["catch-up", "digest 10:15 Europe/Berlin"]
        assert reader.reads == reads
    finally:
        await scheduler.stop()


async def test_start_runs_the_missed_digest_once(core: FakeCore) -> None:
    await subscribe(core, A, "set max 2")
    await subscribe(core, B, "set time 13:00", "set max 2")
    core.clock.current = datetime(2026, 1, 5, 11, 0, tzinfo=UTC)  # down at 09:00: A missed its run, B did not
    await core.scheduler.start()
    await core.scheduler.wait_idle()
    assert len(core.publisher.cards) == 2
    posted_to = {parent.channel for parent, _ in core.publisher.threads}
    assert posted_to == {A}
    last = {r.ref: r.last_digest_at for r in core.repos.channels.records}
    assert last == {A: core.clock.current, B: None}
    await core.scheduler.stop()

    # Started again the same day: the run is done, nothing is posted twice.
    again = DigestScheduler(
        runner=core.new_runner(),
        channels=core.repos.channels,
        ledger=core.repos.ledger,
        clock=core.clock,
        misfire_grace_s=60,
    )
    try:
        await again.start()
        await again.wait_idle()
    finally:
        await again.stop()
    assert len(core.publisher.cards) == 2


async def test_a_channel_created_after_the_slot_missed_nothing(core: FakeCore) -> None:
    core.clock.current = datetime(2026, 1, 5, 11, 0, tzinfo=UTC)
    await subscribe(core, A)
    await core.scheduler.start()
    await core.scheduler.wait_idle()
    assert core.publisher.sent == [] and core.source.fetched == []


class BrokenPapers(FakePapers):
    """Papers whose database is down."""

    async def add_many(self, papers: Iterable[Paper]) -> None:
        """Fail as a lost database connection does."""
        raise StoreError("database error: OperationalError: disk I/O error")


async def test_a_failing_missed_run_is_logged_and_the_scheduler_keeps_going(caplog: pytest.LogCaptureFixture) -> None:
    clock = FixedClock(datetime(2026, 1, 5, 8, 0, tzinfo=UTC))
    core = fake_core(clock=clock, repos=replace(fake_repositories(clock=clock), papers=BrokenPapers()))
    core.source.listings[frozenset({"cs.DC"})] = TODAY
    await subscribe(core, A)
    clock.current = datetime(2026, 1, 5, 11, 0, tzinfo=UTC)
    try:
        await core.scheduler.start()
        await core.scheduler.wait_idle()
        assert "daily digest of 1 channel(s) failed" in caplog.text
        assert sorted(core.scheduler.jobs()) == ["catch-up", "digest 09:00 UTC"]
    finally:
        await core.scheduler.stop()
    assert core.publisher.sent == [] and core.repos.channels.records[0].last_digest_at is None


async def test_start_catches_up_on_unfinished_rows_of_a_channel_whose_run_is_not_missed(core: FakeCore) -> None:
    await subscribe(core, A, "set max 2")
    core.clock.current = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    await core.runner.run(await core.repos.channels.all_active())  # today's digest: done at 09:30
    [record] = await core.repos.channels.all_active()
    assert record.last_digest_at == core.clock.current and len(core.publisher.cards) == 2
    # Later a manual digest planned one more paper whose post failed (its row is left pending) ...
    core.clock.current = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    await core.repos.ledger.plan(record.id, [ScoredPaper(paper=TODAY[3], score=1.0, matched=())])
    # ... and the bot restarts at 11:00: no slot was missed, the catch-up posts the row anyway, without fetching.
    core.clock.current = datetime(2026, 1, 5, 11, 0, tzinfo=UTC)
    fetched = list(core.source.fetched)
    await core.scheduler.start()
    await core.scheduler.wait_idle()
    assert [c.paper.arxiv_id for c in core.publisher.cards] == ["2601.00001", "2601.00002", "2601.00004"]
    assert len(core.publisher.threads) == 3 and core.source.fetched == fetched
    assert await core.repos.ledger.unfinished(record.id) == []
    assert "catch-up" in core.scheduler.jobs()


async def test_the_catch_up_while_running_delivers_what_a_failed_post_left_and_nothing_planned_later(
    core: FakeCore,
) -> None:
    await subscribe(core, A)
    await subscribe(core, B)
    await core.scheduler.start()  # at 08:00: nothing missed, nothing to catch up on
    await core.scheduler.wait_idle()
    assert core.publisher.sent == []
    core.clock.current = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    core.publisher.fail_cards.add("2601.00002v1")
    await core.runner.run(await core.repos.channels.all_active())  # the 09:00 slot; one card refused in each
    assert len(core.publisher.cards) == 4
    ids = [r.id for r in await core.repos.channels.all_active()]
    assert [len(await core.repos.ledger.unfinished(i)) for i in ids] == [1, 1]
    core.publisher.fail_cards.clear()
    core.clock.current = datetime(2026, 1, 5, 8, 59, tzinfo=UTC)  # (a clock before the plan: nothing is due)
    await core.scheduler.catch_up()
    assert len(core.publisher.cards) == 4
    core.clock.current = datetime(2026, 1, 5, 9, 5, tzinfo=UTC)  # the interval job's next turn
    await core.scheduler.catch_up()
    assert sorted(c.paper.arxiv_id for c in core.publisher.cards[4:]) == ["2601.00002", "2601.00002"]
    assert [len(await core.repos.ledger.unfinished(i)) for i in ids] == [0, 0]
    assert len(core.publisher.threads) == 6


async def test_a_personal_digest_shares_its_slot_with_the_channels_and_me_off_takes_it_out(core: FakeCore) -> None:
    await subscribe(core, A)
    for line in ("me subscribe cs.DC", "me keywords add consensus"):
        await core.commands.execute(ctx("U7", channel=A, can_manage=False), line)
    mine = ChannelRef(A.platform, A.workspace, "@U7")
    core.clock.current = datetime(2026, 1, 5, 11, 0, tzinfo=UTC)  # down at 09:00: both missed their run
    await core.scheduler.start()
    await core.scheduler.wait_idle()
    assert sorted(core.scheduler.jobs()) == ["catch-up", "digest 09:00 UTC"]  # one job for the channel and the person
    assert core.source.fetched == [("cs.DC",)]  # one fetch for both
    assert {where for kind, where in core.publisher.where if kind == "card"} == {A, mine}
    last = {r.ref: r.last_digest_at for r in core.repos.channels.records}
    assert last == {A: core.clock.current, mine: core.clock.current}

    await core.commands.execute(ctx("U7", channel=A, can_manage=False), "me time 10:15 Europe/Berlin")
    core.scheduler.channel_changed(core.schedule_changes[-1])
    assert sorted(core.scheduler.jobs()) == ["catch-up", "digest 09:00 UTC", "digest 10:15 Europe/Berlin"]
    await core.commands.execute(ctx("U7", channel=A, can_manage=False), "me off")
    core.scheduler.channel_changed(core.schedule_changes[-1])
    assert sorted(core.scheduler.jobs()) == ["catch-up", "digest 09:00 UTC"]  # stopped: its slot went
    assert [r.ref for r in await core.scheduler.resync()] == [A]
