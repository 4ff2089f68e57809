"""Keyword scoring: which of a day's papers each channel gets, ranked, and why.

Matching is on whole words, case-insensitively: a text and a keyword are both cut into lowercase runs of
letters and digits, so ``RL`` matches "RL" and "RL-based" but not "world" or "RLHF", and a phrase matches
across any whitespace or punctuation ("speculative\\ndecoding", "speculative-decoding"). The last word of
a keyword may carry an English plural ("LLMs", "KV caches", "patches", "policies").

``score_papers`` serves many channels at once: every distinct keyword of every channel goes into one
index, each paper's title and abstract are tokenised once, and the keywords found are fanned out, through
per-category postings, only to the channels that can see the paper and hold one of them.
"""

from __future__ import annotations

import heapq
import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from itertools import chain

from bot.errors import UserInputError
from bot.models import AnnounceType, ChannelRef, Paper, ScoredPaper

MAX_TERM_LENGTH = 60
"""Longest keyword a user may set, in characters after whitespace is collapsed."""
TITLE_BONUS = 0.5
"""Extra score, as a fraction of a keyword's weight, when the keyword is also in the title."""

_WORD = re.compile(r"[^\W_]+")  # letters and digits of any script; "kv_cache" splits like "kv-cache"
_ASCII_WORD = re.compile(r"[a-z0-9]+")  # the same tokens on lowercase ASCII text, about twice as fast
_ELIGIBLE_TYPES = frozenset({AnnounceType.NEW, AnnounceType.CROSS})
_ES_ENDINGS = ("s", "x", "z", "ch", "sh", "o")
_VOWELS = frozenset("aeiou")
_MAX_MULTIPLE = 16
_NEVER = 1 << 62

# A channel's weights w are scored in integer "half-units": w = unit * m, and a paper's score is
# unit * (units / 2) with units = sum(2*m for keywords found) + sum(m for keywords in the title). This is
# exact in floating point and lets a C-level Counter do the per-channel sums. It relies on TITLE_BONUS
# being one half.
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


def validate_term(term: str) -> str:
    """Return a keyword stripped, whitespace collapsed; raise ``UserInputError`` if it is unusable."""
    cleaned = " ".join(term.split())
    if not cleaned:
        raise UserInputError("A keyword cannot be empty.")
    if not any(ch.isalnum() for ch in cleaned):
        raise UserInputError(f'Keyword "{cleaned}" needs at least one letter or digit.')
    if len(cleaned) > MAX_TERM_LENGTH:
        raise UserInputError(
            f"Keyword is too long ({len(cleaned)} characters); the limit is {MAX_TERM_LENGTH}."
        )
    return cleaned


def find_terms(text: str, terms: Collection[str]) -> set[str]:
    """Return which of ``terms`` (as given) occur in ``text``, by the same rules as ``score_papers``."""
    keys = {term: _term_key(term) for term in terms}
    ids: dict[str, int] = {}
    for key in keys.values():
        if key:
            ids.setdefault(key, len(ids))
    found = _TermIndex(list(ids)).scan(text)
    return {term for term, key in keys.items() if key and ids[key] in found}


def score_papers(
    papers: Sequence[Paper], profiles: Sequence[ChannelProfile]
) -> dict[ChannelRef, list[ScoredPaper]]:
    """Select and rank each channel's papers: scan each paper once against every channel's keywords together.

    Every profile's channel is a key of the result (with an empty list when nothing qualifies). A paper
    listed twice (same arXiv id) is considered once. Raises ``ValueError`` if two profiles share a channel.
    """
    result: dict[ChannelRef, list[ScoredPaper]] = {profile.channel: [] for profile in profiles}
    if len(result) != len(profiles):
        raise ValueError("score_papers got two profiles for the same channel")
    plan = _Plan(profiles)

    unique: dict[str, Paper] = {}
    for paper in papers:
        if paper.announce_type in _ELIGIBLE_TYPES and paper.arxiv_id not in unique:
            unique[paper.arxiv_id] = paper
    # Visiting papers in ascending versioned id means a later paper never wins a tie, so a full heap only
    # admits a strictly higher score: at least ``need[ch]`` half-units, the ``beat`` of the heap's minimum.
    ordered = sorted(unique.values(), key=lambda p: p.versioned_id)

    scan = plan.index.scan
    post, xpost, exc, follow = plan.post, plan.xpost, plan.exc, plan.follow
    plain_post, plain_xpost = plan.plain_post, plan.plain_xpost
    seen, xseen = plan.seen, plan.xseen
    units_of, weights, need, min_score = plan.unit, plan.weights, plan.need, plan.min_score
    heaps, caps = plan.heaps, plan.caps
    heappush, heapreplace = heapq.heappush, heapq.heapreplace
    from_lists = chain.from_iterable
    found_in: list[AbstractSet[int]] = [_NO_IDS] * len(ordered)
    authors_in: list[AbstractSet[str]] = [_NO_AUTHORS] * len(ordered)

    for rank, paper in enumerate(ordered):
        primary = paper.primary_category
        crosses = [c for c in paper.categories if c != primary and c in xseen]
        if primary not in seen and not crosses:
            continue  # no channel can see this paper: skip tokenising it
        in_title = scan(paper.title)
        found = in_title | scan(paper.abstract)
        found_in[rank] = found
        neg_rank = -rank

        # Half-unit sums per channel over the postings of the paper's categories (C-level counting). A
        # channel reached through two categories gets the same sums from each: overwriting is right.
        counts: dict[int, int] = {}
        titled: dict[int, int] = {}
        for postings in (post.get(primary), *[xpost.get(c) for c in crosses]) if crosses else (post.get(primary),):
            if postings:
                hits = [postings[t] for t in found if t in postings]
                if hits:
                    dict.update(counts, Counter(from_lists(hits)))
                    if in_title:
                        hits = [postings[t] for t in in_title if t in postings]
                        dict.update(titled, Counter(from_lists(hits)))

        excluded: set[int] = set()
        if exc:
            excluded.update(from_lists([exc[t] for t in found if t in exc]))
            for ch in excluded:
                counts.pop(ch, None)

        if follow:
            keys = {_author_key(name) for name in paper.authors}
            authors_in[rank] = keys
            for ch in set(from_lists([follow[key] for key in keys if key in follow])):
                if ch in excluded or not plan.can_see(ch, paper):
                    continue
                n = counts.pop(ch, 0)
                unit = units_of[ch]
                if not n:
                    score = 0.0
                elif unit is None:
                    score = _weighted(weights[ch], found, in_title)
                else:
                    score = unit * ((n + n + titled.get(ch, 0)) * 0.5)
                score += plan.bonus[ch]
                if score > 0.0 and score >= min_score[ch]:
                    beat = 1 if unit is None else _units_needed(unit, score, strict=True)
                    if _offer(heaps[ch], caps[ch], (score, neg_rank, beat)):
                        need[ch] = heaps[ch][0][2]

        if plain_post:
            lists = [plain_post.get(primary, ()), *[plain_xpost.get(c, ()) for c in crosses]]
            for ch in set(from_lists(lists)):
                if ch not in excluded and len(heaps[ch]) < caps[ch]:
                    heappush(heaps[ch], (0.0, neg_rank, _NEVER))

        titled_get = titled.get
        for ch, n in counts.items():
            units = n + n + titled_get(ch, 0)
            if units < need[ch]:
                continue  # the common case: below min_score, or below the channel's full top-N
            unit = units_of[ch]
            heap = heaps[ch]
            if unit is None:
                score = _weighted(weights[ch], found, in_title)
                if score <= 0.0 or score < min_score[ch]:
                    continue
                if not _offer(heap, caps[ch], (score, neg_rank, 1)):
                    continue
            elif len(heap) < caps[ch]:
                heappush(heap, (unit * (units * 0.5), neg_rank, units + 1))
                if len(heap) < caps[ch]:
                    continue
            else:
                heapreplace(heap, (unit * (units * 0.5), neg_rank, units + 1))
            need[ch] = heap[0][2]

    for ch, profile in enumerate(plan.profiles):
        heap = heaps[ch]
        if not heap:
            continue
        picks = result[profile.channel]
        rules = plan.rules[ch]
        position = {tid: i for i, (_, tid) in enumerate(rules)}
        for score, neg_rank, _ in heapq.nlargest(len(heap), heap):
            rank = -neg_rank
            why = [rules[i][0] for i in sorted(position[t] for t in found_in[rank] if t in position)]
            names_in = authors_in[rank]
            why += [f"author: {name}" for key, name in plan.follows[ch] if key in names_in]
            picks.append(ScoredPaper(paper=ordered[rank], score=score, matched=tuple(why)))
    return result


def _offer(heap: list[tuple[float, int, int]], cap: int, item: tuple[float, int, int]) -> bool:
    """Put ``item`` into the bounded min-heap if it belongs in the top ``cap``; say whether it is now full."""
    if len(heap) < cap:
        heapq.heappush(heap, item)
        return len(heap) == cap
    if item > heap[0]:
        heapq.heapreplace(heap, item)
        return True
    return False


_NO_IDS: frozenset[int] = frozenset()
_NO_AUTHORS: frozenset[str] = frozenset()


def _words(text: str) -> list[str]:
    """The lowercase runs of letters and digits in ``text``."""
    lowered = text.lower()
    return (_ASCII_WORD if lowered.isascii() else _WORD).findall(lowered)


def _term_key(term: str) -> str:
    """A keyword's matching form: its lowercase words joined by single spaces ("" if it has none)."""
    return " ".join(_words(term))


def _author_key(name: str) -> str:
    """An author name's matching form: casefolded, whitespace collapsed, accents dropped."""
    key = " ".join(name.split()).casefold()
    if not key.isascii():
        key = "".join(ch for ch in unicodedata.normalize("NFKD", key) if not unicodedata.combining(ch))
    return key


def _plural_forms(word: str) -> tuple[str, ...]:
    """English plurals accepted for the last word of a keyword (none for one-character words)."""
    if len(word) < 2:
        return ()
    forms = [word + "s"]
    if word.endswith(_ES_ENDINGS):
        forms.append(word + "es")
    elif word[-1] == "y" and word[-2] not in _VOWELS:
        forms.append(word[:-1] + "ies")
    return tuple(forms)


def _weighted(weights: dict[int, float], found: AbstractSet[int], in_title: AbstractSet[int]) -> float:
    """A paper's keyword score for a channel with arbitrary weights (fsum: exact, order-independent)."""
    common = weights.keys() & found
    return math.fsum(
        [weights[t] for t in common] + [TITLE_BONUS * weights[t] for t in common & in_title]
    )


def _units_needed(unit: float, floor: float, *, strict: bool) -> int:
    """Fewest half-units (at least 1) whose score ``unit * units / 2`` reaches ``floor`` (passes it if strict)."""
    if not floor < unit * 2.0**40:
        return _NEVER
    n = max(1, math.floor(floor / (unit * 0.5)) - 1)
    while unit * (n * 0.5) < floor or (strict and unit * (n * 0.5) == floor):
        n += 1
    return n


def _unit_and_multiples(weights: dict[int, float]) -> tuple[float | None, dict[int, int]]:
    """Express positive weights as small multiples of one unit; ``None`` if they cannot be."""
    values = set(weights.values())
    if not all(0.0 < w < math.inf for w in values):
        return None, dict.fromkeys(weights, 1)
    if len(values) <= 1:
        return (values.pop() if values else 1.0), dict.fromkeys(weights, 1)
    for exponent in range(4, -7, -1):
        unit = 2.0**exponent
        multiples = {t: w / unit for t, w in weights.items()}
        if all(m.is_integer() and m <= _MAX_MULTIPLE for m in multiples.values()):
            return unit, {t: int(m) for t, m in multiples.items()}
    return None, dict.fromkeys(weights, 1)


class _TermIndex:
    """Distinct keywords (by their matching form), found in a text with one tokenisation of it."""

    __slots__ = ("_probe", "_words")

    def __init__(self, keys: Sequence[str]) -> None:
        single: dict[str, list[int]] = {}
        # first word -> (id, other words but the last, ((last-word form, " whole phrase "), ...))
        phrases: dict[str, list[_Phrase]] = {}
        words_used: set[str] = set()
        for tid, key in enumerate(keys):
            words = key.split(" ")
            lasts = (words[-1], *_plural_forms(words[-1]))
            words_used.update(words, lasts)
            if len(words) == 1:
                for form in lasts:
                    single.setdefault(form, []).append(tid)
            else:
                head = " ".join(words[:-1])
                ends = tuple((form, f" {head} {form} ") for form in lasts)
                phrases.setdefault(words[0], []).append((tid, frozenset(words[1:-1]), ends))
        self._probe = {
            word: (tuple(single.get(word, ())), tuple(phrases.get(word, ())))
            for word in words_used
            if word in single or word in phrases
        }
        # Every word of every keyword: a text's words are intersected with this once.
        self._words = frozenset(words_used)

    def scan(self, text: str) -> set[int]:
        """Return the ids of the keywords that occur in ``text``."""
        words = _words(text)
        present = self._words.intersection(words)
        found: set[int] = set()
        joined = ""
        probe = self._probe
        for word in present:
            entry = probe.get(word)
            if entry is None:
                continue
            singles, phrases = entry
            if singles:
                found.update(singles)
            for tid, middle, ends in phrases:
                if not middle <= present:
                    continue
                for last, needle in ends:
                    if last in present:
                        if not joined:
                            joined = f" {' '.join(words)} "
                        if needle in joined:
                            found.add(tid)
                            break
        return found


_Phrase = tuple[int, frozenset[str], tuple[tuple[str, str], ...]]


class _Plan:
    """Every profile compiled into flat per-channel tables and per-category postings."""

    def __init__(self, profiles: Sequence[ChannelProfile]) -> None:
        self.profiles = profiles
        n = len(profiles)
        self.rules: list[tuple[tuple[str, int], ...]] = [()] * n
        self.follows: list[tuple[tuple[str, str], ...]] = [()] * n
        self.weights: list[dict[int, float]] = [{}] * n
        self.unit: list[float | None] = [None] * n
        self.need = [_NEVER] * n
        self.min_score = [profile.min_score for profile in profiles]
        self.caps = [profile.max_papers for profile in profiles]
        self.bonus = [profile.author_bonus for profile in profiles]
        self.heaps: list[list[tuple[float, int, int]]] = [[] for _ in profiles]
        # category -> term id -> channel positions, each repeated by the term's multiple
        self.post: dict[str, dict[int, list[int]]] = {}
        self.xpost: dict[str, dict[int, list[int]]] = {}  # for cross-lists: include_cross channels only
        self.plain_post: dict[str, list[int]] = {}  # channels with no keywords and no authors
        self.plain_xpost: dict[str, list[int]] = {}
        self.exc: dict[int, list[int]] = {}
        self.follow: dict[str, list[int]] = {}
        self.seen: set[str] = set()
        self.xseen: set[str] = set()

        term_ids: dict[str, int] = {}
        key_ids: dict[str, int] = {}

        def new_term(term: str) -> int:
            key = _term_key(term)
            tid = term_ids[term] = key_ids.setdefault(key, len(key_ids)) if key else -1
            return tid

        for ch, profile in enumerate(profiles):
            if profile.max_papers <= 0:
                continue  # wants nothing: reachable by no posting
            categories = profile.categories
            self.seen.update(categories)
            if profile.include_cross:
                self.xseen.update(categories)
            weights: dict[int, float] = {}
            rules: list[tuple[str, int]] = []
            for rule in profile.include:
                tid = term_ids.get(rule.term)
                if tid is None:
                    tid = new_term(rule.term)
                if tid >= 0 and tid not in weights:  # a keyword listed twice counts once
                    weights[tid] = rule.weight
                    rules.append((rule.term, tid))
            for term in profile.exclude:
                tid = term_ids.get(term)
                if tid is None:
                    tid = new_term(term)
                if tid >= 0:
                    self.exc.setdefault(tid, []).append(ch)
            follows: dict[str, str] = {}
            for name in profile.authors:
                key = _author_key(name)
                if key and key not in follows:
                    follows[key] = name
                    self.follow.setdefault(key, []).append(ch)
            self.rules[ch] = tuple(rules)
            self.follows[ch] = tuple(follows.items())
            self.weights[ch] = weights

            if not profile.include and not profile.authors:
                self._add(self.plain_post, self.plain_xpost, categories, profile.include_cross, ch)
                continue
            unit, multiples = _unit_and_multiples(weights)
            self.unit[ch] = unit
            self.need[ch] = 1 if unit is None else _units_needed(unit, profile.min_score, strict=False)
            spread = [tid for tid, m in multiples.items() for _ in range(m)]
            for category in categories:
                postings = self.post.get(category)
                if postings is None:
                    postings = self.post[category] = defaultdict(list)
                for tid in spread:
                    postings[tid].append(ch)
                if profile.include_cross:
                    postings = self.xpost.get(category)
                    if postings is None:
                        postings = self.xpost[category] = defaultdict(list)
                    for tid in spread:
                        postings[tid].append(ch)

        self.index = _TermIndex(list(key_ids))

    @staticmethod
    def _add(
        table: dict[str, list[int]], xtable: dict[str, list[int]], cats: Iterable[str], cross: bool, ch: int
    ) -> None:
        """Register a keyword-less channel under each of its categories."""
        for category in cats:
            table.setdefault(category, []).append(ch)
            if cross:
                xtable.setdefault(category, []).append(ch)

    def can_see(self, ch: int, paper: Paper) -> bool:
        """Whether channel ``ch`` may get ``paper``: its primary category, or an opted-in cross-list."""
        profile = self.profiles[ch]
        if profile.max_papers <= 0:
            return False
        if paper.primary_category in profile.categories:
            return True
        return profile.include_cross and not profile.categories.isdisjoint(paper.categories)
