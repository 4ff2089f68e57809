"""The daily run: select every channel's papers together (``bot.delivery.selection``), post through the ledger."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from bot.delivery.alerts import VersionAlerter
from bot.delivery.cards import card_for
from bot.delivery.marks import RETRY_DELAYS_S, BatchedMarks
from bot.delivery.selection import Selection, Selector, SharedListings
from bot.delivery.thread_parts import new_post_key, part_key
from bot.errors import ArxivBotError, PublishError, PublishOutcomeUnknown, PublishRefused, StoreError
from bot.metrics import POSTS
from bot.models import (
    CardPosted,
    CardSending,
    CardUpdated,
    CardUpdateFailed,
    CardUpdateState,
    ChannelRecord,
    ChannelRef,
    Delivery,
    DeliveryMark,
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
from bot.ports import (
    Clock,
    DeliveryMarks,
    DigestLedger,
    DigestLog,
    Papers,
    PaperSource,
    Publisher,
    Reranker,
    Summarizer,
)
from bot.ranking.keywords import profile_of
from bot.summarizers.extractive import summary_run

__all__ = ["ChannelOutcome", "DigestRunner", "LedgerThread", "Selection", "ThreadJob", "profile_of"]

log = logging.getLogger(__name__)
_T = TypeVar("_T")
_OPEN = (DeliveryState.PENDING, DeliveryState.SENDING)
MAX_UPDATE_ATTEMPTS = 8
"""A card update that failed this many times (the row's attempts) is given up: the card stays as posted."""


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
    """A posted card whose thread reply is still to be written and posted (then the card shows its TL;DR)."""

    row: Delivery
    paper: Paper
    parent: MessageRef
    language: str
    card: PaperCard


class SummaryPool:
    """The summaries of one run: each (paper, language) written once, ``concurrency`` at a time, shared by every
    thread that shows it (a failure too: those threads stay pending for the next run)."""

    def __init__(self, *, summarizer: Summarizer, concurrency: int) -> None:
        self._summarizer = summarizer
        self._slots = asyncio.Semaphore(concurrency)
        self._made: dict[tuple[str, str], asyncio.Future[ThreadSummary]] = {}

    async def get(self, paper: Paper, language: str) -> ThreadSummary:
        """The summary of ``paper`` in ``language``, written by the first caller and awaited by the others."""
        key = (paper.versioned_id, language)
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = asyncio.ensure_future(self._write(paper, language))
        return await asyncio.shield(made)

    async def _write(self, paper: Paper, language: str) -> ThreadSummary:
        async with self._slots:
            return await self._summarizer.summarize(paper, language=language)


@dataclass(frozen=True, slots=True)
class UpdateJob:
    """A posted card whose thread is posted and that is still to show its TL;DR."""

    row: Delivery
    card: PaperCard
    message: MessageRef


@dataclass(slots=True)
class Work:
    """What posting some channels' cards did, and what is left for after the cards."""

    posted: int = 0
    failed: int = 0
    threads: list[ThreadJob] = field(default_factory=list)
    updates: list[UpdateJob] = field(default_factory=list)

    @staticmethod
    def merge(parts: Iterable[Work]) -> Work:
        """All the parts' work as one."""
        whole = Work()
        for part in parts:
            whole.posted += part.posted
            whole.failed += part.failed
            whole.threads += part.threads
            whole.updates += part.updates
        return whole


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
        alerts: VersionAlerter | None = None,
        reranker: Reranker | None = None,
        batch_marks: bool = True,
        mark_retry_delays_s: Sequence[float] = RETRY_DELAYS_S,
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
        self._reranker = reranker
        # Marks asked for together share a transaction (group commit); without, one transaction per mark.
        self._marks: DeliveryMarks = BatchedMarks(
            ledger=ledger, max_batch=None if batch_marks else 1, retry_delays_s=mark_retry_delays_s
        )
        self._locks: dict[ChannelRef, asyncio.Lock] = {}
        self._stopping = False
        self._in_flight: set[asyncio.Future[Any]] = set()
        self._refused: dict[ChannelRef, str] = {}
        self._alerts = alerts

    async def select(self, records: Sequence[ChannelRecord]) -> Selection:
        """Today's picks of these channels, from listings fetched once per announcement and shared by every run;
        new versions of saved papers planned as alerts, learned channels re-ranked."""
        selection = await self._selector.select(records)
        if self._alerts is not None:
            await self._alerts.plan(selection.papers)  # new versions of saved papers: recorded, sent after posting
        chosen = [r for r in records if r.ref in selection.listed]
        selection.picks = await self._rerank(chosen, selection.papers, selection.picks)
        return selection

    async def _rerank(
        self, records: Sequence[ChannelRecord], papers: Sequence[Paper], picks: dict[ChannelRef, list[ScoredPaper]]
    ) -> dict[ChannelRef, list[ScoredPaper]]:
        """The learned channels' picks in place of their keyword ones; the keyword picks if the ranker fails."""
        if self._reranker is None or not picks:
            return picks
        try:
            return await self._reranker.rerank(records, papers, picks)
        except Exception:  # the digest goes out, ranked by keywords, whatever the ranker did
            log.exception("learned ranking failed; ranking this digest by keywords")
            return picks

    async def run(self, records: Sequence[ChannelRecord]) -> dict[ChannelRef, ChannelOutcome]:
        """Select today's papers for these channels, record them in the ledger, then post them.

        Each channel's cards go first; then its thread replies, each as soon as its summary is ready, then its cards'
        TL;DR updates; channels side by side, each at its platform's pace. A channel's
        digest is recorded as done only when arXiv answered and none of its rows is left unfinished (a stop, a
        failed or unconfirmed post leaves it not done, for the catch-up and the next start).
        """
        selection = await self.select(records)
        outcomes: dict[ChannelRef, ChannelOutcome] = {}
        with summary_run():
            async with self._holding(r.ref for r in records):
                plans: dict[int, list[ScoredPaper]] = {}
                for record in records:
                    outcome = ChannelOutcome(
                        error=selection.errors.get(record.ref), listed=selection.listed.get(record.ref, 0)
                    )
                    outcomes[record.ref] = outcome
                    picks = selection.picks.get(record.ref)
                    if picks is not None:
                        outcome.selected = picks
                        plans[record.id] = picks
                # The whole digest's plan in one transaction, its rows and papers read back in one read each.
                await self._ledger.plan_many(plans)
                todo = await self._ledger.unfinished_many(r.id for r in records)
                stored = await self._papers.get_many(
                    sorted({(row.arxiv_id, row.version) for rows in todo.values() for row in rows})
                )

                # Channels post side by side, each as fast as its platform lets it (the publishers pace each channel,
                # bound each workspace and honour each 429 where it applies); a channel's cards stay in rank order.
                # Each channel goes on to its threads as soon as its own cards are posted; a summary is written once
                # for every channel that shows it.
                summaries = SummaryPool(summarizer=self._summarizer, concurrency=self._summary_concurrency)

                async def post_channel(record: ChannelRecord) -> None:
                    outcome = outcomes[record.ref]
                    work = await self._post_cards(record, todo.get(record.id, []), stored)
                    outcome.posted, outcome.failed = work.posted, work.failed
                    outcome.refused = self._refused.pop(record.ref, None)
                    await self._finish(work, summaries)

                await asyncio.gather(*(post_channel(r) for r in records))
                try:
                    left = {i: len(rows) for i, rows in (await self._ledger.unfinished_many(todo)).items()}
                except StoreError as err:
                    log.error("could not read back what is left of the digest; not recorded as done: %s", err)
                    left = {i: max(1, len(rows)) for i, rows in todo.items()}
                for record in records:
                    outcome = outcomes[record.ref]
                    outcome.unfinished = left.get(record.id, 0)
                    if outcome.error is None and outcome.unfinished == 0:
                        await self._channels.set_last_digest(record.id, self._clock.now())
        await self.deliver_alerts()
        return outcomes

    async def deliver(self, record: ChannelRecord) -> tuple[int, int]:
        """Post every unfinished ledger row of a channel: all cards first, then their threads.

        Returns (cards posted, rows that failed and stay unfinished).
        """
        with summary_run():
            async with self._holding([record.ref]):
                rows = await self._ledger.unfinished(record.id)
                stored = await self._papers.get_many((r.arxiv_id, r.version) for r in rows) if rows else {}
                work = await self._post_cards(record, rows, stored)
                summaries = SummaryPool(summarizer=self._summarizer, concurrency=self._summary_concurrency)
                await self._finish(work, summaries)
        return work.posted, work.failed

    async def catch_up(self, records: Sequence[ChannelRecord]) -> dict[ChannelRef, tuple[int, int]]:
        """``deliver`` each of these channels that no run is posting to now, side by side (their rows read in one
        go); a busy channel is left for its own run. Returns (cards posted, failed) of each channel delivered."""
        held: list[tuple[ChannelRecord, asyncio.Lock]] = []
        for record in records:
            lock = self._locks.setdefault(record.ref, asyncio.Lock())
            if not lock.locked():
                await lock.acquire()  # free: taken at once; each channel's is released when its delivery ends
                held.append((record, lock))
        try:
            todo = await self._ledger.unfinished_many(r.id for r, _ in held)
            stored = await self._papers.get_many(
                sorted({(row.arxiv_id, row.version) for rows in todo.values() for row in rows})
            )
        except BaseException as err:  # a database error, or a cancellation (shutdown): nothing is held after it
            for _, lock in held:
                lock.release()
            if not isinstance(err, StoreError):
                raise
            log.error("catch-up could not read the ledger; retried at the next one: %s", err)
            return {}
        summaries = SummaryPool(summarizer=self._summarizer, concurrency=self._summary_concurrency)

        async def one(record: ChannelRecord, lock: asyncio.Lock) -> tuple[ChannelRef, tuple[int, int]]:
            try:
                work = await self._post_cards(record, todo.get(record.id, []), stored)
                await self._finish(work, summaries)
                return record.ref, (work.posted, work.failed)
            except StoreError as err:
                log.error("catch-up of %s failed on the database; retried at the next one: %s", record.ref, err)
                return record.ref, (0, 0)
            finally:
                lock.release()

        with summary_run():
            delivered = dict(await asyncio.gather(*(one(r, lock) for r, lock in held)))
        await self.deliver_alerts()
        return delivered

    async def deliver_alerts(self) -> int:
        """Send the version alerts not sent yet (none when alerts are not wired, or after ``stop``)."""
        if self._alerts is None or self._stopping:
            return 0
        return await self._alerts.deliver()

    @asynccontextmanager
    async def _holding(self, refs: Iterable[ChannelRef]) -> AsyncIterator[None]:
        """Hold each channel's delivery lock, taken in sorted order so that two runs cannot deadlock."""
        async with AsyncExitStack() as stack:
            for ref in sorted(set(refs)):
                await stack.enter_async_context(self._locks.setdefault(ref, asyncio.Lock()))
            yield

    async def _finish(self, work: Work, summaries: SummaryPool) -> None:
        """After some channels' cards: their threads, then the TL;DR on each card whose thread is posted."""
        updates = work.updates + await self._post_threads(work.threads, summaries)
        await self._update_cards(updates)

    async def _post_cards(
        self, record: ChannelRecord, rows: Sequence[Delivery], stored: Mapping[tuple[str, int], Paper]
    ) -> Work:
        """Post the channel's unfinished cards (``rows``, its lock held); return what was posted and what is left.

        A card left ``sending`` by an earlier attempt is looked for on the platform (by its key) before it is
        posted again. A database error stops this channel's cards for this run (the others go on): an intent that
        could not be recorded is not posted.
        """
        work = Work()
        for row in rows:
            paper = stored.get((row.arxiv_id, row.version))
            if paper is None:
                log.error(
                    "ledger row %s names paper %sv%s that is not stored",
                    row.id,
                    row.arxiv_id,
                    row.version,
                )
                work.failed += 1
                continue
            card = card_for(ScoredPaper(paper=paper, score=row.score, matched=row.matched), record.categories)
            if row.state in _OPEN:
                if self._stopping:
                    break
                try:
                    marked = await self._whole(self._post_card(row, card, record.ref))
                except StoreError as err:
                    log.error("the intent to post %s to %s could not be recorded; its cards wait: %s",
                              paper.versioned_id, record.ref, err)
                    work.failed += 1
                    break
                if marked is None:
                    work.failed += 1
                    continue
                row = marked
                work.posted += 1
            if row.message_id is None:
                continue
            parent = MessageRef(record.ref, row.message_id)
            if row.thread_state in _OPEN:
                work.threads.append(ThreadJob(row, paper, parent, record.language, card))
            elif row.card_update is CardUpdateState.PENDING:
                # An update an earlier run left undone (stopped, or the platform failed): retried, never re-posted.
                work.updates.append(UpdateJob(row, card, parent))
        return work

    async def _post_threads(self, jobs: Sequence[ThreadJob], summaries: SummaryPool) -> list[UpdateJob]:
        """Post each thread as soon as its summary is ready (written once per paper and language for the whole run,
        ``summary_concurrency`` at a time): one post at a time per channel.

        Returns the cards due to show their TL;DR (their whole thread is posted)."""
        updates: list[UpdateJob] = []
        channel_locks: dict[ChannelRef, asyncio.Lock] = {}

        async def post(job: ThreadJob) -> None:
            if self._stopping:
                return
            try:
                summary = await summaries.get(job.paper, job.language)
            except ArxivBotError as err:
                log.warning("summary of %s failed; its thread in %s stays pending: %s", job.paper.versioned_id,
                            job.parent.channel, err)
                return
            async with channel_locks.setdefault(job.parent.channel, asyncio.Lock()):
                if self._stopping:
                    return
                try:
                    row = await self._whole(self._post_summary(job.row, summary, job.parent))
                    if row is not None and row.card_update is CardUpdateState.PENDING:
                        updates.append(UpdateJob(row, job.card, job.parent))
                except ArxivBotError as err:
                    log.warning("thread of %s in %s stays pending: %s", job.paper.versioned_id, job.parent, err)

        await asyncio.gather(*(post(job) for job in jobs))
        return updates

    async def _update_cards(self, jobs: Sequence[UpdateJob]) -> None:
        """Show each card's TL;DR: channels side by side, one update at a time per channel, after its threads."""
        per_channel: dict[ChannelRef, list[UpdateJob]] = {}
        for job in jobs:
            per_channel.setdefault(job.message.channel, []).append(job)

        async def update(channel_jobs: list[UpdateJob]) -> None:
            for job in channel_jobs:
                if self._stopping:
                    return
                try:
                    await self._whole(self._update_card(job.row, job.card, job.message))
                except ArxivBotError as err:
                    log.warning("the TL;DR update of %s stays pending: %s", job.card.paper.versioned_id, err)

        await asyncio.gather(*(update(channel_jobs) for channel_jobs in per_channel.values()))

    def stop(self) -> None:
        """Start no new post: posts in flight finish and are recorded, the rest stays pending in the ledger."""
        self._stopping = True
        if self._alerts is not None:
            self._alerts.stop()

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
            row = await self._marks.mark(row, CardSending(row.key or new_post_key()))
            key = PostKey(row.key or "")
        try:
            ref = await self._publisher.post_card(card, channel=channel, key=key)
        except PublishOutcomeUnknown as err:
            POSTS.labels(platform=platform, kind="card", outcome="unconfirmed").inc()
            log.warning("posting %s to %s may have failed; will look for it: %s", card.paper.versioned_id, channel, err)
            await self._mark_after(row, PostUnconfirmed(str(err)))
            return None
        except PublishError as err:
            POSTS.labels(platform=platform, kind="card", outcome="failed").inc()
            log.warning("posting %s to %s failed: %s", card.paper.versioned_id, channel, err)
            self._refused.setdefault(channel, str(err))
            await self._mark_after(row, PostFailed(str(err)))
            return None
        POSTS.labels(platform=platform, kind="card", outcome="sent").inc()
        return await self._mark_after(row, CardPosted(ref.message_id))

    async def _mark_after(self, row: Delivery, mark: DeliveryMark) -> Delivery | None:
        """Record what a platform call did; None when the database would not take it even after retries.

        The row then stays as recorded before the call (``sending`` with its key): the next delivery looks for the
        message on the platform before posting anything, so a message the platform took is found, not re-posted.
        """
        try:
            return await self._marks.mark(row, mark)
        except StoreError as err:
            log.error(
                "%s of %s (row %s) could not be recorded; the row stays sending and is reconciled by its key: %s",
                type(mark).__name__,
                row.arxiv_id,
                row.id,
                err,
            )
            return None

    async def _post_summary(self, row: Delivery, summary: ThreadSummary, parent: MessageRef) -> Delivery | None:
        """Post the thread reply part by part through the ledger; the row as marked when it is all posted."""
        paper = summary.paper
        platform = parent.channel.platform
        journal = LedgerThread(ledger=self._marks, row=row, tldr=summary.tldr)
        try:
            await self._publisher.post_thread(summary, parent=parent, journal=journal)
        except PublishOutcomeUnknown as err:
            POSTS.labels(platform=platform, kind="thread", outcome="unconfirmed").inc()
            log.warning("thread reply for %s in %s may have failed: %s", paper.versioned_id, parent.channel, err)
            await self._mark_after(journal.row, PostUnconfirmed(str(err)))
            return None
        except PublishError as err:
            POSTS.labels(platform=platform, kind="thread", outcome="failed").inc()
            log.warning("thread reply for %s in %s failed: %s", paper.versioned_id, parent.channel, err)
            await self._mark_after(journal.row, PostFailed(str(err)))
            return None
        POSTS.labels(platform=platform, kind="thread", outcome="sent").inc()
        return journal.row

    async def _update_card(self, row: Delivery, card: PaperCard, message: MessageRef) -> Delivery:
        """Show the row's TL;DR on its posted card (an edit: never a second card); marked done, or left pending
        to be retried, or given up when the platform refuses it or it failed ``MAX_UPDATE_ATTEMPTS`` times."""
        platform = message.channel.platform
        try:
            await self._publisher.update_card(
                replace(card, tldr=row.tldr), message=message, key=PostKey(row.key) if row.key else None
            )
        except PublishError as err:
            refused = isinstance(err, PublishRefused) or row.attempts + 1 >= MAX_UPDATE_ATTEMPTS
            POSTS.labels(platform=platform, kind="card_update", outcome="refused" if refused else "failed").inc()
            log.warning(
                "showing the TL;DR on the card of %s in %s failed%s: %s",
                card.paper.versioned_id,
                message.channel,
                " (given up: the card stays as posted)" if refused else "; will retry",
                err,
            )
            return await self._marks.mark(row, CardUpdateFailed(str(err), refused=refused))
        POSTS.labels(platform=platform, kind="card_update", outcome="sent").inc()
        return await self._marks.mark(row, CardUpdated())


class LedgerThread:
    """The ``ThreadJournal`` of one ledger row: each thread part's intent and message go in the ledger."""

    def __init__(self, *, ledger: DeliveryMarks, row: Delivery, tldr: str | None = None) -> None:
        self._ledger = ledger
        self.row = row
        """The row as last marked."""
        self._key = row.key or new_post_key()
        self._tldr = tldr

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
        tldr = self._tldr if last else None
        self.row = await self._ledger.mark(self.row, ThreadPosted(message_id, part=part, last=last, tldr=tldr))
