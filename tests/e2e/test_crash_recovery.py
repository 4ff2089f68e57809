"""SIGKILL ``arxiv-bot run`` at random points of a multi-channel digest on Slack and Discord, restart it, ten times:
every card and thread part is on the platform exactly once and recorded, and every interrupted run resumed on its
own. On the database of ``db_url`` (SQLite, or PostgreSQL when the suite runs on it)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.crash import DISCORD, SLACK, CrashWorld, crash_run
from tests.fakes.arxiv_server import FakeArxivServer
from tests.fakes.discord_server import FakeDiscord, running_discord_server
from tests.fakes.slack_api import FakeSlack, running_fake_slack

KILLS = 10
SEED = 20260105


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    """The fake Slack Web API."""
    async with running_fake_slack() as server:
        yield server


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    """The fake Discord."""
    async with running_discord_server() as server:
        yield server


async def test_ten_kills_mid_digest_duplicate_nothing_lose_nothing_and_every_run_resumes(
    db_url: str, arxiv: FakeArxivServer, slack: FakeSlack, discord_fake: FakeDiscord, tmp_path: Path
) -> None:
    world = CrashWorld(
        db_url=db_url,
        home=tmp_path,
        arxiv=arxiv,
        slack=slack,
        discord=discord_fake,
        platforms={SLACK, DISCORD},
        rng=random.Random(SEED),
    )
    tally = await crash_run(world, kills=KILLS)
    assert tally.kills == KILLS, tally.line()
    assert (tally.duplicate_cards, tally.duplicate_threads, tally.lost) == (0, 0, 0), tally.problems
    assert tally.resumed == tally.interrupted == KILLS, tally.line()
    # The kills landed on both platforms, after the platform took a message as well as before.
    held = [r for r in discord_fake.requests if r.fault == "held"] + [c for c in slack.calls if c.fault == "held"]
    assert len(held) == KILLS
