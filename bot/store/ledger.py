"""The delivery ledger: one row per channel and paper, written before posting, marked after."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.models import (
    CardPosted,
    CardSending,
    CardUpdated,
    CardUpdateFailed,
    CardUpdateState,
    ChannelRef,
    Delivery,
    DeliveryMark,
    DeliveryState,
    Paper,
    PostedPaper,
    PostFailed,
    PostUnconfirmed,
    ScoredPaper,
    ThreadPosted,
    ThreadSending,
    as_utc,
)
from bot.store import schema as db
from bot.store.database import Database, insert_ignoring_conflicts
from bot.store.papers import paper_from_row

MAX_ERROR_CHARS = 500
"""A failed attempt's error is kept to this length."""
UNFINISHED = (DeliveryState.PENDING.value, DeliveryState.SENDING.value)
"""Thread states of an unfinished row (a card is posted before its thread, so these cover unposted cards too)."""


def unfinished_rows() -> sa.ColumnElement[bool]:
    """Rows not done: the card or the thread not posted, or the card's TL;DR update pending."""
    d = db.deliveries.c
    return sa.or_(d.thread_state.in_(UNFINISHED), d.card_update == CardUpdateState.PENDING.value)


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
        key=r["post_key"],
        sending_since=None if r["sending_at"] is None else as_utc(r["sending_at"]),
        thread_parts=r["thread_parts"],
        card_update=None if r["card_update"] is None else CardUpdateState(r["card_update"]),
        tldr=r["tldr"],
    )


CHUNK = 500
"""Ids per IN list and rows per INSERT, well within SQLite's and PostgreSQL's bound-parameter limits."""
_C = TypeVar("_C")


def _chunks(items: Sequence[_C], size: int) -> list[Sequence[_C]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _planned_row(channel_id: int, rank: int, s: ScoredPaper, now: datetime) -> dict[str, Any]:
    return {
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


def _batched_updates() -> dict[str, Any]:
    """The UPDATE of each kind of mark written many rows at once (``mark_many``), with bound parameters."""
    d = db.deliveries.c
    by_id = sa.update(db.deliveries).where(d.id == sa.bindparam("_id"))
    sending, posted = DeliveryState.SENDING.value, DeliveryState.POSTED.value
    return {
        "card_sending": by_id.values(
            state=sending, post_key=sa.bindparam("_key"), sending_at=sa.bindparam("_at", type_=d.sending_at.type)
        ),
        "card_posted": by_id.values(
            state=posted,
            message_id=sa.bindparam("_mid"),
            posted_at=sa.bindparam("_at", type_=d.posted_at.type),
            last_error=None,
            sending_at=None,
        ),
        "thread_sending": by_id.values(
            thread_state=sending,
            post_key=sa.bindparam("_key"),
            sending_at=sa.bindparam("_at", type_=d.sending_at.type),
            thread_parts=sa.bindparam("_part"),
        ),
        "thread_posted": by_id.values(
            thread_state=sa.bindparam("_state"),
            thread_parts=sa.bindparam("_parts"),
            thread_message_id=sa.func.coalesce(d.thread_message_id, sa.bindparam("_mid", type_=sa.String)),
            sending_at=None,
            card_update=sa.func.coalesce(sa.bindparam("_update", type_=sa.String), d.card_update),
            tldr=sa.func.coalesce(sa.bindparam("_tldr", type_=sa.Text), d.tldr),
        ),
        "card_updated": by_id.values(card_update=CardUpdateState.DONE.value, last_error=None),
    }


_BATCHED = _batched_updates()


def _back_to_pending(state: DeliveryState) -> DeliveryState:
    return DeliveryState.PENDING if state is DeliveryState.SENDING else state


class DeliveryLedger:
    """One row per channel and paper: written before posting, marked posted with the message reference after."""

    def __init__(self, *, database: Database) -> None:
        self._db = database

    async def plan(self, channel_id: int, selected: Sequence[ScoredPaper]) -> int:
        """Record selected papers as pending, ranked by their position in ``selected``; papers the channel already
        has a row for, at any version, are left alone.

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
            rows: list[dict[str, Any]] = []
            for rank, s in enumerate(selected):
                if s.paper.arxiv_id in known:
                    continue
                known.add(s.paper.arxiv_id)  # a paper twice in ``selected``: its first (best) rank is kept
                rows.append(_planned_row(channel_id, rank, s, now))
            if rows:
                await conn.execute(insert_ignoring_conflicts(self._db.engine, db.deliveries), rows)
            return len(rows)

    async def plan_many(self, plans: Mapping[int, Sequence[ScoredPaper]]) -> int:
        """``plan`` for several channels in one transaction (the digest of many channels); returns the rows written."""
        plans = {channel_id: selected for channel_id, selected in plans.items() if selected}
        if not plans:
            return 0
        now = self._db.clock.now()
        d = db.deliveries.c
        ids = sorted({s.paper.arxiv_id for selected in plans.values() for s in selected})
        known: set[tuple[int, str]] = set()
        async with self._db.transaction() as conn:
            for channels in _chunks(sorted(plans), CHUNK):
                for papers in _chunks(ids, CHUNK):
                    found = await conn.execute(
                        sa.select(d.channel_id, d.arxiv_id).where(d.channel_id.in_(channels), d.arxiv_id.in_(papers))
                    )
                    known.update((r[0], r[1]) for r in found)
            rows: list[dict[str, Any]] = []
            for channel_id, selected in plans.items():
                for rank, s in enumerate(selected):
                    if (channel_id, s.paper.arxiv_id) in known:
                        continue
                    known.add((channel_id, s.paper.arxiv_id))
                    rows.append(_planned_row(channel_id, rank, s, now))
            for chunk in _chunks(rows, CHUNK):
                await conn.execute(insert_ignoring_conflicts(self._db.engine, db.deliveries), chunk)
            return len(rows)

    async def unfinished_many(self, channel_ids: Iterable[int]) -> dict[int, list[Delivery]]:
        """``unfinished`` of several channels in one read: every channel asked for is a key (an empty list when it
        has nothing unfinished)."""
        d = db.deliveries.c
        wanted = sorted(set(channel_ids))
        found: dict[int, list[Delivery]] = {channel_id: [] for channel_id in wanted}
        async with self._db.transaction() as conn:
            for chunk in _chunks(wanted, CHUNK):
                query = (
                    sa.select(db.deliveries)
                    .where(d.channel_id.in_(chunk), unfinished_rows())
                    .order_by(d.channel_id, d.created_at, d.rank, d.id)
                )
                for r in (await conn.execute(query)).mappings():
                    found[r["channel_id"]].append(_delivery_from_row(r))
        return found

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
        """Rows whose card or thread is not posted yet (pending or sending), oldest plan first, in rank order."""
        d = db.deliveries.c
        async with self._db.transaction() as conn:
            rows = (
                (
                    await conn.execute(
                        sa.select(db.deliveries)
                        .where(d.channel_id == channel_id, unfinished_rows())
                        .order_by(d.created_at, d.rank, d.id)
                    )
                )
                .mappings()
                .all()
            )
        return [_delivery_from_row(r) for r in rows]

    async def unfinished_channels(self, *, planned_before: datetime) -> list[int]:
        """Ids of the channels with an unfinished row planned at or before ``planned_before``, ascending."""
        d = db.deliveries.c
        async with self._db.transaction() as conn:
            ids = (
                await conn.execute(
                    sa.select(d.channel_id)
                    .where(unfinished_rows(), d.created_at <= as_utc(planned_before))
                    .distinct()
                    .order_by(d.channel_id)
                )
            ).scalars()
            return list(ids)

    async def mark(self, delivery: Delivery, mark: DeliveryMark) -> Delivery:
        """Record what happened around the row's platform call; a posted card also goes in the card index.

        Returns the row as marked. ``PostFailed`` sends the part in flight back to pending; ``PostUnconfirmed``
        leaves it sending; both count an attempt and keep the error.
        """
        async with self._db.transaction() as conn:
            return await self._mark_in(conn, delivery, mark, self._db.clock.now())

    async def mark_many(self, items: Sequence[tuple[Delivery, DeliveryMark]]) -> list[Delivery]:
        """Record several rows' marks in one transaction (at most one mark per row); returns the rows as marked, in
        order. The marks around a post (intent, posted card or part, updated card) go as one statement per kind."""
        if not items:
            return []
        now = self._db.clock.now()
        at = as_utc(now)
        out: list[Delivery | None] = [None] * len(items)
        params: dict[str, list[dict[str, Any]]] = {}
        cards: list[dict[str, Any]] = []
        others: list[int] = []
        for i, (delivery, mark) in enumerate(items):
            match mark:
                case CardSending(key):
                    params.setdefault("card_sending", []).append({"_id": delivery.id, "_key": key, "_at": now})
                    out[i] = replace(delivery, state=DeliveryState.SENDING, key=key, sending_since=at)
                case CardPosted(message_id):
                    params.setdefault("card_posted", []).append({"_id": delivery.id, "_mid": message_id, "_at": now})
                    cards.append(
                        {
                            "channel_id": delivery.channel_id,
                            "message_id": message_id,
                            "arxiv_id": delivery.arxiv_id,
                            "version": delivery.version,
                            "posted_at": now,
                        }
                    )
                    out[i] = replace(delivery, state=DeliveryState.POSTED, message_id=message_id, sending_since=None)
                case ThreadSending(key, part):
                    row = {"_id": delivery.id, "_key": key, "_at": now, "_part": part}
                    params.setdefault("thread_sending", []).append(row)
                    out[i] = replace(
                        delivery, thread_state=DeliveryState.SENDING, key=key, sending_since=at, thread_parts=part
                    )
                case ThreadPosted(message_id, part, last, tldr):
                    state = DeliveryState.POSTED if last else DeliveryState.PENDING
                    due = last and bool(tldr and tldr.strip())
                    update = CardUpdateState.PENDING.value if due else None
                    row = {
                        "_id": delivery.id,
                        "_state": state.value,
                        "_parts": part + 1,
                        "_mid": message_id,
                        "_update": update,
                        "_tldr": tldr if due else None,
                    }
                    params.setdefault("thread_posted", []).append(row)
                    marked = replace(delivery, thread_state=state, thread_parts=part + 1, sending_since=None)
                    out[i] = replace(marked, card_update=CardUpdateState.PENDING, tldr=tldr) if due else marked
                case CardUpdated():
                    params.setdefault("card_updated", []).append({"_id": delivery.id})
                    out[i] = replace(delivery, card_update=CardUpdateState.DONE)
                case _:
                    others.append(i)
        async with self._db.transaction() as conn:
            for kind, rows in params.items():
                await conn.execute(_BATCHED[kind], rows)
            if cards:
                await conn.execute(insert_ignoring_conflicts(self._db.engine, db.card_messages), cards)
            for i in others:
                out[i] = await self._mark_in(conn, items[i][0], items[i][1], now)
        return [row for row in out if row is not None]

    async def _mark_in(self, conn: AsyncConnection, delivery: Delivery, mark: DeliveryMark, now: datetime) -> Delivery:
        """``mark`` inside the transaction of ``conn``."""
        d = db.deliveries.c
        update = sa.update(db.deliveries).where(d.id == delivery.id)
        sending = DeliveryState.SENDING.value
        match mark:
            case CardSending(key):
                await conn.execute(update.values(state=sending, post_key=key, sending_at=now))
                return replace(delivery, state=DeliveryState.SENDING, key=key, sending_since=as_utc(now))
            case CardPosted(message_id):
                await conn.execute(
                    update.values(
                        state=DeliveryState.POSTED.value,
                        message_id=message_id,
                        posted_at=now,
                        last_error=None,
                        sending_at=None,
                    )
                )
                await conn.execute(
                    insert_ignoring_conflicts(self._db.engine, db.card_messages).values(
                        channel_id=delivery.channel_id,
                        message_id=message_id,
                        arxiv_id=delivery.arxiv_id,
                        version=delivery.version,
                        posted_at=now,
                    )
                )
                return replace(
                    delivery, state=DeliveryState.POSTED, message_id=message_id, sending_since=None
                )
            case ThreadSending(key, part):
                await conn.execute(
                    update.values(thread_state=sending, post_key=key, sending_at=now, thread_parts=part)
                )
                return replace(
                    delivery,
                    thread_state=DeliveryState.SENDING,
                    key=key,
                    sending_since=as_utc(now),
                    thread_parts=part,
                )
            case ThreadPosted(message_id, part, last, tldr):
                state = DeliveryState.POSTED if last else DeliveryState.PENDING
                due = last and bool(tldr and tldr.strip())
                values: dict[str, Any] = {
                    "thread_state": state.value,
                    "thread_parts": part + 1,
                    "thread_message_id": sa.func.coalesce(d.thread_message_id, message_id),
                    "sending_at": None,
                }
                if due:
                    values |= {"card_update": CardUpdateState.PENDING.value, "tldr": tldr}
                await conn.execute(update.values(**values))
                marked = replace(delivery, thread_state=state, thread_parts=part + 1, sending_since=None)
                return replace(marked, card_update=CardUpdateState.PENDING, tldr=tldr) if due else marked
            case CardUpdated():
                await conn.execute(update.values(card_update=CardUpdateState.DONE.value, last_error=None))
                return replace(delivery, card_update=CardUpdateState.DONE)
            case CardUpdateFailed(error, refused):
                values = {"attempts": d.attempts + 1, "last_error": error[:MAX_ERROR_CHARS]}
                if refused:
                    values["card_update"] = CardUpdateState.REFUSED.value
                await conn.execute(update.values(**values))
                return replace(
                    delivery,
                    attempts=delivery.attempts + 1,
                    card_update=CardUpdateState.REFUSED if refused else delivery.card_update,
                )
            case PostFailed(error):
                back = DeliveryState.PENDING.value
                await conn.execute(
                    update.values(
                        attempts=d.attempts + 1,
                        last_error=error[:MAX_ERROR_CHARS],
                        state=sa.case((d.state == sending, back), else_=d.state),
                        thread_state=sa.case((d.thread_state == sending, back), else_=d.thread_state),
                        sending_at=None,
                    )
                )
                return replace(
                    delivery,
                    attempts=delivery.attempts + 1,
                    state=_back_to_pending(delivery.state),
                    thread_state=_back_to_pending(delivery.thread_state),
                    sending_since=None,
                )
            case PostUnconfirmed(error):
                await conn.execute(
                    update.values(attempts=d.attempts + 1, last_error=error[:MAX_ERROR_CHARS])
                )
                return replace(delivery, attempts=delivery.attempts + 1)

    async def record_card(self, channel_id: int, message_id: str, paper: Paper) -> None:
        """Remember a card posted outside the digest (``summarize``), so reactions on it save the paper."""
        async with self._db.transaction() as conn:
            await conn.execute(
                insert_ignoring_conflicts(self._db.engine, db.card_messages).values(
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
                paper=paper_from_row(r),
                rank=r["rank"],
                score=r["score"],
                matched=tuple(r["matched"]),
                posted_at=as_utc(r["posted_at"]),
            )
            for r in rows
        ]

    async def posted_since(self, channel_id: int, since: date | None = None) -> list[Delivery]:
        """Posted rows of a channel (posted on or after the UTC day ``since``): newest first, then by rank, then
        by row id."""
        d = db.deliveries.c
        query = sa.select(db.deliveries).where(d.channel_id == channel_id, d.state == DeliveryState.POSTED.value)
        if since is not None:
            query = query.where(d.posted_at >= datetime.combine(since, time.min, tzinfo=UTC))
        async with self._db.transaction() as conn:
            rows = (
                (await conn.execute(query.order_by(d.posted_at.desc(), d.rank, d.id))).mappings().all()
            )
        return [_delivery_from_row(r) for r in rows]
