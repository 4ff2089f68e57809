"""Benchmark: kill ``arxiv-bot run`` at random points of a multi-channel digest while the platforms misbehave.

Run as ``.venv/bin/python bench/faults.py`` (``--kills N`` per platform and database, default 20; ``--seed``).
For each platform (Slack in HTTP mode, Discord) and each database (a SQLite file, and PostgreSQL at
``ARXIVBOT_BENCH_DATABASE_URL``, default the local ``postgresql+asyncpg://postgres@127.0.0.1:5432/test``, in a
fresh schema), the real bot runs as a subprocess against the local fakes (``tests/crash.py``): it is killed
``--kills`` times at message creates the fakes pick (SIGKILL, one in four a SIGTERM), restarted each time, and
finally left to finish. All along, each message create gets each network fault with probability 10%: answer lost
after the message was created, a hang past the client timeout, a reset before creating, 429 with Retry-After, 500.

The bot is never told to post: each start resumes on its own (the missed digest and the catch-up). Counted from the
fakes' records and the ledger: duplicate cards, duplicate thread parts, lost posts (a selected paper without its card
and whole thread, or a ledger row unfinished or pointing at another message) and interrupted runs whose unfinished
rows were all finished later. One line per platform and database, then the totals as the last line:
``kills=<n> duplicate_cards=<n> duplicate_threads=<n> lost=<n> resumed=<n>/<n>``. The exit code is 1 unless
duplicates and losses are 0 and every interrupted run resumed. (Before the delivery ledger recorded intents, 20 kills
on SQLite gave 31 duplicate cards and 21 duplicate thread replies, and SIGTERM left 16 of 16 runs not resumed.)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.store.database import create_engine
from bot.store.migrations import upgrade_database
from tests.conftest import PostgresSchemas
from tests.crash import DISCORD, SLACK, CrashWorld, Tally, crash_run
from tests.fakes.arxiv_server import running_arxiv_server
from tests.fakes.discord_server import running_discord_server
from tests.fakes.slack_api import running_fake_slack

FAULT_RATE = 0.10
SIGTERM_SHARE = 0.25
PG_URL = os.environ.get("ARXIVBOT_BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


async def sqlite_url(folder: Path) -> str:
    """A fresh migrated SQLite file."""
    url = f"sqlite+aiosqlite:///{folder / 'bot.db'}"
    engine = create_engine(url)
    try:
        await upgrade_database(engine)
    finally:
        await engine.dispose()
    return url


async def scenario(platform: str, database: str, url: str, *, kills: int, seed: int, home: Path) -> Tally:
    """One platform on one database: ``kills`` kills under network faults, then the count."""
    async with running_arxiv_server() as arxiv, running_fake_slack() as slack, running_discord_server() as discord:
        world = CrashWorld(
            db_url=url,
            home=home,
            arxiv=arxiv,
            slack=slack,
            discord=discord,
            platforms={platform},
            rng=random.Random(seed),
            fault_rate=FAULT_RATE,
            sigterm_share=SIGTERM_SHARE,
        )
        started = time.monotonic()
        tally = await crash_run(world, kills=kills)
        picked = (slack.random_faults.picked if slack.random_faults else []) + (
            discord.random_faults.picked if discord.random_faults else []
        )
        faults = " ".join(f"{kind}={picked.count(kind)}" for kind in dict.fromkeys(picked))
        took = time.monotonic() - started
        print(f"{platform} on {database}: {tally.line()} faults: {faults or 'none'} ({took:.0f} s)")
        for problem in tally.problems[:10]:
            print(f"  {problem}")
        return tally


async def main(kills: int, seed: int) -> int:
    total = Tally()
    schemas = PostgresSchemas(PG_URL)
    pg_ok = True
    try:
        await schemas.drop_all(leftovers=True)
    except OSError as err:
        pg_ok = False
        print(f"PostgreSQL at {PG_URL} is not answering ({err}); SQLite only")
    try:
        for n, platform in enumerate((SLACK, DISCORD)):
            databases = ["sqlite", "postgresql"] if pg_ok else ["sqlite"]
            for m, database in enumerate(databases):
                with tempfile.TemporaryDirectory(prefix="arxiv-bot-faults-") as tmp:
                    home = Path(tmp)
                    url = await sqlite_url(home) if database == "sqlite" else await schemas.create(migrate=True)
                    total.add(await scenario(platform, database, url, kills=kills, seed=seed + 10 * n + m, home=home))
    finally:
        if pg_ok:
            await schemas.drop_all()
    print(total.line())
    ok = (total.duplicate_cards, total.duplicate_threads, total.lost) == (0, 0, 0)
    return 0 if ok and total.resumed == total.interrupted == total.kills else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20, help="kills per platform and database (default 20)")
    parser.add_argument("--seed", type=int, default=20260105)
    args = parser.parse_args()
    raise SystemExit(asyncio.run(main(args.kills, args.seed)))
