"""The shared text space: one TF-IDF vocabulary fit on the stored papers, used by every channel's model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from bot.models import Paper

MAX_FEATURES = 32768
"""Vocabulary size: words and two-word phrases, the most frequent kept. Bounds each channel's model to 128 KB."""
_SMALL_CORPUS = 50


def paper_text(paper: Paper) -> str:
    """What the ranker reads of a paper: its title and abstract."""
    return f"{paper.title}. {paper.abstract}"


@dataclass(frozen=True, slots=True)
class TextSpace:
    """A fitted TF-IDF vocabulary (sublinear tf, words and two-word phrases, English stop words dropped)."""

    vectorizer: TfidfVectorizer
    terms: np.ndarray
    """The term of each feature column."""

    @classmethod
    def fit(cls, papers: Sequence[Paper]) -> TextSpace | None:
        """The space of these papers' texts; None when they hold no usable word."""
        fitted = cls.fit_rows(papers)
        return None if fitted is None else fitted[0]

    @classmethod
    def fit_rows(cls, papers: Sequence[Paper]) -> tuple[TextSpace, sparse.csr_matrix] | None:
        """The space of these papers' texts and the papers as its rows (``transform``, from the one reading of
        the texts the fit makes); None when they hold no usable word."""
        small = len(papers) < _SMALL_CORPUS
        vectorizer = TfidfVectorizer(
            sublinear_tf=True,
            ngram_range=(1, 2),
            min_df=1 if small else 2,
            max_df=1.0 if small else 0.5,
            stop_words="english",
            max_features=MAX_FEATURES,
            dtype=np.float64,  # what the solver takes: no copy of the rows at each channel's fit
        )
        try:
            rows: sparse.csr_matrix = vectorizer.fit_transform([paper_text(p) for p in papers])
        except ValueError:  # an empty vocabulary: no papers, or nothing but stop words
            return None
        return cls(vectorizer=vectorizer, terms=vectorizer.get_feature_names_out()), rows

    def transform(self, papers: Sequence[Paper]) -> sparse.csr_matrix:
        """Each paper as an L2-normalised row."""
        return self.transform_texts([paper_text(p) for p in papers])

    def transform_texts(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """Each text as an L2-normalised row."""
        matrix: sparse.csr_matrix = self.vectorizer.transform(texts)
        return matrix
