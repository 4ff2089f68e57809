"""The shared text space: one TF-IDF vocabulary fit on the stored papers, used by every channel's model.

Words are stemmed (Snowball's English stemmer, Porter2, in PyStemmer's C build) before they are counted, so that
"diffusion", "diffusions" and "diffuse", or "decoding" and "decoder", are one feature: a channel's few liked
abstracts then share more features with the papers it would like (bench/ranking.py: macro AP 0.501 -> 0.510,
nDCG@10 0.538 -> 0.557; with the leak-free history, 0.549 -> 0.563 and 0.595 -> 0.619). Explanations show each
stem as the word the fit's papers spell it with most often. The stop list is scikit-learn's less the words in it
that name things (``CONTENT_WORDS``: 0.510 -> 0.527 and 0.557 -> 0.575, leak-free 0.563 -> 0.580 and 0.619 ->
0.631, nearly all of it "full", as in "full-duplex", in the speech reading log).
"""

from __future__ import annotations

import functools
import re
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import Stemmer
from scipy import sparse
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

from bot.models import Paper

MAX_FEATURES = 32768
"""Vocabulary size: words and two-word phrases, the most frequent kept. Bounds each channel's model to 128 KB."""
_SMALL_CORPUS = 50
_WORD = re.compile(r"(?u)\b\w\w+\b")
"""A word: scikit-learn's default token pattern (two or more word characters)."""
_STEMMER = Stemmer.Stemmer("english")
_STEMMER_LOCK = threading.Lock()  # the stemmer keeps its word in itself: one word at a time across threads
CONTENT_WORDS = frozenset(
    "system fire bill interest detail full top bottom front back side part move call fill find found show describe name"
    " cry mill thick thin empty amount serious sincere".split()
)
"""Words of scikit-learn's English stop list that name things in papers ("full-duplex", "tool call", "system
prompt", "top-k", "bottom-up", "side-channel", "part segmentation"): they are read like any word. With stemming,
dropping them would also be inconsistent: "calls" and "systems" would count as "call" and "system", while "call"
and "system" themselves would be dropped."""
STOP_WORDS = ENGLISH_STOP_WORDS - CONTENT_WORDS
"""The words left out of the space: scikit-learn's English stop list less ``CONTENT_WORDS``."""
STEM_CACHE = 1 << 17
"""Distinct words whose stem is kept (a day's papers and the stored ones hold tens of thousands)."""


def paper_text(paper: Paper) -> str:
    """What the ranker reads of a paper: its title and abstract."""
    return f"{paper.title}. {paper.abstract}"


@functools.lru_cache(maxsize=STEM_CACHE)
def stem(word: str) -> str:
    """The Snowball (Porter2) English stem of a lower-case word."""
    with _STEMMER_LOCK:
        stemmed: str = _STEMMER.stemWord(word)
    return stemmed


class StemmedWords:
    """The vectorizer's tokenizer: a lower-cased text's words less ``STOP_WORDS``, each as its stem. While
    ``surface`` is a Counter, the words as written are counted in it too (the fit's, for the display terms)."""

    def __init__(self) -> None:
        self.surface: Counter[str] | None = None

    def __call__(self, text: str) -> list[str]:
        words = [w for w in _WORD.findall(text) if w not in STOP_WORDS]
        if self.surface is not None:
            self.surface.update(words)
        return [stem(w) for w in words]


def display_terms(terms: np.ndarray, surface: Counter[str]) -> np.ndarray:
    """Each stemmed term (a stem, or two separated by a space) with each stem as its most frequent word in
    ``surface`` (ties: the first in alphabetical order), a stem no word of ``surface`` has kept as it is."""
    best: dict[str, tuple[int, str]] = {}
    for word, count in surface.items():
        key = stem(word)
        held = best.get(key)
        if held is None or (-count, word) < (-held[0], held[1]):
            best[key] = (count, word)
    shown = np.empty(len(terms), dtype=object)
    shown[:] = [" ".join(best[s][1] if s in best else s for s in str(t).split(" ")) for t in terms]
    return shown


@dataclass(frozen=True, slots=True)
class TextSpace:
    """A fitted TF-IDF vocabulary (sublinear tf, stemmed words and two-word phrases, English stop words dropped)."""

    vectorizer: TfidfVectorizer
    terms: np.ndarray
    """The term of each feature column, as written (the most frequent word of each stem)."""

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
        words = StemmedWords()
        vectorizer = TfidfVectorizer(
            sublinear_tf=True,
            ngram_range=(1, 2),
            min_df=1 if small else 2,
            max_df=1.0 if small else 0.5,
            tokenizer=words,
            token_pattern=None,
            max_features=MAX_FEATURES,
            dtype=np.float64,  # what the solver takes: no copy of the rows at each channel's fit
        )
        words.surface = Counter()
        try:
            rows: sparse.csr_matrix = vectorizer.fit_transform([paper_text(p) for p in papers])
        except ValueError:  # an empty vocabulary: no papers, or nothing but stop words
            return None
        finally:
            surface, words.surface = words.surface, None
        return cls(vectorizer=vectorizer, terms=display_terms(vectorizer.get_feature_names_out(), surface)), rows

    def transform(self, papers: Sequence[Paper]) -> sparse.csr_matrix:
        """Each paper as an L2-normalised row."""
        return self.transform_texts([paper_text(p) for p in papers])

    def transform_texts(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """Each text as an L2-normalised row."""
        matrix: sparse.csr_matrix = self.vectorizer.transform(texts)
        return matrix
