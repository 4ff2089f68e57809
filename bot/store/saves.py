"""Papers users saved."""

from __future__ import annotations

import sqlalchemy as sa

from bot.models import ChannelRef, SavedPaper, as_utc
from bot.store import schema as db
from bot.store.database import Database, insert_ignoring_conflicts


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
