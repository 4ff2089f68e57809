"""Three replicas of ``arxiv-bot run`` (subprocesses) on the local PostgreSQL behave as one bot: 30 channels over 3
Slack workspaces (installed through OAuth), one replica SIGKILLed mid-digest, 0 duplicate and 0 lost posts."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore

from bot.models import ChannelDefaults, ChannelRef, Rule, RuleKind
from bot.store import schema as db
from bot.store.channels import ChannelStore
from bot.store.database import Database, create_engine
from tests.conftest import FEED_0105, ROOT
from tests.fakes.arxiv_server import FakeArxivServer
from tests.fakes.clock import FixedClock
from tests.fakes.slack_api import CLIENT_ID, CLIENT_SECRET, SIGNING_SECRET, FakeSlack, running_fake_slack

TEAMS = ("T1", "T2", "T3")
CHANNELS = 30
PAPERS = 2
"""Each channel's picks of the day: the two cs.DC papers of the feed that mention LLM."""
LEASE_S = 3


async def _seed(url: str, slack: FakeSlack) -> None:
    """Three workspaces installed through OAuth, ten channels in each following cs.DC and LLM, due since a week."""
    engine = create_engine(url)
    try:
        store = AsyncSQLAlchemyInstallationStore(client_id=CLIENT_ID, engine=engine)
        await store.create_tables()  # type: ignore[no-untyped-call]
        for team in TEAMS:
            token = f"xoxb-{team.lower()}-replica-test-token"
            slack.team_tokens[token] = slack.issued[token] = team
            await store.async_save(
                Installation(app_id="A1", team_id=team, bot_token=token, bot_id="BFAKE", bot_user_id="UBOT",
                             user_id="UINSTALLER", bot_scopes=["chat:write"])
            )  # fmt: skip
        database = Database(engine=engine, clock=FixedClock())
        defaults = ChannelDefaults(
            post_time="00:00", timezone="UTC", max_papers=PAPERS, min_score=1, include_cross=False, language="en"
        )
        channels = ChannelStore(database=database, defaults=defaults)
        for n in range(CHANNELS):
            record = await channels.get_or_create(ChannelRef("slack", TEAMS[n % 3], f"C{n:02d}"))
            await channels.add_categories(record.id, ["cs.DC"])
            await channels.replace_rules(record.id, RuleKind.INCLUDE, [Rule(kind=RuleKind.INCLUDE, term="LLM")])
        async with engine.begin() as conn:
            await conn.execute(sa.update(db.channels).values(created_at=datetime.now(UTC) - timedelta(days=7)))
    finally:
        await engine.dispose()


def _env(url: str, arxiv: FakeArxivServer, slack: FakeSlack, home: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "ARXIVBOT_CONFIG": str(ROOT / "config.toml"),
        "ARXIVBOT_DATABASE__URL": url,
        "ARXIVBOT_DATABASE__LEASE_S": str(LEASE_S),
        "ARXIVBOT_ARXIV__RSS_URL": arxiv.rss_url,
        "ARXIVBOT_ARXIV__API_URL": arxiv.api_url,
        "ARXIVBOT_ARXIV__MIN_INTERVAL_S": "0",
        "ARXIVBOT_HTTP__PORT": "0",
        "ARXIVBOT_HTTP__PUBLIC_URL": "https://bot.example.org",
        "ARXIVBOT_SLACK__MODE": "http",
        "ARXIVBOT_SLACK__API_URL": slack.api_url,
        "ARXIVBOT_SLACK__POST_INTERVAL_S": "0.3",
        "ARXIVBOT_SCHEDULER__CATCH_UP_INTERVAL_S": "1",
        "ARXIVBOT_LOG__LEVEL": "INFO",
        "SLACK_CLIENT_ID": CLIENT_ID,
        "SLACK_CLIENT_SECRET": CLIENT_SECRET,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
    }


def _tails(folder: Path) -> list[str]:
    """The end of each replica's log, for a failure message."""
    return [path.read_text()[-2000:] for path in sorted(folder.glob("replica-*.log"))]


async def _rows(url: str) -> tuple[int, int]:
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


async def _slot_holder(url: str) -> int:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            holder = (await conn.execute(sa.select(db.slot_claims.c.holder))).scalar_one()
        return int(str(holder).split(":")[1])
    finally:
        await engine.dispose()


async def test_three_replicas_one_killed_mid_digest_post_every_paper_once(
    pg_url: str, arxiv: FakeArxivServer, tmp_path: Path
) -> None:
    arxiv.feeds[frozenset({"cs.DC"})] = FEED_0105.read_bytes()
    async with running_fake_slack() as slack:
        await _seed(pg_url, slack)
        env = _env(pg_url, arxiv, slack, tmp_path)
        logs = [(tmp_path / f"replica-{i}.log").open("wb") for i in range(3)]
        replicas = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-m", "adapters.cli", "run", cwd=ROOT, env=env,
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
            )
            for log in logs
        ]  # fmt: skip
        try:
            await slack.wait_for(lambda: len(slack.posts()) >= 30, within_s=90)
            holder = await _slot_holder(pg_url)
            (killed,) = [r for r in replicas if r.pid == holder]
            killed.send_signal(signal.SIGKILL)
            assert await asyncio.wait_for(killed.wait(), timeout=30) == -signal.SIGKILL
            assert len(slack.posts()) < CHANNELS * PAPERS * 2, "the digest was over before the kill"

            # The survivors take the killed replica's slot and rows over once its leases ran out, on their own.
            deadline = asyncio.get_running_loop().time() + 90
            while (rows := await _rows(pg_url)) != (CHANNELS * PAPERS, CHANNELS * PAPERS):
                assert asyncio.get_running_loop().time() < deadline, (rows, _tails(tmp_path))
                await asyncio.sleep(0.5)
        finally:
            for replica in replicas:
                if replica.returncode is None:
                    replica.send_signal(signal.SIGTERM)
            codes = [await asyncio.wait_for(r.wait(), timeout=60) for r in replicas]
            for log in logs:
                log.close()
        assert sorted(codes) == sorted([0, 0, -signal.SIGKILL]), _tails(tmp_path)

        keys = Counter(str(m["metadata"]["event_payload"]["key"]) for m in slack.created() if "metadata" in m)
        assert keys and max(keys.values()) == 1, [k for k, n in keys.items() if n > 1]  # 0 duplicates
        cards = {ch: len(ms) for ch, ms in slack.messages.items()}
        assert cards == {f"C{n:02d}": PAPERS for n in range(CHANNELS)}  # 0 lost cards
        threads = {(ch, ts) for (ch, ts), replies in slack.replies.items() if replies}
        assert len(threads) == CHANNELS * PAPERS  # every card has its thread
        for team in TEAMS:
            assert {c.token for c in slack.posts_in(team)} == {f"xoxb-{team.lower()}-replica-test-token"}
