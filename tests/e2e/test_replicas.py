"""Three replicas of ``arxiv-bot run`` (subprocesses) on the local PostgreSQL behave as one bot: 30 channels over 3
Slack workspaces (installed through OAuth), one replica SIGKILLed mid-digest, 0 duplicate and 0 lost posts."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from tests.conftest import FEED_0105
from tests.fakes.arxiv_server import FakeArxivServer
from tests.fakes.slack_api import running_fake_slack
from tests.replicas import (
    PAPERS,
    duplicates,
    lost,
    replica_env,
    seed,
    slot_holder,
    start_replicas,
    stop_replicas,
    tails,
    team_token,
    wait_done,
)

WORKSPACES = 3
CHANNELS = 30
LEASE_S = 3


async def test_three_replicas_one_killed_mid_digest_post_every_paper_once(
    pg_url: str, arxiv: FakeArxivServer, tmp_path: Path
) -> None:
    arxiv.feeds[frozenset({"cs.DC"})] = FEED_0105.read_bytes()
    async with running_fake_slack() as slack:
        await seed(pg_url, slack, workspaces=WORKSPACES, channels=CHANNELS)
        env = replica_env(pg_url, arxiv, slack, tmp_path, lease_s=LEASE_S, interval_s=0.3)
        logs = [(tmp_path / f"replica-{i}.log").open("wb") for i in range(3)]
        replicas = await start_replicas(3, env, logs)
        try:
            await slack.wait_for(lambda: len(slack.posts()) >= 30, within_s=90)
            holder = await slot_holder(pg_url)
            (killed,) = [r for r in replicas if r.pid == holder]
            killed.send_signal(signal.SIGKILL)
            assert await asyncio.wait_for(killed.wait(), timeout=30) == -signal.SIGKILL
            assert len(slack.posts()) < CHANNELS * PAPERS * 2, "the digest was over before the kill"
            # The survivors take the killed replica's slot and rows over once its leases ran out, on their own.
            await wait_done(pg_url, CHANNELS * PAPERS, within_s=90)
        finally:
            codes = await stop_replicas(replicas)
            for log in logs:
                log.close()
        assert sorted(codes) == sorted([0, 0, -signal.SIGKILL]), tails(tmp_path)
        assert duplicates(slack) == 0
        assert lost(slack, channels=CHANNELS) == 0
        assert {ch: len(ms) for ch, ms in slack.messages.items()} == {f"C{n:03d}": PAPERS for n in range(CHANNELS)}
        for n in range(WORKSPACES):
            team = f"T{n + 1}"
            assert {c.token for c in slack.posts_in(team)} == {team_token(team)}
