"""Papers at each version we have seen."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from bot.models import AnnounceType, Paper
from bot.store import schema as db
from bot.store.database import Database, insert_ignoring_conflicts


def paper_from_row(row: Any) -> Paper:
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
            stmt = insert_ignoring_conflicts(self._db.engine, db.papers)
            for start in range(0, len(rows), 500):
                await conn.execute(stmt, rows[start : start + 500])

    async def get(self, arxiv_id: str, version: int | None = None) -> Paper | None:
        """A stored paper at ``version``, or its newest stored version."""
        query = sa.select(db.papers).where(db.papers.c.arxiv_id == arxiv_id)
        if version is not None:
            query = query.where(db.papers.c.version == version)
        query = query.order_by(db.papers.c.version.desc()).limit(1)
        async with self._db.reading() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else paper_from_row(row)

    async def get_many(self, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], Paper]:
        """Stored papers by (id, version)."""
        keys = list(keys)
        if not keys:
            return {}
        ids = sorted({k[0] for k in keys})
        async with self._db.reading() as conn:
            rows = (
                (await conn.execute(sa.select(db.papers).where(db.papers.c.arxiv_id.in_(ids))))
                .mappings()
                .all()
            )
        found = {(r["arxiv_id"], r["version"]): paper_from_row(r) for r in rows}
        return {k: found[k] for k in keys if k in found}

    async def recent(self, limit: int) -> list[Paper]:
        """Papers of the last ``limit`` versions stored, newest first, each once (its newest version among them)."""
        query = sa.select(db.papers).order_by(db.papers.c.id.desc()).limit(max(0, limit))
        async with self._db.transaction() as conn:
            rows = (await conn.execute(query)).mappings().all()
        newest: dict[str, Paper] = {}
        for row in rows:
            paper = paper_from_row(row)
            kept = newest.get(paper.arxiv_id)
            if kept is None or paper.version > kept.version:
                newest[paper.arxiv_id] = paper
        order = list(dict.fromkeys(r["arxiv_id"] for r in rows))
        return [newest[i] for i in order]

    async def newest(self, arxiv_ids: Iterable[str]) -> dict[str, Paper]:
        """The newest stored version of each of these ids that is stored, by id."""
        ids = sorted(set(arxiv_ids))
        found: dict[str, Paper] = {}
        async with self._db.transaction() as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                query = sa.select(db.papers).where(db.papers.c.arxiv_id.in_(chunk))
                for row in (await conn.execute(query)).mappings().all():
                    paper = paper_from_row(row)
                    kept = found.get(paper.arxiv_id)
                    if kept is None or paper.version > kept.version:
                        found[paper.arxiv_id] = paper
        return found
