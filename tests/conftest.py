"""Shared fixtures: a real local arXiv server, real SQLite files (migrated), a settable clock, a recording publisher."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.composition import Services, build_services
from bot.config import Settings, load_settings
from bot.db import create_engine
from bot.migrations import upgrade_database
from bot.models import ChannelRef, CommandContext
from tests.fakes.arxiv_server import FakeArxivServer, running_arxiv_server
from tests.fakes.publisher import FakePublisher

FIXTURES = Path(__file__).parent / "fixtures"
FEED_0105 = FIXTURES / "arxiv-rss" / "2026-01-05_cs.AI+cs.CL+cs.DC+cs.LG.xml"
FEED_WEEKEND = FIXTURES / "arxiv-rss" / "2026-01-10_cs.DC_weekend_empty.xml"
ROOT = Path(__file__).parent.parent
TEST_CHANNEL = ChannelRef("test", "w1", "c1")


@dataclass
class FixedClock:
    """A clock tests move by hand."""

    current: datetime = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)

    def now(self) -> datetime:
        """The set time."""
        return self.current


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with every migration applied, copied for each test."""
    import asyncio

    path = tmp_path_factory.mktemp("template") / "template.db"

    async def make() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        await upgrade_database(engine)
        async with engine.begin() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        await engine.dispose()

    asyncio.run(make())
    return path


@pytest.fixture
def db_url(tmp_path: Path, migrated_template: Path) -> str:
    """A fresh migrated SQLite database file for this test."""
    path = tmp_path / "bot.db"
    shutil.copy(migrated_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
async def arxiv() -> AsyncIterator[FakeArxivServer]:
    """The local fake arXiv, serving the 2026-01-05 feed for cs.AI+cs.CL+cs.DC+cs.LG and cs.DC+cs.LG."""
    async with running_arxiv_server() as server:
        body = FEED_0105.read_bytes()
        server.feeds[frozenset({"cs.AI", "cs.CL", "cs.DC", "cs.LG"})] = body
        yield server


def make_settings(db_url: str, arxiv: FakeArxivServer, **env: str) -> Settings:
    """Settings pointing at the local fakes, scheduler off unless asked."""
    values = {
        "ARXIVBOT_DATABASE__URL": db_url,
        "ARXIVBOT_ARXIV__RSS_URL": arxiv.rss_url,
        "ARXIVBOT_ARXIV__API_URL": arxiv.api_url,
        "ARXIVBOT_ARXIV__MIN_INTERVAL_S": "0",
        "ARXIVBOT_ARXIV__MAX_RETRIES": "1",
        "ARXIVBOT_SCHEDULER__ENABLED": "false",
        "ARXIVBOT_HTTP__PORT": "0",
    } | env
    return load_settings(Path("/nonexistent/config.toml"), env=values)


@pytest.fixture
def clock() -> FixedClock:
    """Monday 2026-01-05 10:00 UTC, the day of the recorded feed."""
    return FixedClock()


@pytest.fixture
def publisher() -> FakePublisher:
    """The recording publisher for platform ``test``."""
    return FakePublisher()


@pytest.fixture
async def services(
    db_url: str, arxiv: FakeArxivServer, clock: FixedClock, publisher: FakePublisher
) -> AsyncIterator[Services]:
    """The wired core on a fresh database, posting to ``publisher``."""
    built = build_services(make_settings(db_url, arxiv), clock=clock)
    built.router.add("test", publisher)
    yield built
    await built.aclose()


def ctx(user: str = "U1", *, can_manage: bool = True, channel: ChannelRef = TEST_CHANNEL) -> CommandContext:
    """A command context in the test channel."""
    return CommandContext(channel=channel, user_id=user, user_name=f"user-{user}", can_manage=can_manage)


@pytest.fixture(autouse=True)
def _no_platform_tokens(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests never see the developer's real tokens."""
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "DISCORD_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith("ARXIVBOT_") and name != "ARXIVBOT_TEST_DATABASE_URL":
            monkeypatch.delenv(name, raising=False)
    yield
