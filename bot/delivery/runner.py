"""The daily run: select every channel's papers together (``bot.delivery.selection``), post through the ledger."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine, Iterable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bot.delivery.cards import card_for
from bot.delivery.selection import Selection, Selector, SharedListings, profile_of
from bot.delivery.thread_parts import new_post_key, part_key
from bot.errors import ArxivBotError, PublishError, PublishOutcomeUnknown
from bot.metrics import POSTS
from bot.models import (
    CardPosted,
    CardSending,
    ChannelRecord,
    ChannelRef,
    Delivery,
    DeliveryState,
    MessageRef,
    Paper,
    PaperCard,
    PostFailed,
    PostKey,
    PostUnconfirmed,
    ScoredPaper,
    ThreadPosted,
    ThreadSending,
    ThreadSummary,
)
from bot.ports import Clock, DigestLedger, DigestLog, Papers, PaperSource, Publisher, Summarizer
from bot.summarizers.extractive import summary_run

__all__ = ["ChannelOutcome", "DigestRunner", "LedgerThread", "Selection", "ThreadJob", "profile_of"]

log = logging.getLogger(__name__)
_T = TypeVar("_T")
_OPEN = (DeliveryState.PENDING, DeliveryState.SENDING)


@dataclass(slots=True)
class ChannelOutcome:
    """What one run did for one channel."""

    selected: list[ScoredPaper] = field(default_factory=list)
    posted: int = 0
    failed: int = 0
    listed: int = 0
    error: str | None = None
    unfinished: int = 0
    """Rows (card or thread) still not posted when the run ended: the digest is done only when this is 0."""
    refused: str | None = None
    """Why the platform refused a post (the first refusal of the run), e.g. that the bot is not in the channel."""


@dataclass(frozen=True, slots=True)
class ThreadJob:
    """A posted card whose thread reply is still to be written and posted."""

    row: Delivery
    paper: Paper
    parent: MessageRef
    language: str


class DigestRunner:
    """Selects and posts each channel's papers; the ledger makes every step safe to repeat."""

    def __init__(
        self,
        *,
        source: PaperSource,
        channels: DigestLog,
        papers: Papers,
        ledger: DigestLedger,
        publisher: Publisher,
        summarizer: Summarizer,
        clock: Clock,
        author_bonus: float,
        summary_concurrency: int = 4,
        channel_concurrency: int = 8,
        listings: SharedListings | None = None,
    ) -> None:
        self._source = source
        self.listings = listings or SharedListings(source=source, clock=clock)
        """Today's listings, shared by every run of this runner (and whoever else is handed them)."""
        self._selector = Selector(listings=self.listings, papers=papers, author_bonus=author_bonus)
        self._channels = channels
        self._papers = papers
        self._ledger = ledger
        self._publisher = publisher
        self._summarizer = summarizer
        self._clock = clock
        self._author_bonus = author_bonus
        self._summary_concurrency = summary_concurrency
        self._channel_concurrency = channel_concurrency
        self._locks: dict[ChannelRef, asyncio.Lock] = {}
        self._stopping = False
        self._in_flight: set[asyncio.Future[Any]] = set()
        self._refused: dict[ChannelRef, str] = {}

    async def select(self, records: Sequence[ChannelRecord]) -> Selection:
        """Today's picks of these channels, from listings fetched once per announcement and shared by every run."""
        return await self._selector.select(records)

    async def run(self, records: Sequence[ChannelRecord]) -> dict[ChannelRef, ChannelOutcome]:
        """Select today's papers for these channels, record them in the ledger, then post them.

        Every channel's cards go first; then the thread replies, each as soon as its summary is ready. A channel's
        digest is recorded as done only when arXiv answered and none of its rows is left unfinished (a stop, a
        failed or unconfirmed post leaves it not done, for the catch-up and the next start).
        """
        selection = await self.select(records)
        outcomes: dict[ChannelRef, ChannelOutcome] = {}
        with summary_run():
            async with self._holding(r.ref for r in records):
                for record in records:
                    outcome = ChannelOutcome(
                        error=selection.errors.get(record.ref), listed=selection.listed.get(record.ref, 0)
                    )
                    outcomes[record.ref] = outcome
                    picks = selection.picks.get(record.ref)
                    if picks is not None:
                        outcome.selected = picks
                        await self._ledger.plan(record.id, picks)
                # Channels post side by side (each paced by its platform); a channel's own cards stay in rank order.
                slots = asyncio.Semaphore(self._channel_concurrency)

                async def post_channel(record: ChannelRecord) -> list[ThreadJob]:
                    async with slots:
                        outcome = outcomes[record.ref]
                        outcome.posted, outcome.failed, waiting = await self._post_cards(record)
                        outcome.refused = self._refused.pop(record.ref, None)
                        return waiting

                per_channel = await asyncio.gather(*(post_channel(r) for r in records))
                await self._post_threads([job for jobs in per_channel for job in jobs])
                for record in records:
                    outcome = outcomes[record.ref]
                    outcome.unfinished = len(await self._ledger.unfinished(record.id))
                    if outcome.error is None and outcome.unfinished == 0:
                        await self._channels.set_last_digest(record.id, self._clock.now())
        return outcomes

    async def deliver(self, record: ChannelRecord) -> tuple[int, int]:
        """Post every unfinished ledger row of a channel: all cards first, then their threads.

        Returns (cards posted, rows that failed and stay unfinished).
        """
        with summary_run():
            async with self._holding([record.ref]):
                posted, failed, jobs = await self._post_cards(record)
                await self._post_threads(jobs)
        return posted, failed

    async def catch_up(self, records: Sequence[ChannelRecord]) -> dict[ChannelRef, tuple[int, int]]:
        """``deliver`` each of these channels that no run is posting to now, side by side; a busy channel is left
        for its own run. Returns (cards posted, failed) of each channel delivered."""
        idle = [r for r in records if not self._locks.setdefault(r.ref, asyncio.Lock()).locked()]
        slots = asyncio.Semaphore(self._channel_concurrency)

        async def one(record: ChannelRecord) -> tuple[ChannelRef, tuple[int, int]]:
            async with slots:
                return record.ref, await self.deliver(record)

        return dict(await asyncio.gather(*(one(r) for r in idle)))

    @asynccontextmanager
    async def _holding(self, refs: Iterable[ChannelRef]) -> AsyncIterator[None]:
        """Hold each channel's delivery lock, taken in sorted order so that two runs cannot deadlock."""
        async with AsyncExitStack() as stack:
            for ref in sorted(set(refs)):
                await stack.enter_async_context(self._locks.setdefault(ref, asyncio.Lock()))
            yield

    async def _post_cards(self, record: ChannelRecord) -> tuple[int, int, list[ThreadJob]]:
        """Post the channel's unfinished cards (its lock held); return (posted, failed, threads still to post).

        A card left ``sending`` by an earlier attempt is looked for on the platform (by its key) before it is
        posted again.
        """
        rows = await self._ledger.unfinished(record.id)
        if not rows:
            return 0, 0, []
        stored = await self._papers.get_many((r.arxiv_id, r.version) for r in rows)
        posted = failed = 0
        ready: list[ThreadJob] = []
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
            if row.state in _OPEN:
                if self._stopping:
                    break
                card = card_for(
                    ScoredPaper(paper=paper, score=row.score, matched=row.matched), record.categories
                )
                marked = await self._whole(self._post_card(row, card, record.ref))
                if marked is None:
                    failed += 1
                    continue
                row = marked
                posted += 1
            if row.thread_state in _OPEN and row.message_id is not None:
                ready.append(ThreadJob(row, paper, MessageRef(record.ref, row.message_id), record.language))
        return posted, failed, ready

    async def _post_threads(self, jobs: Sequence[ThreadJob]) -> None:
        """Write each distinct (paper, language) summary once, ``summary_concurrency`` at a time, and post it in
        every thread waiting for it as soon as it is ready: channels side by side, one post at a time per channel."""
        groups: dict[tuple[str, str], list[ThreadJob]] = {}
        for job in jobs:
            groups.setdefault((job.paper.versioned_id, job.language), []).append(job)
        writing = asyncio.Semaphore(self._summary_concurrency)
        posting = asyncio.Semaphore(self._channel_concurrency)
        channel_locks: dict[ChannelRef, asyncio.Lock] = {}

        async def post(job: ThreadJob, summary: ThreadSummary) -> None:
            async with posting, channel_locks.setdefault(job.parent.channel, asyncio.Lock()):
                if self._stopping:
                    return
                try:
                    await self._whole(self._post_summary(job.row, summary, job.parent))
                except ArxivBotError as err:
                    log.warning("thread of %s in %s stays pending: %s", job.paper.versioned_id, job.parent, err)

        async def produce(group: list[ThreadJob]) -> None:
            first = group[0]
            async with writing:
                if self._stopping:
                    return
                try:
                    summary = await self._summarizer.summarize(first.paper, language=first.language)
                except ArxivBotError as err:
                    log.warning(
                        "summary of %s failed; %d thread(s) stay pending: %s", first.paper.versioned_id, len(group), err
                    )
                    return
            await asyncio.gather(*(post(job, summary) for job in group))

        async with asyncio.TaskGroup() as tasks:
            for group in groups.values():
                tasks.create_task(produce(group))

    def stop(self) -> None:
        """Start no new post: posts in flight finish and are recorded, the rest stays pending in the ledger."""
        self._stopping = True

    async def drain(self, timeout_s: float) -> None:
        """Stop, then wait up to ``timeout_s`` for the posts in flight to be posted and recorded."""
        self.stop()
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=timeout_s)

    async def _whole(self, step: Coroutine[Any, Any, _T]) -> _T:
        """Run a post and its ledger marks to the end even when the caller is cancelled (shutdown)."""
        task = asyncio.ensure_future(step)
        self._in_flight.add(task)
        task.add_done_callback(self._step_done)
        return await asyncio.shield(task)

    def _step_done(self, task: asyncio.Future[Any]) -> None:
        self._in_flight.discard(task)
        # Retrieve the outcome here: when the caller was cancelled nobody else will.
        if not task.cancelled() and task.exception() is not None:
            log.warning("posting or recording a post failed: %s", task.exception())

    async def _post_card(self, row: Delivery, card: PaperCard, channel: ChannelRef) -> Delivery | None:
        """Record the intent, post one card (or find the one an earlier attempt left), record the message.

        None when it is not posted: back to pending when the platform proved it took nothing, still ``sending``
        when the outcome is unknown.
        """
        platform = channel.platform
        if row.state is DeliveryState.SENDING and row.key is not None:
            key = PostKey(row.key, row.sending_since)
        else:
            row = await self._ledger.mark(row, CardSending(row.key or new_post_key()))
            key = PostKey(row.key or "")
        try:
            ref = await self._publisher.post_card(card, channel=channel, key=key)
        except PublishOutcomeUnknown as err:
            POSTS.labels(platform=platform, kind="card", outcome="unconfirmed").inc()
            log.warning("posting %s to %s may have failed; will look for it: %s", card.paper.versioned_id, channel, err)
            await self._ledger.mark(row, PostUnconfirmed(str(err)))
            return None
        except PublishError as err:
            POSTS.labels(platform=platform, kind="card", outcome="failed").inc()
            log.warning("posting %s to %s failed: %s", card.paper.versioned_id, channel, err)
            self._refused.setdefault(channel, str(err))
            await self._ledger.mark(row, PostFailed(str(err)))
            return None
        POSTS.labels(platform=platform, kind="card", outcome="sent").inc()
        return await self._ledger.mark(row, CardPosted(ref.message_id))

    async def _post_summary(self, row: Delivery, summary: ThreadSummary, parent: MessageRef) -> None:
        paper = summary.paper
        platform = parent.channel.platform
        journal = LedgerThread(ledger=self._ledger, row=row)
        try:
            await self._publisher.post_thread(summary, parent=parent, journal=journal)
        except PublishOutcomeUnknown as err:
            POSTS.labels(platform=platform, kind="thread", outcome="unconfirmed").inc()
            log.warning("thread reply for %s in %s may have failed: %s", paper.versioned_id, parent.channel, err)
            await self._ledger.mark(journal.row, PostUnconfirmed(str(err)))
            return
        except PublishError as err:
            POSTS.labels(platform=platform, kind="thread", outcome="failed").inc()
            log.warning("thread reply for %s in %s failed: %s", paper.versioned_id, parent.channel, err)
            await self._ledger.mark(journal.row, PostFailed(str(err)))
            return
        POSTS.labels(platform=platform, kind="thread", outcome="sent").inc()


class LedgerThread:
    """The ``ThreadJournal`` of one ledger row: each thread part's intent and message go in the ledger."""

    def __init__(self, *, ledger: DigestLedger, row: Delivery) -> None:
        self._ledger = ledger
        self.row = row
        """The row as last marked."""
        self._key = row.key or new_post_key()

    def resume(self) -> tuple[int, PostKey]:
        """The first part not posted yet, with ``sending_since`` when an earlier attempt may have sent it."""
        part = self.row.thread_parts
        since = self.row.sending_since if self.row.thread_state is DeliveryState.SENDING else None
        return part, PostKey(part_key(self._key, part), since)

    async def sending(self, part: int) -> PostKey:
        """Mark part ``part`` sending (with the row's key)."""
        self.row = await self._ledger.mark(self.row, ThreadSending(self._key, part))
        return PostKey(part_key(self._key, part))

    async def sent(self, part: int, message_id: str, *, last: bool) -> None:
        """Mark part ``part`` posted."""
        self.row = await self._ledger.mark(self.row, ThreadPosted(message_id, part=part, last=last))
