"""The daily run: fetch each distinct category set once, score every channel together, post through the ledger."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.cards import card_for
from bot.errors import PublishError, SourceError
from bot.metrics import POSTS
from bot.models import ChannelRef, Listing, MessageRef, Paper, ScoredPaper
from bot.ports import Clock, PaperSource, Publisher, Summarizer
from bot.scoring import ChannelProfile, KeywordRule, score_papers
from bot.store import (
    ChannelRecord,
    ChannelStore,
    Delivery,
    DeliveryLedger,
    DeliveryState,
    PaperStore,
    RuleKind,
)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ChannelOutcome:
    """What one run did for one channel."""

    selected: list[ScoredPaper] = field(default_factory=list)
    posted: int = 0
    failed: int = 0
    listed: int = 0
    error: str | None = None


@dataclass(slots=True)
class Selection:
    """Each channel's picks from today's listings, plus what went wrong fetching."""

    picks: dict[ChannelRef, list[ScoredPaper]]
    listed: dict[ChannelRef, int]
    errors: dict[ChannelRef, str]


def profile_of(record: ChannelRecord, *, author_bonus: float) -> ChannelProfile:
    """The scorer's view of a channel."""
    return ChannelProfile(
        channel=record.ref,
        categories=frozenset(record.categories),
        include=tuple(KeywordRule(term=r.term, weight=r.weight) for r in record.terms(RuleKind.INCLUDE)),
        exclude=tuple(r.term for r in record.terms(RuleKind.EXCLUDE)),
        authors=tuple(r.term for r in record.terms(RuleKind.AUTHOR)),
        include_cross=record.include_cross,
        max_papers=record.max_papers,
        min_score=record.min_score,
        author_bonus=author_bonus,
    )


class DigestRunner:
    """Selects and posts each channel's papers; the ledger makes every step safe to repeat."""

    def __init__(
        self,
        *,
        source: PaperSource,
        channels: ChannelStore,
        papers: PaperStore,
        ledger: DeliveryLedger,
        publisher: Publisher,
        summarizer: Summarizer,
        clock: Clock,
        author_bonus: float,
    ) -> None:
        self._source = source
        self._channels = channels
        self._papers = papers
        self._ledger = ledger
        self._publisher = publisher
        self._summarizer = summarizer
        self._clock = clock
        self._author_bonus = author_bonus
        self._locks: dict[ChannelRef, asyncio.Lock] = {}

    async def select(self, records: Sequence[ChannelRecord]) -> Selection:
        """Fetch one listing per distinct category set, store the papers, score all channels in one pass."""
        by_set: dict[frozenset[str], list[ChannelRecord]] = {}
        for record in records:
            if record.categories:
                by_set.setdefault(frozenset(record.categories), []).append(record)
        union: dict[str, Paper] = {}
        listed: dict[ChannelRef, int] = {}
        errors: dict[ChannelRef, str] = {}
        for categories, members in sorted(by_set.items(), key=lambda kv: sorted(kv[0])):
            try:
                listing: Listing = await self._source.fetch_listing(sorted(categories))
            except SourceError as err:
                log.warning("arXiv listing for %s failed: %s", "+".join(sorted(categories)), err)
                for record in members:
                    errors[record.ref] = str(err)
                continue
            for paper in listing.papers:
                union.setdefault(paper.versioned_id, paper)
            for record in members:
                listed[record.ref] = len(listing.papers)
        await self._papers.add_many(union.values())
        profiles = [profile_of(r, author_bonus=self._author_bonus) for r in records if r.ref in listed]
        picks = score_papers(list(union.values()), profiles) if profiles else {}
        return Selection(
            picks={p.channel: picks.get(p.channel, []) for p in profiles}, listed=listed, errors=errors
        )

    async def run(self, records: Sequence[ChannelRecord]) -> dict[ChannelRef, ChannelOutcome]:
        """Select today's papers for these channels, record them in the ledger, then post them."""
        selection = await self.select(records)
        outcomes: dict[ChannelRef, ChannelOutcome] = {}
        for record in records:
            outcome = ChannelOutcome(
                error=selection.errors.get(record.ref), listed=selection.listed.get(record.ref, 0)
            )
            outcomes[record.ref] = outcome
            picks = selection.picks.get(record.ref)
            if picks is not None:
                outcome.selected = picks
                await self._ledger.plan(record.id, picks)
            posted, failed = await self.deliver(record)
            outcome.posted, outcome.failed = posted, failed
            if outcome.error is None:
                await self._channels.update(record.id, last_digest_at=self._clock.now())
        return outcomes

    async def deliver(self, record: ChannelRecord) -> tuple[int, int]:
        """Post every unfinished ledger row of a channel: all cards first, then their threads.

        Returns (cards posted, rows that failed and stay pending).
        """
        lock = self._locks.setdefault(record.ref, asyncio.Lock())
        async with lock:
            rows = await self._ledger.unfinished(record.id)
            if not rows:
                return 0, 0
            stored = await self._papers.get_many((r.arxiv_id, r.version) for r in rows)
            posted = failed = 0
            ready: list[tuple[Delivery, Paper]] = []
            for row in rows:
                paper = stored.get((row.arxiv_id, row.version))
                if paper is None:
                    log.error(
                        "ledger row %s names paper %sv%s that is not stored",
                        row.id,
                        row.arxiv_id,
                        row.version,
                    )
                    failed += 1
                    continue
                if row.state is DeliveryState.PENDING:
                    card = card_for(
                        ScoredPaper(paper=paper, score=row.score, matched=row.matched), record.categories
                    )
                    try:
                        ref = await self._publisher.post_card(card, channel=record.ref)
                    except PublishError as err:
                        POSTS.inc(platform=record.ref.platform, kind="card", outcome="failed")
                        log.warning("posting %s to %s failed: %s", paper.versioned_id, record.ref, err)
                        await self._ledger.mark_failed(row, str(err))
                        failed += 1
                        continue
                    POSTS.inc(platform=record.ref.platform, kind="card", outcome="sent")
                    row = await self._ledger.mark_card_posted(row, ref.message_id)
                    posted += 1
                ready.append((row, paper))
            for row, paper in ready:
                if row.thread_state is DeliveryState.PENDING and row.message_id is not None:
                    await self._post_thread(
                        row, paper, MessageRef(record.ref, row.message_id), record.language
                    )
            return posted, failed

    async def _post_thread(self, row: Delivery, paper: Paper, parent: MessageRef, language: str) -> None:
        summary = await self._summarizer.summarize(paper, language=language)
        try:
            ref = await self._publisher.post_thread(summary, parent=parent)
        except PublishError as err:
            POSTS.inc(platform=parent.channel.platform, kind="thread", outcome="failed")
            log.warning("thread reply for %s in %s failed: %s", paper.versioned_id, parent.channel, err)
            await self._ledger.mark_failed(row, str(err))
            return
        POSTS.inc(platform=parent.channel.platform, kind="thread", outcome="sent")
        await self._ledger.mark_thread_posted(row, ref.message_id)
