"""Hand-written fakes of the embedding ports: an embedder of hashed bags of words, one that fails, and a cache."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from bot.errors import StoreError
from bot.models import Paper
from bot.ranking.features import paper_text
from tests.fakes.openai_server import hashed_embedding


@dataclass
class HashedEmbedder:
    """``Embedder`` in memory: each paper's text as the fake server's hashed bag of words; ``asked`` records each
    call's versioned ids; ``vectors`` (by versioned id) override the hashed ones; ``leave_out`` are never embedded."""

    model: str = "fake/hashed"
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    leave_out: set[str] = field(default_factory=set)
    asked: list[list[str]] = field(default_factory=list)

    async def embed(self, papers: Sequence[Paper]) -> dict[str, np.ndarray]:
        """The vector of every paper not left out."""
        self.asked.append([p.versioned_id for p in papers])
        found: dict[str, np.ndarray] = {}
        for p in papers:
            if p.versioned_id in self.leave_out:
                continue
            vector = self.vectors.get(p.versioned_id)
            if vector is None:
                vector = np.asarray(hashed_embedding(paper_text(p)), dtype=np.float32)
            found[p.versioned_id] = vector
        return found


@dataclass
class BrokenEmbedder:
    """``Embedder`` that breaks its promise and raises: the ranker must go on without it."""

    model: str = "fake/broken"
    calls: int = 0

    async def embed(self, papers: Sequence[Paper]) -> dict[str, np.ndarray]:
        """Raise."""
        self.calls += 1
        raise RuntimeError("the embedder broke")


@dataclass
class MemoryEmbeddingCache:
    """``EmbeddingCache`` in a dict; ``fail`` makes every call a ``StoreError``."""

    vectors: dict[tuple[str, str, int], np.ndarray] = field(default_factory=dict)
    fail: bool = False

    async def get_many(self, model: str, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], np.ndarray]:
        """The stored vectors of ``model`` among ``keys``."""
        if self.fail:
            raise StoreError("the fake database is down")
        return {k: self.vectors[(model, *k)] for k in keys if (model, *k) in self.vectors}

    async def put_many(self, model: str, vectors: Mapping[tuple[str, int], np.ndarray]) -> None:
        """Store vectors; ones already stored are kept."""
        if self.fail:
            raise StoreError("the fake database is down")
        for key, vector in vectors.items():
            self.vectors.setdefault((model, *key), vector)
