"""The delivery ledger: one row per channel and paper, written before posting, marked after."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time
from typing import Any

import sqlalchemy as sa

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


def _unfinished() -> sa.ColumnElement[bool]:
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
                rows.append(
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
                )
            if rows:
                await conn.execute(insert_ignoring_conflicts(self._db.engine, db.deliveries), rows)
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
        """Rows whose card or thread is not posted yet (pending or sending), oldest plan first, in rank order."""
        d = db.deliveries.c
        async with self._db.transaction() as conn:
            rows = (
                (
                    await conn.execute(
                        sa.select(db.deliveries)
                        .where(d.channel_id == channel_id, _unfinished())
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
                    .where(_unfinished(), d.created_at <= as_utc(planned_before))
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
        now = self._db.clock.now()
        d = db.deliveries.c
        update = sa.update(db.deliveries).where(d.id == delivery.id)
        sending = DeliveryState.SENDING.value
        async with self._db.transaction() as conn:
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
