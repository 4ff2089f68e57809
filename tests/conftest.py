"""Shared fixtures: a real local arXiv server, real SQLite files (migrated), a settable clock, a recording publisher."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from adapters.composition import Services, build_services
from bot.config import Settings, load_settings
from bot.models import ChannelRef, CommandContext
from bot.store.database import create_engine
from bot.store.migrations import upgrade_database
from tests.fakes.arxiv_server import FakeArxivServer, running_arxiv_server
from tests.fakes.clock import FixedClock
from tests.fakes.publisher import FakePublisher

FIXTURES = Path(__file__).parent / "fixtures"
FEED_0105 = FIXTURES / "arxiv-rss" / "2026-01-05_cs.AI+cs.CL+cs.DC+cs.LG.xml"
FEED_WEEKEND = FIXTURES / "arxiv-rss" / "2026-01-10_cs.DC_weekend_empty.xml"
ROOT = Path(__file__).parent.parent
TEST_CHANNEL = ChannelRef("test", "w1", "c1")
ZONE_MISTAKES = ("America", "Europe/../Berlin", "x" * 300, "Mars/Olympus", "berlin")
"""Zone names ``set time`` must refuse with one line: a tzdata folder (IsADirectoryError in ZoneInfo), a path
(ValueError), an over-long name (OSError), an unknown zone, a bare city (answered with Europe/Berlin)."""


TEST_DATABASE_URL = os.environ.get("ARXIVBOT_TEST_DATABASE_URL", "")
"""Run the suite on this PostgreSQL database (a fresh schema per test) instead of SQLite files when set."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PostgresSchemas:
    """Creates and drops one schema per test in the PostgreSQL database of ``ARXIVBOT_TEST_DATABASE_URL``."""

    def __init__(self, url: str) -> None:
        from sqlalchemy.engine import make_url

        self.url = make_url(url)
        self.prefix = f"t{os.getpid()}_"
        self._n = 0

    def _admin(self) -> str:
        return self.url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def create(self, *, migrate: bool) -> str:
        """A fresh schema (migrated to head when asked); returns the URL that uses it."""
        import asyncpg

        self._n += 1
        schema = f"{self.prefix}{self._n}"
        conn = await asyncpg.connect(self._admin())
        try:
            await conn.execute(f'CREATE SCHEMA "{schema}"')
        finally:
            await conn.close()
        url = self.url.update_query_dict({"search_path": schema}).render_as_string(hide_password=False)
        if migrate:
            engine = create_engine(url)
            await upgrade_database(engine)
            await engine.dispose()
        return url

    async def drop_all(self, *, leftovers: bool = False) -> None:
        """Drop every schema this run created (with ``leftovers``: instead those of earlier runs that died)."""
        import asyncpg

        conn = await asyncpg.connect(self._admin())
        try:
            names = [r["nspname"] for r in await conn.fetch("SELECT nspname FROM pg_namespace")]
            for name in names:
                match = re.fullmatch(r"t(\d+)_\d+", name)
                if match is None:
                    continue
                ours = name.startswith(self.prefix)
                if (ours and not leftovers) or (leftovers and not ours and not _alive(int(match[1]))):
                    await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        finally:
            await conn.close()


@pytest.fixture(scope="session")
def pg_schemas() -> Iterator[PostgresSchemas | None]:
    """The schema factory when the suite runs on PostgreSQL, else None."""
    if not TEST_DATABASE_URL:
        yield None
        return
    import asyncio

    schemas = PostgresSchemas(TEST_DATABASE_URL)
    asyncio.run(schemas.drop_all(leftovers=True))
    yield schemas
    asyncio.run(schemas.drop_all())


@pytest.fixture
def empty_db_url(tmp_path: Path, pg_schemas: PostgresSchemas | None) -> str:
    """A fresh database with no tables: a SQLite file, or a new PostgreSQL schema."""
    import asyncio

    if pg_schemas is not None:
        return asyncio.run(pg_schemas.create(migrate=False))
    return f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"


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
def db_url(tmp_path: Path, pg_schemas: PostgresSchemas | None, request: pytest.FixtureRequest) -> str:
    """A fresh migrated database for this test: a SQLite file, or a PostgreSQL schema when the suite runs on it."""
    if pg_schemas is not None:
        import asyncio

        return asyncio.run(pg_schemas.create(migrate=True))
    migrated_template: Path = request.getfixturevalue("migrated_template")
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
def _private_working_directory(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs in its own empty working directory: state kept relative to it (``data/``, e.g. Discord's
    command-sync file when the database is PostgreSQL) never lands in the checkout nor leaks into another test."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture(autouse=True)
def _no_platform_tokens(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests never see the developer's real tokens."""
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "DISCORD_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith("ARXIVBOT_") and name != "ARXIVBOT_TEST_DATABASE_URL":
            monkeypatch.delenv(name, raising=False)
    yield


LOCAL_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def replica_schemas(pg_schemas: PostgresSchemas | None) -> Iterator[PostgresSchemas]:
    """PostgreSQL schemas even when the suite runs on SQLite: several replicas need PostgreSQL (the local one)."""
    if pg_schemas is not None:
        yield pg_schemas
        return
    import asyncio

    schemas = PostgresSchemas(LOCAL_POSTGRES_URL)
    yield schemas
    asyncio.run(schemas.drop_all())


@pytest.fixture
def pg_url(replica_schemas: PostgresSchemas) -> str:
    """A fresh migrated PostgreSQL schema for this test, whichever database the rest of the suite runs on."""
    import asyncio

    return asyncio.run(replica_schemas.create(migrate=True))
