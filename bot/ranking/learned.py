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
SVM_TOL = 0.1
"""When the solver stops (its dual gap relative to the start): the margins' order is settled long before
liblinear's 1e-4 (weights at cosine 0.99999 to those, the same dev AP to three places) at half the passes."""
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
        return [self.liked.titles[b] if similarity[b, j] > 0 else None for j, b in enumerate(best.tolist())]


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainingRows:
    """A channel's training set as one matrix: its positives, then its 👎 (both oldest first), then background."""

    rows: sparse.csr_matrix
    positives: int
    negatives: int

    @property
    def background(self) -> int:
        """How many background rows follow the positives and 👎."""
        return int(self.rows.shape[0]) - self.positives - self.negatives

    def labels(self) -> np.ndarray:
        """1 for a positive, 0 for a 👎 or a background paper."""
        labels: np.ndarray = np.r_[np.ones(self.positives), np.zeros(self.negatives + self.background)]
        return labels

    def time_split(self) -> tuple[TrainingRows, TrainingRows]:
        """The oldest 70% of positives and 👎 with the first half of the background, and the rest."""
        n_pos, n_neg, n_bg = self.positives, self.negatives, self.background
        cut_pos, cut_neg, cut_bg = int(n_pos * 0.7), int(n_neg * 0.7), n_bg // 2
        pos, neg, bg = 0, n_pos, n_pos + n_neg
        older = np.r_[pos : pos + cut_pos, neg : neg + cut_neg, bg : bg + cut_bg]
        newer = np.r_[pos + cut_pos : neg, neg + cut_neg : bg, bg + cut_bg : bg + n_bg]
        return (
            TrainingRows(rows=self.rows[older], positives=cut_pos, negatives=cut_neg),
            TrainingRows(rows=self.rows[newer], positives=n_pos - cut_pos, negatives=n_neg - cut_neg),
        )


def linear_fit(training: TrainingRows) -> tuple[np.ndarray, float]:
    """Weights and bias of a class-balanced linear SVM: positives against 👎 (weighted) and background."""
    n_pos, n_neg, n_bg = training.positives, training.negatives, training.background
    weight = np.r_[np.ones(n_pos), np.full(n_neg, DOWN_WEIGHT), np.ones(n_bg)]
    # Balanced: both classes weigh the same in total, whatever their sizes.
    weight[:n_pos] *= weight[n_pos:].sum() / max(n_pos, 1)
    weight *= len(weight) / weight.sum()
    svm = LinearSVC(C=SVM_C, dual=True, tol=SVM_TOL, max_iter=2000, random_state=0)
    svm.fit(training.rows, training.labels(), sample_weight=weight)
    return svm.coef_.ravel().astype(np.float32), float(svm.intercept_[0])


def fit_channel(
    space: TextSpace,
    *,
    training: TrainingRows,
    liked: LikedPapers,
    fitted_at: datetime,
    signals_at: datetime | None = None,
    measure: bool = True,
) -> ChannelModel:
    """Fit one channel's model on its training rows (the time split needs positives and 👎 oldest first)."""
    weights, bias = linear_fit(training)
    quality = time_split_ap(training) if measure else None
    return ChannelModel(
        weights=weights,
        bias=bias,
        space=space,
        liked=liked,
        positives=len(liked.titles),
        negatives=training.negatives,
        fitted_at=fitted_at,
        signals_at=signals_at,
        quality_ap=quality,
    )


def time_split_ap(training: TrainingRows) -> float | None:
    """AP on the channel's newest 30% of positives and 👎 (and half the background) of a model fit on the rest.

    None when the channel has fewer than ``QUALITY_MIN_POSITIVES`` positives or too little background.
    """
    if training.positives < QUALITY_MIN_POSITIVES or training.background < 20:
        return None
    older, newer = training.time_split()
    weights, bias = linear_fit(older)
    scores = np.asarray(newer.rows @ weights).ravel() + bias
    return float(average_precision_score(newer.labels(), scores))


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
