"""The version-alert ledger (one row per new version and saver or card thread) and who turned alerts off."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import sqlalchemy as sa

from bot.models import AlertKind, AlertState, AnnounceType, ChannelRef, Paper, VersionAlert, as_utc
from bot.store import schema as db
from bot.store.database import Database, insert_ignoring_conflicts

MAX_ERROR_CHARS = 500
REPLACEMENTS = (AnnounceType.REPLACE, AnnounceType.REPLACE_CROSS)
UNSENT = (AlertState.PENDING.value, AlertState.SENDING.value)


def note_target(platform: str, workspace: str, user_id: str) -> str:
    """The target key of a private note: one person on one platform and workspace."""
    return f"{platform}:{workspace}:{user_id}"


def thread_target(channel_id: int) -> str:
    """The target key of a thread reply: one channel (the paper's card there)."""
    return f"channel:{channel_id}"


def newest_replacements(papers: Iterable[Paper]) -> dict[str, Paper]:
    """The replacements among ``papers``, the newest version of each paper."""
    found: dict[str, Paper] = {}
    for paper in papers:
        if paper.announce_type not in REPLACEMENTS:
            continue
        if paper.arxiv_id not in found or paper.version > found[paper.arxiv_id].version:
            found[paper.arxiv_id] = paper
    return found


def _alert_from_row(r: Any) -> VersionAlert:
    return VersionAlert(
        id=r["id"],
        kind=AlertKind(r["kind"]),
        channel=ChannelRef(r["platform"], r["workspace"], r["channel"]),
        arxiv_id=r["arxiv_id"],
        version=r["version"],
        title=r["title"],
        comments=r["comments"],
        user_id=r["user_id"],
        message_id=r["message_id"],
        state=AlertState(r["state"]),
        key=r["post_key"],
        sending_since=None if r["sending_at"] is None else as_utc(r["sending_at"]),
        attempts=r["attempts"],
    )


class AlertStore:
    """``AlertLedger`` and ``AlertPreferences`` on the database."""

    def __init__(self, *, database: Database) -> None:
        self._db = database

    async def plan_alerts(self, papers: Iterable[Paper]) -> int:
        """Record the alerts the replacements among ``papers`` call for (see ``bot.ports.AlertLedger``)."""
        replaced = newest_replacements(papers)
        if not replaced:
            return 0
        s, a, o, m = db.saves.c, db.version_alerts.c, db.alert_optouts.c, db.card_messages.c
        ids = sorted(replaced)
        async with self._db.transaction() as conn:
            saves = (
                await conn.execute(
                    sa.select(s.platform, s.workspace, s.user_id, s.arxiv_id, s.version, s.channel_id)
                    .where(s.arxiv_id.in_(ids), s.channel_id.is_not(None))
                    .order_by(s.id)
                )
            ).all()
            if not saves:
                return 0
            opted_out = {
                (r[0], r[1], r[2])
                for r in await conn.execute(
                    sa.select(o.platform, o.workspace, o.user_id).where(o.user_id.in_({r[2] for r in saves}))
                )
            }
            cards: dict[tuple[int, str], str] = {}
            for r in await conn.execute(
                sa.select(m.channel_id, m.arxiv_id, m.message_id)
                .where(m.arxiv_id.in_(ids))
                .order_by(m.posted_at.desc(), m.id.desc())
            ):
                cards.setdefault((r[0], r[1]), r[2])
            known = {
                (r[0], r[1], r[2], r[3])
                for r in await conn.execute(
                    sa.select(a.kind, a.target, a.arxiv_id, a.version).where(a.arxiv_id.in_(ids))
                )
            }
            now = self._db.clock.now()
            rows: list[dict[str, Any]] = []

            def add(kind: AlertKind, target: str, paper: Paper, channel_id: int, **extra: str | None) -> None:
                key = (kind.value, target, paper.arxiv_id, paper.version)
                if key in known:
                    return
                known.add(key)
                rows.append(
                    {
                        "kind": kind.value,
                        "target": target,
                        "arxiv_id": paper.arxiv_id,
                        "version": paper.version,
                        "channel_id": channel_id,
                        "title": " ".join(paper.title.split()),
                        "comments": paper.comments,
                        "state": AlertState.PENDING.value,
                        "created_at": now,
                        "user_id": None,
                        "message_id": None,
                        **extra,
                    }
                )

            for platform, workspace, user_id, arxiv_id, version, channel_id in saves:
                paper = replaced[arxiv_id]
                if version >= paper.version:
                    continue
                if (platform, workspace, user_id) not in opted_out:
                    add(AlertKind.NOTE, note_target(platform, workspace, user_id), paper, channel_id, user_id=user_id)
                card = cards.get((channel_id, arxiv_id))
                if card is not None:
                    add(AlertKind.THREAD, thread_target(channel_id), paper, channel_id, message_id=card)
            if rows:
                await conn.execute(insert_ignoring_conflicts(self._db.engine, db.version_alerts), rows)
            return len(rows)

    async def unsent_alerts(self) -> list[VersionAlert]:
        """Alerts pending or sending, oldest first."""
        a, c = db.version_alerts.c, db.channels.c
        query = (
            sa.select(db.version_alerts, c.platform, c.workspace, c.channel)
            .join(db.channels, c.id == a.channel_id)
            .where(a.state.in_(UNSENT))
            .order_by(a.created_at, a.id)
        )
        async with self._db.transaction() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_alert_from_row(r) for r in rows]

    async def mark_alert(
        self,
        alert: VersionAlert,
        state: AlertState,
        *,
        key: str | None = None,
        error: str | None = None,
        comments: str | None = None,
    ) -> VersionAlert:
        """Record an alert's state (see ``bot.ports.AlertLedger.mark_alert``)."""
        now = self._db.clock.now()
        a = db.version_alerts.c
        values: dict[str, Any] = {"state": state.value}
        marked = replace(alert, state=state)
        if state is AlertState.SENDING and key is not None:
            values |= {"post_key": key, "sending_at": now}
            marked = replace(marked, key=key, sending_since=as_utc(now))
            if comments is not None:
                values |= {"comments": comments}
                marked = replace(marked, comments=comments)
        elif state is AlertState.SENT:
            values |= {"sent_at": now, "sending_at": None, "last_error": None}
            marked = replace(marked, sending_since=None)
        elif state is AlertState.PENDING:
            values |= {"sending_at": None}
            marked = replace(marked, sending_since=None)
        if error is not None:
            values |= {"attempts": a.attempts + 1, "last_error": error[:MAX_ERROR_CHARS]}
            marked = replace(marked, attempts=alert.attempts + 1)
        async with self._db.transaction() as conn:
            await conn.execute(sa.update(db.version_alerts).where(a.id == alert.id).values(**values))
        return marked

    async def set_alerts(self, *, channel: ChannelRef, user_id: str, on: bool) -> bool:
        """Turn a person's version alerts on or off in the channel's workspace; False if they already were."""
        o = db.alert_optouts.c
        async with self._db.transaction() as conn:
            if on:
                result = await conn.execute(
                    sa.delete(db.alert_optouts).where(
                        o.platform == channel.platform, o.workspace == channel.workspace, o.user_id == user_id
                    )
                )
            else:
                result = await conn.execute(
                    insert_ignoring_conflicts(self._db.engine, db.alert_optouts).values(
                        platform=channel.platform,
                        workspace=channel.workspace,
                        user_id=user_id,
                        created_at=self._db.clock.now(),
                    )
                )
            return bool(result.rowcount)
