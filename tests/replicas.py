"""Several ``arxiv-bot run`` replicas on one PostgreSQL schema against the local fakes: seeding, environment and
counting, shared by ``tests/e2e/test_replicas.py`` and ``bench/replicas.py``."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import sqlalchemy as sa
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore

from bot.models import ChannelDefaults, ChannelRef, Rule, RuleKind
from bot.store import schema as db
from bot.store.channels import ChannelStore
from bot.store.database import Database, create_engine
from tests.conftest import ROOT
from tests.fakes.arxiv_server import FakeArxivServer
from tests.fakes.clock import FixedClock
from tests.fakes.slack_api import CLIENT_ID, CLIENT_SECRET, SIGNING_SECRET, FakeSlack

PAPERS = 2
"""Each channel's picks of the day: the two cs.DC papers of the recorded feed that mention LLM."""


def team_token(team: str) -> str:
    """The bot token the seeded installation of ``team`` holds."""
    return f"xoxb-{team.lower()}-replica-test-token"


async def seed(url: str, slack: FakeSlack, *, workspaces: int, channels: int) -> None:
    """``workspaces`` Slack teams installed through OAuth, ``channels`` channels spread over them following cs.DC and
    LLM, their digest due since a week."""
    teams = [f"T{n + 1}" for n in range(workspaces)]
    engine = create_engine(url)
    try:
        store = AsyncSQLAlchemyInstallationStore(client_id=CLIENT_ID, engine=engine)
        await store.create_tables()  # type: ignore[no-untyped-call]
        for team in teams:
            token = team_token(team)
            slack.team_tokens[token] = slack.issued[token] = team
            await store.async_save(
                Installation(app_id="A1", team_id=team, bot_token=token, bot_id="BFAKE", bot_user_id="UBOT",
                             user_id="UINSTALLER", bot_scopes=["chat:write"])
            )  # fmt: skip
        database = Database(engine=engine, clock=FixedClock())
        defaults = ChannelDefaults(
            post_time="00:00", timezone="UTC", max_papers=PAPERS, min_score=1, include_cross=False, language="en"
        )
        store_channels = ChannelStore(database=database, defaults=defaults)
        for n in range(channels):
            record = await store_channels.get_or_create(ChannelRef("slack", teams[n % workspaces], f"C{n:03d}"))
            await store_channels.add_categories(record.id, ["cs.DC"])
            await store_channels.replace_rules(record.id, RuleKind.INCLUDE, [Rule(kind=RuleKind.INCLUDE, term="LLM")])
        async with engine.begin() as conn:
            await conn.execute(sa.update(db.channels).values(created_at=datetime.now(UTC) - timedelta(days=7)))
    finally:
        await engine.dispose()


def replica_env(
    url: str, arxiv: FakeArxivServer, slack: FakeSlack, home: Path, *, lease_s: float, interval_s: float
) -> dict[str, str]:
    """The environment of every replica: the same database and fakes, HTTP mode, OAuth, a catch-up every second."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "ARXIVBOT_CONFIG": str(ROOT / "config.toml"),
        "ARXIVBOT_DATABASE__URL": url,
        "ARXIVBOT_DATABASE__LEASE_S": str(lease_s),
        "ARXIVBOT_ARXIV__RSS_URL": arxiv.rss_url,
        "ARXIVBOT_ARXIV__API_URL": arxiv.api_url,
        "ARXIVBOT_ARXIV__MIN_INTERVAL_S": "0",
        "ARXIVBOT_HTTP__PORT": "0",
        "ARXIVBOT_HTTP__PUBLIC_URL": "https://bot.example.org",
        "ARXIVBOT_SLACK__MODE": "http",
        "ARXIVBOT_SLACK__API_URL": slack.api_url,
        "ARXIVBOT_SLACK__POST_INTERVAL_S": str(interval_s),
        "ARXIVBOT_SCHEDULER__CATCH_UP_INTERVAL_S": "1",
        "ARXIVBOT_LOG__LEVEL": "INFO",
        "SLACK_CLIENT_ID": CLIENT_ID,
        "SLACK_CLIENT_SECRET": CLIENT_SECRET,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
    }


async def start_replicas(n: int, env: dict[str, str], logs: Sequence[IO[bytes]]) -> list[asyncio.subprocess.Process]:
    """``n`` replicas of ``arxiv-bot run``, each logging to its file of ``logs``."""
    return [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "adapters.cli", "run", cwd=ROOT, env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
        )
        for log in logs[:n]
    ]  # fmt: skip


async def stop_replicas(replicas: list[asyncio.subprocess.Process]) -> list[int]:
    """SIGTERM every replica still running; every exit code."""
    for replica in replicas:
        if replica.returncode is None:
            replica.send_signal(signal.SIGTERM)
    return [await asyncio.wait_for(r.wait(), timeout=60) for r in replicas]


async def ledger_rows(url: str) -> tuple[int, int]:
    """(ledger rows, rows whose card and thread are both posted)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            d = db.deliveries.c
            total = (await conn.execute(sa.select(sa.func.count()).select_from(db.deliveries))).scalar()
            done = (
                await conn.execute(sa.select(sa.func.count()).where(d.state == "posted", d.thread_state == "posted"))
            ).scalar()
            return int(total or 0), int(done or 0)
    finally:
        await engine.dispose()


async def slot_holder(url: str) -> int:
    """The pid of the replica holding the (one) slot claim."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            holder = (await conn.execute(sa.select(db.slot_claims.c.holder))).scalar_one()
        return int(str(holder).split(":")[1])
    finally:
        await engine.dispose()


async def wait_done(url: str, rows: int, *, within_s: float) -> None:
    """Wait until ``rows`` ledger rows exist and every one is posted; AssertionError after ``within_s``."""
    deadline = asyncio.get_running_loop().time() + within_s
    while (seen := await ledger_rows(url)) != (rows, rows):
        assert asyncio.get_running_loop().time() < deadline, f"not finished within {within_s} s: {seen}"
        await asyncio.sleep(0.5)


def duplicates(slack: FakeSlack) -> int:
    """Messages created more than once (the same post key)."""
    keys = Counter(str(m["metadata"]["event_payload"]["key"]) for m in slack.created() if "metadata" in m)
    return sum(n - 1 for n in keys.values())


def lost(slack: FakeSlack, *, channels: int) -> int:
    """Cards or thread replies missing: each channel needs ``PAPERS`` cards, each card its thread."""
    cards = sum(max(0, PAPERS - len(slack.messages.get(f"C{n:03d}", []))) for n in range(channels))
    threads = {key for key, replies in slack.replies.items() if replies}
    posted_cards = sum(len(ms) for ms in slack.messages.values())
    return cards + max(0, posted_cards - len(threads))


def tails(folder: Path) -> list[str]:
    """The end of each replica's log, for a failure message."""
    return [path.read_text()[-2000:] for path in sorted(folder.glob("replica-*.log"))]
