"""Papers users saved."""

from __future__ import annotations

import builtins
from datetime import datetime

import sqlalchemy as sa

from bot.models import ChannelRef, Paper, SavedPaper, as_utc
from bot.store import schema as db
from bot.store.database import Database, insert_ignoring_conflicts
from bot.store.papers import paper_from_row
from bot.store.signals import set_channel_ranking


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
                insert_ignoring_conflicts(self._db.engine, db.saves).values(
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
        """Remove a save (a change of its channel's ranking signals); False if there was none."""
        async with self._db.transaction() as conn:
            removed = (
                await conn.execute(
                    sa.delete(db.saves)
                    .where(
                        db.saves.c.platform == channel.platform,
                        db.saves.c.workspace == channel.workspace,
                        db.saves.c.user_id == user_id,
                        db.saves.c.arxiv_id == arxiv_id,
                    )
                    .returning(db.saves.c.channel_id)
                )
            ).all()
            # A save is a positive of its channel's ranker: its removal is a change of that channel's signals.
            channel_ids = [row[0] for row in removed if row[0] is not None]
            await set_channel_ranking(conn, self._db, channel_ids, signals_changed_at=self._db.clock.now())
            return bool(removed)

    async def list(self, *, channel: ChannelRef, user_id: str, limit: int = 50) -> list[SavedPaper]:
        """A user's saves in this workspace, newest first."""
        s, p = db.saves.c, db.papers.c
        async with self._db.reading() as conn:
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
        return [SavedPaper(arxiv_id=r[0], version=r[1], title=r[2], saved_at=as_utc(r[3])) for r in rows]

    async def user_saved_papers(self, *, channel: ChannelRef, user_id: str) -> builtins.list[Paper]:
        """A user's saved papers in this workspace (their newest stored version), newest save first."""
        s = db.saves.c
        return await self._saved_papers(
            sa.and_(s.platform == channel.platform, s.workspace == channel.workspace, s.user_id == user_id)
        )

    async def channel_saved_papers(self, channel_id: int, *, since: datetime | None = None) -> builtins.list[Paper]:
        """Every paper saved in one channel (at or after ``since``), each once, newest save first."""
        s = db.saves.c
        where = s.channel_id == channel_id
        if since is not None:
            where = sa.and_(where, s.saved_at >= as_utc(since))
        return await self._saved_papers(where)

    async def _saved_papers(self, where: sa.ColumnElement[bool]) -> builtins.list[Paper]:
        s, p = db.saves.c, db.papers.c
        newer = db.papers.alias("newer")
        newest = sa.and_(
            p.arxiv_id == s.arxiv_id,
            ~sa.exists().where(newer.c.arxiv_id == p.arxiv_id, newer.c.version > p.version),
        )
        query = (
            sa.select(db.papers)
            .select_from(db.saves.join(db.papers, newest))
            .where(where)
            .order_by(s.saved_at.desc(), s.id.desc())
        )
        async with self._db.transaction() as conn:
            rows = (await conn.execute(query)).mappings().all()
        first: dict[str, Paper] = {}
        for row in rows:
            first.setdefault(row["arxiv_id"], paper_from_row(row))
        return list(first.values())
