"""Keyword matching: which keywords occur in a text, by whole words.

Matching is on whole words, case-insensitively: a text and a keyword are both cut into lowercase runs of
letters and digits, so ``RL`` matches "RL" and "RL-based" but not "world" or "RLHF", and a phrase matches
across any whitespace or punctuation ("speculative\\ndecoding", "speculative-decoding"). The last word of
a keyword may carry an English plural ("LLMs", "KV caches", "patches", "policies").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Sequence
from functools import lru_cache

import numpy as np

from bot.errors import UserInputError
from bot.models import term_key

MAX_TERM_LENGTH = 60
"""Longest keyword a user may set, in characters after whitespace is collapsed."""

_WORD = re.compile(r"[^\W_]+")  # letters and digits of any script; "kv_cache" splits like "kv-cache"
# The same words for ASCII text, as bytes: upper case to lower, anything but a letter or digit to a space,
# then split. About twice as fast as the regex, and most titles and abstracts are ASCII.
_ASCII_WORDS = bytes(c + 32 if 65 <= c <= 90 else c if 97 <= c <= 122 or 48 <= c <= 57 else 32 for c in range(256))
_ACCENTS = re.compile("[\u0300-\u036f]")  # combining diacritical marks, as NFKD splits them off
_ES_ENDINGS = ("s", "x", "z", "ch", "sh", "o")
_VOWELS = frozenset("aeiou")


def validate_term(term: str) -> str:
    """Return a keyword stripped, whitespace collapsed; raise ``UserInputError`` if it is unusable."""
    cleaned = " ".join(term.split())
    if not cleaned:
        raise UserInputError("A keyword cannot be empty.")
    if not any(ch.isalnum() for ch in cleaned):
        raise UserInputError(f'Keyword "{cleaned}" needs at least one letter or digit.')
    if len(cleaned) > MAX_TERM_LENGTH:
        raise UserInputError(f"Keyword is too long ({len(cleaned)} characters); the limit is {MAX_TERM_LENGTH}.")
    return cleaned


def find_terms(text: str, terms: Collection[str]) -> set[str]:
    """Return which of ``terms`` (as given) occur in ``text``, by the same rules as ``score_papers``."""
    keys = {term: term_key(term) for term in terms}
    ids: dict[str, int] = {}
    for key in keys.values():
        if key:
            ids.setdefault(key, len(ids))
    found = TermIndex(list(ids)).scan(text)
    return {term for term, key in keys.items() if key and ids[key] in found}


def text_words(text: str) -> list[bytes]:
    """The lowercase runs of letters and digits in ``text``, UTF-8 encoded: the one tokenisation a scan makes."""
    if text.isascii():
        return text.encode().translate(_ASCII_WORDS).split()
    return [word.encode() for word in _WORD.findall(text.lower())]


def author_key(name: str) -> str:
    """An author name's matching form: casefolded, whitespace collapsed, accents dropped."""
    key = " ".join(name.split()).casefold()
    if key.isascii():
        return key
    return _ACCENTS.sub("", unicodedata.normalize("NFKD", key))


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


def index_of(keys: Sequence[str]) -> TermIndex:
    """The ``TermIndex`` of these keys, kept between calls with the same vocabulary (a day's runs share it)."""
    return _cached_index(tuple(keys))


@lru_cache(maxsize=2)
def _cached_index(keys: tuple[str, ...]) -> TermIndex:
    return TermIndex(keys)


@lru_cache(maxsize=65_536)
def cached_term_key(term: str) -> str:
    """``term_key``, remembered: channels keep their keywords from one day to the next."""
    return term_key(term)


@lru_cache(maxsize=65_536)
def cached_author_key(name: str) -> str:
    """``author_key``, remembered: the same authors come back day after day, and in many papers of a day."""
    return author_key(name)


_Long = tuple[int, tuple[bytes, ...]]  # (id, b" whole phrase " for each form of its last word)
_NO_HITS = np.zeros(0, dtype=np.int64)


_UINT32_END = 1 << 32


def sorted_keys(values: np.ndarray) -> np.ndarray:
    """Integer keys (int64), sorted: as unsigned 32-bit keys when every one is in [0, 2**32), which numpy's
    vectorised sort orders in about half the time of 64-bit ones."""
    if len(values) > 1 and 0 <= int(values.min()) and int(values.max()) < _UINT32_END:
        return np.sort(values.astype(np.uint32)).astype(np.int64)
    return np.sort(values)


def distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, sorted (``np.unique``, which takes a slow hashing path for integers in numpy 2)."""
    ordered = sorted_keys(values)
    if len(ordered) < 2:
        return ordered
    keep = np.empty(len(ordered), dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: a multiply, then the top bits


class KeyTable:
    """Distinct non-negative integers, each found by value with array operations: an open-addressing hash
    table probed for many queries at once (a lookup per query costs a probe or two, not a binary search)."""

    __slots__ = ("_keys", "_mask", "_shift", "_slots")

    def __init__(self, keys: Sequence[int]) -> None:
        bits = max(4, (2 * len(keys)).bit_length())  # at most a quarter full
        self._shift = np.uint64(64 - bits)
        self._mask = (1 << bits) - 1
        table = [-1] * (1 << bits)
        slots = [0] * (1 << bits)
        for n, (key, start) in enumerate(zip(keys, self._start(np.array(keys, dtype=np.int64)).tolist(), strict=True)):
            at = start
            while table[at] != -1:
                at = (at + 1) & self._mask
            table[at], slots[at] = key, n
        self._keys = np.array(table, dtype=np.int64)
        self._slots = np.array(slots, dtype=np.int64)

    def _start(self, queries: np.ndarray) -> np.ndarray:
        return ((queries.astype(np.uint64) * _GOLDEN) >> self._shift).astype(np.int64)

    def find(self, queries: np.ndarray) -> np.ndarray:
        """For each query, the position of its key in the ``keys`` given, or -1 when it is not one of them."""
        found = np.full(len(queries), -1, dtype=np.int64)
        at = self._start(queries)
        pending = np.arange(len(queries))
        while len(pending):
            key = self._keys[at]
            hit = key == queries[pending]
            found[pending[hit]] = self._slots[at[hit]]
            more = (key != -1) & ~hit
            pending, at = pending[more], (at[more] + 1) & self._mask
        return found


_SHORT = 16
"""Words of up to this many bytes are looked up as two machine words; longer ones (rare in text) in a dict."""


def _as_words(tokens: Sequence[bytes]) -> np.ndarray:
    """Each token's first 24 bytes, zero-padded, as three little-endian machine words (a row per token). No token
    holds a zero byte, so a token of up to 16 bytes is its first two words; a longer one has a non-zero third."""
    words: np.ndarray = np.fromiter(tokens, dtype="S24", count=len(tokens)).view("<u8").reshape(len(tokens), 3)
    return words


class WordIds:
    """Words -> ids, for a whole list of tokens at once: an open-addressing hash table over each word's bytes held
    as two machine words, probed with array operations (about twice as fast as a dict lookup per token)."""

    __slots__ = ("_high", "_id", "_long", "_low", "_mask", "_shift")

    def __init__(self, word_id: dict[bytes, int]) -> None:
        short = [word for word in word_id if 0 < len(word) <= _SHORT]
        self._long = {word: tid for word, tid in word_id.items() if len(word) > _SHORT}
        bits = max(4, (8 * len(short)).bit_length())  # at most an eighth full: most lookups take one probe
        self._shift = np.uint64(64 - bits)
        self._mask = (1 << bits) - 1
        self._low = np.zeros(1 << bits, dtype=np.uint64)  # 0: an empty slot (no word starts with a zero byte)
        self._high = np.zeros(1 << bits, dtype=np.uint64)
        self._id = np.zeros(1 << bits, dtype=np.int64)
        if short:
            words = _as_words(short)
            for n, at in enumerate(self._start(words[:, 0], words[:, 1]).tolist()):
                while self._low[at]:
                    at = (at + 1) & self._mask
                self._low[at], self._high[at], self._id[at] = words[n, 0], words[n, 1], word_id[short[n]]

    def _start(self, low: np.ndarray, high: np.ndarray) -> np.ndarray:
        mixed: np.ndarray = ((low * _GOLDEN) ^ high) * _GOLDEN
        return (mixed >> self._shift).astype(np.intp)

    def find(self, tokens: Sequence[bytes]) -> np.ndarray:
        """Each token's id; 0 for a token that is not one of the words (the empty token included)."""
        if not tokens:
            return _NO_HITS
        words = _as_words(tokens)
        low, high = words[:, 0], words[:, 1]
        at = self._start(low, high)
        key = self._low[at]
        hit = (key == low) & (self._high[at] == high)
        found = np.where(hit, self._id[at], 0)
        pending = np.flatnonzero(~hit & (key != 0))  # a slot taken by another word: probe on
        at = at[pending]
        while len(pending):
            at = (at + 1) & self._mask
            key = self._low[at]
            hit = (key == low[pending]) & (self._high[at] == high[pending])
            found[pending[hit]] = self._id[at[hit]]
            more = (key != 0) & ~hit
            pending, at = pending[more], at[more]
        longer = np.flatnonzero(words[:, 2])
        if len(longer):
            get = self._long.get
            found[longer] = [get(tokens[n], 0) for n in longer.tolist()]
        return found


class _Grams:
    """The keywords of one length (one, two or three words), as sorted packed word-id keys.

    A gram's key packs its word ids: ``w`` for one word, ``w1 * base + w2`` for two, and for three
    ``p * base + w3`` where ``p`` is the position of ``(w1, w2)`` among the three-word keywords' sorted
    prefixes (so no key outgrows 64 bits whatever the vocabulary). ``ids[starts[k]:starts[k + 1]]`` are
    the keyword ids of key ``keys[k]``; ``flags[j]`` marks the word ids that may stand at place ``j``.
    """

    __slots__ = (
        "filter_shift", "flags", "ids", "keys", "prefix_table", "prefixes", "seen", "single", "slot_of_word", "starts",
        "table",
    )  # fmt: skip

    def __init__(self, grams: dict[tuple[int, ...], list[int]], size: int, base: int) -> None:
        self.flags = [np.zeros(base, dtype=bool) for _ in range(size)]
        for gram in grams:
            for place, word in enumerate(gram):
                self.flags[place][word] = True
        self.prefixes = distinct(np.array([g[0] * base + g[1] for g in grams], dtype=np.int64)) if size == 3 else None
        packed = {self._pack(gram, base): ids for gram, ids in grams.items()}
        order = sorted(packed)
        self.keys = np.array(order, dtype=np.int64)
        counts = [len(packed[key]) for key in order]
        self.starts = np.concatenate(([0], np.cumsum(counts, dtype=np.int64)))
        self.ids = np.array([tid for key in order for tid in packed[key]], dtype=np.int64)
        self.table = KeyTable(order)
        self.prefix_table = None if self.prefixes is None else KeyTable(self.prefixes.tolist())
        # For pairs and triples, a one-hash Bloom filter over the whole gram (an eighth full at most): most
        # candidates the flags let through are dropped by it, before the hash table is probed.
        bits = max(10, (8 * len(grams)).bit_length())
        self.filter_shift = np.uint64(64 - bits)
        self.seen = np.zeros(1 << bits if size > 1 else 0, dtype=bool)
        if size > 1 and grams:
            self.seen[self._hashed(list(np.array(list(grams), dtype=np.int64).T))] = True
        # One word's key is its id: its keyword id is looked up directly (-1: none; -2: several, by its slot).
        self.slot_of_word = self.single = None
        if size == 1:
            self.slot_of_word = np.zeros(base, dtype=np.int64)
            self.slot_of_word[self.keys] = np.arange(len(self.keys))
            self.single = np.full(base, -1, dtype=np.int64)
            one = np.diff(self.starts) == 1
            self.single[self.keys[one]] = self.ids[self.starts[:-1][one]]
            self.single[self.keys[~one]] = -2

    def _pack(self, gram: tuple[int, ...], base: int) -> int:
        if len(gram) == 1:
            return gram[0]
        if len(gram) == 2:
            return gram[0] * base + gram[1]
        assert self.prefixes is not None
        return int(np.searchsorted(self.prefixes, gram[0] * base + gram[1])) * base + gram[2]

    def _hashed(self, places: Sequence[np.ndarray]) -> np.ndarray:
        """The filter slot of each gram, given the word ids at each of its places."""
        mixed = places[0].astype(np.uint64)
        for ids in places[1:]:
            mixed = mixed * _GOLDEN + ids.astype(np.uint64)
        return ((mixed * _GOLDEN) >> self.filter_shift).astype(np.int64)

    def find(self, words: np.ndarray, base: int) -> tuple[np.ndarray, np.ndarray]:
        """(position of the gram's first word, keyword id) for every keyword of this length in ``words``."""
        size = len(self.flags)
        if not len(self.keys) or len(words) < size:
            return _NO_HITS, _NO_HITS
        if self.single is not None and self.slot_of_word is not None:
            single = self.single[words]
            at = np.flatnonzero(single >= 0)
            several = np.flatnonzero(single == -2)
            if not len(several):
                return at, single[at]
            more_at, more_ids = self._ids(several, self.slot_of_word[words[several]])
            return np.concatenate((at, more_at)), np.concatenate((single[at], more_ids))
        end = len(words) - size + 1
        maybe = self.flags[0][words[:end]]
        for place in range(1, size):
            maybe &= self.flags[place][words[place : place + end]]
        at = np.flatnonzero(maybe)
        at = at[self.seen[self._hashed([words[at + place] for place in range(size)])]]
        packed = words[at] * base + words[at + 1]
        if self.prefix_table is not None:
            slot = self.prefix_table.find(packed)
            known = slot >= 0
            at, packed = at[known], slot[known] * base + words[at[known] + 2]
        slot = self.table.find(packed)
        known = slot >= 0
        return self._ids(at[known], slot[known])

    def _ids(self, at: np.ndarray, slot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position, keyword id) for each found key (at ``at``, in ``slot``) and each keyword it stands for."""
        counts = self.starts[slot + 1] - self.starts[slot]
        if len(counts) and counts.max() == 1:
            return at, self.ids[self.starts[slot]]
        first = np.repeat(self.starts[slot] - np.cumsum(counts) + counts, counts)
        return np.repeat(at, counts), self.ids[first + np.arange(int(counts.sum()))]


TOKEN_BLOCK = 256
"""Texts tokenised and turned into word ids together, before the next block's words are made (bench/score.py,
same machine: clustered day 5.39 -> 4.77 times the tokeniser pass, 30,000-term day 4.85 -> 4.85, peak 31 -> 14 MB)."""


class TermIndex:
    """Distinct keywords (by their matching form), found in texts with one tokenisation of each.

    A scan tokenises each text once and turns its words into integer ids (0 for a word no keyword uses),
    all texts end to end with a 0 between them so that no phrase spans two. The keywords of one, two and
    three words are then found by their packed ids, with array operations over all the texts at once,
    whatever the size of the vocabulary: one lookup per word, pair or triple of words that could start
    one. One-word keywords are looked up by word, two- and three-word ones by the whole pair or triple
    (one key per form of the last word); a keyword of four words or more by its first three, then
    confirmed in the text.
    """

    __slots__ = ("_base", "_grams", "_long", "_long_starts", "_size", "_word_ids")

    def __init__(self, keys: Sequence[str]) -> None:
        word_id: dict[bytes, int] = {}  # every word (or plural form of a last word) a keyword uses -> its id

        def ids_of(words: Sequence[bytes]) -> tuple[int, ...]:
            return tuple(word_id.setdefault(word, len(word_id) + 1) for word in words)

        grams: list[dict[tuple[int, ...], list[int]]] = [{}, {}, {}]  # by length: word ids -> keyword ids
        long: dict[tuple[int, ...], list[_Long]] = {}  # first three words -> longer keywords
        for tid, key in enumerate(keys):
            words = [word.encode() for word in key.split(" ")]
            lasts = (words[-1], *(form.encode() for form in _plural_forms(key.rsplit(" ", 1)[-1])))
            if len(words) <= 3:
                for form in lasts:
                    grams[len(words) - 1].setdefault(ids_of([*words[:-1], form]), []).append(tid)
            else:
                head = b" ".join(words[:-1])
                needles = tuple(b" %s %s " % (head, form) for form in lasts)
                long.setdefault(ids_of(words[:3]), []).append((tid, needles))
        base = len(word_id) + 1
        self._base = base
        self._word_ids = WordIds(word_id)
        self._grams = tuple(_Grams(by_words, size, base) for size, by_words in enumerate(grams, 1))
        self._size = len(keys)
        self._long = [tuple(entries) for entries in long.values()]
        self._long_starts = _Grams({key: [n] for n, key in enumerate(long)}, 3, base)

    def scan(self, text: str) -> set[int]:
        """Return the ids of the keywords that occur in ``text``."""
        _, ids = self.scan_texts([text])
        return set(ids.tolist())

    def scan_texts(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Every (text position, keyword id) such that the keyword occurs in that text, once each, sorted."""
        text_at, ids = self.occurrences(texts)
        n = self._size
        pairs = distinct(text_at * n + ids)
        return pairs // n, pairs % n

    def occurrences(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(text position, keyword id) for every occurrence of a keyword in the texts, in no particular order."""
        keep: list[bytes] | None = [] if self._long else None  # the words themselves: only to confirm long keywords
        parts: list[np.ndarray] = []
        starts: list[int] = []
        begin, offset = starts.append, 0
        # The words become ids a block of texts at a time, and only the ids are kept: the words of a whole day
        # held at once (some 400,000 short-lived objects) cost as much again as making them.
        for first in range(0, len(texts), TOKEN_BLOCK):
            tokens: list[bytes] = []
            separate, extend = tokens.append, tokens.extend
            for text in texts[first : first + TOKEN_BLOCK]:
                begin(offset + len(tokens))
                extend(text_words(text))
                separate(b"")  # no keyword uses it: id 0
            parts.append(self._word_ids.find(tokens))
            offset += len(tokens)
            if keep is not None:
                keep += tokens
        words = np.concatenate(parts) if parts else _NO_HITS
        base = self._base
        found = [gram.find(words, base) for gram in self._grams]
        if keep is not None:
            found.append(self._confirm_long(words, base, keep))
        at = np.concatenate([f[0] for f in found])
        if not len(at):
            return _NO_HITS, _NO_HITS
        text_at = np.repeat(np.arange(len(texts)), np.diff(np.array([*starts, offset])))[at]
        return text_at, np.concatenate([f[1] for f in found])

    def _confirm_long(self, words: np.ndarray, base: int, tokens: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """(position, keyword id) of the keywords of four words or more: their first three, then the rest."""
        at, entry = self._long_starts.find(words, base)
        hits: list[int] = []
        ids: list[int] = []
        for start, n in zip(at.tolist(), entry.tolist(), strict=True):
            end = tokens.index(b"", start)
            joined = b" %s " % b" ".join(tokens[start:end])
            for tid, needles in self._long[n]:
                if any(joined.startswith(needle) for needle in needles):
                    hits.append(start)
                    ids.append(tid)
        return np.array(hits, dtype=np.int64), np.array(ids, dtype=np.int64)
