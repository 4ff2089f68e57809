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
from itertools import chain, pairwise

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


_Long = tuple[int, tuple[bytes, ...]]  # (id, b" whole phrase " for each form of its last word)


class TermIndex:
    """Distinct keywords (by their matching form), found in a text with one tokenisation of it.

    A scan tokenises the text once, then asks the index about the text's words, its pairs of adjacent words
    and its triples: three set intersections in C whatever the size of the vocabulary. One-word keywords are
    looked up by word, two- and three-word ones by the whole pair or triple (one key per form of the last
    word); a keyword of four words or more by its first three, then confirmed in the text.
    """

    __slots__ = ("_long", "_long_keys", "_pair_keys", "_pairs", "_single", "_singles", "_triple_keys", "_triples")

    def __init__(self, keys: Sequence[str]) -> None:
        single: dict[bytes, list[int]] = {}  # word (or its plural) -> one-word keywords it is
        pairs: dict[tuple[bytes, ...], list[int]] = {}  # (first, last form) -> two-word keywords
        triples: dict[tuple[bytes, ...], list[int]] = {}  # (first, second, last form) -> three-word keywords
        long: dict[tuple[bytes, ...], list[_Long]] = {}  # first three words -> longer keywords
        for tid, key in enumerate(keys):
            words = [word.encode() for word in key.split(" ")]
            lasts = (words[-1], *(form.encode() for form in _plural_forms(key.rsplit(" ", 1)[-1])))
            if len(words) == 1:
                for form in lasts:
                    single.setdefault(form, []).append(tid)
            elif len(words) <= 3:
                into = pairs if len(words) == 2 else triples
                for form in lasts:
                    into.setdefault((*words[:-1], form), []).append(tid)
            else:
                head = b" ".join(words[:-1])
                needles = tuple(b" %s %s " % (head, form) for form in lasts)
                long.setdefault(tuple(words[:3]), []).append((tid, needles))
        self._single = {word: tuple(ids) for word, ids in single.items()}
        self._singles = frozenset(single)
        self._pairs = {gram: tuple(ids) for gram, ids in pairs.items()}
        self._pair_keys = frozenset(pairs)
        self._triples = {gram: tuple(ids) for gram, ids in triples.items()}
        self._triple_keys = frozenset(triples)
        self._long = {gram: tuple(entries) for gram, entries in long.items()}
        self._long_keys = frozenset(long)

    def scan(self, text: str) -> set[int]:
        """Return the ids of the keywords that occur in ``text``."""
        words = text_words(text)
        found = set(chain.from_iterable(map(self._single.__getitem__, self._singles.intersection(words))))
        if len(words) < 2:
            return found
        if self._pairs:
            pairs = self._pair_keys.intersection(pairwise(words))
            found.update(chain.from_iterable(map(self._pairs.__getitem__, pairs)))
        if len(words) < 3 or not (self._triples or self._long):
            return found
        triples = set(zip(words, words[1:], words[2:], strict=False))
        if self._triples:
            hits = self._triple_keys.intersection(triples)
            found.update(chain.from_iterable(map(self._triples.__getitem__, hits)))
        starts = self._long_keys.intersection(triples)
        if starts:
            joined = b" %s " % b" ".join(words)
            for start in starts:
                for tid, needles in self._long[start]:
                    if any(needle in joined for needle in needles):
                        found.add(tid)
        return found
