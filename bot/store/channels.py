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
        """Every active channel (its workspace has not uninstalled the app) subscribed to at least one category."""
        async with self._db.reading() as conn:
            rows = (
                (
                    await conn.execute(
                        sa.select(db.channels)
                        .where(
                            db.channels.c.active.is_(True),
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
            return await self._first(conn, db.channels.c.platform == platform, db.channels.c.channel == channel)

    async def by_feed_token(self, token: str) -> ChannelRecord | None:
        """The channel whose RSS feed has this token, or None."""
        async with self._db.reading() as conn:
            return await self._first(conn, db.channels.c.feed_token == token)

    async def by_id(self, channel_id: int) -> ChannelRecord | None:
        """A channel by its row id."""
        async with self._db.reading() as conn:
            return await self._first(conn, db.channels.c.id == channel_id)

    async def update(self, channel_id: int, **values: str | int | float | bool) -> None:
        """Change settings of one channel (names in ``CHANNEL_SETTINGS``); an unknown channel id changes nothing."""
        unknown = sorted(set(values) - CHANNEL_SETTINGS)
        if unknown:
            raise ValueError(f"not channel settings: {', '.join(unknown)}; use {', '.join(sorted(CHANNEL_SETTINGS))}")
        if not values:
            return
        async with self._db.transaction() as conn:
            await conn.execute(sa.update(db.channels).where(db.channels.c.id == channel_id).values(**values))

    async def set_last_digest(self, channel_id: int, at: datetime) -> None:
        """Record that the channel's digest ran at ``at``."""
        async with self._db.transaction() as conn:
            await conn.execute(
                sa.update(db.channels).where(db.channels.c.id == channel_id).values(last_digest_at=at)
            )

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
        c = db.channels.c
        return await self._first(
            conn, c.platform == ref.platform, c.workspace == ref.workspace, c.channel == ref.channel
        )

    async def _first(self, conn: AsyncConnection, *where: sa.ColumnElement[bool]) -> ChannelRecord | None:
        row = (await conn.execute(sa.select(db.channels).where(*where).order_by(db.channels.c.id))).mappings().first()
        return None if row is None else (await self._assemble(conn, [row]))[0]

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
        return [
            ChannelRecord(
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
                categories=tuple(cats[row["id"]]),
                rules=tuple(rules[row["id"]]),
                active=bool(row["active"]),
            )
            for row in rows
        ]
