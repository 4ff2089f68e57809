"""Benchmark: one day of 1,000 channels over overlapping categories, in several languages, against a fake LLM.

Run as ``.venv/bin/python bench/llm_calls.py``. Everything is real except the two remote services: the real
DigestRunner, ledger and summary store on a temporary SQLite file, the real arXiv client reading generated RSS
listings from a local fake arXiv, and the real litellm calling a local OpenAI-compatible fake over loopback.
It counts the model calls and, per language, the distinct papers posted into channels of that language: each
paper is summarised once per language, so the two must be equal. The last line printed is
``llm_calls=<n> distinct_posted_per_language=<m> equal=<true|false>``; the exit code is 1 when they differ or a
thread did not get a model summary.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.composition import build_services
from bot.config import load_settings
from bot.delivery.thread_parts import post_parts
from bot.models import ChannelRef, MessageRef, PaperCard, PostKey, Reply, RuleKind, ThreadSummary, term_key
from bot.ports import ThreadJournal
from bot.store import schema as db
from bot.store.database import Database, create_engine
from bot.store.migrations import upgrade_database
from tests.fakes.arxiv_server import running_arxiv_server
from tests.fakes.openai_server import running_openai_server

SEED = 20260105
N_CHANNELS = 1_000
N_PAPERS = 160
MAX_PAPERS_PER_CHANNEL = 1
CONCURRENCY = 8
LANGUAGES = {"en": 0.6, "zh": 0.2, "de": 0.1, "ja": 0.1}
CATEGORIES = ("cs.AI", "cs.CL", "cs.DC", "cs.LG", "cs.CV", "cs.RO", "cs.CR", "stat.ML")
TOPICS = {
    "systems": ["LLM", "inference", "serving", "KV cache", "speculative decoding", "throughput", "GPU"],
    "training": ["RLHF", "DPO", "fine-tuning", "LoRA", "pretraining", "scaling law", "distillation"],
    "nlp": ["machine translation", "RAG", "summarization", "hallucination", "benchmark", "agent"],
    "vision": ["diffusion", "segmentation", "object detection", "video generation", "NeRF", "CLIP"],
    "robots": ["reinforcement learning", "imitation learning", "manipulation", "world model", "navigation"],
    "security": ["adversarial", "privacy", "jailbreak", "watermark", "federated learning", "backdoor"],
}
DAY = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


@dataclass
class FixedClock:
    """The announcement day, at 10:00 UTC."""

    def now(self) -> datetime:
        """Always the bench's day."""
        return DAY


@dataclass
class CountingPublisher:
    """Takes every post at once and remembers what went where."""

    cards: list[tuple[ChannelRef, str]] = field(default_factory=list)
    threads: list[tuple[ChannelRef, ThreadSummary]] = field(default_factory=list)

    async def post_card(self, card: PaperCard, *, channel: ChannelRef, key: PostKey | None = None) -> MessageRef:
        """Record a card."""
        self.cards.append((channel, card.paper.versioned_id))
        return MessageRef(channel, f"m{len(self.cards)}")

    async def post_thread(
        self, summary: ThreadSummary, *, parent: MessageRef, journal: ThreadJournal | None = None
    ) -> MessageRef:
        """Record a thread reply (one part, recorded in the ledger's journal)."""

        async def send(part: ThreadSummary, _key: PostKey | None) -> str:
            self.threads.append((parent.channel, part))
            return f"t{len(self.threads)}"

        await post_parts([summary], journal=journal, send=send)
        return MessageRef(parent.channel, f"t{len(self.threads)}")

    async def send_reply(self, reply: Reply, *, channel: ChannelRef, user_id: str | None) -> None:
        """Replies are not part of a digest."""


@dataclass(frozen=True)
class FakePaper:
    """A generated paper: id, categories (primary first), title and abstract."""

    arxiv_id: str
    categories: tuple[str, ...]
    title: str
    abstract: str


def make_papers(rng: random.Random) -> list[FakePaper]:
    """Papers on one or two topics, in one primary category and up to two cross-lists."""
    papers = []
    for n in range(N_PAPERS):
        topics = rng.sample(sorted(TOPICS), k=rng.choice((1, 2)))
        terms = [t for topic in topics for t in rng.sample(TOPICS[topic], k=3)]
        categories = tuple(rng.sample(CATEGORIES, k=rng.choice((1, 2, 3))))
        title = f"{terms[0].title()} meets {terms[1]}: study {n}"
        abstract = (
            f"We study {terms[0]} and {terms[1]}. We propose a method using {', '.join(terms[2:])}. "
            f"It improves results by {rng.randint(5, 60)}% on standard benchmarks."
        )
        papers.append(FakePaper(f"2601.{n + 10000:05d}", categories, title, abstract))
    return papers


def rss_feed(categories: frozenset[str], papers: list[FakePaper]) -> str:
    """arXiv's RSS listing of these categories for the day (a paper appears once, cross when not primary)."""
    items = []
    for p in papers:
        if not categories & set(p.categories):
            continue
        kind = "new" if p.categories[0] in categories else "cross"
        cats = "".join(f"<category>{c}</category>" for c in p.categories)
        items.append(
            f"""<item><title>{escape(p.title)}</title><link>https://arxiv.org/abs/{p.arxiv_id}</link>
<description>arXiv:{p.arxiv_id}v1 Announce Type: {kind}
Abstract: {escape(p.abstract)}</description>
<guid isPermaLink="false">oai:arXiv.org:{p.arxiv_id}v1</guid>{cats}
<pubDate>Mon, 05 Jan 2026 00:00:00 -0500</pubDate><arxiv:announce_type>{kind}</arxiv:announce_type>
<dc:creator>Ada Lovelace, Alan Turing</dc:creator></item>"""
        )
    name = "+".join(sorted(categories))
    return f"""<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" version="2.0">
<channel><title>{name} updates on arXiv.org</title><link>http://rss.arxiv.org/rss/{name}</link>
<description>{name} updates</description><language>en-us</language>
<lastBuildDate>Mon, 05 Jan 2026 00:00:00 -0500</lastBuildDate><pubDate>Mon, 05 Jan 2026 00:00:00 -0500</pubDate>
{"".join(items)}
</channel></rss>"""


@dataclass(frozen=True)
class ChannelPlan:
    """One generated channel."""

    ref: ChannelRef
    categories: tuple[str, ...]
    keywords: tuple[str, ...]
    language: str


def make_channels(rng: random.Random) -> list[ChannelPlan]:
    """Channels in 50 workspaces, each following one to three categories and a few keywords of two topics."""
    languages, weights = list(LANGUAGES), list(LANGUAGES.values())
    plans = []
    for n in range(N_CHANNELS):
        topics = rng.sample(sorted(TOPICS), k=2)
        keywords = tuple(t for topic in topics for t in rng.sample(TOPICS[topic], k=2))
        plans.append(
            ChannelPlan(
                ref=ChannelRef("bench", f"W{n % 50:02d}", f"C{n:04d}"),
                categories=tuple(rng.sample(CATEGORIES, k=rng.choice((1, 2, 3)))),
                keywords=keywords,
                language=rng.choices(languages, weights)[0],
            )
        )
    return plans


async def add_channels(database: Database, plans: list[ChannelPlan]) -> None:
    """Write the channels, their categories and keywords in bulk (the setup is not what is measured)."""
    rows = [
        {
            "platform": p.ref.platform,
            "workspace": p.ref.workspace,
            "channel": p.ref.channel,
            "post_time": "09:00",
            "timezone": "UTC",
            "max_papers": MAX_PAPERS_PER_CHANNEL,
            "min_score": 1.0,
            "include_cross": False,
            "language": p.language,
            "feed_token": f"bench-{n}",
            "created_at": DAY,
        }
        for n, p in enumerate(plans)
    ]
    async with database.transaction() as conn:
        await conn.execute(sa.insert(db.channels), rows)
        ids = {
            (r.workspace, r.channel): r.id
            for r in await conn.execute(sa.select(db.channels.c.id, db.channels.c.workspace, db.channels.c.channel))
        }
        await conn.execute(
            sa.insert(db.channel_categories),
            [{"channel_id": ids[p.ref.workspace, p.ref.channel], "category": c} for p in plans for c in p.categories],
        )
        await conn.execute(
            sa.insert(db.keyword_rules),
            [
                {
                    "channel_id": ids[p.ref.workspace, p.ref.channel],
                    "kind": RuleKind.INCLUDE.value,
                    "term": k,
                    "term_key": term_key(k),
                    "weight": 1.0,
                }
                for p in plans
                for k in p.keywords
            ],
        )


async def main() -> int:
    """Run the day and print the counts."""
    rng = random.Random(SEED)
    papers, plans = make_papers(rng), make_channels(rng)
    os.environ.setdefault("OPENAI_API_KEY", "sk-fake-key-for-the-bench")
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        engine = create_engine(db_url)
        await upgrade_database(engine)
        await engine.dispose()
        async with running_arxiv_server() as arxiv, running_openai_server() as llm:
            for categories in {frozenset(p.categories) for p in plans}:
                arxiv.feeds[categories] = rss_feed(categories, papers)
            env = {
                "ARXIVBOT_DATABASE__URL": db_url,
                "ARXIVBOT_ARXIV__RSS_URL": arxiv.rss_url,
                "ARXIVBOT_ARXIV__API_URL": arxiv.api_url,
                "ARXIVBOT_ARXIV__MIN_INTERVAL_S": "0",
                "ARXIVBOT_SCHEDULER__ENABLED": "false",
                "ARXIVBOT_HTTP__ENABLED": "false",
                "ARXIVBOT_LLM__MODEL": "openai/fake-model",
                "ARXIVBOT_LLM__API_BASE": llm.api_base,
                "ARXIVBOT_LLM__FULLTEXT": "false",
                "ARXIVBOT_LLM__CONCURRENCY": str(CONCURRENCY),
                "ARXIVBOT_LLM__MAX_SUMMARIES_PER_RUN": "10000",
                "ARXIVBOT_LLM__DAILY_BUDGET_USD": "1000",
            }
            settings = load_settings(Path("/nonexistent/config.toml"), env=env)
            services = build_services(settings, clock=FixedClock())
            publisher = CountingPublisher()
            services.router.add("bench", publisher)
            try:
                started = time.monotonic()
                await add_channels(services.database, plans)
                set_up = time.monotonic() - started
                records = await services.channels.all_active()
                started = time.monotonic()
                outcomes = await services.runner.run(records)
                ran = time.monotonic() - started
            finally:
                await services.aclose()
            calls = len(llm.requests)

    language = {p.ref: p.language for p in plans}
    posted_per_language: dict[str, set[str]] = {}
    for channel, paper_id in publisher.cards:
        posted_per_language.setdefault(language[channel], set()).add(paper_id)
    distinct = sum(len(ids) for ids in posted_per_language.values())
    not_summarised = sum(1 for _, s in publisher.threads if s.heading != "Summary")
    channels_posting = sum(1 for o in outcomes.values() if o.posted)
    print(
        f"channels={len(plans)} workspaces=50 category_sets={len(arxiv.feeds)} papers_listed={N_PAPERS} "
        f"channels_with_posts={channels_posting} cards={len(publisher.cards)} threads={len(publisher.threads)}"
    )
    for code, ids in sorted(posted_per_language.items()):
        channels = Counter(language.values())[code]
        print(f"language={code} channels={channels} distinct_papers_posted={len(ids)}")
    print(f"setup_s={set_up:.1f} digest_s={ran:.1f} threads_without_model_summary={not_summarised}")
    equal = calls == distinct
    print(f"llm_calls={calls} distinct_posted_per_language={distinct} equal={str(equal).lower()}")
    return 0 if equal and not_summarised == 0 and len(publisher.threads) == len(publisher.cards) else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
