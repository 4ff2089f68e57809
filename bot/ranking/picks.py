"""A day's picks for a channel ranked by its learned model: which papers it may get, their order, and why."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from scipy import sparse

from bot.models import ChannelRef, Paper, ScoredPaper
from bot.ranking.keywords import ChannelProfile, score_papers
from bot.ranking.learned import ChannelModel, blend

LIKE_TITLE_CHARS = 80


def eligible_papers(
    papers: Sequence[Paper], profiles: Sequence[ChannelProfile]
) -> dict[ChannelRef, list[ScoredPaper]]:
    """Every paper each channel may get (its categories and cross-list setting, its excludes dropped), with its
    keyword score and matches (0 and none when no keyword matched), in the scorer's order, in one pass."""
    everything = max(1, len(papers))
    variants: list[ChannelProfile] = []
    for n, profile in enumerate(profiles):
        # The same channel twice under stand-in refs: once with no keywords (every eligible paper), once with its
        # keywords, no floor and no cap (every paper that matched, with its score).
        plain = dataclasses.replace(profile, include=(), authors=(), max_papers=everything)
        scored = dataclasses.replace(profile, max_papers=everything, min_score=0.0)
        variants += [
            dataclasses.replace(plain, channel=ChannelRef("eligible", str(n), "all")),
            dataclasses.replace(scored, channel=ChannelRef("eligible", str(n), "scored")),
        ]
    found = score_papers(papers, variants)
    result: dict[ChannelRef, list[ScoredPaper]] = {}
    for n, profile in enumerate(profiles):
        scored_by_id = {s.paper.versioned_id: s for s in found[ChannelRef("eligible", str(n), "scored")]}
        result[profile.channel] = [
            scored_by_id.get(s.paper.versioned_id, s) for s in found[ChannelRef("eligible", str(n), "all")]
        ]
    return result


def learned_picks(
    model: ChannelModel,
    eligible: Sequence[ScoredPaper],
    *,
    min_score: float,
    max_papers: int,
    rows: sparse.csr_matrix | None = None,
) -> list[ScoredPaper]:
    """The channel's picks among its eligible papers, best first: by the blend of model and keyword scores.

    A paper qualifies when its keywords reach ``min_score`` (and at least one matched) or when the model finds it
    more like the channel's positives than like the rest (margin above 0); the best ``max_papers`` of those are
    kept. Each pick's ``matched`` holds its keywords, then "learned: <terms>" and "like: <title>". ``rows``: the
    eligible papers as rows of the model's space, when the caller transformed the day's papers once for all.
    """
    if not eligible or max_papers <= 0:
        return []
    rows, margins, order = learned_order(model, eligible, rows)
    keyword = np.array([s.score for s in eligible], dtype=np.float64)
    qualifies = ((keyword > 0) & (keyword >= min_score)) | (margins > 0)
    ranked = sorted((i for i in range(len(eligible)) if qualifies[i]), key=lambda i: (-order[i], i))[:max_papers]
    picks = []
    for i in ranked:
        chosen = eligible[i]
        picks.append(
            ScoredPaper(
                paper=chosen.paper,
                score=round(float(order[i]), 2),
                matched=chosen.matched + why_learned(model, rows[i]),
            )
        )
    return picks


def learned_order(
    model: ChannelModel, eligible: Sequence[ScoredPaper], rows: sparse.csr_matrix | None = None
) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray]:
    """The eligible papers as rows of the model's space (``rows`` when given), their margins, and their blended
    order score (higher first)."""
    if rows is None:
        rows = model.space.transform([s.paper for s in eligible])
    margins = model.margins(rows)
    return rows, margins, blend(margins, np.array([s.score for s in eligible], dtype=np.float64))


def why_learned(model: ChannelModel, row: sparse.csr_matrix) -> tuple[str, ...]:
    """The "learned: <terms>" and "like: <title>" entries of a pick's ``matched``."""
    why: list[str] = []
    terms = model.top_terms(row)
    if terms:
        why.append("learned: " + " / ".join(terms))
    liked = model.nearest_liked(row)
    if liked:
        why.append("like: " + short_title(liked))
    return tuple(why)


def short_title(title: str, limit: int = LIKE_TITLE_CHARS) -> str:
    """A title on one line, cut at a word boundary to ``limit`` characters with an ellipsis."""
    text = " ".join(title.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:") + "…"
