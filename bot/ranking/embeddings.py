"""Embeddings in the learned order: how close each candidate is to what the channel liked, added to the blend.

With an ``Embedder`` configured, a learned channel's candidates get a boost: the cosine of each candidate's vector
to the centroid of the channel's positives' vectors, standardised over the candidates that have a vector, times
``EMBEDDING_WEIGHT``. Candidates without a vector (over the quota, the model failing) get 0: they keep their
TF-IDF and keyword order. A channel with fewer than ``MIN_EMBEDDED_POSITIVES`` embedded positives gets no boost.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np

from bot.errors import StoreError
from bot.models import ChannelRef, Paper, ScoredPaper
from bot.ports import Embedder, PaperCorpus
from bot.ranking.learned import standardised

log = logging.getLogger(__name__)

EMBEDDING_WEIGHT = 0.5
"""Weight of the standardised similarity to the liked papers' centroid against the standardised model score.
Measured with bench/embeddings.py (all-MiniLM-L6-v2, last three weeks of the dev profiles): neutral here
(macro AP 0.340 -> 0.346); larger weights help a profile TF-IDF ranks poorly and cost the others a little."""
MIN_EMBEDDED_POSITIVES = 3
"""Positives with a vector a channel needs before their centroid means anything."""


def centroid(vectors: Sequence[np.ndarray]) -> np.ndarray | None:
    """The unit-length mean direction of these vectors (of the most common length), or None when there are none
    or they cancel out."""
    if not vectors:
        return None
    sizes = [v.size for v in vectors]
    size = max(set(sizes), key=sizes.count)
    matrix = np.stack([v for v in vectors if v.size == size]).astype(np.float64)
    mean = matrix.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return None if norm == 0.0 else mean / norm


def similarity_boost(
    liked: Sequence[np.ndarray], candidates: Sequence[np.ndarray | None], *, weight: float = EMBEDDING_WEIGHT
) -> np.ndarray | None:
    """Each candidate's boost in the learned order: ``weight`` times its standardised cosine to the centroid of
    ``liked``, 0 for a candidate with no vector (or one of another length). None when fewer than
    ``MIN_EMBEDDED_POSITIVES`` liked vectors are given or fewer than two candidates have one."""
    if len(liked) < MIN_EMBEDDED_POSITIVES:
        return None
    center = centroid(liked)
    if center is None:
        return None
    present = [(i, v) for i, v in enumerate(candidates) if v is not None and v.size == center.size]
    if len(present) < 2:
        return None
    similarity = np.array([float(np.dot(v, center)) for _, v in present], dtype=np.float64)
    boost = np.zeros(len(candidates), dtype=np.float64)
    boost[[i for i, _ in present]] = weight * standardised(similarity)
    return boost


async def vectors_for(embedder: Embedder | None, papers: Sequence[Paper]) -> Mapping[str, np.ndarray]:
    """The embedder's vectors of these papers by versioned id (none without an embedder); never raises: a fault
    of the embedder is logged and the ranking goes on with TF-IDF."""
    if embedder is None or not papers:
        return {}
    try:
        return await embedder.embed(papers)
    except Exception:  # an embedder must never take the digest with it
        log.exception("embeddings failed; ranking by TF-IDF alone")
        return {}


def channel_boost(
    vectors: Mapping[str, np.ndarray], positives: Sequence[Paper], candidates: Sequence[Paper]
) -> np.ndarray | None:
    """``similarity_boost`` of a channel's candidates from ``vectors`` (by versioned id)."""
    if not vectors:
        return None
    liked = [v for v in (vectors.get(p.versioned_id) for p in positives) if v is not None]
    return similarity_boost(liked, [vectors.get(p.versioned_id) for p in candidates])


async def embedding_boosts(
    embedder: Embedder | None,
    corpus: PaperCorpus,
    positives: Mapping[ChannelRef, Sequence[str]],
    eligible: Mapping[ChannelRef, Sequence[ScoredPaper]],
) -> dict[ChannelRef, np.ndarray | None]:
    """Each learned channel's boost of its eligible papers (``channel_boost``), from its positives' ids; empty
    without an embedder. Positives are embedded first: they matter to every candidate of their channel."""
    if embedder is None or not positives:
        return {}
    try:
        found = await corpus.newest({i for ids in positives.values() for i in ids})
    except StoreError as err:
        log.warning("liked papers could not be read for embeddings; ranking by TF-IDF alone: %s", err)
        return {}
    liked = {ref: [found[i] for i in dict.fromkeys(ids) if i in found] for ref, ids in positives.items()}
    wanted = [p for papers in liked.values() for p in papers]
    wanted += [s.paper for ref in positives for s in eligible.get(ref, ())]
    vectors = await vectors_for(embedder, wanted)
    return {ref: channel_boost(vectors, liked[ref], [s.paper for s in eligible.get(ref, ())]) for ref in positives}
