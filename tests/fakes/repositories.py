"""Hand-written in-memory repositories with the semantics of the SQL ones, and what they recorded inspectable.

Each fake implements the role Protocols of ``bot.ports`` that its SQL twin in ``bot.store`` implements, with the
same rules: unique keys (a duplicate is kept once, the first one wins), foreign keys (an unknown channel id is a
``StoreError`` where the database refuses it, and nothing is changed), times from the clock, the same orderings
with ties broken by row id. ``tests/integration/repository_contract/`` runs one suite against both.
"""

from __future__ import annotations

import builtins
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, time
from itertools import count

from bot.errors import StoreError
from bot.models import (
    CHANNEL_SETTINGS,
    CardPosted,
    CardSending,
    CardUpdated,
    CardUpdateFailed,
    CardUpdateState,
    ChannelDefaults,
    ChannelRecord,
    ChannelRef,
    ChannelSignals,
    Delivery,
    DeliveryMark,
    DeliveryState,
    Paper,
    PostedPaper,
    PostFailed,
    PostUnconfirmed,
    Rule,
    RuleKind,
    SavedPaper,
    ScoredPaper,
    SignalKind,
    SignalSource,
    StoredSummary,
    SummaryKey,
    ThreadPosted,
    ThreadSending,
    ThreadSummary,
    UsageReport,
    UsageTotals,
    as_utc,
    personal_ref,
    term_key,
)
from bot.ports import Clock

MAX_ERROR_CHARS = 500
"""A failed attempt's error is kept to this length (as ``bot.store.ledger`` keeps it)."""

DEFAULTS = ChannelDefaults(
    post_time="09:00", timezone="UTC", max_papers=10, min_score=1.0, include_cross=False, language="en"
)
"""The settings of ``config.toml``'s ``[channel]`` defaults."""


def _foreign_key_error(table: str, channel_id: int) -> StoreError:
    return StoreError(f"database error: IntegrityError: {table}.channel_id {channel_id} names no channel")


@dataclass(slots=True)
class _ChannelRow:
    id: int
    ref: ChannelRef
    settings: ChannelDefaults
    feed_token: str
    created_at: datetime
    last_digest_at: datetime | None = None
    categories: set[str] = field(default_factory=set)
    ranking_enabled: bool = True
    signals_reset_at: datetime | None = None
    signals_changed_at: datetime | None = None
    paused: bool = False


@dataclass(frozen=True, slots=True)
class _RuleRow:
    id: int
    channel_id: int
    rule: Rule


class FakeChannels:
    """Channels in memory: ``records`` shows every channel as stored, ``updates`` every settings change asked."""

    def __init__(self, *, clock: Clock, defaults: ChannelDefaults = DEFAULTS) -> None:
        self._clock = clock
        self._defaults = defaults
        self._rows: dict[int, _ChannelRow] = {}
        self._rules: list[_RuleRow] = []
        self._ids = count(1)
        self._rule_ids = count(1)
        self.updates: list[tuple[int, dict[str, str | int | float | bool]]] = []

    @property
    def records(self) -> list[ChannelRecord]:
        """Every stored channel, by row id."""
        return [self._record(row) for row in self._rows.values()]

    def exists(self, channel_id: int) -> bool:
        """Whether a channel has this row id (what a foreign key checks)."""
        return channel_id in self._rows

    def ranking_row(self, channel_id: int) -> _ChannelRow | None:
        """The stored row of a channel, for the fakes that keep its ranking columns (signals, saves)."""
        return self._rows.get(channel_id)

    def id_of(self, ref: ChannelRef) -> int | None:
        """The row id of the channel with this reference, or None."""
        return next((row.id for row in self._rows.values() if row.ref == ref), None)

    async def get(self, ref: ChannelRef) -> ChannelRecord | None:
        """The channel's record, or None if it never spoke to us."""
        channel_id = self.id_of(ref)
        return None if channel_id is None else self._record(self._rows[channel_id])

    async def get_or_create(self, ref: ChannelRef) -> ChannelRecord:
        """The channel's record, created with the defaults on first use."""
        channel_id = self.id_of(ref)
        if channel_id is None:
            channel_id = next(self._ids)
            self._rows[channel_id] = _ChannelRow(
                id=channel_id,
                ref=ref,
                settings=self._defaults,
                feed_token=secrets.token_urlsafe(18),
                created_at=as_utc(self._clock.now()),
            )
        return self._record(self._rows[channel_id])

    async def all_active(self) -> list[ChannelRecord]:
        """Every channel subscribed to at least one category and not stopped by its owner, by row id."""
        return [self._record(row) for row in self._rows.values() if row.categories and not row.paused]

    async def find(self, platform: str, channel: str) -> ChannelRecord | None:
        """A channel by platform and channel id, whatever its workspace (the lowest row id if several)."""
        return self._first(lambda row: row.ref.platform == platform and row.ref.channel == channel)

    async def by_feed_token(self, token: str) -> ChannelRecord | None:
        """The channel whose RSS feed has this token, or None."""
        return self._first(lambda row: row.feed_token == token)

    async def by_id(self, channel_id: int) -> ChannelRecord | None:
        """A channel by its row id."""
        row = self._rows.get(channel_id)
        return None if row is None else self._record(row)

    async def update(self, channel_id: int, **values: str | int | float | bool) -> None:
        """Change settings of one channel; an unknown channel id changes nothing."""
        unknown = sorted(set(values) - CHANNEL_SETTINGS)
        if unknown:
            raise ValueError(f"not channel settings: {', '.join(unknown)}; use {', '.join(sorted(CHANNEL_SETTINGS))}")
        self.updates.append((channel_id, dict(values)))
        row = self._rows.get(channel_id)
        if row is not None:
            row.settings = replace(row.settings, **values)  # type: ignore[arg-type]

    async def set_paused(self, channel_id: int, paused: bool) -> bool:
        """Stop or resume a personal digest; False if it already was so (or the id names none)."""
        row = self._rows.get(channel_id)
        if row is None or row.paused == paused:
            return False
        row.paused = paused
        return True

    async def set_last_digest(self, channel_id: int, at: datetime) -> None:
        """Record that the channel's digest ran at ``at``."""
        row = self._rows.get(channel_id)
        if row is not None:
            row.last_digest_at = as_utc(at)

    async def add_categories(self, channel_id: int, categories: Iterable[str]) -> None:
        """Subscribe to categories (already subscribed ones are kept once)."""
        new = list(categories)
        if not new:
            return
        if channel_id not in self._rows:
            raise _foreign_key_error("channel_categories", channel_id)
        self._rows[channel_id].categories.update(new)

    async def remove_categories(self, channel_id: int, categories: Iterable[str]) -> None:
        """Unsubscribe from categories."""
        row = self._rows.get(channel_id)
        if row is not None:
            row.categories.difference_update(categories)

    async def replace_rules(self, channel_id: int, kind: RuleKind, rules: Sequence[Rule]) -> None:
        """Set the channel's rules of one kind to exactly ``rules``, in order, atomically."""
        if rules and channel_id not in self._rows:
            raise _foreign_key_error("keyword_rules", channel_id)
        keys = [term_key(r.term) for r in rules]
        if len(set(keys)) != len(keys):
            raise StoreError("database error: IntegrityError: two rules of one kind with one term key")
        kept = [r for r in self._rules if not (r.channel_id == channel_id and r.rule.kind is kind)]
        added = [
            _RuleRow(next(self._rule_ids), channel_id, Rule(kind=kind, term=r.term, weight=r.weight)) for r in rules
        ]
        self._rules = kept + added

    def _first(self, match: Callable[[_ChannelRow], bool]) -> ChannelRecord | None:
        row = next((row for row in self._rows.values() if match(row)), None)
        return None if row is None else self._record(row)

    def _record(self, row: _ChannelRow) -> ChannelRecord:
        s = row.settings
        return ChannelRecord(
            id=row.id,
            ref=row.ref,
            post_time=s.post_time,
            timezone=s.timezone,
            max_papers=s.max_papers,
            min_score=s.min_score,
            include_cross=s.include_cross,
            language=s.language,
            last_digest_at=row.last_digest_at,
            created_at=row.created_at,
            feed_token=row.feed_token,
            categories=tuple(sorted(row.categories)),
            rules=tuple(r.rule for r in self._rules if r.channel_id == row.id),
            paused=row.paused,
        )


class FakePapers:
    """Papers in memory, by (id, version); ``stored`` lists them in the order they were first stored."""

    def __init__(self) -> None:
        self._papers: dict[tuple[str, int], Paper] = {}
        self.batches: list[list[Paper]] = []
        """Every ``add_many`` call's papers, as passed."""

    @property
    def stored(self) -> list[Paper]:
        """Every stored paper version, first stored first."""
        return list(self._papers.values())

    async def add_many(self, papers: Iterable[Paper]) -> None:
        """Store papers; a version already stored is kept as it is."""
        batch = list(papers)
        self.batches.append(batch)
        for paper in batch:
            self._papers.setdefault((paper.arxiv_id, paper.version), paper)

    async def get(self, arxiv_id: str, version: int | None = None) -> Paper | None:
        """A stored paper at ``version``, or its newest stored version."""
        if version is not None:
            return self._papers.get((arxiv_id, version))
        versions = [p for (i, _v), p in self._papers.items() if i == arxiv_id]
        return max(versions, key=lambda p: p.version, default=None)

    async def get_many(self, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], Paper]:
        """Stored papers by (id, version)."""
        return {k: self._papers[k] for k in keys if k in self._papers}

    async def recent(self, limit: int) -> list[Paper]:
        """Papers of the last ``limit`` versions stored, newest first, each once (its newest version among them)."""
        last = list(self._papers.values())[::-1][: max(0, limit)]
        newest: dict[str, Paper] = {}
        for paper in last:
            kept = newest.get(paper.arxiv_id)
            if kept is None or paper.version > kept.version:
                newest[paper.arxiv_id] = paper
        return [newest[i] for i in dict.fromkeys(p.arxiv_id for p in last)]

    async def newest(self, arxiv_ids: Iterable[str]) -> dict[str, Paper]:
        """The newest stored version of each of these ids that is stored, by id."""
        found: dict[str, Paper] = {}
        for arxiv_id in sorted(set(arxiv_ids)):
            paper = await self.get(arxiv_id)
            if paper is not None:
                found[arxiv_id] = paper
        return found

    def lookup(self, arxiv_id: str, version: int) -> Paper | None:
        """One stored version, for the fakes that join papers (the ledger's history, saved titles)."""
        return self._papers.get((arxiv_id, version))

    def newest_of(self, arxiv_id: str) -> Paper | None:
        """The newest stored version of a paper, for the fakes that join papers (saved papers whole)."""
        versions = [p for (i, _v), p in self._papers.items() if i == arxiv_id]
        return max(versions, key=lambda p: p.version, default=None)


@dataclass(slots=True, kw_only=True)
class LedgerRow:
    """One ledger row as the fake keeps it, with the columns ``Delivery`` does not show."""

    id: int
    channel_id: int
    arxiv_id: str
    version: int
    rank: int
    score: float
    matched: tuple[str, ...]
    created_at: datetime
    state: DeliveryState = DeliveryState.PENDING
    message_id: str | None = None
    thread_state: DeliveryState = DeliveryState.PENDING
    thread_message_id: str | None = None
    thread_parts: int = 0
    attempts: int = 0
    last_error: str | None = None
    post_key: str | None = None
    sending_at: datetime | None = None
    posted_at: datetime | None = None
    card_update: CardUpdateState | None = None
    tldr: str | None = None

    @property
    def unfinished(self) -> bool:
        """Whether the card or the thread is not posted yet, or the card's TL;DR update is pending."""
        return self.thread_state is not DeliveryState.POSTED or self.card_update is CardUpdateState.PENDING

    def delivery(self) -> Delivery:
        """The row as the ledger hands it out."""
        return Delivery(
            id=self.id,
            channel_id=self.channel_id,
            arxiv_id=self.arxiv_id,
            version=self.version,
            rank=self.rank,
            score=self.score,
            matched=self.matched,
            state=self.state,
            message_id=self.message_id,
            thread_state=self.thread_state,
            attempts=self.attempts,
            key=self.post_key,
            sending_since=self.sending_at,
            thread_parts=self.thread_parts,
            card_update=self.card_update,
            tldr=self.tldr,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class CardRow:
    """One entry of the card index: which message is the card of which paper."""

    id: int
    channel_id: int
    message_id: str
    arxiv_id: str
    version: int
    posted_at: datetime


def _back_to_pending(state: DeliveryState) -> DeliveryState:
    return DeliveryState.PENDING if state is DeliveryState.SENDING else state


class FakeLedger:
    """The delivery ledger in memory: ``rows`` and ``cards`` as stored, ``marks`` every mark in order."""

    def __init__(self, *, channels: FakeChannels, papers: FakePapers, clock: Clock) -> None:
        self._channels = channels
        self._papers = papers
        self._clock = clock
        self.rows: list[LedgerRow] = []
        self.cards: list[CardRow] = []
        self.marks: list[tuple[int, DeliveryMark]] = []
        """(delivery id, mark) of every ``mark`` call."""
        self.batches = 0
        """How many ``mark_many`` calls (transactions of marks) there were."""
        self._ids = count(1)
        self._card_ids = count(1)

    async def plan(self, channel_id: int, selected: Sequence[ScoredPaper]) -> int:
        """Record selected papers as pending; papers the channel already has a row for are left alone."""
        if not selected:
            return 0
        known = {r.arxiv_id for r in self.rows if r.channel_id == channel_id}
        new: list[LedgerRow] = []
        now = as_utc(self._clock.now())
        for rank, s in enumerate(selected):
            if s.paper.arxiv_id in known:
                continue
            known.add(s.paper.arxiv_id)
            new.append(
                LedgerRow(
                    id=0,
                    channel_id=channel_id,
                    arxiv_id=s.paper.arxiv_id,
                    version=s.paper.version,
                    rank=rank,
                    score=s.score,
                    matched=tuple(s.matched),
                    created_at=now,
                )
            )
        if new and not self._channels.exists(channel_id):
            raise _foreign_key_error("deliveries", channel_id)
        for row in new:
            row.id = next(self._ids)
        self.rows += new
        return len(new)

    async def plan_many(self, plans: Mapping[int, Sequence[ScoredPaper]]) -> int:
        """``plan`` of each channel, all or nothing (one transaction)."""
        for channel_id, selected in plans.items():
            if selected and not self._channels.exists(channel_id):
                raise _foreign_key_error("deliveries", channel_id)
        written = 0
        for channel_id, selected in plans.items():
            written += await self.plan(channel_id, selected)
        return written

    async def unfinished_many(self, channel_ids: Iterable[int]) -> dict[int, list[Delivery]]:
        """``unfinished`` of each channel."""
        return {channel_id: await self.unfinished(channel_id) for channel_id in sorted(set(channel_ids))}

    async def mark_many(self, items: Sequence[tuple[Delivery, DeliveryMark]]) -> list[Delivery]:
        """``mark`` of each (row, mark), in order; ``batches`` counts the calls."""
        self.batches += 1
        return [await self.mark(delivery, mark) for delivery, mark in items]

    async def delivered_ids(self, channel_id: int, arxiv_ids: Iterable[str]) -> set[str]:
        """Which of these papers the channel already has a ledger row for."""
        ids = set(arxiv_ids)
        return {r.arxiv_id for r in self.rows if r.channel_id == channel_id and r.arxiv_id in ids}

    async def unfinished(self, channel_id: int) -> list[Delivery]:
        """Rows whose card or thread is not posted yet, oldest plan first, in rank order."""
        rows = [r for r in self.rows if r.channel_id == channel_id and r.unfinished]
        return [r.delivery() for r in sorted(rows, key=lambda r: (r.created_at, r.rank, r.id))]

    async def unfinished_channels(self, *, planned_before: datetime) -> list[int]:
        """Ids of the channels with an unfinished row planned at or before ``planned_before``, ascending."""
        bound = as_utc(planned_before)
        return sorted({r.channel_id for r in self.rows if r.unfinished and r.created_at <= bound})

    async def mark(self, delivery: Delivery, mark: DeliveryMark) -> Delivery:
        """Record what happened around the row's platform call; a posted card also goes in the card index."""
        now = as_utc(self._clock.now())
        row = next((r for r in self.rows if r.id == delivery.id), None)
        self.marks.append((delivery.id, mark))
        sending = DeliveryState.SENDING
        match mark:
            case CardSending(key):
                if row is not None:
                    row.state, row.post_key, row.sending_at = sending, key, now
                return replace(delivery, state=sending, key=key, sending_since=now)
            case CardPosted(message_id):
                self._index(delivery.channel_id, message_id, delivery.arxiv_id, delivery.version, now)
                if row is not None:
                    row.state, row.message_id, row.posted_at = DeliveryState.POSTED, message_id, now
                    row.last_error = row.sending_at = None
                return replace(delivery, state=DeliveryState.POSTED, message_id=message_id, sending_since=None)
            case ThreadSending(key, part):
                if row is not None:
                    row.thread_state, row.post_key, row.sending_at, row.thread_parts = sending, key, now, part
                return replace(delivery, thread_state=sending, key=key, sending_since=now, thread_parts=part)
            case ThreadPosted(message_id, part, last, tldr):
                state = DeliveryState.POSTED if last else DeliveryState.PENDING
                due = last and bool(tldr and tldr.strip())
                if row is not None:
                    row.thread_state, row.thread_parts, row.sending_at = state, part + 1, None
                    row.thread_message_id = row.thread_message_id or message_id
                    if due:
                        row.card_update, row.tldr = CardUpdateState.PENDING, tldr
                marked = replace(delivery, thread_state=state, thread_parts=part + 1, sending_since=None)
                return replace(marked, card_update=CardUpdateState.PENDING, tldr=tldr) if due else marked
            case CardUpdated():
                if row is not None:
                    row.card_update, row.last_error = CardUpdateState.DONE, None
                return replace(delivery, card_update=CardUpdateState.DONE)
            case CardUpdateFailed(error, refused):
                if row is not None:
                    row.attempts += 1
                    row.last_error = error[:MAX_ERROR_CHARS]
                    if refused:
                        row.card_update = CardUpdateState.REFUSED
                return replace(
                    delivery,
                    attempts=delivery.attempts + 1,
                    card_update=CardUpdateState.REFUSED if refused else delivery.card_update,
                )
            case PostFailed(error):
                if row is not None:
                    row.attempts += 1
                    row.last_error = error[:MAX_ERROR_CHARS]
                    row.state, row.thread_state = _back_to_pending(row.state), _back_to_pending(row.thread_state)
                    row.sending_at = None
                return replace(
                    delivery,
                    attempts=delivery.attempts + 1,
                    state=_back_to_pending(delivery.state),
                    thread_state=_back_to_pending(delivery.thread_state),
                    sending_since=None,
                )
            case PostUnconfirmed(error):
                if row is not None:
                    row.attempts += 1
                    row.last_error = error[:MAX_ERROR_CHARS]
                return replace(delivery, attempts=delivery.attempts + 1)

    async def record_card(self, channel_id: int, message_id: str, paper: Paper) -> None:
        """Remember a card posted outside the digest; the first card of a message id wins."""
        self._index(channel_id, message_id, paper.arxiv_id, paper.version, as_utc(self._clock.now()))

    async def card_paper(self, channel: ChannelRef, message_id: str) -> tuple[int, str, int] | None:
        """(channel id, arxiv id, version) of our card with this message reference, or None if it is not ours."""
        channel_id = self._channels.id_of(channel)
        card = next((c for c in self.cards if c.channel_id == channel_id and c.message_id == message_id), None)
        return None if card is None else (card.channel_id, card.arxiv_id, card.version)

    async def posted_papers(
        self, channel_id: int, *, since: datetime | None = None, limit: int | None = None
    ) -> list[PostedPaper]:
        """Cards posted to a channel (at or after ``since``) whose paper is stored, newest first then by rank."""
        found: list[tuple[LedgerRow, datetime, Paper]] = []
        for row in self._posted(channel_id):
            paper = self._papers.lookup(row.arxiv_id, row.version)
            if row.posted_at is None or paper is None:
                continue
            if since is None or row.posted_at >= as_utc(since):
                found.append((row, row.posted_at, paper))
        return [
            PostedPaper(paper=paper, rank=row.rank, score=row.score, matched=row.matched, posted_at=at)
            for row, at, paper in found[:limit]
        ]

    async def posted_since(self, channel_id: int, since: date | None = None) -> list[Delivery]:
        """Posted rows of a channel (posted on or after the UTC day ``since``), newest first."""
        start = None if since is None else datetime.combine(since, time.min, tzinfo=UTC)
        return [
            row.delivery()
            for row in self._posted(channel_id)
            if start is None or (row.posted_at is not None and row.posted_at >= start)
        ]

    def _posted(self, channel_id: int) -> list[LedgerRow]:
        """The channel's posted rows: newest first, then by rank, then by row id."""
        rows = [r for r in self.rows if r.channel_id == channel_id and r.state is DeliveryState.POSTED]
        rows.sort(key=lambda r: (r.rank, r.id))
        rows.sort(key=lambda r: r.posted_at or datetime.min.replace(tzinfo=UTC), reverse=True)
        return rows

    def _index(self, channel_id: int, message_id: str, arxiv_id: str, version: int, at: datetime) -> None:
        if not self._channels.exists(channel_id):
            raise _foreign_key_error("card_messages", channel_id)
        if any(c.channel_id == channel_id and c.message_id == message_id for c in self.cards):
            return
        self.cards.append(
            CardRow(
                id=next(self._card_ids),
                channel_id=channel_id,
                message_id=message_id,
                arxiv_id=arxiv_id,
                version=version,
                posted_at=at,
            )
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SaveRow:
    """One save as the fake keeps it."""

    id: int
    platform: str
    workspace: str
    user_id: str
    arxiv_id: str
    version: int
    channel_id: int | None
    saved_at: datetime


class FakeSaves:
    """Saved papers in memory; ``rows`` shows every save as stored, first saved first."""

    def __init__(self, *, channels: FakeChannels, papers: FakePapers, clock: Clock) -> None:
        self._channels = channels
        self._papers = papers
        self._clock = clock
        self.rows: list[SaveRow] = []
        self._ids = count(1)

    async def save(
        self, *, channel: ChannelRef, channel_id: int | None, user_id: str, arxiv_id: str, version: int
    ) -> bool:
        """Save a paper for a user; False if it was already saved."""
        if self._find(channel, user_id, arxiv_id) is not None:
            return False
        if channel_id is not None and not self._channels.exists(channel_id):
            raise _foreign_key_error("saves", channel_id)
        self.rows.append(
            SaveRow(
                id=next(self._ids),
                platform=channel.platform,
                workspace=channel.workspace,
                user_id=user_id,
                arxiv_id=arxiv_id,
                version=version,
                channel_id=channel_id,
                saved_at=as_utc(self._clock.now()),
            )
        )
        return True

    async def unsave(self, *, channel: ChannelRef, user_id: str, arxiv_id: str) -> bool:
        """Remove a save; False if there was none."""
        row = self._find(channel, user_id, arxiv_id)
        if row is None:
            return False
        self.rows.remove(row)
        personal = self._channels.id_of(personal_ref(channel, user_id))
        for channel_id in (row.channel_id, personal):
            channel_row = None if channel_id is None else self._channels.ranking_row(channel_id)
            if channel_row is not None:
                channel_row.signals_changed_at = as_utc(self._clock.now())
        return True

    async def list(self, *, channel: ChannelRef, user_id: str, limit: int = 50) -> list[SavedPaper]:
        """A user's saves in this workspace, newest first."""
        mine = [
            r
            for r in self.rows
            if (r.platform, r.workspace, r.user_id) == (channel.platform, channel.workspace, user_id)
        ]
        mine.sort(key=lambda r: (r.saved_at, r.id), reverse=True)
        out = []
        for r in mine[:limit]:
            paper = self._papers.lookup(r.arxiv_id, r.version)
            out.append(
                SavedPaper(
                    arxiv_id=r.arxiv_id,
                    version=r.version,
                    title=None if paper is None else paper.title,
                    saved_at=r.saved_at,
                )
            )
        return out

    async def user_saved_papers(self, *, channel: ChannelRef, user_id: str) -> builtins.list[Paper]:
        """A user's saved papers in this workspace (newest stored version), newest save first."""
        key = (channel.platform, channel.workspace, user_id)
        return self._saved_papers([r for r in self.rows if (r.platform, r.workspace, r.user_id) == key])

    async def channel_saved_papers(self, channel_id: int, *, since: datetime | None = None) -> builtins.list[Paper]:
        """Every paper saved in one channel (at or after ``since``), each once, newest save first."""
        return self._saved_papers(
            [r for r in self.rows if r.channel_id == channel_id and (since is None or r.saved_at >= as_utc(since))]
        )

    def _saved_papers(self, rows: builtins.list[SaveRow]) -> builtins.list[Paper]:
        first: dict[str, Paper] = {}
        for row in sorted(rows, key=lambda r: (r.saved_at, r.id), reverse=True):
            paper = self._papers.newest_of(row.arxiv_id)
            if paper is not None:
                first.setdefault(row.arxiv_id, paper)
        return list(first.values())

    def _find(self, channel: ChannelRef, user_id: str, arxiv_id: str) -> SaveRow | None:
        key = (channel.platform, channel.workspace, user_id, arxiv_id)
        return next((r for r in self.rows if (r.platform, r.workspace, r.user_id, r.arxiv_id) == key), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalRow:
    """One like or 👎 as the fake keeps it."""

    id: int
    channel_id: int
    arxiv_id: str
    kind: SignalKind
    source: SignalSource
    user_id: str
    created_at: datetime


class FakeSignals:
    """Ranking signals in memory, over the fake channels and saves: ``rows`` shows every like and 👎 as stored."""

    def __init__(self, *, channels: FakeChannels, saves: FakeSaves, clock: Clock) -> None:
        self._channels = channels
        self._saves = saves
        self._clock = clock
        self.rows: list[SignalRow] = []
        self._ids = count(1)

    async def channel_signals(self, channel_id: int) -> ChannelSignals:
        """The channel's positives and negatives, oldest first, and whether learning is on."""
        row = self._channels.ranking_row(channel_id)
        if row is None:
            return ChannelSignals()
        reset = row.signals_reset_at
        owner = row.ref.owner

        def saved_here(s: SaveRow) -> bool:
            if owner is None:
                return s.channel_id == channel_id
            return (s.platform, s.workspace, s.user_id) == (row.ref.platform, row.ref.workspace, owner)

        def liked_elsewhere(r: SignalRow) -> bool:
            other = self._channels.ranking_row(r.channel_id)
            return (
                owner is not None
                and other is not None
                and r.channel_id != channel_id
                and (other.ref.platform, other.ref.workspace) == (row.ref.platform, row.ref.workspace)
                and r.user_id == owner
                and r.kind is SignalKind.LIKE
                and (reset is None or r.created_at > reset)
            )

        events = [
            (s.saved_at, s.arxiv_id, True)
            for s in self._saves.rows
            if saved_here(s) and (reset is None or s.saved_at > reset)
        ]
        events += [
            (r.created_at, r.arxiv_id, r.kind is SignalKind.LIKE)
            for r in self.rows
            if r.channel_id == channel_id or liked_elsewhere(r)
        ]
        events.sort(key=lambda e: (e[0], e[1]))
        positives = list(dict.fromkeys(i for _at, i, positive in events if positive))
        negatives = list(dict.fromkeys(i for _at, i, positive in events if not positive and i not in positives))
        times = [at for at, _i, _p in events] + ([row.signals_changed_at] if row.signals_changed_at else [])
        return ChannelSignals(
            positives=tuple(positives),
            negatives=tuple(negatives),
            changed_at=max(times, default=None),
            ranking_enabled=row.ranking_enabled,
        )

    async def record_down(self, *, channel_id: int, arxiv_id: str, user_id: str, source: SignalSource) -> bool:
        """Mark a paper not relevant; False if this person already did so from this source."""
        return self._insert(channel_id, [arxiv_id], SignalKind.DOWN, source, user_id) > 0

    async def remove_down(self, *, channel_id: int, arxiv_id: str, user_id: str, source: SignalSource) -> bool:
        """Take back this person's 👎 from this source; False if there was none."""
        key = (channel_id, arxiv_id, SignalKind.DOWN, source, user_id)
        row = next((r for r in self.rows if (r.channel_id, r.arxiv_id, r.kind, r.source, r.user_id) == key), None)
        if row is None:
            return False
        self.rows.remove(row)
        self._changed(channel_id)
        return True

    async def record_likes(
        self, *, channel_id: int, arxiv_ids: Sequence[str], user_id: str, source: SignalSource
    ) -> int:
        """Add papers to the channel's taste; returns how many were new for this person and source."""
        return self._insert(channel_id, arxiv_ids, SignalKind.LIKE, source, user_id)

    async def reset_signals(self, channel_id: int) -> None:
        """Forget likes, imports and 👎; saves made so far stop counting."""
        self.rows = [r for r in self.rows if r.channel_id != channel_id]
        row = self._channels.ranking_row(channel_id)
        if row is not None:
            row.signals_reset_at = row.signals_changed_at = as_utc(self._clock.now())

    async def set_ranking_enabled(self, channel_id: int, enabled: bool) -> None:
        """Switch the learned ranking on or off for a channel."""
        row = self._channels.ranking_row(channel_id)
        if row is not None:
            row.ranking_enabled = enabled

    def _insert(
        self, channel_id: int, arxiv_ids: Sequence[str], kind: SignalKind, source: SignalSource, user_id: str
    ) -> int:
        unique = list(dict.fromkeys(arxiv_ids))
        if not unique:
            return 0
        if not self._channels.exists(channel_id):
            raise _foreign_key_error("ranking_signals", channel_id)
        have = {(r.arxiv_id, r.kind, r.source, r.user_id) for r in self.rows if r.channel_id == channel_id}
        now = as_utc(self._clock.now())
        new = [i for i in unique if (i, kind, source, user_id) not in have]
        for arxiv_id in new:
            self.rows.append(
                SignalRow(
                    id=next(self._ids),
                    channel_id=channel_id,
                    arxiv_id=arxiv_id,
                    kind=kind,
                    source=source,
                    user_id=user_id,
                    created_at=now,
                )
            )
        if new:
            self._changed(channel_id)
        return len(new)

    def _changed(self, channel_id: int) -> None:
        row = self._channels.ranking_row(channel_id)
        if row is not None:
            row.signals_changed_at = as_utc(self._clock.now())


@dataclass(frozen=True, slots=True, kw_only=True)
class SummaryRow:
    """One stored summary as the fake keeps it."""

    id: int
    key: SummaryKey
    summary: StoredSummary
    created_at: datetime


class FakeSummaries:
    """Stored summaries in memory; ``rows`` shows them first stored first, ``puts`` every store asked."""

    def __init__(self, *, clock: Clock) -> None:
        self._clock = clock
        self.rows: list[SummaryRow] = []
        self.puts: list[SummaryKey] = []
        self._ids = count(1)

    async def get(self, key: SummaryKey) -> StoredSummary | None:
        """The stored summary for ``key``, or None."""
        return next((r.summary for r in self.rows if r.key == key), None)

    async def put(self, key: SummaryKey, summary: StoredSummary) -> None:
        """Store a summary; one already stored under ``key`` is kept as it is."""
        self.puts.append(key)
        if all(r.key != key for r in self.rows):
            self.rows.append(
                SummaryRow(id=next(self._ids), key=key, summary=summary, created_at=as_utc(self._clock.now()))
            )

    async def newest_for(self, papers: Iterable[Paper], *, language: str) -> dict[str, ThreadSummary]:
        """The newest stored model summary in ``language`` of each paper that has one, by versioned id."""
        wanted = {(p.arxiv_id, p.version): p for p in papers}
        found: dict[str, ThreadSummary] = {}
        for row in sorted(self.rows, key=lambda r: (r.created_at, r.id)):
            paper = wanted.get((row.key.arxiv_id, row.key.version))
            if paper is not None and row.key.language == language:
                found[paper.versioned_id] = ThreadSummary(
                    paper=paper, heading="Summary", sections=row.summary.sections, tldr=row.summary.tldr or None
                )
        return found


_COUNTERS = tuple(f.name for f in fields(UsageTotals))


class FakeUsage:
    """LLM usage in memory; ``days`` holds the counters per (UTC day, model)."""

    def __init__(self, *, clock: Clock, model: str = "", daily_budget_usd: float = 1.0) -> None:
        self._clock = clock
        self.model = model
        self.daily_budget_usd = daily_budget_usd
        self.days: dict[tuple[date, str], UsageTotals] = {}

    def today(self) -> date:
        """The current UTC day."""
        return self._clock.now().astimezone(UTC).date()

    async def record_call(
        self, *, model: str, input_tokens: int, output_tokens: int, cost_usd: float, cache_miss: bool = False
    ) -> None:
        """Count one answered model call (and the cache miss that led to it)."""
        self._add(
            model,
            calls=1,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=cost_usd,
            cache_misses=int(cache_miss),
        )

    async def record_failure(self, *, model: str, cache_miss: bool = False) -> None:
        """Count one model call that failed, and the cache miss that led to it."""
        self._add(model, calls=1, failures=1, cache_misses=int(cache_miss))

    async def record_lookup(self, *, hit: bool) -> None:
        """Count one summary lookup under the configured model."""
        self._add(self.model, **({"cache_hits": 1} if hit else {"cache_misses": 1}))

    async def spent_today(self) -> float:
        """US dollars spent on model calls today."""
        return (await self.totals(self.today(), self.today())).cost_usd

    async def within_budget(self) -> bool:
        """Whether today's spend is still below ``daily_budget_usd``."""
        return await self.spent_today() < self.daily_budget_usd

    async def totals(self, first: date, last: date) -> UsageTotals:
        """Usage summed over the days ``first`` to ``last`` (inclusive), every model together."""
        rows = [t for (day, _model), t in self.days.items() if first <= day <= last]
        summed = {name: sum(getattr(t, name) for t in rows) for name in _COUNTERS}
        summed["cost_usd"] = float(summed["cost_usd"])
        return UsageTotals(**summed)

    async def report(self) -> UsageReport:
        """Today's and this month's usage."""
        day = self.today()
        return UsageReport(
            day=day,
            today=await self.totals(day, day),
            month=await self.totals(day.replace(day=1), day),
            model=self.model,
            daily_budget_usd=self.daily_budget_usd,
        )

    def _add(self, model: str, **amounts: float) -> None:
        key = (self.today(), model)
        current = self.days.get(key, UsageTotals())
        self.days[key] = replace(current, **{k: getattr(current, k) + v for k, v in amounts.items()})


@dataclass(frozen=True, slots=True, kw_only=True)
class FakeRepositories:
    """One fake of each repository, wired to each other as the SQL ones share one database."""

    channels: FakeChannels
    papers: FakePapers
    ledger: FakeLedger
    saves: FakeSaves
    signals: FakeSignals
    summaries: FakeSummaries
    usage: FakeUsage


def fake_repositories(
    *, clock: Clock, defaults: ChannelDefaults = DEFAULTS, model: str = "", daily_budget_usd: float = 1.0
) -> FakeRepositories:
    """Fresh, empty fakes sharing one clock."""
    channels = FakeChannels(clock=clock, defaults=defaults)
    papers = FakePapers()
    saves = FakeSaves(channels=channels, papers=papers, clock=clock)
    return FakeRepositories(
        channels=channels,
        papers=papers,
        ledger=FakeLedger(channels=channels, papers=papers, clock=clock),
        saves=saves,
        signals=FakeSignals(channels=channels, saves=saves, clock=clock),
        summaries=FakeSummaries(clock=clock),
        usage=FakeUsage(clock=clock, model=model, daily_budget_usd=daily_budget_usd),
    )
