"""Benchmark: 1, 2 and 3 replicas of ``arxiv-bot run`` on one PostgreSQL database, posting one digest together.

Run as ``.venv/bin/python bench/replicas.py`` (``--channels`` default 300, over ``--workspaces`` default 30 Slack
workspaces installed through OAuth; ``--interval`` the pace per channel, default 1 s; ``--counts`` default 1,2,3).
For each replica count, in a fresh schema of ``ARXIVBOT_BENCH_DATABASE_URL`` (default the local
``postgresql+asyncpg://postgres@127.0.0.1:5432/test``), the real bot runs as subprocesses against the local fake
Slack and fake arXiv (``tests/replicas.py``); every channel's digest (2 cards and their 2 thread replies) is due at
start. Measured from the fake's records, first message to last: messages per second overall (each channel's first
message starts the clock, so it is not counted), and the ratio to the ideal of ``channels x 1/interval`` (the fake
Slack allows any rate, so it caps nothing); duplicates (a post key created twice) and losses (a card or thread reply
missing). One line per replica count:
``replicas=<n> channels=<c> workspaces=<w> messages=<m> msg_per_s=<r> ideal=<i> ratio=<r/i> duplicates=<d> lost=<l>``.
The exit code is 1 unless duplicates and losses are 0.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import FEED_0105, LOCAL_POSTGRES_URL, PostgresSchemas
from tests.fakes.arxiv_server import running_arxiv_server
from tests.fakes.slack_api import running_fake_slack
from tests.replicas import PAPERS, duplicates, lost, replica_env, seed, start_replicas, stop_replicas, wait_done


async def one(n: int, args: argparse.Namespace, schemas: PostgresSchemas, home: Path) -> tuple[str, bool]:
    """Run the digest with ``n`` replicas; its line and whether it lost or duplicated nothing."""
    url = await schemas.create(migrate=True)
    async with running_arxiv_server() as arxiv, running_fake_slack() as slack:
        arxiv.feeds[frozenset({"cs.DC"})] = FEED_0105.read_bytes()
        await seed(url, slack, workspaces=args.workspaces, channels=args.channels)
        env = replica_env(url, arxiv, slack, home, lease_s=120, interval_s=args.interval)
        logs = [(home / f"replica-{n}-{i}.log").open("wb") for i in range(n)]
        replicas = await start_replicas(n, env, logs)
        try:
            await wait_done(url, args.channels * PAPERS, within_s=3600)
        finally:
            await stop_replicas(replicas)
            for log in logs:
                log.close()
    posts = slack.posts()
    span = max(posts[-1].at - posts[0].at, 1e-9) if len(posts) > 1 else 1e-9
    # m messages to one channel paced at 1/interval span (m - 1) intervals: each channel's first message starts
    # the clock and is not counted, or a perfect run would read above the ideal.
    rate = (len(posts) - len({post.args.get("channel") for post in posts})) / span
    ideal = args.channels / args.interval
    dup, missing = duplicates(slack), lost(slack, channels=args.channels)
    line = (
        f"replicas={n} channels={args.channels} workspaces={args.workspaces} messages={len(posts)} "
        f"msg_per_s={rate:.2f} ideal={ideal:g} ratio={rate / ideal:.3f} duplicates={dup} lost={missing}"
    )
    return line, dup == 0 and missing == 0


async def main() -> int:
    """Every replica count in turn; exit code 1 on a duplicate or a loss."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=300)
    parser.add_argument("--workspaces", type=int, default=30)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--counts", default="1,2,3")
    args = parser.parse_args()
    schemas = PostgresSchemas(os.environ.get("ARXIVBOT_BENCH_DATABASE_URL", LOCAL_POSTGRES_URL))
    ok = True
    try:
        with tempfile.TemporaryDirectory() as home:
            for n in (int(c) for c in args.counts.split(",")):
                line, clean = await one(n, args, schemas, Path(home))
                print(line, flush=True)
                ok = ok and clean
    finally:
        await schemas.drop_all()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
