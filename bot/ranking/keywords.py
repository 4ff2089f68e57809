"""Keyword scoring: which of a day's papers each channel gets, ranked, and why.

``score_papers`` serves many channels in one pass over the papers:

1. Every distinct keyword of every channel goes into one index. Each paper's title and abstract are
   tokenised once, and all the texts' words looked up in it together, with array operations, giving the
   (paper, keyword) pairs of the day, each worth 2 half-units (3 when the keyword is also in the title).
2. For each category, its papers, and for each followed author, theirs, are bit masks over papers; so is
   each channel's eligibility (its categories' masks ORed, its excludes cleared).
3. One product of the (paper x keyword) half-units with the (keyword x channel) weights sums every paper's
   score for every channel at once; one sort over the (channel, paper) sums that are eligible and reach the
   channel's floor then gives each channel's top ``max_papers``.
4. The picks of all those channels are then explained (their keywords found) at once, with array operations
   over the channels' keyword postings.

So the Python-level work is one tokenisation of the text plus a few operations per channel and per pick; no
step loops over (paper, channel, keyword) triples, and none over (paper, channel) pairs except for a channel
whose weights are not small multiples of one power of two (say 0.3 and 1.0, or a negative one), which is
scored paper by paper.

How keywords match (whole words, plurals) is ``bot.ranking.terms``.
"""

from __future__ import annotations

import gc
import heapq
import math
import operator
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain, count, repeat
from operator import attrgetter
from typing import Any, cast

import numpy as np
from scipy import sparse

from bot.models import AnnounceType, ChannelRecord, ChannelRef, Paper, RuleKind, ScoredPaper
from bot.ranking.bitplanes import NEVER, lowest
from bot.ranking.terms import author_key, cached_author_key, cached_term_key, distinct, index_of, sorted_keys

TITLE_BONUS = 0.5
"""Extra score, as a fraction of a keyword's weight, when the keyword is also in the title."""

_ELIGIBLE_TYPES = frozenset({AnnounceType.NEW, AnnounceType.CROSS})
_MAX_MULTIPLE = 16
_NO_IDS: frozenset[int] = frozenset()
_NO_AUTHORS: frozenset[str] = frozenset()

# Scores are summed as integers, in "half-units": a channel's weights are written w = unit * m with small
# integers m, and a paper scores unit * units / 2 where units = sum(2*m of keywords found) + sum(m of
# keywords also in the title). That is exact in floating point and lets bit-sliced integer addition do the
# sums. It relies on the title bonus being one half.
assert TITLE_BONUS == 0.5


@dataclass(frozen=True, slots=True, kw_only=True)
class KeywordRule:
    """One keyword a channel follows, with its weight."""

    term: str
    """As the user wrote it, e.g. "speculative decoding", "LLM", "RL"."""
    weight: float = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelProfile:
    """What one channel wants from the daily listing."""

    channel: ChannelRef
    categories: frozenset[str]
    include: tuple[KeywordRule, ...] = ()
    exclude: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    """Followed authors, as written ("Yann LeCun")."""
    include_cross: bool = False
    max_papers: int = 10
    min_score: float = 1.0
    author_bonus: float = 2.0


def profile_of(record: ChannelRecord, *, author_bonus: float, categories: Iterable[str] = ()) -> ChannelProfile:
    """The scorer's view of a channel; ``categories`` (the channel's own when empty) are what it may see."""
    return ChannelProfile(
        channel=record.ref,
        categories=frozenset(categories) or frozenset(record.categories),
        include=tuple(KeywordRule(term=r.term, weight=r.weight) for r in record.terms(RuleKind.INCLUDE)),
        exclude=tuple(r.term for r in record.terms(RuleKind.EXCLUDE)),
        authors=tuple(r.term for r in record.terms(RuleKind.AUTHOR)),
        include_cross=record.include_cross,
        max_papers=record.max_papers,
        min_score=record.min_score,
        author_bonus=author_bonus,
    )


def score_papers(papers: Sequence[Paper], profiles: Sequence[ChannelProfile]) -> dict[ChannelRef, list[ScoredPaper]]:
    """Select and rank each channel's papers: scan each paper once against every channel's keywords together.

    Every profile's channel is a key of the result (with an empty list when nothing qualifies). A paper
    listed twice (same arXiv id) is considered once. Raises ``ValueError`` if two profiles share a channel.
    """
    with _collector_paused():
        return _score_papers(papers, profiles)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector held off for the block, then restored as it was. A call makes some hundred
    thousand short-lived objects with no cycles among them; left on, the collector walks them in passes, and now
    and then walks the whole heap (a 60 ms pause in a 10 ms step, in a process holding a day's papers)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _score_papers(papers: Sequence[Paper], profiles: Sequence[ChannelProfile]) -> dict[ChannelRef, list[ScoredPaper]]:
    result: dict[ChannelRef, list[ScoredPaper]] = {profile.channel: [] for profile in profiles}
    if len(result) != len(profiles):
        raise ValueError("score_papers got two profiles for the same channel")
    compiled = _compiled_for(profiles)
    channels = compiled.channels

    unique: dict[str, Paper] = {}
    for paper in papers:
        if paper.announce_type in _ELIGIBLE_TYPES and paper.arxiv_id not in unique:
            unique[paper.arxiv_id] = paper
    # A paper's bit in every mask is its position in versioned-id order, so that among equal scores the
    # lowest bits are the ones that win.
    ordered = sorted(unique.values(), key=lambda p: p.versioned_id)
    corpus = _Corpus(ordered, compiled)

    # Channels whose weights are multiples of one unit: picked all together by one sparse product
    # (``_summed_picks``), then scored and explained at once (``_explained``); the others paper by paper.
    summed: list[int] = []
    for n, channel in enumerate(channels):
        if channel.unit is not None and not channel.plain:
            summed.append(n)
            continue
        picks = result[channel.profile.channel]
        term_at, position = channel.terms.__getitem__, channel.position.__getitem__
        for score, neg_rank, common in _select(channel, corpus):
            rank = -neg_rank
            why = tuple(map(term_at, sorted(map(position, common))))
            if channel.follows:
                why += _authors_matched(channel, corpus.authors[rank])
            picks.append(ScoredPaper(paper=ordered[rank], score=score, matched=why))
    ranks, owners, units, by_author = _summed_picks(compiled, corpus, summed)
    # The eligible papers of followed authors, with their scores (bonus included), where they reach the floor.
    author_rank, author_owner, author_units = by_author
    author_score = author_units * compiled.half_unit[author_owner] + compiled.bonus[author_owner]
    good = (author_score > 0.0) & (author_score >= compiled.min_score[author_owner])
    author_owner, author_ranks, author_scores = (
        author_owner[good],
        author_rank[good].tolist(),
        author_score[good].tolist(),
    )
    rank_list = ranks.tolist()
    scores = (units * compiled.half_unit[owners]).tolist()
    made = _scored_all(list(map(ordered.__getitem__, rank_list)), scores, _explained(compiled, corpus, ranks, owners))
    wanted = np.asarray(summed, dtype=np.int64)
    starts = np.searchsorted(owners, wanted).tolist()
    ends = np.searchsorted(owners, wanted, side="right").tolist()
    author_starts = np.searchsorted(author_owner, wanted).tolist()
    author_ends = np.searchsorted(author_owner, wanted, side="right").tolist()
    for n, begin, end, first, last in zip(summed, starts, ends, author_starts, author_ends, strict=True):
        channel = channels[n]
        if first < last:
            result[channel.profile.channel] = _with_authors(
                channel,
                corpus,
                ordered,
                (made[begin:end], scores[begin:end], rank_list[begin:end]),
                (author_ranks[first:last], author_scores[first:last]),
            )
        elif begin < end:
            result[channel.profile.channel] = made[begin:end]
    return result


_new_object = object.__new__
_set_paper, _set_score, _set_matched = (
    cast(Any, ScoredPaper).paper.__set__,
    cast(Any, ScoredPaper).score.__set__,
    cast(Any, ScoredPaper).matched.__set__,
)


def _scored_all(papers: list[Paper], scores: list[float], matched: list[tuple[str, ...]]) -> list[ScoredPaper]:
    """``_scored`` for whole lists, each field set by a C-level ``map`` over all of them (no Python frame per pick)."""
    made: list[ScoredPaper] = list(map(_new_object, repeat(ScoredPaper, len(papers))))
    deque(map(_set_paper, made, papers), maxlen=0)
    deque(map(_set_score, made, scores), maxlen=0)
    deque(map(_set_matched, made, matched), maxlen=0)
    return made


def _scored(paper: Paper, score: float, matched: tuple[str, ...]) -> ScoredPaper:
    """``ScoredPaper(paper=paper, score=score, matched=matched)`` in half the time, for the thousands of picks of a
    day: a frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``; this sets its slots."""
    made: ScoredPaper = _new_object(ScoredPaper)
    _set_paper(made, paper)
    _set_score(made, score)
    _set_matched(made, matched)
    return made


def _authors_matched(channel: _Channel, names: AbstractSet[str]) -> tuple[str, ...]:
    """The channel's followed authors among a paper's (by matching form), as reasons."""
    return tuple(f"author: {name}" for key, name in channel.follows if key in names)


def _with_authors(
    channel: _Channel,
    corpus: _Corpus,
    ordered: Sequence[Paper],
    picked: tuple[list[ScoredPaper], list[float], list[int]],
    authored: tuple[list[int], list[float]],
) -> list[ScoredPaper]:
    """A summed channel's picks (``picked``: best first, with their scores and positions) merged with the eligible
    papers of the authors it follows that reach its floor (``authored``: their positions and scores)."""
    made, scores, ranks = picked
    picks: list[tuple[float, int, ScoredPaper | None]] = list(zip(scores, map(operator.neg, ranks), made, strict=True))
    picks += zip(authored[1], map(operator.neg, authored[0]), repeat(None))
    picks.sort(key=_ORDER, reverse=True)
    term_at, position = channel.terms.__getitem__, channel.position.__getitem__
    kept: list[ScoredPaper] = []
    for score, neg_rank, pick in picks[: channel.cap]:
        if pick is None:  # a paper by a followed author: explained here
            rank = -neg_rank
            common = channel.keys & corpus.found[rank]
            why = tuple(map(term_at, sorted(map(position, common)))) + _authors_matched(channel, corpus.authors[rank])
            pick = _scored(ordered[rank], score, why)
        kept.append(pick)
    return kept


_ORDER = operator.itemgetter(0, 1)


class _Channel:
    """One profile compiled for selection: keyword ids, integer multiples, thresholds."""

    __slots__ = (
        "bonus", "cap", "categories", "cross", "excludes", "follows", "keys", "min_score", "multiples", "need",
        "plain", "position", "profile", "terms", "unit", "weights",
    )  # fmt: skip

    def __init__(self, profile: ChannelProfile, term_id: dict[str, int], new_term: Callable[[str], int]) -> None:
        self.profile = profile
        self.cap = profile.max_papers
        self.categories = profile.categories
        self.cross = profile.include_cross
        self.min_score = profile.min_score
        self.bonus = profile.author_bonus
        self.plain = not profile.include and not profile.authors
        terms = list(map(_TERM, profile.include))
        weights = dict(zip(map(term_id.get, terms), map(_WEIGHT, profile.include), strict=False))
        if len(weights) == len(terms) and None not in weights and -1 not in weights:
            self.weights = cast(dict[int, float], weights)  # keyword id -> weight, in the channel's order
        else:
            # The uncommon path: new keywords, repeated ones (the first counts) or ones with no letters.
            terms, self.weights = [], {}
            for rule in profile.include:
                tid = term_id.get(rule.term)
                if tid is None:
                    tid = new_term(rule.term)
                if tid >= 0 and tid not in self.weights:
                    self.weights[tid] = rule.weight
                    terms.append(rule.term)
        self.terms = terms  # as written, in the channel's order
        self.keys = frozenset(self.weights)
        self.position = dict(zip(self.weights, range(len(terms)), strict=False))
        excludes = []
        for term in profile.exclude:
            tid = term_id.get(term)
            if tid is None:
                tid = new_term(term)
            if tid >= 0:
                excludes.append(tid)
        self.excludes = excludes
        follows: dict[str, str] = {}
        for name in profile.authors:
            key = author_key(name)
            if key:
                follows.setdefault(key, name)
        self.follows = tuple(follows.items())
        self.unit, self.multiples = _unit_and_multiples(self.weights)
        self.need = NEVER if self.unit is None else _units_needed(self.unit, self.min_score)


_TERM = attrgetter("term")
_WEIGHT = attrgetter("weight")


class _Compiled:
    """Every profile compiled: the channels, the distinct keywords, and the summed channels' keyword postings.

    The postings run channel by channel, each channel's in the order of its list, so that a posting's position
    is also the index of its keyword in ``terms`` (every summed channel's keywords as written, one list after
    another). ``weights`` is the (keyword id x channel position) matrix of each posting's multiple of its
    channel's unit; ``postings`` the (channel position x keyword id) matrix of each posting's position plus one.
    ``masked`` marks the keywords whose papers are also needed as bit masks (excludes, and the keywords of
    channels scored paper by paper).
    """

    __slots__ = (
        "bonus", "cap", "channels", "cross_seen", "dense_weights", "followed", "half_unit", "keys", "masked",
        "min_score", "most", "need", "postings", "seen", "term_array", "terms", "weights",
    )  # fmt: skip

    def __init__(self, channels: list[_Channel], keys: list[str]) -> None:
        self.channels = channels
        self.keys = keys
        owner: list[int] = []
        keyword: list[int] = []
        multiple: list[int] = []
        self.terms: list[str] = []
        self.half_unit = np.zeros(len(channels), dtype=np.float64)
        for n, channel in enumerate(channels):
            if channel.unit is None:
                continue
            self.half_unit[n] = channel.unit * 0.5
            multiples = channel.multiples
            owner += [n] * len(channel.position)
            keyword += channel.position  # in the channel's order
            multiple += [1] * len(channel.position) if multiples is None else [multiples[t] for t in channel.position]
            self.terms += channel.terms
        self.term_array = np.empty(len(self.terms), dtype=object)
        self.term_array[:] = self.terms
        shape = (len(channels), len(keys))
        rows, cols = np.array(owner, dtype=np.int64), np.array(keyword, dtype=np.int64)
        self.weights = sparse.csr_matrix((np.array(multiple, dtype=np.int32), (cols, rows)), shape=shape[::-1])
        self.postings = sparse.csr_matrix((np.arange(1, len(owner) + 1, dtype=np.int32), (rows, cols)), shape=shape)
        self.need = np.array([channel.need for channel in channels], dtype=np.int64)
        self.bonus = np.array([channel.bonus for channel in channels], dtype=np.float64)
        self.min_score = np.array([channel.min_score for channel in channels], dtype=np.float64)
        # The largest sum of half-units any channel can reach: 3 per multiple of each of its keywords.
        self.most = 3 * int(np.bincount(rows, weights=multiple, minlength=1).max())
        self.cap = np.array([max(0, channel.cap) for channel in channels], dtype=np.int64)
        # ``weights`` as a dense float32 array, kept when small, for _candidates' dense blocks.
        self.dense_weights = None
        if len(keys) * len(channels) <= _DENSE_CELLS:
            self.dense_weights = self.weights.toarray().astype(np.float32)
        self.masked = np.zeros(len(keys), dtype=bool)
        # What some channel may get: papers of these categories (as primary; cross-listed in cross_seen) and the
        # papers of these authors (by matching form).
        self.seen: set[str] = set()
        self.cross_seen: set[str] = set()
        self.followed: set[str] = set()
        for channel in channels:
            self.masked[channel.excludes] = True
            if channel.unit is None:
                self.masked[list(channel.weights)] = True
            if channel.cap > 0:
                self.seen.update(channel.categories)
                if channel.cross:
                    self.cross_seen.update(channel.categories)
                self.followed.update(key for key, _ in channel.follows)


def _compiled_for(profiles: Sequence[ChannelProfile]) -> _Compiled:
    """The profiles compiled, or as compiled for one of the last two calls with the very same profile objects
    (a day's runs share them; checking identity costs far less than hashing them)."""
    for kept, compiled in _RECENT:
        if len(kept) == len(profiles) and all(map(operator.is_, kept, profiles)):
            return compiled
    compiled = _compile(profiles)
    if all(map(_immutable, profiles)):  # one holding a list could change before the next call
        _RECENT.insert(0, (tuple(profiles), compiled))
        del _RECENT[2:]
    return compiled


def _immutable(profile: ChannelProfile) -> bool:
    return (
        type(profile.include) is tuple
        and type(profile.exclude) is tuple
        and type(profile.authors) is tuple
        and type(profile.categories) is frozenset
    )


_RECENT: list[tuple[tuple[ChannelProfile, ...], _Compiled]] = []


def _compile(profiles: Sequence[ChannelProfile]) -> _Compiled:
    """Compile every profile, giving each distinct keyword (by matching form) one id."""
    term_id: dict[str, int] = {}  # as written -> id, or -1 for a keyword with no letters or digits
    key_id: dict[str, int] = {}

    def new_term(term: str) -> int:
        key = cached_term_key(term)
        tid = term_id[term] = key_id.setdefault(key, len(key_id)) if key else -1
        return tid

    channels = [_Channel(profile, term_id, new_term) for profile in profiles]
    return _Compiled(channels, list(key_id))


class _Corpus:
    """The papers, scanned once, inverted into bit masks over paper positions."""

    __slots__ = (
        "anywhere", "authors", "by_author", "found", "held", "held_id", "held_start", "holding", "in_categories",
        "listed", "pairs", "primary", "titled",
    )  # fmt: skip

    def __init__(self, ordered: Sequence[Paper], compiled: _Compiled) -> None:
        keys, seen, cross_seen, followed = compiled.keys, compiled.seen, compiled.cross_seen, compiled.followed
        self.authors: list[AbstractSet[str]] = [_NO_AUTHORS] * len(ordered)
        visible: list[int] = []  # the ranks of the papers some channel can see: the only ones tokenised
        texts: list[str] = []
        primaries: list[str] = []  # each visible paper's primary category
        listings: list[tuple[str, ...]] = []  # each visible paper's categories
        names: list[str] = []  # the followed authors of the papers that have some, paper after paper
        authored: list[int] = []  # their papers' ranks, one per name
        for rank, paper in enumerate(ordered):
            if paper.primary_category not in seen and cross_seen.isdisjoint(paper.categories):
                continue  # no channel can see this paper: do not even tokenise it
            visible.append(rank)
            texts += (paper.title, paper.abstract)
            primaries.append(paper.primary_category)
            listings.append(paper.categories)
            if followed:
                mine = followed.intersection(map(cached_author_key, paper.authors))
                if mine:
                    self.authors[rank] = mine
                    names += mine
                    authored += [rank] * len(mine)
        ranks = np.array(visible, dtype=np.int64)
        counts = np.fromiter(map(len, listings), dtype=np.int64, count=len(listings))
        self.primary = _grouped(ranks, primaries, len(ordered))  # category -> papers whose primary category it is
        # category -> papers listed in it, primary or cross-listed
        self.listed = _grouped(np.repeat(ranks, counts), list(chain.from_iterable(listings)), len(ordered))
        self.in_categories: dict[tuple[frozenset[str], bool], int] = {}  # (categories, cross) -> their papers
        self.by_author = _grouped(np.array(authored, dtype=np.int64), names, len(ordered))  # followed author -> papers
        text_at, ids = index_of(keys).occurrences(texts)
        # (rank, keyword id) pairs packed as rank * len(keys) + id, unique and sorted: those anywhere, and those
        # in the title (titles are the texts at even positions).
        packed = np.array(visible, dtype=np.int64)[text_at >> 1] * len(keys) + ids
        held = self.held = distinct(packed)
        titled = distinct(packed[(text_at & 1) == 0])
        self.found = _HeldBy(held, len(keys), len(ordered))
        self.titled = _HeldBy(titled, len(keys), len(ordered))
        # For each pair in held: 2 half-units per multiple, 3 when the keyword is in the title too.
        half = np.full(len(held), 2.0)
        half[np.searchsorted(held, titled)] = 3.0
        self.held_start, self.held_id = self.found.start, self.found.ids
        # The same pairs as a (paper x keyword id) matrix of half-units, for _summed_picks.
        shape = (len(ordered), len(keys))
        self.pairs = sparse.csr_matrix((half.astype(np.int32), self.held_id, self.held_start), shape=shape)
        ones = np.ones(len(held), dtype=np.int32)
        self.holding = sparse.csr_matrix((ones, self.held_id, self.held_start), shape=shape)  # the same, as 1s
        # Keyword id -> papers holding it anywhere, for the keywords that are needed as masks.
        self.anywhere = _masks(held[compiled.masked[self.held_id]], len(keys), len(ordered))


class _HeldBy:
    """The keyword ids each paper holds (by position), from sorted ``rank * size + id`` pairs: as arrays
    (``ids[start[rank]:start[rank + 1]]``), and as sets made when first asked for."""

    __slots__ = ("_bounds", "_ids", "_sets", "ids", "start")

    def __init__(self, packed: np.ndarray, size: int, papers: int) -> None:
        ranks, self.ids = np.divmod(packed, size)
        self.start = np.searchsorted(ranks, np.arange(papers + 1))
        self._sets: dict[int, AbstractSet[int]] = {}
        self._ids: list[int] | None = None
        self._bounds: list[int] = []

    def __getitem__(self, rank: int) -> AbstractSet[int]:
        found = self._sets.get(rank)
        if found is None:
            if self._ids is None:
                self._ids, self._bounds = self.ids.tolist(), self.start.tolist()
            found = self._sets[rank] = set(self._ids[self._bounds[rank] : self._bounds[rank + 1]])
        return found


def _grouped(ranks: np.ndarray, labels: list[str], papers: int) -> dict[str, int]:
    """Label -> bit mask of the ranks carrying it, from one label per rank in ``ranks`` (a rank may repeat)."""
    if not labels:
        return {}
    index: dict[str, int] = {}  # label -> the position of its first occurrence
    ids = np.fromiter(map(index.setdefault, labels, count()), dtype=np.int64, count=len(labels))
    masks = _masks(ranks * len(labels) + ids, len(labels), papers)
    return {label: masks[n] for label, n in index.items()}


def _masks(packed: np.ndarray, size: int, papers: int) -> dict[int, int]:
    """Keyword id -> bit mask of the ranks holding it, from the ``rank * size + id`` pairs in ``packed``."""
    if not len(packed):
        return {}
    ranks, ids = np.divmod(packed, size)
    tids = distinct(ids)
    row_of = np.zeros(size, dtype=np.int64)
    row_of[tids] = np.arange(len(tids))
    row = row_of[ids]
    width = (papers + 7) // 8
    rows = np.zeros(len(tids) * width, dtype=np.uint8)
    np.bitwise_or.at(rows, row * width + (ranks >> 3), np.left_shift(1, ranks & 7).astype(np.uint8))
    data = rows.tobytes()
    return {
        tid: int.from_bytes(data[start : start + width], "little")
        for tid, start in zip(tids.tolist(), range(0, len(data), width), strict=True)
    }


def _eligible(channel: _Channel, corpus: _Corpus) -> int:
    """The papers the channel may get: listed in its categories (as primary, or cross-listed when it takes
    those), without its excluded keywords."""
    wanted = (channel.categories, channel.cross)
    eligible = corpus.in_categories.get(wanted)
    if eligible is None:  # channels often share their categories: each set's papers are gathered once
        eligible = 0
        for category in channel.categories:
            eligible |= corpus.primary.get(category, 0)
            if channel.cross:
                eligible |= corpus.listed.get(category, 0)
        corpus.in_categories[wanted] = eligible
    anywhere = corpus.anywhere.get
    for tid in channel.excludes:
        eligible &= ~anywhere(tid, 0)
    return eligible


_DENSE_CELLS = 1 << 20
"""Most (paper, channel) or (keyword, channel) cells a dense block of ``_candidates`` may hold at once."""


_Triples = tuple[np.ndarray, np.ndarray, np.ndarray]  # (paper position, channel position, half-units)


def _summed_picks(compiled: _Compiled, corpus: _Corpus, summed: Sequence[int]) -> tuple[
    np.ndarray, np.ndarray, np.ndarray, _Triples
]:  # fmt: skip
    """The summed channels' picks by their keywords (papers of followed authors left out) as (position, channel,
    half-units) arrays: channel by channel, each channel's best ``cap`` first (ties: lowest position). Then the
    papers of followed authors each channel may get, with their half-units, as (position, channel, half-units).

    The product of the (paper x keyword) half-units with the (keyword x channel) multiples gives every channel's
    sums at once (``_candidates``). Of those, each channel keeps the papers it may see and whose sum reaches its
    floor; one sort by (channel, sum descending, position) then puts each channel's best first.
    """
    papers = len(corpus.found.start) - 1
    if not summed or not papers:
        return _NONE, _NONE, _NONE, (_NONE, _NONE, _NONE)
    # Which papers each summed channel may get by its sums, as a (channel x paper) array of flags; and which
    # papers of the authors it follows, as (position, channel) pairs.
    width = (papers + 7) // 8
    allowed = bytearray(len(compiled.channels) * width)
    author_rank: list[int] = []
    author_owner: list[int] = []
    for n in summed:
        mask, by_author = _summed_eligible(compiled.channels[n], corpus)
        if mask:
            allowed[n * width : (n + 1) * width] = mask.to_bytes(width, "little")
        if by_author:
            got = lowest(by_author, NEVER)
            author_rank += got
            author_owner += [n] * len(got)
    authors = (np.array(author_rank, dtype=np.int64), np.array(author_owner, dtype=np.int64))
    if not len(corpus.held):
        return _NONE, _NONE, _NONE, (*authors, np.zeros(len(author_rank), dtype=np.int64))
    flags = np.unpackbits(np.frombuffer(allowed, dtype=np.uint8), bitorder="little").view(bool)
    (rank, channel, units), author_units = _candidates(
        compiled, corpus, flags.reshape(len(compiled.channels), width * 8), authors
    )
    if not len(rank):
        return _NONE, _NONE, _NONE, (*authors, author_units)
    most = int(units.max()) + 1
    block = most * papers
    order = sorted_keys(channel * block + (most - units) * papers + rank)
    owner = order // block
    start = np.searchsorted(owner, np.arange(len(compiled.channels) + 1, dtype=np.int64))
    kept = np.flatnonzero(np.arange(len(order)) - start[owner] < compiled.cap[owner])
    below, rank = np.divmod(order[kept] % block, papers)
    return rank, owner[kept], most - below, (*authors, author_units)


_NONE = np.zeros(0, dtype=np.int64)


def _candidates(
    compiled: _Compiled, corpus: _Corpus, allowed: np.ndarray, also: tuple[np.ndarray, np.ndarray]
) -> tuple[_Triples, np.ndarray]:
    """(position, channel, half-units) of every paper a channel may get (``allowed[channel, position]``) whose sum
    of half-units reaches the channel's floor; and the sums of the (position, channel) pairs in ``also``.

    When many papers hold keywords that many channels follow, the sums are computed as dense blocks of channels
    (a sparse times dense product, then flags over whole arrays); otherwise as one sparse product, whose entries
    are the (paper, channel) pairs with a keyword in common.
    """
    papers, keys = corpus.pairs.shape
    channels = len(compiled.channels)
    also_rank, also_channel = also
    followers = np.diff(compiled.weights.indptr)
    products = int(followers[corpus.held_id].sum())  # (paper, keyword, channel) triples the sums add up
    if products * 4 <= papers * channels or compiled.most >= 1 << 24:  # float32 sums are exact below 2**24
        sums = corpus.pairs @ compiled.weights  # paper x channel, sparse
        also_units = np.asarray(sums[also_rank, also_channel]).ravel().astype(np.int64) if len(also_rank) else _NONE
        rank = np.repeat(np.arange(papers, dtype=np.int64), np.diff(sums.indptr))
        channel, units = sums.indices, sums.data
        keep = allowed[channel, rank]
        keep &= units >= compiled.need[channel]
        keep = np.flatnonzero(keep)
        return (rank[keep], channel[keep].astype(np.int64), units[keep].astype(np.int64)), also_units
    pairs = corpus.pairs.astype(np.float32)  # sums of small integers: exact in float32
    need = compiled.need.astype(np.float32)
    step = max(1, _DENSE_CELLS // max(papers, keys))
    found: list[_Triples] = []
    also_units = np.zeros(len(also_rank), dtype=np.int64)
    for first in range(0, channels, step):
        last = min(channels, first + step)
        if compiled.dense_weights is None:
            block = compiled.weights[:, first:last].toarray().astype(np.float32)
        else:
            block = compiled.dense_weights[:, first:last]
        sums = pairs @ block  # paper x channel, dense
        keep = np.greater_equal(sums, need[first:last])
        np.logical_and(keep, allowed[first:last, :papers].T, out=keep)
        at = np.flatnonzero(keep)
        rank, channel = np.divmod(at, last - first)
        found.append((rank, channel + first, sums.ravel()[at].astype(np.int64)))
        here = np.flatnonzero((also_channel >= first) & (also_channel < last))
        also_units[here] = sums[also_rank[here], also_channel[here] - first]
    triples = tuple(np.concatenate(parts) for parts in zip(*found, strict=True))
    return triples, also_units  # type: ignore[return-value]


def _summed_eligible(channel: _Channel, corpus: _Corpus) -> tuple[int, int]:
    """The papers a summed channel may get by its keyword sum, and those it may get as papers of the authors it
    follows (scored one by one, with the bonus)."""
    if channel.cap <= 0:
        return 0, 0
    eligible = _eligible(channel, corpus)
    by_author = 0
    for key, _ in channel.follows:
        by_author |= corpus.by_author.get(key, 0)
    by_author &= eligible
    return eligible & ~by_author, by_author


def _explained(compiled: _Compiled, corpus: _Corpus, ranks: np.ndarray, owners: np.ndarray) -> list[tuple[str, ...]]:
    """For each pick (a paper's position and its summed channel), the channel's keywords the paper holds, in the
    channel's order, all found together: the paper's keywords times its channel's postings, row by row."""
    if not len(ranks):
        return []
    both = corpus.holding[ranks].multiply(compiled.postings[owners]).tocsr()  # pick x keyword: posting + 1
    # Sorted by (pick, posting): a pick's keywords in its channel's order, a posting's position being also the
    # index of its keyword in compiled.terms.
    postings = max(1, len(compiled.terms))
    pick = np.repeat(np.arange(len(ranks), dtype=np.int64), np.diff(both.indptr))
    hits = sorted_keys(pick * postings + both.data - 1)
    terms = tuple(compiled.term_array[hits % postings].tolist())
    ends = np.cumsum(np.bincount(hits // postings, minlength=len(ranks))).tolist()
    return [terms[begin:end] for begin, end in zip([0, *ends], ends, strict=False)]


def _select(channel: _Channel, corpus: _Corpus) -> list[tuple[float, int, AbstractSet[int]]]:
    """A channel's picks as (score, -position, ids of its keywords found), best first."""
    if channel.cap <= 0:
        return []
    eligible = _eligible(channel, corpus)
    if not eligible:
        return []
    anywhere = corpus.anywhere.get
    if channel.plain:
        return [(0.0, -rank, _NO_IDS) for rank in lowest(eligible, channel.cap)]

    by_author = 0
    for key, _ in channel.follows:
        by_author |= corpus.by_author.get(key, 0)
    by_author &= eligible
    rest = eligible & ~by_author  # papers by followed authors are scored one by one below
    found, titled, keys = corpus.found, corpus.titled, channel.keys
    picks: list[tuple[float, int, AbstractSet[int]]] = []
    candidates = 0  # unit is None: arbitrary weights
    for tid in channel.weights:
        candidates |= anywhere(tid, 0)
    for rank in lowest(candidates & rest, NEVER):
        common = keys & found[rank]
        score = _score(channel, common, titled[rank])
        if score > 0.0 and score >= channel.min_score:
            picks.append((score, -rank, common))

    for rank in lowest(by_author, NEVER):
        common = keys & found[rank]
        score = _score(channel, common, titled[rank]) + channel.bonus
        if score > 0.0 and score >= channel.min_score:
            picks.append((score, -rank, common))
    return heapq.nlargest(channel.cap, picks)


def _score(channel: _Channel, common: AbstractSet[int], titled: AbstractSet[int]) -> float:
    """A paper's keyword score for a channel, from the ids of the channel's keywords it holds."""
    if not common:
        return 0.0
    in_title = common & titled
    unit = channel.unit
    if unit is None:  # arbitrary weights: fsum is exact, so the result does not depend on set order
        weights = channel.weights
        return math.fsum([weights[t] for t in common] + [TITLE_BONUS * weights[t] for t in in_title])
    multiples = channel.multiples
    if multiples is None:
        return (2 * len(common) + len(in_title)) * (unit * 0.5)
    multiple = multiples.__getitem__
    return (2 * sum(map(multiple, common)) + sum(map(multiple, in_title))) * (unit * 0.5)


def _units_needed(unit: float, floor: float) -> int:
    """Fewest half-units (at least 1) whose score ``unit * units / 2`` reaches ``floor``."""
    if not floor < unit * 2.0**40:
        return NEVER
    n = max(1, math.floor(floor / (unit * 0.5)) - 1)
    while unit * (n * 0.5) < floor:
        n += 1
    return n


def _unit_and_multiples(weights: dict[int, float]) -> tuple[float | None, dict[int, int] | None]:
    """Express positive weights as small integer multiples of one unit (multiples ``None``: all are 1).

    The unit is ``None`` when that is impossible (a weight that is not positive, or not a small multiple
    of a power of two times the others): such a channel is scored paper by paper with exact sums.
    """
    values = set(weights.values())
    if len(values) <= 1:
        unit = values.pop() if values else 1.0
        return (unit, None) if 0.0 < unit < math.inf else (None, None)
    if not all(0.0 < w < math.inf for w in values):
        return None, None
    for exponent in range(4, -7, -1):
        unit = 2.0**exponent
        multiples = {t: w / unit for t, w in weights.items()}
        if all(m.is_integer() and m <= _MAX_MULTIPLE for m in multiples.values()):
            return unit, {t: int(m) for t, m in multiples.items()}
    return None, None
