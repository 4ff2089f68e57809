"""Benchmark: a 1,000-channel, 2,000-paper day, and commands answered while it runs, on SQLite and PostgreSQL.

Run as ``.venv/bin/python bench/load.py`` (``--channels``, ``--papers``, ``--max-papers`` per channel, ``--rounds``
of idle commands; PostgreSQL at ``ARXIVBOT_BENCH_DATABASE_URL``, default the local
``postgresql+asyncpg://postgres@127.0.0.1:5432/test``, in a fresh schema; ``--sqlite-only`` skips it).

For each database the real core (``build_services``) runs in this process against the local fake arXiv
(``tests/fakes/arxiv_server.py``, answering every category and archive from one generated day of ``--papers``
papers over 24 categories, arXiv's politeness spacing set to 0) and a publisher that does nothing, so only our own
work counts. ``--channels`` channels follow one to three categories each (one in twenty a whole archive, ``cs``),
with keywords. Measured:

* ``fetches`` and ``items_parsed``: the listing requests the fake arXiv got for the whole day, and the items in
  its answers (each parsed once), against ``distinct_categories``, the distinct codes the channels follow
  (target: fetches <= distinct categories);
* ``answer_p99_ms`` of ``/arxiv settings`` and ``/arxiv keywords add`` with 50 in flight (25 of each, on 50
  different channels), idle (``--rounds`` rounds) and during the digest of every channel (one round after another
  until it ends, at most ``--digest-rounds``): the time from sending a command to its answer (targets: < 300 ms
  idle, < 1000 ms during a digest);
* ``failed_commands``: answers that say something went wrong on our side, or raised (target 0).

``cpu_ms_per_post`` (``--channels`` x ``--papers``, 10 papers a channel) and ``fanout_ratio`` (300 channels against
the local fake Slack enforcing a per-channel rate, with and without 10% 429s) come from the posting side's
``bench/posting.py``, measured in the same run on each database (``--skip-posting`` prints ``n/a`` for both). One
line per database, then the last line:
``fetches=<n> items_parsed=<n> distinct_categories=<n> answer_p99_ms_idle=<ms> answer_p99_ms_digest=<ms>
failed_commands=<n> cpu_ms_per_post=<ms> fanout_ratio=<x>`` (the worst of the databases for each figure), and the
targets met or not. Exits non-zero only when the digest itself fails, never because of timing.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from adapters.composition import build_services
from bot.commands.service import FAILED
from bot.config import load_settings
from bot.models import (
    ChannelRecord,
    ChannelRef,
    CommandContext,
    MessageRef,
    PaperCard,
    PostKey,
    Reply,
    Rule,
    RuleKind,
    ThreadSummary,
)
from bot.ports import ThreadJournal
from bot.store.database import create_engine
from bot.store.migrations import upgrade_database
from tests.conftest import PostgresSchemas
from tests.fakes.arxiv_server import FakeArxivServer, combined_feed, running_arxiv_server

SEED = 20260105
PLATFORM = "bench"
IN_FLIGHT = 50
TARGET_IDLE_MS = 300.0
TARGET_DIGEST_MS = 1000.0
PG_URL = os.environ.get("ARXIVBOT_BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
# fmt: off
CATEGORIES = [
    "cs.AI", "cs.CL", "cs.CV", "cs.LG", "cs.DC", "cs.RO", "cs.CR", "cs.SE", "cs.IR", "cs.NI", "cs.PF", "cs.AR",
    "cs.DB", "cs.DS", "cs.HC", "cs.MA", "stat.ML", "stat.ME", "math.OC", "math.PR", "eess.SP", "eess.IV",
    "q-bio.NC", "physics.comp-ph",
]
TOPICS = [
    "large language models", "speculative decoding", "KV cache", "reinforcement learning", "diffusion", "graph",
    "federated learning", "quantization", "robot", "privacy", "compiler", "scheduling", "retrieval", "agents",
    "transformer", "optimization", "sparsity", "benchmark", "serving", "distillation", "MoE", "RLHF", "LoRA",
]
FILLER = """we study a method for the of and in to with on our results show that this approach improves over prior
work across tasks data models training evaluation propose novel efficient framework analysis experiments""".split()
# fmt: on


class NullPublisher:
    """A publisher that does nothing: every post "succeeds" at once, so only our own work is measured."""

    def __init__(self) -> None:
        self.cards = 0
        self.threads = 0

    async def post_card(self, card: PaperCard, *, channel: ChannelRef, key: PostKey | None = None) -> MessageRef:
        """Count the card; return a message reference."""
        self.cards += 1
        return MessageRef(channel, f"m{self.cards}")

    async def post_thread(
        self, summary: ThreadSummary, *, parent: MessageRef, journal: ThreadJournal | None = None
    ) -> MessageRef:
        """Count the thread; record its one part in the journal as the real publishers do."""
        self.threads += 1
        if journal is not None:
            part, _key = journal.resume()
            await journal.sending(part)
            await journal.sent(part, f"t{self.threads}", last=True)
        return MessageRef(parent.channel, f"t{self.threads}")

    async def update_card(self, card: PaperCard, *, message: MessageRef, key: PostKey | None = None) -> None:
        """Drop the update (the card would now show its TL;DR)."""

    async def send_reply(self, reply: Reply, *, channel: ChannelRef, user_id: str | None) -> None:
        """Drop the reply."""


def day_feed(n_papers: int, rng: random.Random) -> bytes:
    """One announcement of ``n_papers`` papers in arXiv's RSS form, each with a primary and up to two cross-lists."""
    items = []
    for i in range(n_papers):
        cats = list(dict.fromkeys([rng.choice(CATEGORIES), *rng.sample(CATEGORIES, rng.choice((0, 0, 1, 2)))]))
        words = rng.choices(FILLER, k=rng.randint(120, 200))
        for topic in rng.sample(TOPICS, 3):
            words.insert(rng.randrange(len(words)), topic)
        title = " ".join([*rng.choices(FILLER, k=5), rng.choice(TOPICS)]).capitalize()
        pid = f"2601.{i:05d}"
        items.append(
            f"<item><title>{title}</title><link>https://arxiv.org/abs/{pid}</link>"
            f"<description>arXiv:{pid}v1 Announce Type: new \nAbstract: {' '.join(words)}</description>"
            f'<guid isPermaLink="false">oai:arXiv.org:{pid}v1</guid>'
            + "".join(f"<category>{c}</category>" for c in cats)
            + "<pubDate>Mon, 05 Jan 2026 00:00:00 -0500</pubDate><arxiv:announce_type>new</arxiv:announce_type>"
            "<dc:creator>Ada Lovelace, Alan Turing</dc:creator></item>"
        )
    return (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        '<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" version="2.0">'
        "<channel><title>bench</title><link>http://rss.arxiv.org/rss/bench</link><description>bench</description>"
        "<pubDate>Mon, 05 Jan 2026 00:00:00 -0500</pubDate>" + "".join(items) + "</channel></rss>"
    ).encode()


@dataclass
class Latencies:
    """Answer times of one kind of command, in ms, and the failures."""

    ms: list[float] = field(default_factory=list)
    failed: int = 0

    def p99(self) -> float:
        """The 99th percentile (nearest rank); 0 when nothing was measured."""
        if not self.ms:
            return 0.0
        ordered = sorted(self.ms)
        return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


@dataclass
class Figures:
    """One database's results."""

    name: str
    fetches: int = 0
    items_parsed: int = 0
    distinct: int = 0
    digest_s: float = 0.0
    posted: int = 0
    idle: dict[str, Latencies] = field(default_factory=lambda: {"settings": Latencies(), "keywords add": Latencies()})
    during: dict[str, Latencies] = field(default_factory=lambda: {"settings": Latencies(), "keywords add": Latencies()})
    digest_error: str | None = None

    @property
    def failed(self) -> int:
        """Every failed command, idle and during the digest."""
        return sum(x.failed for x in (*self.idle.values(), *self.during.values()))

    def worst(self, which: dict[str, Latencies]) -> float:
        """The higher p99 of the two commands."""
        return max(x.p99() for x in which.values())


async def timed_command(services: object, ref: ChannelRef, text: str, into: Latencies) -> None:
    """Send one command and record how long its answer took."""
    commands = services.commands  # type: ignore[attr-defined]
    ctx = CommandContext(channel=ref, user_id="U1", user_name="bench", can_manage=True)
    start = time.perf_counter()
    try:
        reply = await commands.execute(ctx, text)
    except Exception:
        into.failed += 1
        return
    into.ms.append((time.perf_counter() - start) * 1000)
    if FAILED in reply.text or "went wrong" in reply.text:
        into.failed += 1


async def command_round(services: object, refs: Sequence[ChannelRef], n: int, into: dict[str, Latencies]) -> None:
    """50 commands in flight: ``settings`` on half the channels, ``keywords add`` on the other half."""
    half = len(refs) // 2
    await asyncio.gather(
        *(timed_command(services, ref, "settings", into["settings"]) for ref in refs[:half]),
        *(timed_command(services, ref, f"keywords add bench term {n}", into["keywords add"]) for ref in refs[half:]),
    )


async def make_channels(services: object, n: int, rng: random.Random) -> list[ChannelRecord]:
    """``n`` channels following one to three categories (one in twenty the ``cs`` archive), with keywords."""
    channels = services.channels  # type: ignore[attr-defined]
    for i in range(n):
        record = await channels.get_or_create(ChannelRef(PLATFORM, "T1", f"C{i:05d}"))
        cats = ["cs"] if rng.random() < 0.05 else rng.sample(CATEGORIES, rng.randint(1, 3))
        await channels.add_categories(record.id, cats)
        terms = rng.sample(TOPICS, rng.randint(3, 8))
        await channels.replace_rules(record.id, RuleKind.INCLUDE, [Rule(kind=RuleKind.INCLUDE, term=t) for t in terms])
    records: list[ChannelRecord] = await channels.all_active()
    return records


async def run_one(name: str, url: str, args: argparse.Namespace, feed: bytes) -> Figures:
    """The whole measurement on one database."""
    figures = Figures(name)
    rng = random.Random(SEED)
    async with running_arxiv_server() as arxiv:
        arxiv.feeds[frozenset(CATEGORIES)] = feed
        env = {
            "ARXIVBOT_DATABASE__URL": url,
            "ARXIVBOT_ARXIV__RSS_URL": arxiv.rss_url,
            "ARXIVBOT_ARXIV__API_URL": arxiv.api_url,
            "ARXIVBOT_ARXIV__MIN_INTERVAL_S": "0",
            "ARXIVBOT_SCHEDULER__ENABLED": "true",  # settings changes go to the scheduler, as in a running bot
            "ARXIVBOT_HTTP__ENABLED": "false",
            "ARXIVBOT_CHANNEL__MAX_PAPERS": str(args.max_papers),
        }
        services = build_services(load_settings(Path("/nonexistent/config.toml"), env=env))
        publisher = NullPublisher()
        services.router.add(PLATFORM, publisher)  # type: ignore[arg-type]
        try:
            records = await make_channels(services, args.channels, rng)
            figures.distinct = len({c for r in records for c in r.categories})
            refs = [r.ref for r in records]
            for n in range(args.rounds):
                await command_round(services, rng.sample(refs, IN_FLIGHT), n, figures.idle)
            started = time.perf_counter()
            digest = asyncio.create_task(services.runner.run(records))
            n = args.rounds
            while not digest.done() and n < args.rounds + args.digest_rounds:
                n += 1
                await command_round(services, rng.sample(refs, IN_FLIGHT), n, figures.during)
            try:
                outcomes = await digest
            except Exception as err:
                figures.digest_error = f"{type(err).__name__}: {err}"
                outcomes = {}
            figures.digest_s = time.perf_counter() - started
            figures.posted = sum(o.posted for o in outcomes.values())
            count_fetches(arxiv, figures)
        finally:
            await services.aclose()
    return figures


def count_fetches(arxiv: FakeArxivServer, figures: Figures) -> None:
    """Listing requests, and the items in the answers the fake gave them."""
    for request in arxiv.requests:
        if not request.path.startswith("/rss/"):
            continue
        figures.fetches += 1
        codes = frozenset(request.path.removeprefix("/rss/").split("+"))
        body = arxiv.feeds.get(codes) or combined_feed(arxiv.feeds, codes) or b""
        # A configured feed may be text (the fake takes either): count in its encoded form.
        figures.items_parsed += (body.encode() if isinstance(body, str) else body).count(b"<item>")


def report(figures: Figures) -> None:
    """One database's line."""
    idle = " ".join(f"{k.replace(' ', '_')}={v.p99():.0f}" for k, v in figures.idle.items())
    during = " ".join(f"{k.replace(' ', '_')}={v.p99():.0f}" for k, v in figures.during.items())
    samples = sum(len(v.ms) for v in figures.during.values())
    print(
        f"[{figures.name}] digest of every channel: {figures.digest_s:.1f} s, {figures.posted} cards posted"
        f"{'' if figures.digest_error is None else ', FAILED: ' + figures.digest_error}; fetches={figures.fetches} "
        f"items_parsed={figures.items_parsed} distinct_categories={figures.distinct}; answer p99 ms idle: {idle}; "
        f"during the digest ({samples} commands): {during}; failed_commands={figures.failed}"
    )


async def main_async(args: argparse.Namespace) -> int:
    """Measure on SQLite, then PostgreSQL; print the figures."""
    feed = day_feed(args.papers, random.Random(SEED))
    print(
        f"data: {args.papers} papers over {len(CATEGORIES)} categories, {args.channels} channels, up to "
        f"{args.max_papers} papers each; {IN_FLIGHT} commands in flight; load average at start "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (latencies grow with it)"
    )
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        engine = create_engine(url)
        await upgrade_database(engine)
        await engine.dispose()
        results.append(await run_one("sqlite", url, args, feed))
        report(results[-1])
    if not args.sqlite_only:
        schemas = PostgresSchemas(PG_URL)
        try:
            pg_url = await schemas.create(migrate=True)
            results.append(await run_one("postgresql", pg_url, args, feed))
            report(results[-1])
        finally:
            await schemas.drop_all()
    cpu_ms, fanout = await posting_figures(args)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    fetches = max(r.fetches for r in results)
    distinct = min(r.distinct for r in results)
    idle = max(r.worst(r.idle) for r in results)
    during = max(r.worst(r.during) for r in results)
    failed = sum(r.failed for r in results)
    for label, ok in (
        (f"fetches <= distinct categories ({fetches} <= {distinct})", fetches <= distinct),
        (f"answer_p99_ms idle < {TARGET_IDLE_MS:g}", idle < TARGET_IDLE_MS),
        (f"answer_p99_ms during a digest < {TARGET_DIGEST_MS:g}", during < TARGET_DIGEST_MS),
        ("failed_commands = 0", failed == 0),
        (f"cpu_ms_per_post < 2 ({cpu_ms})", cpu_ms != "n/a" and float(cpu_ms) < 2),
        (f"fanout_ratio >= 0.9 ({fanout})", fanout != "n/a" and float(fanout) >= 0.9),
    ):
        print(f"target {label}: {'met' if ok else 'NOT met'}")
    print(
        f"fetches={fetches} items_parsed={max(r.items_parsed for r in results)} distinct_categories={distinct} "
        f"answer_p99_ms_idle={idle:.0f} answer_p99_ms_digest={during:.0f} failed_commands={failed} "
        f"cpu_ms_per_post={cpu_ms} fanout_ratio={fanout}"
    )
    return 1 if any(r.digest_error for r in results) else 0


async def posting_figures(args: argparse.Namespace) -> tuple[str, str]:
    """bench/posting.py's cpu_ms_per_post (the worst database) and fanout_ratio (the worst of with and without 10%
    429s, on each database), or n/a for both with --skip-posting."""
    if args.skip_posting:
        return "n/a", "n/a"
    import posting  # bench/posting.py, beside this file

    cpu: list[float] = []
    fan: list[float] = []
    schemas = None if args.sqlite_only else PostgresSchemas(PG_URL)
    try:
        for name in ("sqlite", "postgresql"):
            if name == "postgresql" and schemas is None:
                break
            # Each measurement on a fresh database: a SQLite file of its own (None), or a new migrated schema.
            urls: list[str | None] = [None] * 3
            if schemas is not None and name == "postgresql":
                urls = [await schemas.create(migrate=True) for _ in range(3)]
            cpu.append(await posting.cpu_ms_per_post(channels=args.channels, papers=args.papers, database_url=urls[0]))
            fan.append(await posting.fanout_ratio(channels=300, database_url=urls[1]))
            fan.append(await posting.fanout_ratio(channels=300, fault_rate=0.1, database_url=urls[2]))
            print(f"[{name}] cpu_ms_per_post={cpu[-1]:.2f} fanout_ratio={fan[-2]:.2f} (with 10% 429s: {fan[-1]:.2f})")
    finally:
        if schemas is not None:
            await schemas.drop_all()
    return f"{max(cpu):.2f}", f"{min(fan):.2f}"


def main() -> int:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--channels", type=int, default=1000)
    parser.add_argument("--papers", type=int, default=2000)
    parser.add_argument("--max-papers", type=int, default=3, help="papers per channel (the default day posts 10)")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of 50 commands in flight, idle")
    parser.add_argument(
        "--digest-rounds", type=int, default=10, help="at most this many rounds during the digest (bursts, not a flood)"
    )
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--skip-posting", action="store_true", help="leave out bench/posting.py's two figures")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
