"""Channels: their settings, categories and keyword rules."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.models import CHANNEL_SETTINGS, ChannelDefaults, ChannelRecord, ChannelRef, Rule, RuleKind, as_utc, term_key
from bot.store import schema as db
from bot.store.database import Database, insert_ignoring_conflicts


class ChannelStore:
    """Channels, their settings, categories and keyword rules."""

    def __init__(self, *, database: Database, defaults: ChannelDefaults) -> None:
        self._db = database
        self._defaults = defaults

    async def get(self, ref: ChannelRef) -> ChannelRecord | None:
        """The channel's record, or None if it never spoke to us."""
        async with self._db.reading() as conn:
            return await self._load(conn, ref)

    async def get_or_create(self, ref: ChannelRef) -> ChannelRecord:
        """The channel's record, created with the defaults on first use."""
        async with self._db.reading() as conn:
            record = await self._load(conn, ref)
        if record is not None:
            return record
        async with self._db.transaction() as conn:
            d = self._defaults
            await conn.execute(
                insert_ignoring_conflicts(self._db.engine, db.channels).values(
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
        """Every active channel (its workspace has not uninstalled the app, its owner has not stopped it) subscribed to
        at least one category."""
        async with self._db.reading() as conn:
            rows = (
                (
                    await conn.execute(
                        sa.select(db.channels)
                        .where(
                            db.channels.c.active.is_(True),
                            db.channels.c.paused.is_(False),
                            db.channels.c.id.in_(sa.select(db.channel_categories.c.channel_id)),
                        )
                        .order_by(db.channels.c.id)
                    )
                )
                .mappings()
                .all()
            )
            return await self._assemble(conn, rows)

    async def find(self, platform: str, channel: str) -> ChannelRecord | None:
        """A channel by platform and channel id, whatever its workspace."""
        async with self._db.reading() as conn:
            return await self._first(conn, _BY_PLATFORM_CHANNEL, platform=platform, channel=channel)

    async def by_feed_token(self, token: str) -> ChannelRecord | None:
        """The channel whose RSS feed has this token, or None."""
        async with self._db.reading() as conn:
            return await self._first(conn, _BY_FEED_TOKEN, feed_token=token)

    async def by_id(self, channel_id: int) -> ChannelRecord | None:
        """A channel by its row id."""
        async with self._db.reading() as conn:
            return await self._first(conn, _BY_ID, channel_id=channel_id)

    async def update(self, channel_id: int, **values: str | int | float | bool) -> None:
        """Change settings of one channel (names in ``CHANNEL_SETTINGS``); an unknown channel id changes nothing."""
        unknown = sorted(set(values) - CHANNEL_SETTINGS)
        if unknown:
            raise ValueError(f"not channel settings: {', '.join(unknown)}; use {', '.join(sorted(CHANNEL_SETTINGS))}")
        if not values:
            return
        async with self._db.transaction() as conn:
            await conn.execute(sa.update(db.channels).where(db.channels.c.id == channel_id).values(**values))

    async def set_paused(self, channel_id: int, paused: bool) -> bool:
        """Stop (or resume) a personal digest, its settings kept; False if it already was (or the id names none)."""
        async with self._db.transaction() as conn:
            result = await conn.execute(
                sa.update(db.channels)
                .where(db.channels.c.id == channel_id, db.channels.c.paused != paused)
                .values(paused=paused)
            )
            return bool(result.rowcount)

    async def set_last_digest(self, channel_id: int, at: datetime) -> None:
        """Record that the channel's digest ran at ``at``."""
        async with self._db.transaction() as conn:
            await conn.execute(sa.update(db.channels).where(db.channels.c.id == channel_id).values(last_digest_at=at))

    async def add_categories(self, channel_id: int, categories: Iterable[str]) -> None:
        """Subscribe to categories (already subscribed ones are kept once)."""
        rows = [{"channel_id": channel_id, "category": c} for c in categories]
        if not rows:
            return
        async with self._db.transaction() as conn:
            await conn.execute(insert_ignoring_conflicts(self._db.engine, db.channel_categories), rows)

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
        return await self._first(conn, _BY_REF, platform=ref.platform, workspace=ref.workspace, channel=ref.channel)

    async def _first(self, conn: AsyncConnection, statement: sa.Select[Any], **params: object) -> ChannelRecord | None:
        """The oldest channel a ``_one_channel`` statement finds, with its categories and rules: one round trip (a
        command reads its channel first, and on SQLite each statement costs four hops to the driver's thread)."""
        rows = (await conn.execute(statement, params)).mappings().all()
        if not rows or rows[0]["part"] != _CHANNEL:
            return None
        return self._record(
            rows[0],
            categories=[r["text"] for r in rows if r["part"] == _CATEGORY],
            rules=[
                Rule(kind=RuleKind(r["kind"]), term=r["text"], weight=r["weight"]) for r in rows if r["part"] == _RULE
            ],
        )

    async def _assemble(self, conn: AsyncConnection, rows: Sequence[Any]) -> list[ChannelRecord]:
        """Records for channel rows, with their categories and rules read in one query each (not one per row)."""
        if not rows:
            return []
        ids = [row["id"] for row in rows]
        cats: dict[int, list[str]] = {i: [] for i in ids}
        cc = db.channel_categories.c
        for channel_id, category in await conn.execute(
            sa.select(cc.channel_id, cc.category).where(cc.channel_id.in_(ids)).order_by(cc.channel_id, cc.category)
        ):
            cats[channel_id].append(category)
        rules: dict[int, list[Rule]] = {i: [] for i in ids}
        kr = db.keyword_rules.c
        for r in (
            (await conn.execute(sa.select(db.keyword_rules).where(kr.channel_id.in_(ids)).order_by(kr.id)))
            .mappings()
            .all()
        ):
            rules[r["channel_id"]].append(Rule(kind=RuleKind(r["kind"]), term=r["term"], weight=r["weight"]))
        return [self._record(row, categories=cats[row["id"]], rules=rules[row["id"]]) for row in rows]

    @staticmethod
    def _record(row: Any, *, categories: Sequence[str], rules: Sequence[Rule]) -> ChannelRecord:
        return ChannelRecord(
            id=row["id"],
            ref=ChannelRef(row["platform"], row["workspace"], row["channel"]),
            post_time=row["post_time"],
            timezone=row["timezone"],
            max_papers=row["max_papers"],
            min_score=row["min_score"],
            include_cross=bool(row["include_cross"]),
            language=row["language"],
            last_digest_at=None if row["last_digest_at"] is None else as_utc(row["last_digest_at"]),
            created_at=as_utc(row["created_at"]),
            feed_token=row["feed_token"],
            categories=tuple(categories),
            rules=tuple(rules),
            active=bool(row["active"]),
            paused=bool(row["paused"]),
        )


_CHANNEL, _CATEGORY, _RULE = 0, 1, 2
"""The ``part`` of each row of ``_one_channel``."""


def _one_channel(*where: sa.ColumnElement[bool]) -> sa.Select[Any]:
    """One statement for the oldest channel matching ``where``: its row (part 0), then its categories in order
    (part 1, in ``text``), then its rules in the order they were written (part 2: ``text``, ``kind``, ``weight``).
    The branches of the union have the same columns, NULL (typed like the other branches') where they have none.
    Built once per kind of lookup, its values bound at each call: building it costs four times running it."""
    ch, cc, kr = db.channels.c, db.channel_categories.c, db.keyword_rules.c
    chosen = sa.select(ch.id).where(*where).order_by(ch.id).limit(1).scalar_subquery()

    def empty(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return sa.cast(sa.null(), column.type)

    channel_columns = list(db.channels.c)
    no_channel = [empty(c).label(c.name) for c in channel_columns]
    both = sa.union_all(
        sa.select(
            sa.literal(_CHANNEL).label("part"),
            *channel_columns,
            empty(kr.term).label("text"),
            empty(kr.kind).label("kind"),
            empty(kr.weight).label("weight"),
            empty(kr.id).label("rule_id"),
        ).where(ch.id == chosen),
        sa.select(
            sa.literal(_CATEGORY), *no_channel, cc.category, empty(kr.kind), empty(kr.weight), empty(kr.id)
        ).where(cc.channel_id == chosen),
        sa.select(sa.literal(_RULE), *no_channel, kr.term, kr.kind, kr.weight, kr.id).where(kr.channel_id == chosen),
    ).subquery()
    return sa.select(both).order_by(both.c.part, both.c.rule_id, both.c.text)


_c = db.channels.c
_BY_REF = _one_channel(
    _c.platform == sa.bindparam("platform"),
    _c.workspace == sa.bindparam("workspace"),
    _c.channel == sa.bindparam("channel"),
)
_BY_PLATFORM_CHANNEL = _one_channel(_c.platform == sa.bindparam("platform"), _c.channel == sa.bindparam("channel"))
_BY_FEED_TOKEN = _one_channel(_c.feed_token == sa.bindparam("feed_token"))
_BY_ID = _one_channel(_c.id == sa.bindparam("channel_id"))
