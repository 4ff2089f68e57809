"""One repository suite, two implementations: every case runs on the in-memory fakes of ``tests/fakes`` and on
the SQL repositories of ``bot/store`` (SQLite, or PostgreSQL when the suite runs with
``ARXIVBOT_TEST_DATABASE_URL``), so the fakes the unit tests use are proven to behave like the database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import pytest
import sqlalchemy as sa

from bot.models import AnnounceType, ChannelDefaults, ChannelRef, Paper, ScoredPaper
from bot.ports import (
    CardIndex,
    ChannelLookup,
    ChannelReader,
    ChannelSettings,
    ChannelTopics,
    DeliveredPapers,
    DeliveryBatches,
    DeliveryMarks,
    DeliveryPlanning,
    DeliveryRuns,
    DigestLog,
    LatestSummaries,
    PaperCorpus,
    Papers,
    PostedHistory,
    RankingControls,
    SavedLibrary,
    SavedPapers,
    SignalReader,
    SignalRecorder,
    SummaryCache,
    UsageBudget,
    UsageRecorder,
    UsageReports,
)
from bot.store import schema as db
from bot.store.channels import ChannelStore
from bot.store.database import Database, create_engine
from bot.store.ledger import DeliveryLedger
from bot.store.papers import PaperStore
from bot.store.saves import SaveStore
from bot.store.signals import SignalStore
from bot.store.summaries import SummaryStore, UsageStore
from tests.fakes.clock import FixedClock
from tests.fakes.repositories import fake_repositories

DEFAULTS = ChannelDefaults(
    post_time="08:30", timezone="Europe/Berlin", max_papers=7, min_score=1.5, include_cross=False, language="de"
)
MODEL = "openai/test-model"
BUDGET_USD = 1.0
A = ChannelRef("slack", "T1", "C1")
B = ChannelRef("slack", "T1", "C2")
OTHER_WORKSPACE = ChannelRef("slack", "T2", "C1")


class ChannelRepository(ChannelReader, ChannelLookup, ChannelSettings, ChannelTopics, DigestLog, Protocol):
    """Every channel role (what ``ChannelStore`` and ``FakeChannels`` both implement)."""


class LedgerRepository(
    DeliveryPlanning, DeliveryMarks, DeliveryRuns, DeliveryBatches, DeliveredPapers, CardIndex, PostedHistory, Protocol
):
    """Every ledger role."""


class SignalRepository(SignalReader, SignalRecorder, RankingControls, Protocol):
    """Every ranking-signal role."""


class PaperRepository(Papers, PaperCorpus, Protocol):
    """Every paper role."""


class SummaryRepository(SummaryCache, LatestSummaries, Protocol):
    """Every summary role."""


class UsageRepository(UsageRecorder, UsageBudget, UsageReports, Protocol):
    """Every usage role."""


class SaveRepository(SavedPapers, SavedLibrary, Protocol):
    """Every saves role."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Repositories:
    """One implementation of every repository, on one clock, plus a look at what the ports do not show."""

    kind: str
    channels: ChannelRepository
    papers: PaperRepository
    ledger: LedgerRepository
    saves: SaveRepository
    signals: SignalRepository
    summaries: SummaryRepository
    usage: UsageRepository
    last_error: Callable[[int], Awaitable[str | None]]
    """The stored error of a ledger row's last failed attempt."""


@pytest.fixture(params=["fake", "sql"])
def store_url(request: pytest.FixtureRequest) -> str | None:
    """None for the fakes, else a fresh migrated database (SQLite file or PostgreSQL schema)."""
    if request.param == "fake":
        return None
    url: str = request.getfixturevalue("db_url")
    return url


@pytest.fixture
async def repos(store_url: str | None, clock: FixedClock) -> AsyncIterator[Repositories]:
    """The repositories under test: the fakes, or the SQL ones on a fresh database."""
    if store_url is None:
        fakes = fake_repositories(clock=clock, defaults=DEFAULTS, model=MODEL, daily_budget_usd=BUDGET_USD)

        async def fake_last_error(delivery_id: int) -> str | None:
            return next(r.last_error for r in fakes.ledger.rows if r.id == delivery_id)

        yield Repositories(
            kind="fake",
            channels=fakes.channels,
            papers=fakes.papers,
            ledger=fakes.ledger,
            saves=fakes.saves,
            signals=fakes.signals,
            summaries=fakes.summaries,
            usage=fakes.usage,
            last_error=fake_last_error,
        )
        return
    database = Database(engine=create_engine(store_url), clock=clock)

    async def sql_last_error(delivery_id: int) -> str | None:
        async with database.transaction() as conn:
            value: str | None = (
                await conn.execute(sa.select(db.deliveries.c.last_error).where(db.deliveries.c.id == delivery_id))
            ).scalar_one()
            return value

    try:
        yield Repositories(
            kind="sql",
            channels=ChannelStore(database=database, defaults=DEFAULTS),
            papers=PaperStore(database=database),
            ledger=DeliveryLedger(database=database),
            saves=SaveStore(database=database),
            signals=SignalStore(database=database),
            summaries=SummaryStore(database=database),
            usage=UsageStore(database=database, model=MODEL, daily_budget_usd=BUDGET_USD),
            last_error=sql_last_error,
        )
    finally:
        await database.dispose()


def paper(arxiv_id: str = "2601.00001", version: int = 1, **overrides: object) -> Paper:
    """A paper with every field set; ``overrides`` replace some."""
    values: dict[str, object] = {
        "arxiv_id": arxiv_id,
        "version": version,
        "title": f"Title of {arxiv_id}v{version}",
        "abstract": f"Abstract of {arxiv_id}v{version}.",
        "authors": ("Ada Lovelace", "Alan Turing"),
        "categories": ("cs.DC", "cs.LG"),
        "primary_category": "cs.DC",
        "announce_type": AnnounceType.NEW,
        "published": date(2026, 1, 2),
        "doi": "10.1000/xyz",
        "journal_ref": "J. Tests 1 (2026)",
    } | overrides
    return Paper(**values)  # type: ignore[arg-type]


def scored(p: Paper, score: float = 1.0, matched: tuple[str, ...] = ("LLM",)) -> ScoredPaper:
    """A paper as the scorer selects it."""
    return ScoredPaper(paper=p, score=score, matched=matched)
