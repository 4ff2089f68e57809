"""Paper embeddings stored once per paper version and embedding model, as float32 bytes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import sqlalchemy as sa

from bot.store import schema as db
from bot.store.database import Database, insert_ignoring_conflicts

_CHUNK = 500
"""Ids per ``IN`` list and rows per insert: well under SQLite's bound on parameters."""
_FLOAT32 = np.dtype("<f4")


def vector_bytes(vector: np.ndarray) -> bytes:
    """A vector as stored: little-endian float32 values."""
    return np.ascontiguousarray(vector, dtype=_FLOAT32).tobytes()


def vector_of(raw: bytes, dimensions: int) -> np.ndarray | None:
    """A stored vector back as float32, or None when its bytes do not hold ``dimensions`` values."""
    if dimensions <= 0 or len(raw) != dimensions * _FLOAT32.itemsize:
        return None
    return np.frombuffer(raw, dtype=_FLOAT32).astype(np.float32)


class EmbeddingStore:
    """``EmbeddingCache`` on the database: one vector per (arxiv id, version, model); the first one stored is kept."""

    def __init__(self, *, database: Database) -> None:
        self._db = database

    async def get_many(self, model: str, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], np.ndarray]:
        """The stored vectors of ``model`` among these (arxiv id, version) keys, by key."""
        wanted = set(keys)
        if not wanted:
            return {}
        e = db.paper_embeddings.c
        ids = sorted({arxiv_id for arxiv_id, _ in wanted})
        found: dict[tuple[str, int], np.ndarray] = {}
        async with self._db.reading() as conn:
            for start in range(0, len(ids), _CHUNK):
                query = sa.select(e.arxiv_id, e.version, e.dimensions, e.vector).where(
                    e.model == model, e.arxiv_id.in_(ids[start : start + _CHUNK])
                )
                for arxiv_id, version, dimensions, raw in (await conn.execute(query)).all():
                    vector = vector_of(bytes(raw), dimensions)
                    if (arxiv_id, version) in wanted and vector is not None:
                        found[(arxiv_id, version)] = vector
        return found

    async def put_many(self, model: str, vectors: Mapping[tuple[str, int], np.ndarray]) -> None:
        """Store vectors of ``model`` by (arxiv id, version); one already stored under a key is kept as it is."""
        now = self._db.clock.now()
        rows = [
            {
                "arxiv_id": arxiv_id,
                "version": version,
                "model": model,
                "dimensions": int(np.asarray(vector).size),
                "vector": vector_bytes(vector),
                "created_at": now,
            }
            for (arxiv_id, version), vector in vectors.items()
        ]
        if not rows:
            return
        stmt = insert_ignoring_conflicts(self._db.engine, db.paper_embeddings)
        async with self._db.transaction() as conn:
            for start in range(0, len(rows), _CHUNK):
                await conn.execute(stmt, rows[start : start + _CHUNK])
