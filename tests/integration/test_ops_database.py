"""The store on both databases: the suite really runs on PostgreSQL when asked, and values round-trip the same."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from sqlalchemy.engine import make_url

from adapters.composition import Services
from bot.store.database import create_engine
from tests.conftest import ctx


async def test_the_suite_uses_the_database_it_was_asked_for(services: Services, db_url: str) -> None:
    engine = services.database.engine
    async with engine.connect() as conn:
        if os.environ.get("ARXIVBOT_TEST_DATABASE_URL"):
            assert engine.dialect.name == "postgresql"
            schema = make_url(db_url).query["search_path"]
            assert (await conn.exec_driver_sql("SELECT current_schema()")).scalar() == schema
        else:
            assert engine.dialect.name == "sqlite"
        assert (await conn.exec_driver_sql("SELECT count(*) FROM channels")).scalar() == 0  # a fresh database


async def test_search_path_in_a_postgresql_url_becomes_a_server_setting() -> None:
    engine = create_engine("postgresql+asyncpg://bot:pw@db.invalid:5432/arxivbot?search_path=arxivbot")
    try:
        assert "search_path" not in engine.url.query
        assert engine.url.database == "arxivbot" and engine.url.host == "db.invalid"
    finally:
        await engine.dispose()


async def test_times_booleans_and_json_round_trip(services: Services) -> None:
    for line in ("subscribe cs.AI cs.CL cs.DC cs.LG", 'keywords add LLM, "speculative decoding"', "set cross on"):
        await services.commands.execute(ctx(), line)
    assert (await services.commands.execute(ctx(), "digest now")).posted > 0
    record = await services.channels.get(ctx().channel)
    assert record is not None and record.include_cross is True
    assert record.last_digest_at is not None
    posted = await services.ledger.posted_papers(record.id)
    assert all(p.posted_at == datetime(2026, 1, 5, 10, 0, tzinfo=UTC) for p in posted)
    assert posted[0].matched == ("LLM", "speculative decoding")
    assert all(isinstance(a, str) for p in posted for a in p.paper.authors)
    later = await services.ledger.posted_papers(record.id, since=datetime(2026, 1, 5, 10, 0, 1, tzinfo=UTC))
    assert later == []
    assert await services.channels.by_feed_token(record.feed_token) == record
    assert await services.channels.by_feed_token("no-such-token") is None
