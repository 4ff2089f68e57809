"""What a channel's people told the learned ranker: saves, likes and imports (positives), 👎 (negatives)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.models import ChannelSignals, SignalKind, SignalSource, as_utc
from bot.store import schema as db
from bot.store.database import Database, insert_ignoring_conflicts

_CHUNK = 500
"""Rows per INSERT (six bound parameters each)."""


def merge_signals(
    *,
    saves: Iterable[tuple[str, datetime]],
    likes: Iterable[tuple[str, datetime]],
    downs: Iterable[tuple[str, datetime]],
    reset_at: datetime | None,
    changed_at: datetime | None,
    enabled: bool,
) -> ChannelSignals:
    """A channel's signals from its rows: each paper once, at its first signal, oldest first (ties by id).

    Saves made before the last reset do not count; a paper someone saved or liked is a positive even when someone
    else gave it a 👎 (the ranker never learns to hide what a member keeps).
    """
    counted_saves = [(i, as_utc(at)) for i, at in saves if reset_at is None or as_utc(at) > as_utc(reset_at)]
    liked = [(i, as_utc(at)) for i, at in likes]
    downed = [(i, as_utc(at)) for i, at in downs]
    positive = _first_seen([*counted_saves, *liked])
    negative = _first_seen([(i, at) for i, at in downed if i not in positive])
    times = [at for _i, at in (*counted_saves, *liked, *downed)]
    if changed_at is not None:
        times.append(as_utc(changed_at))
    return ChannelSignals(
        positives=_ordered(positive),
        negatives=_ordered(negative),
        changed_at=max(times, default=None),
        ranking_enabled=enabled,
    )


def _first_seen(rows: Iterable[tuple[str, datetime]]) -> dict[str, datetime]:
    first: dict[str, datetime] = {}
    for arxiv_id, at in rows:
        if arxiv_id not in first or at < first[arxiv_id]:
            first[arxiv_id] = at
    return first


def _ordered(first: dict[str, datetime]) -> tuple[str, ...]:
    return tuple(sorted(first, key=lambda i: (first[i], i)))


class SignalStore:
    """Reads a channel's signals for the ranker and writes 👎, likes, imports, resets and the on/off switch."""

    def __init__(self, *, database: Database) -> None:
        self._db = database

    async def channel_signals(self, channel_id: int) -> ChannelSignals:
        """The channel's positives and negatives, oldest first, and whether learning is on."""
        c, cr, s, r = db.channels.c, db.channel_ranking.c, db.saves.c, db.ranking_signals.c
        async with self._db.transaction() as conn:
            channel = (
                await conn.execute(
                    sa.select(
                        sa.func.coalesce(cr.ranking_enabled, sa.true()), cr.signals_reset_at, cr.signals_changed_at
                    )
                    .select_from(db.channels.outerjoin(db.channel_ranking, cr.channel_id == c.id))
                    .where(c.id == channel_id)
                )
            ).first()
            if channel is None:
                return ChannelSignals()
            saves = (await conn.execute(sa.select(s.arxiv_id, s.saved_at).where(s.channel_id == channel_id))).all()
            rows = (
                await conn.execute(sa.select(r.arxiv_id, r.kind, r.created_at).where(r.channel_id == channel_id))
            ).all()
        return merge_signals(
            saves=[(i, at) for i, at in saves],
            likes=[(i, at) for i, kind, at in rows if kind == SignalKind.LIKE],
            downs=[(i, at) for i, kind, at in rows if kind == SignalKind.DOWN],
            reset_at=channel[1],
            changed_at=channel[2],
            enabled=bool(channel[0]),
        )

    async def record_down(self, *, channel_id: int, arxiv_id: str, user_id: str, source: SignalSource) -> bool:
        """Mark a paper not relevant; False if this person already did so from this source."""
        return await self._insert(channel_id, [arxiv_id], SignalKind.DOWN, source, user_id) > 0

    async def remove_down(self, *, channel_id: int, arxiv_id: str, user_id: str, source: SignalSource) -> bool:
        """Take back this person's 👎 from this source; False if there was none."""
        r = db.ranking_signals.c
        async with self._db.transaction() as conn:
            result = await conn.execute(
                sa.delete(db.ranking_signals).where(
                    r.channel_id == channel_id,
                    r.arxiv_id == arxiv_id,
                    r.kind == SignalKind.DOWN.value,
                    r.source == source.value,
                    r.user_id == user_id,
                )
            )
            if not result.rowcount:
                return False
            await self._changed(conn, channel_id)
            return True

    async def record_likes(
        self, *, channel_id: int, arxiv_ids: Sequence[str], user_id: str, source: SignalSource
    ) -> int:
        """Add papers to the channel's taste; returns how many were new for this person and source."""
        return await self._insert(channel_id, arxiv_ids, SignalKind.LIKE, source, user_id)

    async def reset_signals(self, channel_id: int) -> None:
        """Forget likes, imports and 👎; saves made so far stop counting (they stay saved)."""
        async with self._db.transaction() as conn:
            await conn.execute(sa.delete(db.ranking_signals).where(db.ranking_signals.c.channel_id == channel_id))
            now = self._db.clock.now()
            await set_channel_ranking(
                conn, self._db, [channel_id], signals_reset_at=now, signals_changed_at=now
            )

    async def set_ranking_enabled(self, channel_id: int, enabled: bool) -> None:
        """Switch the learned ranking on or off for a channel."""
        async with self._db.transaction() as conn:
            await set_channel_ranking(conn, self._db, [channel_id], ranking_enabled=enabled)

    async def _insert(
        self, channel_id: int, arxiv_ids: Sequence[str], kind: SignalKind, source: SignalSource, user_id: str
    ) -> int:
        unique = list(dict.fromkeys(arxiv_ids))
        if not unique:
            return 0
        now = self._db.clock.now()
        rows = [
            {
                "channel_id": channel_id,
                "arxiv_id": arxiv_id,
                "kind": kind.value,
                "source": source.value,
                "user_id": user_id,
                "created_at": now,
            }
            for arxiv_id in unique
        ]
        added = 0
        async with self._db.transaction() as conn:
            # One multi-row INSERT per chunk: its rowcount is exact on both drivers (an executemany's is not), and a
            # chunk stays under either database's limit of bound parameters.
            for start in range(0, len(rows), _CHUNK):
                insert = insert_ignoring_conflicts(self._db.engine, db.ranking_signals)
                result = await conn.execute(insert.values(rows[start : start + _CHUNK]))
                added += result.rowcount
            if added:
                await self._changed(conn, channel_id)
            return added

    async def _changed(self, conn: AsyncConnection, channel_id: int) -> None:
        await set_channel_ranking(conn, self._db, [channel_id], signals_changed_at=self._db.clock.now())


async def set_channel_ranking(
    conn: AsyncConnection, database: Database, channel_ids: Sequence[int], **values: bool | datetime
) -> None:
    """Set columns of these channels' ``channel_ranking`` rows, creating the rows of existing channels first
    (channel ids that name no channel are left alone)."""
    if not channel_ids:
        return
    cr = db.channel_ranking.c
    known = sa.select(db.channels.c.id).where(db.channels.c.id.in_(channel_ids))
    await conn.execute(
        insert_ignoring_conflicts(database.engine, db.channel_ranking).from_select(["channel_id"], known)
    )
    await conn.execute(sa.update(db.channel_ranking).where(cr.channel_id.in_(channel_ids)).values(**values))
