"""The HTTP server's shared memory in the database: one-time links work once and expire, the oldest go first when
too many wait, and seen Slack requests are remembered for the replay window, across two connections to one
database as across two replicas."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.models import ExportFile
from bot.store import schema as db
from bot.store.database import Database, create_engine
from bot.store.http_state import FileLinkStore, SeenKeys
from tests.fakes.clock import FixedClock

FILE = ExportFile(name="arxiv saved.bib", content=b"@misc{x,}", media_type="application/x-bibtex", title="1 paper")


def token(link: str) -> str:
    """The token of a link."""
    return link.split("/files/", 1)[1].split("/", 1)[0]


@pytest.fixture
async def two_databases(db_url: str, clock: FixedClock) -> AsyncIterator[tuple[Database, Database]]:
    """Two engines on one database, as two replicas have."""
    first = Database(engine=create_engine(db_url), clock=clock)
    second = Database(engine=create_engine(db_url), clock=clock)
    yield first, second
    await first.dispose()
    await second.dispose()


async def test_a_link_made_on_one_replica_is_taken_once_through_either(
    two_databases: tuple[Database, Database],
) -> None:
    a, b = two_databases
    issuer = FileLinkStore(database=a, base_url="https://bot.example.org/")
    other = FileLinkStore(database=b, base_url="https://bot.example.org/")
    link = await issuer.issue(FILE)
    assert link.startswith("https://bot.example.org/files/") and link.endswith("/arxiv%20saved.bib")
    assert len(token(link)) >= 32
    results = await asyncio.gather(other.take(token(link)), issuer.take(token(link)), other.take(token(link)))
    assert sorted(results, key=lambda f: f is None) == [FILE, None, None]
    assert await other.take(token(link)) is None and await other.take("not-a-token") is None


async def test_a_link_expires(db_url: str, clock: FixedClock) -> None:
    database = Database(engine=create_engine(db_url), clock=clock)
    try:
        links = FileLinkStore(database=database, base_url="http://h", ttl=timedelta(minutes=15))
        early, late = await links.issue(FILE), await links.issue(FILE)
        clock.current += timedelta(minutes=14, seconds=59)
        assert await links.take(token(early)) == FILE
        clock.current += timedelta(seconds=1)
        assert await links.take(token(late)) is None
    finally:
        await database.dispose()


async def test_the_oldest_waiting_file_goes_first_and_expired_ones_are_deleted(db_url: str, clock: FixedClock) -> None:
    database = Database(engine=create_engine(db_url), clock=clock)
    try:
        links = FileLinkStore(database=database, base_url="http://h", max_files=2)
        first = await links.issue(FILE)
        clock.current += timedelta(seconds=1)
        second = await links.issue(FILE)
        clock.current += timedelta(seconds=1)
        third = await links.issue(FILE)
        assert await links.take(token(first)) is None
        assert await links.take(token(second)) == FILE and await links.take(token(third)) == FILE
        stale = await links.issue(FILE)
        clock.current += timedelta(minutes=16)
        await links.issue(FILE)  # issuing cleans up: the expired file is gone from the table, not just refused
        async with database.reading() as conn:
            tokens = set((await conn.execute(db.export_links.select())).scalars())
        assert token(stale) not in tokens and len(tokens) == 1
    finally:
        await database.dispose()


async def test_a_seen_key_is_seen_by_every_replica_until_the_window_ends(
    two_databases: tuple[Database, Database], clock: FixedClock
) -> None:
    a, b = two_databases
    here, there = SeenKeys(database=a), SeenKeys(database=b, window=timedelta(minutes=5))
    assert await here.first("event:Ev1")
    assert not await there.first("event:Ev1") and not await here.first("event:Ev1")
    assert sorted(await asyncio.gather(here.first("event:Ev2"), there.first("event:Ev2"))) == [False, True]
    await there.forget("event:Ev1")  # its handling failed there: the retry must run, wherever it lands
    assert await here.first("event:Ev1")
    clock.current += timedelta(minutes=4, seconds=59)
    assert not await there.first("event:Ev2")
    clock.current += timedelta(seconds=1)
    assert await there.first("event:Ev2")
