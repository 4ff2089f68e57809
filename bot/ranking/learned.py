"""A channel's learned model: the pure maths of fitting it, scoring a day's papers, blending, explaining.

The model is a class-balanced linear SVM in the shared TF-IDF space (``bot.ranking.features``): the channel's
positives (saves, likes, imports) against its 👎 and a sample of the stored papers of its categories (unlabelled
background, taken as negatives). A day's candidates are ordered by the blend of two standardised scores: the
model's margin, plus a quarter of the keyword score (log-scaled), so that matching the channel's own keywords
still counts without drowning the model (adding raw keyword scores loses average precision; see bench/ranking.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from scipy import sparse
from sklearn.metrics import average_precision_score
from sklearn.svm import LinearSVC

from bot.ranking.features import TextSpace

SVM_C = 0.1
"""Strong regularisation: a channel has few positives, and its background is unlabelled (not all negative)."""
KEYWORD_WEIGHT = 0.25
"""Weight of the standardised keyword score against the standardised model score in the blend."""
DOWN_WEIGHT = 5.0
"""A 👎 counts as this many background papers: a person said no, the background only was not picked."""
QUALITY_MIN_POSITIVES = 10
"""Positives a channel needs before its own time split is measured (``time_split_ap``)."""
TOP_TERMS = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class LikedPapers:
    """A channel's positives for "like: <title>": rows of the shared corpus by index (no copy), then rows of
    their own for those the corpus lacks; ``titles`` in that order."""

    source: sparse.csr_matrix
    index: np.ndarray
    extra: sparse.csr_matrix
    titles: tuple[str, ...]

    def matrix(self) -> sparse.csr_matrix:
        """Every liked paper as a row, in the order of ``titles``."""
        return sparse.vstack([self.source[self.index], self.extra], format="csr")


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelModel:
    """One channel's fitted model, and what its explanations need."""

    weights: np.ndarray
    """One weight per feature of the space it was fit in (float32)."""
    bias: float
    space: TextSpace
    liked: LikedPapers
    positives: int
    negatives: int
    fitted_at: datetime
    signals_at: datetime | None
    """The ``changed_at`` of the signals it was fit on: a later change makes it stale."""
    quality_ap: float | None = None

    def margins(self, rows: sparse.csr_matrix) -> np.ndarray:
        """The model's score of each row: above 0, it looks more like the channel's positives than the rest."""
        return np.asarray(rows @ self.weights, dtype=np.float64).ravel() + self.bias

    def top_terms(self, row: sparse.csr_matrix, n: int = TOP_TERMS) -> tuple[str, ...]:
        """The terms of one paper's row that pushed its score up most."""
        coo = row.tocoo()
        contributions = coo.data * self.weights[coo.col]
        order = np.argsort(-contributions, kind="stable")[:n]
        return tuple(str(self.space.terms[coo.col[i]]) for i in order if contributions[i] > 0)

    def nearest_liked(self, row: sparse.csr_matrix) -> str | None:
        """The title of the liked paper most similar to this row (cosine), or None when none shares a term."""
        return self.nearest_liked_all(row)[0]

    def nearest_liked_all(self, rows: sparse.csr_matrix) -> list[str | None]:
        """``nearest_liked`` of each row, the liked papers gathered once."""
        if not self.liked.titles:
            return [None] * rows.shape[0]
        similarity = (self.liked.matrix() @ rows.T).toarray()
        best = similarity.argmax(axis=0)
        return [
            self.liked.titles[b] if similarity[b, j] > 0 else None for j, b in enumerate(best.tolist())
        ]


def linear_fit(
    positives: sparse.csr_matrix, negatives: sparse.csr_matrix, background: sparse.csr_matrix
) -> tuple[np.ndarray, float]:
    """Weights and bias of a class-balanced linear SVM: positives against 👎 (weighted) and background."""
    rows = sparse.vstack([positives, negatives, background], format="csr")
    n_pos, n_neg, n_bg = positives.shape[0], negatives.shape[0], background.shape[0]
    labels = np.r_[np.ones(n_pos), np.zeros(n_neg + n_bg)]
    weight = np.r_[np.ones(n_pos), np.full(n_neg, DOWN_WEIGHT), np.ones(n_bg)]
    # Balanced: both classes weigh the same in total, whatever their sizes.
    weight[:n_pos] *= weight[n_pos:].sum() / max(n_pos, 1)
    weight *= len(labels) / weight.sum()
    svm = LinearSVC(C=SVM_C, dual=True, max_iter=2000, random_state=0)
    svm.fit(rows, labels, sample_weight=weight)
    return svm.coef_.ravel().astype(np.float32), float(svm.intercept_[0])


def fit_channel(
    space: TextSpace,
    *,
    positives: sparse.csr_matrix,
    liked: LikedPapers,
    negatives: sparse.csr_matrix,
    background: sparse.csr_matrix,
    fitted_at: datetime,
    signals_at: datetime | None = None,
    measure: bool = True,
) -> ChannelModel:
    """Fit one channel's model; positives and negatives oldest first (the time split needs the order)."""
    weights, bias = linear_fit(positives, negatives, background)
    quality = time_split_ap(positives, negatives, background) if measure else None
    return ChannelModel(
        weights=weights,
        bias=bias,
        space=space,
        liked=liked,
        positives=len(liked.titles),
        negatives=negatives.shape[0],
        fitted_at=fitted_at,
        signals_at=signals_at,
        quality_ap=quality,
    )


def time_split_ap(
    positives: sparse.csr_matrix, negatives: sparse.csr_matrix, background: sparse.csr_matrix
) -> float | None:
    """AP on the channel's newest 30% of positives and 👎 (and half the background) of a model fit on the rest.

    None when the channel has fewer than ``QUALITY_MIN_POSITIVES`` positives or too little background.
    """
    n_pos, n_neg, n_bg = positives.shape[0], negatives.shape[0], background.shape[0]
    if n_pos < QUALITY_MIN_POSITIVES or n_bg < 20:
        return None
    cut_pos, cut_neg, cut_bg = int(n_pos * 0.7), int(n_neg * 0.7), n_bg // 2
    weights, bias = linear_fit(positives[:cut_pos], negatives[:cut_neg], background[:cut_bg])
    test = sparse.vstack([positives[cut_pos:], negatives[cut_neg:], background[cut_bg:]], format="csr")
    labels = np.r_[np.ones(n_pos - cut_pos), np.zeros(n_neg - cut_neg + n_bg - cut_bg)]
    scores = np.asarray(test @ weights).ravel() + bias
    return float(average_precision_score(labels, scores))


def standardised(values: np.ndarray) -> np.ndarray:
    """``values`` less their mean, over their standard deviation (all zero when they are all equal)."""
    spread = float(values.std())
    if spread == 0.0:
        return np.zeros_like(values, dtype=np.float64)
    return np.asarray((values - values.mean()) / spread, dtype=np.float64)


def blend(margins: np.ndarray, keyword_scores: np.ndarray) -> np.ndarray:
    """The order of a day's candidates: the standardised model score plus a quarter of the standardised
    (log-scaled) keyword score, both over these candidates."""
    return standardised(margins) + KEYWORD_WEIGHT * standardised(np.log1p(np.maximum(keyword_scores, 0.0)))
