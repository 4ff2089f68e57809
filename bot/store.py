"""Repositories over the database: channels and their rules, papers, the delivery ledger, saves."""

from __future__ import annotations

import enum
import secrets
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot import db
from bot.errors import StoreError
from bot.models import AnnounceType, ChannelRef, Paper, ScoredPaper, SummarySection, ThreadSummary
from bot.ports import Clock


class RuleKind(enum.StrEnum):
    """The three kinds of per-channel rule."""

    INCLUDE = "include"
    EXCLUDE = "exclude"
    AUTHOR = "author"


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One keyword or author rule of a channel."""

    kind: RuleKind
    term: str
    weight: float = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelRecord:
    """A channel's stored settings and rules."""

    id: int
    ref: ChannelRef
    post_time: str
    timezone: str
    max_papers: int
    min_score: float
    include_cross: bool
    language: str
    last_digest_at: datetime | None
    created_at: datetime
    feed_token: str
    categories: tuple[str, ...]
    rules: tuple[Rule, ...]

    def terms(self, kind: RuleKind) -> tuple[Rule, ...]:
        """The channel's rules of one kind, in the order they were added."""
        return tuple(r for r in self.rules if r.kind is kind)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelDefaults:
    """Settings a new channel starts with."""

    post_time: str
    timezone: str
    max_papers: int
    min_score: float
    include_cross: bool
    language: str


class DeliveryState(enum.StrEnum):
    """Where a ledger row stands."""

    PENDING = "pending"
    POSTED = "posted"


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """One row of the delivery ledger: one paper for one channel."""

    id: int
    channel_id: int
    arxiv_id: str
    version: int
    rank: int
    score: float
    matched: tuple[str, ...]
    state: DeliveryState
    message_id: str | None
    thread_state: DeliveryState
    attempts: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PostedPaper:
    """A paper as it was posted to one channel: what its RSS feed and its markdown export show."""

    paper: Paper
    rank: int
    score: float
    matched: tuple[str, ...]
    posted_at: datetime
    """Timezone-aware (UTC)."""


def as_utc(value: datetime) -> datetime:
    """A stored time as an aware UTC datetime (SQLite hands back naive UTC, PostgreSQL aware)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class SavedPaper:
    """A paper a user saved."""

    arxiv_id: str
    version: int
    title: str | None
    saved_at: datetime


def term_key(term: str) -> str:
    """The case- and space-insensitive key under which a term is unique per channel."""
    return " ".join(term.lower().split())


class Database:
    """Owns the engine and turns driver errors into ``StoreError``."""

    def __init__(self, *, engine: AsyncEngine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside one transaction, committed on success."""
        try:
            async with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as err:
            raise StoreError(
                f"database error: {type(err).__name__}: {err.args[0] if err.args else ''}"
            ) from err

    async def ping(self) -> None:
        """Raise ``StoreError`` unless the database answers."""
        async with self.transaction() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


class ChannelStore:
    """Channels, their settings, categories and keyword rules."""

    def __init__(self, *, database: Database, defaults: ChannelDefaults) -> None:
        self._db = database
        self._defaults = defaults

    async def get(self, ref: ChannelRef) -> ChannelRecord | None:
        """The channel's record, or None if it never spoke to us."""
        async with self._db.transaction() as conn:
            return await self._load(conn, ref)

    async def get_or_create(self, ref: ChannelRef) -> ChannelRecord:
        """The channel's record, created with the defaults on first use."""
        async with self._db.transaction() as conn:
            record = await self._load(conn, ref)
            if record is not None:
                return record
            d = self._defaults
            await conn.execute(
                db.insert_ignoring_conflicts(self._db.engine, db.channels).values(
                    platform=ref.platform,
                    workspace=ref.workspace,
                    channel=ref.channel,
                    post_time=d.post_time,
                    timezone=d.timezone,
                    max_papers=d.max_papers,
                    min_score=d.min_score,
                    include_cross=d.include_cross,
                    language=d.language,
                    feed_token=secrets.token_urlsafe(18),
                    created_at=self._db.clock.now(),
                )
            )
            record = await self._load(conn, ref)
            assert record is not None
            return record

    async def all_active(self) -> list[ChannelRecord]:
        """Every channel subscribed to at least one category."""
        async with self._db.transaction() as conn:
            rows = (
                (
                    await conn.execute(
                        sa.select(db.channels)
                        .where(db.channels.c.id.in_(sa.select(db.channel_categories.c.channel_id)))
                        .order_by(db.channels.c.id)
                    )
                )
                .mappings()
                .all()
            )
            return [await self._assemble(conn, row) for row in rows]

    async def find(self, platform: str, channel: str) -> ChannelRecord | None:
        """A channel by platform and channel id, whatever its workspace."""
        async with self._db.transaction() as conn:
            return await self._first(conn, db.channels.c.platform == platform, db.channels.c.channel == channel)

    async def by_feed_token(self, token: str) -> ChannelRecord | None:
        """The channel whose RSS feed has this token, or None."""
        async with self._db.transaction() as conn:
            return await self._first(conn, db.channels.c.feed_token == token)

    async def by_id(self, channel_id: int) -> ChannelRecord | None:
        """A channel by its row id."""
        async with self._db.transaction() as conn:
            return await self._first(conn, db.channels.c.id == channel_id)

    async def update(self, channel_id: int, **values: Any) -> None:
        """Change settings columns of one channel."""
        async with self._db.transaction() as conn:
            await conn.execute(sa.update(db.channels).where(db.channels.c.id == channel_id).values(**values))

    async def add_categories(self, channel_id: int, categories: Iterable[str]) -> None:
        """Subscribe to categories (already subscribed ones are kept once)."""
        rows = [{"channel_id": channel_id, "category": c} for c in categories]
        if not rows:
            return
        async with self._db.transaction() as conn:
            await conn.execute(db.insert_ignoring_conflicts(self._db.engine, db.channel_categories), rows)

    async def remove_categories(self, channel_id: int, categories: Iterable[str]) -> None:
        """Unsubscribe from categories."""
        async with self._db.transaction() as conn:
            await conn.execute(
                sa.delete(db.channel_categories).where(
                    db.channel_categories.c.channel_id == channel_id,
                    db.channel_categories.c.category.in_(list(categories)),
                )
            )

    async def replace_rules(self, channel_id: int, kind: RuleKind, rules: Sequence[Rule]) -> None:
        """Set the channel's rules of one kind to exactly ``rules``, in order, atomically."""
        async with self._db.transaction() as conn:
            await conn.execute(
                sa.delete(db.keyword_rules).where(
                    db.keyword_rules.c.channel_id == channel_id, db.keyword_rules.c.kind == kind.value
                )
            )
            if rules:
                await conn.execute(
                    sa.insert(db.keyword_rules),
                    [
                        {
                            "channel_id": channel_id,
                            "kind": kind.value,
                            "term": r.term,
                            "term_key": term_key(r.term),
                            "weight": r.weight,
                        }
                        for r in rules
                    ],
                )

    async def _load(self, conn: AsyncConnection, ref: ChannelRef) -> ChannelRecord | None:
        c = db.channels.c
        return await self._first(
            conn, c.platform == ref.platform, c.workspace == ref.workspace, c.channel == ref.channel
        )

    async def _first(self, conn: AsyncConnection, *where: sa.ColumnElement[bool]) -> ChannelRecord | None:
        row = (await conn.execute(sa.select(db.channels).where(*where).order_by(db.channels.c.id))).mappings().first()
        return None if row is None else await self._assemble(conn, row)

    async def _assemble(self, conn: AsyncConnection, row: Any) -> ChannelRecord:
        cats = (
            (
                await conn.execute(
                    sa.select(db.channel_categories.c.category)
                    .where(db.channel_categories.c.channel_id == row["id"])
                    .order_by(db.channel_categories.c.category)
                )
            )
            .scalars()
            .all()
        )
        rules = (
            (
                await conn.execute(
                    sa.select(db.keyword_rules)
                    .where(db.keyword_rules.c.channel_id == row["id"])
                    .order_by(db.keyword_rules.c.id)
                )
            )
            .mappings()
            .all()
        )
        return ChannelRecord(
            id=row["id"],
            ref=ChannelRef(row["platform"], row["workspace"], row["channel"]),
            post_time=row["post_time"],
            timezone=row["timezone"],
            max_papers=row["max_papers"],
            min_score=row["min_score"],
            include_cross=bool(row["include_cross"]),
            language=row["language"],
            last_digest_at=row["last_digest_at"],
            created_at=row["created_at"],
            feed_token=row["feed_token"],
            categories=tuple(cats),
            rules=tuple(Rule(kind=RuleKind(r["kind"]), term=r["term"], weight=r["weight"]) for r in rules),
        )


def _paper_from_row(row: Any) -> Paper:
    return Paper(
        arxiv_id=row["arxiv_id"],
        version=row["version"],
        title=row["title"],
        abstract=row["abstract"],
        authors=tuple(row["authors"]),
        categories=tuple(row["categories"]),
        primary_category=row["primary_category"],
        announce_type=AnnounceType(row["announce_type"]),
        published=row["published"],
        doi=row["doi"],
        journal_ref=row["journal_ref"],
    )


class PaperStore:
    """Papers at each version we have seen."""

    def __init__(self, *, database: Database) -> None:
        self._db = database

    async def add_many(self, papers: Iterable[Paper]) -> None:
        """Store papers; a version already stored is kept as it is."""
        now = self._db.clock.now()
        rows = [
            {
                "arxiv_id": p.arxiv_id,
                "version": p.version,
                "title": p.title,
                "abstract": p.abstract,
                "authors": list(p.authors),
                "categories": list(p.categories),
                "primary_category": p.primary_category,
                "announce_type": p.announce_type.value,
                "published": p.published,
                "doi": p.doi,
                "journal_ref": p.journal_ref,
                "fetched_at": now,
            }
            for p in papers
        ]
        if not rows:
            return
        async with self._db.transaction() as conn:
            stmt = db.insert_ignoring_conflicts(self._db.engine, db.papers)
            for start in range(0, len(rows), 500):
                await conn.execute(stmt, rows[start : start + 500])

    async def get(self, arxiv_id: str, version: int | None = None) -> Paper | None:
        """A stored paper at ``version``, or its newest stored version."""
        query = sa.select(db.papers).where(db.papers.c.arxiv_id == arxiv_id)
        if version is not None:
            query = query.where(db.papers.c.version == version)
        query = query.order_by(db.papers.c.version.desc()).limit(1)
        async with self._db.transaction() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else _paper_from_row(row)

    async def get_many(self, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], Paper]:
        """Stored papers by (id, version)."""
        keys = list(keys)
        if not keys:
            return {}
        ids = sorted({k[0] for k in keys})
        async with self._db.transaction() as conn:
            rows = (
                (await conn.execute(sa.select(db.papers).where(db.papers.c.arxiv_id.in_(ids))))
                .mappings()
                .all()
            )
        found = {(r["arxiv_id"], r["version"]): _paper_from_row(r) for r in rows}
        return {k: found[k] for k in keys if k in found}

    async def stored_summaries(self, papers: Iterable[Paper], *, language: str) -> dict[str, ThreadSummary]:
        """The newest stored model summary in ``language`` of each paper that has one, by versioned id."""
        wanted = {(p.arxiv_id, p.version): p for p in papers}
        if not wanted:
            return {}
        s = db.summaries.c
        query = (
            sa.select(s.arxiv_id, s.version, s.tldr, s.sections)
            .where(s.arxiv_id.in_(sorted({k[0] for k in wanted})), s.language == language)
            .order_by(s.created_at, s.id)
        )
        async with self._db.transaction() as conn:
            rows = (await conn.execute(query)).all()
        found: dict[str, ThreadSummary] = {}
        for arxiv_id, version, tldr, sections in rows:
            paper = wanted.get((arxiv_id, version))
            if paper is not None:
                found[paper.versioned_id] = ThreadSummary(
                    paper=paper,
                    heading="Summary",
                    sections=tuple(SummarySection(title=str(t), body=str(b)) for t, b in sections),
                    tldr=tldr or None,
                )
        return found


def _delivery_from_row(r: Any) -> Delivery:
    return Delivery(
        id=r["id"],
        channel_id=r["channel_id"],
        arxiv_id=r["arxiv_id"],
        version=r["version"],
        rank=r["rank"],
        score=r["score"],
        matched=tuple(r["matched"]),
        state=DeliveryState(r["state"]),
        message_id=r["message_id"],
        thread_state=DeliveryState(r["thread_state"]),
        attempts=r["attempts"],
    )


class DeliveryLedger:
    """One row per channel and paper: written before posting, marked posted with the message reference after."""

    def __init__(self, *, database: Database) -> None:
        self._db = database

    async def plan(self, channel_id: int, selected: Sequence[ScoredPaper]) -> int:
        """Record selected papers as pending; papers the channel already has a row for are left alone.

        Returns how many new rows were written.
        """
        if not selected:
            return 0
        now = self._db.clock.now()
        async with self._db.transaction() as conn:
            known = set(
                (
                    await conn.execute(
                        sa.select(db.deliveries.c.arxiv_id).where(
                            db.deliveries.c.channel_id == channel_id,
                            db.deliveries.c.arxiv_id.in_([s.paper.arxiv_id for s in selected]),
                        )
                    )
                ).scalars()
            )
            rows = [
                {
                    "channel_id": channel_id,
                    "arxiv_id": s.paper.arxiv_id,
                    "version": s.paper.version,
                    "rank": rank,
                    "score": s.score,
                    "matched": list(s.matched),
                    "state": DeliveryState.PENDING.value,
                    "thread_state": DeliveryState.PENDING.value,
                    "created_at": now,
                }
                for rank, s in enumerate(selected)
                if s.paper.arxiv_id not in known
            ]
            if rows:
                await conn.execute(db.insert_ignoring_conflicts(self._db.engine, db.deliveries), rows)
            return len(rows)

    async def delivered_ids(self, channel_id: int, arxiv_ids: Iterable[str]) -> set[str]:
        """Which of these papers the channel already has a ledger row for."""
        ids = list(arxiv_ids)
        if not ids:
            return set()
        async with self._db.transaction() as conn:
            return set(
                (
                    await conn.execute(
                        sa.select(db.deliveries.c.arxiv_id).where(
                            db.deliveries.c.channel_id == channel_id, db.deliveries.c.arxiv_id.in_(ids)
                        )
                    )
                ).scalars()
            )

    async def unfinished(self, channel_id: int) -> list[Delivery]:
        """Rows whose card or thread is not posted yet, oldest plan first, in rank order."""
        async with self._db.transaction() as conn:
            rows = (
                (
                    await conn.execute(
                        sa.select(db.deliveries)
                        .where(
                            db.deliveries.c.channel_id == channel_id,
                            sa.or_(
                                db.deliveries.c.state == DeliveryState.PENDING.value,
                                db.deliveries.c.thread_state == DeliveryState.PENDING.value,
                            ),
                        )
                        .order_by(db.deliveries.c.created_at, db.deliveries.c.rank, db.deliveries.c.id)
                    )
                )
                .mappings()
                .all()
            )
        return [_delivery_from_row(r) for r in rows]

    async def mark_card_posted(self, delivery: Delivery, message_id: str) -> Delivery:
        """Record that the card is posted, with its message reference (and remember the card's message)."""
        now = self._db.clock.now()
        async with self._db.transaction() as conn:
            await conn.execute(
                sa.update(db.deliveries)
                .where(db.deliveries.c.id == delivery.id)
                .values(
                    state=DeliveryState.POSTED.value, message_id=message_id, posted_at=now, last_error=None
                )
            )
            await conn.execute(
                db.insert_ignoring_conflicts(self._db.engine, db.card_messages).values(
                    channel_id=delivery.channel_id,
                    message_id=message_id,
                    arxiv_id=delivery.arxiv_id,
                    version=delivery.version,
                    posted_at=now,
                )
            )
        return replace(delivery, state=DeliveryState.POSTED, message_id=message_id)

    async def mark_thread_posted(self, delivery: Delivery, message_id: str) -> None:
        """Record that the card's thread reply is posted."""
        async with self._db.transaction() as conn:
            await conn.execute(
                sa.update(db.deliveries)
                .where(db.deliveries.c.id == delivery.id)
                .values(thread_state=DeliveryState.POSTED.value, thread_message_id=message_id)
            )

    async def mark_failed(self, delivery: Delivery, error: str) -> None:
        """Count a failed attempt; the row stays pending for the next run."""
        async with self._db.transaction() as conn:
            await conn.execute(
                sa.update(db.deliveries)
                .where(db.deliveries.c.id == delivery.id)
                .values(attempts=db.deliveries.c.attempts + 1, last_error=error[:500])
            )

    async def record_card(self, channel_id: int, message_id: str, paper: Paper) -> None:
        """Remember a card posted outside the digest (``summarize``), so reactions on it save the paper."""
        async with self._db.transaction() as conn:
            await conn.execute(
                db.insert_ignoring_conflicts(self._db.engine, db.card_messages).values(
                    channel_id=channel_id,
                    message_id=message_id,
                    arxiv_id=paper.arxiv_id,
                    version=paper.version,
                    posted_at=self._db.clock.now(),
                )
            )

    async def card_paper(self, channel: ChannelRef, message_id: str) -> tuple[int, str, int] | None:
        """(channel id, arxiv id, version) of our card with this message reference, or None if it is not ours."""
        c, m = db.channels.c, db.card_messages.c
        async with self._db.transaction() as conn:
            row = (
                await conn.execute(
                    sa.select(m.channel_id, m.arxiv_id, m.version)
                    .join(db.channels, db.channels.c.id == m.channel_id)
                    .where(
                        c.platform == channel.platform,
                        c.workspace == channel.workspace,
                        c.channel == channel.channel,
                        m.message_id == message_id,
                    )
                )
            ).first()
        return None if row is None else (row[0], row[1], row[2])

    async def posted_papers(
        self, channel_id: int, *, since: datetime | None = None, limit: int | None = None
    ) -> list[PostedPaper]:
        """Cards posted to a channel (posted at or after ``since``), with their papers, newest first then by rank."""
        d, p = db.deliveries.c, db.papers.c
        query = (
            sa.select(d.rank, d.score, d.matched, d.posted_at, db.papers)
            .select_from(
                db.deliveries.join(db.papers, sa.and_(p.arxiv_id == d.arxiv_id, p.version == d.version))
            )
            .where(d.channel_id == channel_id, d.state == DeliveryState.POSTED.value, d.posted_at.is_not(None))
            .order_by(d.posted_at.desc(), d.rank, d.id)
        )
        if since is not None:
            query = query.where(d.posted_at >= as_utc(since))
        if limit is not None:
            query = query.limit(limit)
        async with self._db.transaction() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [
            PostedPaper(
                paper=_paper_from_row(r),
                rank=r["rank"],
                score=r["score"],
                matched=tuple(r["matched"]),
                posted_at=as_utc(r["posted_at"]),
            )
            for r in rows
        ]

    async def posted_since(self, channel_id: int, since: date | None = None) -> list[Delivery]:
        """Posted rows of a channel, newest first."""
        query = sa.select(db.deliveries).where(
            db.deliveries.c.channel_id == channel_id, db.deliveries.c.state == DeliveryState.POSTED.value
        )
        if since is not None:
            query = query.where(db.deliveries.c.posted_at >= datetime.combine(since, datetime.min.time()))
        async with self._db.transaction() as conn:
            rows = (await conn.execute(query.order_by(db.deliveries.c.posted_at.desc()))).mappings().all()
        return [_delivery_from_row(r) for r in rows]


class SaveStore:
    """Papers users saved."""

    def __init__(self, *, database: Database) -> None:
        self._db = database

    async def save(
        self, *, channel: ChannelRef, channel_id: int | None, user_id: str, arxiv_id: str, version: int
    ) -> bool:
        """Save a paper for a user; False if it was already saved."""
        async with self._db.transaction() as conn:
            result = await conn.execute(
                db.insert_ignoring_conflicts(self._db.engine, db.saves).values(
                    platform=channel.platform,
                    workspace=channel.workspace,
                    user_id=user_id,
                    arxiv_id=arxiv_id,
                    version=version,
                    channel_id=channel_id,
                    saved_at=self._db.clock.now(),
                )
            )
            return bool(result.rowcount)

    async def unsave(self, *, channel: ChannelRef, user_id: str, arxiv_id: str) -> bool:
        """Remove a save; False if there was none."""
        async with self._db.transaction() as conn:
            result = await conn.execute(
                sa.delete(db.saves).where(
                    db.saves.c.platform == channel.platform,
                    db.saves.c.workspace == channel.workspace,
                    db.saves.c.user_id == user_id,
                    db.saves.c.arxiv_id == arxiv_id,
                )
            )
            return bool(result.rowcount)

    async def list(self, *, channel: ChannelRef, user_id: str, limit: int = 50) -> list[SavedPaper]:
        """A user's saves in this workspace, newest first."""
        s, p = db.saves.c, db.papers.c
        async with self._db.transaction() as conn:
            rows = (
                await conn.execute(
                    sa.select(s.arxiv_id, s.version, p.title, s.saved_at)
                    .select_from(
                        db.saves.outerjoin(
                            db.papers, sa.and_(p.arxiv_id == s.arxiv_id, p.version == s.version)
                        )
                    )
                    .where(
                        s.platform == channel.platform, s.workspace == channel.workspace, s.user_id == user_id
                    )
                    .order_by(s.saved_at.desc(), s.id.desc())
                    .limit(limit)
                )
            ).all()
        return [SavedPaper(arxiv_id=r[0], version=r[1], title=r[2], saved_at=r[3]) for r in rows]
