"""Leases on the local PostgreSQL: one replica runs a slot and holds a channel's rows; another takes them over only
once the holder's lease ran out (its heartbeat stopped), on its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from bot.models import ChannelDefaults, ChannelRef, Paper, ScoredPaper
from bot.store import schema as db
from bot.store.channels import ChannelStore
from bot.store.database import Database, create_engine
from bot.store.leases import LeasedLedger, Leases
from bot.store.papers import PaperStore
from bot.store.run_lock import PostgresInUse, RunLock
from tests.fakes.clock import FixedClock

DAY = date(2026, 1, 5)


@pytest.fixture
async def database(pg_url: str) -> AsyncIterator[Database]:
    """One migrated PostgreSQL schema."""
    db = Database(engine=create_engine(pg_url), clock=FixedClock())
    yield db
    await db.dispose()


async def _planned_channel(database: Database, ledger: LeasedLedger) -> int:
    defaults = ChannelDefaults(
        post_time="09:00", timezone="UTC", max_papers=5, min_score=1, include_cross=False, language="en"
    )
    record = await ChannelStore(database=database, defaults=defaults).get_or_create(ChannelRef("slack", "T1", "C1"))
    papers = [
        Paper(arxiv_id=f"2601.0000{i}", version=1, title=f"P{i}", abstract="a", authors=("A",), categories=("cs.DC",),
              primary_category="cs.DC")
        for i in range(3)
    ]  # fmt: skip
    await PaperStore(database=database).add_many(papers)
    await ledger.plan(record.id, [ScoredPaper(paper=p, score=2.0, matched=("x",)) for p in papers])
    return record.id


async def _lease_until(database: Database) -> datetime:
    async with database.transaction() as conn:
        value = (await conn.execute(sa.select(sa.func.max(db.deliveries.c.lease_until)))).scalar()
    assert isinstance(value, datetime)
    return value


async def _eventually(step: object, within_s: float = 15.0) -> None:
    """Run ``step`` (returning True when done) until it is done; fail after ``within_s`` (lease expiry is real
    time: the database server's clock)."""
    assert callable(step)
    deadline = asyncio.get_running_loop().time() + within_s
    while not await step():
        assert asyncio.get_running_loop().time() < deadline, "not taken over within the time allowed"
        await asyncio.sleep(0.2)


async def test_a_slot_runs_once_and_a_dead_replicas_slot_and_rows_are_taken_over_after_its_lease(
    database: Database,
) -> None:
    a = Leases(database=database, holder="replica-a", lease_s=1.0)
    b = Leases(database=database, holder="replica-b", lease_s=1.0)
    ledger_a, ledger_b = LeasedLedger(database=database, leases=a), LeasedLedger(database=database, leases=b)
    try:
        assert await a.claim_slot("09:00 UTC", DAY)
        assert not await b.claim_slot("09:00 UTC", DAY)
        channel = await _planned_channel(database, ledger_a)
        mine = await ledger_a.unfinished(channel)
        assert [r.rank for r in mine] == [0, 1, 2]
        assert await ledger_b.unfinished(channel) == []  # held by a live replica
        assert await ledger_b.unfinished_many([channel]) == {channel: []}
        later = datetime(2026, 1, 6, tzinfo=UTC)  # the catch-up of b does not even look at a's channel
        assert await ledger_b.unfinished_channels(planned_before=later) == []
        assert await ledger_a.unfinished_channels(planned_before=later) == [channel]
        assert [r.rank for r in (await ledger_a.unfinished_many([channel]))[channel]] == [0, 1, 2]

        before = await _lease_until(database)
        await a.renew()  # what a's heartbeat does every third of the lease
        assert await _lease_until(database) >= before
        await a.stop_heartbeat(give_up=False)  # a dies: its leases are no longer renewed, nor given up

        async def b_took_over() -> bool:
            return bool(await ledger_b.unfinished(channel))

        await _eventually(b_took_over)
        assert [r.rank for r in await ledger_b.unfinished(channel)] == [0, 1, 2]
        assert await ledger_a.unfinished(channel) == []  # a (were it alive) no longer holds them
        assert await b.abandoned_slots() == [("09:00 UTC", DAY)]
        assert await b.claim_slot("09:00 UTC", DAY)
        await b.finish_slot("09:00 UTC", DAY)
        assert await b.abandoned_slots() == [] and not await a.claim_slot("09:00 UTC", DAY)
    finally:
        await b.stop_heartbeat()


async def test_replicas_share_the_run_lock_and_a_bot_that_runs_alone_refuses_and_is_refused(pg_url: str) -> None:
    first, second = RunLock(url=pg_url, replicas=True), RunLock(url=pg_url, replicas=True)
    alone = RunLock(url=pg_url, replicas=False, wait_s=0.2)
    try:
        assert await first.acquire() is True  # nobody else runs here
        assert await second.acquire() is False
        with pytest.raises(PostgresInUse, match=r"replicas = false: stop the other, or set replicas = true"):
            await alone.acquire()
        await first.release()
        await second.release()
        assert await alone.acquire() is True
        late = RunLock(url=pg_url, replicas=True, wait_s=0.2)
        with pytest.raises(PostgresInUse, match=r"an arxiv-bot with \[database\] replicas = false is running"):
            await late.acquire()
    finally:
        for lock in (first, second, alone):
            await lock.release()


async def test_a_replica_that_starts_alone_takes_back_the_leases_of_a_dead_one_at_once(
    database: Database, pg_url: str
) -> None:
    dead = Leases(database=database, holder="dead-replica", lease_s=120.0)
    ledger = LeasedLedger(database=database, leases=dead)
    survivor = Leases(database=database, holder="restarted", lease_s=120.0)
    try:
        assert await dead.claim_slot("09:00 UTC", DAY)
        channel = await _planned_channel(database, ledger)
        assert len(await ledger.unfinished(channel)) == 3
        await dead.stop_heartbeat(give_up=False)  # SIGKILLed: its two-minute leases stay
        assert await LeasedLedger(database=database, leases=survivor).unfinished(channel) == []
        lock = RunLock(url=pg_url, replicas=True)
        try:
            assert await lock.acquire() is True
        finally:
            await lock.release()
        assert [r.rank for r in await LeasedLedger(database=database, leases=survivor).unfinished(channel)] == [0, 1, 2]
        assert await survivor.abandoned_slots() == [("09:00 UTC", DAY)]
    finally:
        await survivor.stop_heartbeat()
