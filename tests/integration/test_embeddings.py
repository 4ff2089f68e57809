"""Paper embeddings through the real litellm, over HTTP to the local OpenAI-compatible fake, stored in the real
database (SQLite, and PostgreSQL when the suite runs on it).

Each paper version is embedded once per model, after restarts too; a run embeds at most its quota, within the daily
budget; a failing, refusing or hanging model leaves papers unembedded (TF-IDF ranks them) and never a digest short.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import numpy as np
import pytest
import sqlalchemy as sa

from adapters.composition import build_embedder, build_services
from bot.models import ChannelRef, Paper, SignalSource
from bot.ranking.embedder import LitellmEmbedder
from bot.ranking.features import paper_text
from bot.store import schema as db
from bot.store.database import Database, create_engine
from bot.store.embeddings import EmbeddingStore
from bot.store.summaries import UsageStore
from tests.conftest import TEST_CHANNEL, ctx, make_settings
from tests.fakes.arxiv_server import FakeArxivServer
from tests.fakes.clock import FixedClock
from tests.fakes.embeddings import MemoryEmbeddingCache
from tests.fakes.openai_server import STALL, FakeOpenAIServer, hashed_embedding, running_openai_server
from tests.fakes.publisher import FakePublisher
from tests.fakes.ranking_data import gui_agents

MODEL = "openai/text-embedding-3-small"
API_KEY = "sk-embedding-test-key-0123456789"
OTHER = ChannelRef(TEST_CHANNEL.platform, TEST_CHANNEL.workspace, "other")


@pytest.fixture
async def llm(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeOpenAIServer]:
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    async with running_openai_server() as server:
        yield server


async def no_sleep(_seconds: float) -> None:
    """Backoffs pass at once: the test is about what is retried, not how long it waits."""


@asynccontextmanager
async def database(db_url: str, clock: FixedClock) -> AsyncIterator[Database]:
    opened = Database(engine=create_engine(db_url), clock=clock)
    try:
        yield opened
    finally:
        await opened.engine.dispose()


def embedder_of(
    opened: Database, llm: FakeOpenAIServer, *, budget_usd: float = 5.0, **changes: object
) -> tuple[LitellmEmbedder, UsageStore]:
    usage = UsageStore(database=opened, model="", daily_budget_usd=budget_usd)
    values: dict[str, object] = {
        "model": MODEL,
        "cache": EmbeddingStore(database=opened),
        "usage": usage,
        "max_per_run": 100,
        "api_base": llm.api_base,
        "timeout_s": 5.0,
        "batch_size": 4,
        "sleep": no_sleep,
    } | changes
    return LitellmEmbedder(**values), usage  # type: ignore[arg-type]


def papers(n: int) -> list[Paper]:
    return list(gui_agents().candidates[:n])


def expected(paper: Paper) -> np.ndarray:
    return np.asarray(hashed_embedding(paper_text(paper)), dtype=np.float32)


async def test_vectors_are_stored_as_float32_once_per_paper_version_and_model(db_url: str, clock: FixedClock) -> None:
    async with database(db_url, clock) as opened:
        store = EmbeddingStore(database=opened)
        rng = np.random.default_rng(0)
        first = {(f"2601.{i:05d}", 1): rng.standard_normal(8).astype(np.float32) for i in range(600)}
        await store.put_many(MODEL, first)
        await store.put_many(MODEL, {("2601.00000", 1): np.ones(8, dtype=np.float32)})  # the first one is kept
        await store.put_many("other/model", {("2601.00000", 1): np.ones(3, dtype=np.float32)})
        found = await store.get_many(MODEL, [*first, ("2601.00000", 2), ("2601.99999", 1)])
        assert set(found) == set(first)  # more ids than one IN list holds; no other version, no unknown id
        assert all(np.array_equal(found[k], v) and found[k].dtype == np.float32 for k, v in first.items())
        other = await store.get_many("other/model", [("2601.00000", 1)])
        assert np.array_equal(other[("2601.00000", 1)], np.ones(3, dtype=np.float32))
        assert await store.get_many(MODEL, []) == {}


async def test_each_paper_is_embedded_once_in_batches_and_read_back_after_a_restart(
    db_url: str, clock: FixedClock, llm: FakeOpenAIServer
) -> None:
    wanted = papers(10)
    async with database(db_url, clock) as opened:
        embedder, usage = embedder_of(opened, llm)
        vectors = await embedder.embed([*wanted, wanted[0]])
        assert list(vectors) == [p.versioned_id for p in wanted]
        assert all(np.allclose(vectors[p.versioned_id], expected(p), atol=1e-6) for p in wanted)
        assert [len(r.inputs) for r in llm.embedding_requests] == [4, 4, 2]
        assert llm.embedded_texts() == [paper_text(p) for p in wanted]
        request = llm.embedding_requests[0]
        assert request.body["model"] == "text-embedding-3-small" and request.authorization == f"Bearer {API_KEY}"
        totals = await usage.totals(usage.today(), usage.today())
        assert (totals.calls, totals.failures) == (3, 0) and totals.input_tokens > 0
    async with database(db_url, clock) as opened:  # a restart: every vector comes from the database
        again, _ = embedder_of(opened, llm)
        assert {k: v.tolist() for k, v in (await again.embed(wanted)).items()} == {
            k: v.tolist() for k, v in vectors.items()
        }
        assert len(llm.embedding_requests) == 3


async def test_a_run_embeds_at_most_its_quota_and_the_next_run_the_rest(
    db_url: str, clock: FixedClock, llm: FakeOpenAIServer
) -> None:
    wanted = papers(5)
    async with database(db_url, clock) as opened:
        embedder, _ = embedder_of(opened, llm, max_per_run=3)
        first = await embedder.embed(wanted)
        assert list(first) == [p.versioned_id for p in wanted[:3]]
        second = await embedder.embed(wanted)
        assert list(second) == [p.versioned_id for p in wanted]
        assert llm.embedded_texts() == [paper_text(p) for p in wanted]  # none twice


async def test_past_the_daily_budget_nothing_new_is_embedded_and_stored_vectors_still_serve(
    db_url: str, clock: FixedClock, llm: FakeOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    wanted = papers(3)
    async with database(db_url, clock) as opened:
        await EmbeddingStore(database=opened).put_many(MODEL, {(wanted[0].arxiv_id, 1): expected(wanted[0])})
        embedder, _ = embedder_of(opened, llm, budget_usd=0.0)
        with caplog.at_level(logging.WARNING, logger="bot.ranking.embedder"):
            found = await embedder.embed(wanted)
        assert list(found) == [wanted[0].versioned_id] and llm.embedding_requests == []
        assert "daily LLM budget reached: 2 papers" in caplog.text


async def test_429_and_5xx_are_retried_and_counted_as_failed_calls(
    db_url: str, clock: FixedClock, llm: FakeOpenAIServer
) -> None:
    wanted = papers(4)
    llm.fail_embeddings(429, 503)
    async with database(db_url, clock) as opened:
        embedder, usage = embedder_of(opened, llm)
        assert len(await embedder.embed(wanted)) == 4
        totals = await usage.totals(usage.today(), usage.today())
        assert (len(llm.embedding_requests), totals.calls, totals.failures) == (3, 3, 2)


async def test_a_model_that_keeps_failing_stops_the_run_with_one_warning_and_the_next_run_catches_up(
    db_url: str, clock: FixedClock, llm: FakeOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    wanted = papers(8)  # two batches
    llm.fail_embeddings(500, 500, 500)
    async with database(db_url, clock) as opened:
        embedder, _ = embedder_of(opened, llm, max_retries=2)
        with caplog.at_level(logging.WARNING, logger="bot.ranking.embedder"):
            assert await embedder.embed(wanted) == {}
        assert len(llm.embedding_requests) == 3  # the first batch and its two retries; no second batch
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "8 papers rank by TF-IDF alone" in warnings[0].getMessage()
        assert len(await embedder.embed(wanted)) == 8


async def test_a_hanging_model_times_out_once_and_leaves_the_papers_unembedded(
    db_url: str, clock: FixedClock, llm: FakeOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    llm.fail_embeddings(STALL, STALL)
    async with database(db_url, clock) as opened:
        embedder, _ = embedder_of(opened, llm, timeout_s=0.5, max_retries=2)  # the digest waits: no retry
        with caplog.at_level(logging.WARNING, logger="bot.ranking.embedder"):
            assert await embedder.embed(papers(2)) == {}
        assert "embeddings unavailable for this run" in caplog.text and len(llm.embedding_requests) == 1


async def test_a_refused_key_is_not_retried_and_never_reaches_the_log(
    db_url: str, clock: FixedClock, llm: FakeOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    llm.fail_embeddings(401)
    async with database(db_url, clock) as opened:
        embedder, _ = embedder_of(opened, llm)
        with caplog.at_level(logging.DEBUG):
            assert await embedder.embed(papers(2)) == {}
    assert len(llm.embedding_requests) == 1
    assert "embeddings unavailable for this run" in caplog.text and "***" in caplog.text
    assert API_KEY not in caplog.text


async def test_a_cache_fault_loses_no_vector_of_the_run_and_an_unreadable_budget_spends_nothing(
    db_url: str, clock: FixedClock, llm: FakeOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    async with database(db_url, clock) as opened:
        embedder, _ = embedder_of(opened, llm, cache=MemoryEmbeddingCache(fail=True))
        with caplog.at_level(logging.WARNING, logger="bot.ranking.embedder"):
            found = await embedder.embed(papers(9))  # three batches
    assert len(found) == 9  # reading and writing the cache failed: the vectors of the run still serve
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert warnings[0].startswith("stored embeddings could not be read") and "could not be stored" in warnings[1]
    caplog.clear()
    no_tables = Database(engine=create_engine("sqlite+aiosqlite:///:memory:"), clock=clock)
    try:
        embedder, _ = embedder_of(no_tables, llm, cache=MemoryEmbeddingCache())
        with caplog.at_level(logging.WARNING, logger="bot.ranking.embedder"):
            assert await embedder.embed(papers(3)) == {}
    finally:
        await no_tables.engine.dispose()
    assert len(llm.embedding_requests) == 3  # only the first run's
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith("LLM budget could not be read: 3 papers")


async def test_a_learned_digest_with_embeddings_configured_embeds_once_and_survives_a_failing_model(
    db_url: str, arxiv: FakeArxivServer, clock: FixedClock, llm: FakeOpenAIServer
) -> None:
    settings = make_settings(
        db_url, arxiv, ARXIVBOT_RANKING__EMBEDDING_MODEL=MODEL, ARXIVBOT_LLM__API_BASE=llm.api_base
    )
    services = build_services(settings, clock=clock)
    publisher = FakePublisher()
    services.router.add("test", publisher)
    try:
        data = gui_agents()
        await services.papers.add_many([*data.background, *data.liked])
        for channel in (TEST_CHANNEL, OTHER):
            for line in ("subscribe cs.AI cs.CL cs.DC cs.LG", "keywords add RL, LLM, agent", "set max 5"):
                await services.commands.execute(ctx(channel=channel), line)
            record = await services.channels.get(channel)
            assert record is not None
            await services.signals.record_likes(
                channel_id=record.id, arxiv_ids=[p.arxiv_id for p in data.liked], user_id="U1", source=SignalSource.LIKE
            )
        await services.commands.execute(ctx(channel=TEST_CHANNEL), "digest now")
        assert len(publisher.cards) == 5 and all(
            any(m.startswith("like: ") for m in c.matched) for c in publisher.cards
        )
        texts = llm.embedded_texts()
        assert {paper_text(p) for p in data.liked} <= set(texts) and len(texts) == len(set(texts))
        async with services.database.reading() as conn:
            stored = (await conn.execute(sa.select(sa.func.count()).select_from(db.paper_embeddings))).scalar()
        assert stored == len(texts)
        # The other channel likes the same papers and sees the same listing: nothing is embedded again, and a
        # failing model would not matter; its digest goes out all the same.
        llm.fail_embeddings(*[500] * 20)
        await services.commands.execute(ctx(channel=OTHER), "digest now")
        assert llm.embedded_texts() == texts
        assert len(publisher.cards) == 10
    finally:
        await services.aclose()


async def test_the_composition_root_wires_an_embedder_only_when_a_model_is_named(
    db_url: str, arxiv: FakeArxivServer, clock: FixedClock
) -> None:
    opened = Database(engine=create_engine(db_url), clock=clock)
    try:
        store, usage = EmbeddingStore(database=opened), UsageStore(database=opened, model="", daily_budget_usd=1.0)
        named = make_settings(db_url, arxiv, ARXIVBOT_RANKING__EMBEDDING_MODEL=MODEL)
        embedder = build_embedder(named, embeddings=store, usage=usage)
        assert isinstance(embedder, LitellmEmbedder) and embedder.model == MODEL
        assert build_embedder(make_settings(db_url, arxiv), embeddings=store, usage=usage) is None
    finally:
        await opened.engine.dispose()
