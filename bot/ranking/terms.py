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
from itertools import chain

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


def _words(text: str) -> list[bytes]:
    """The lowercase runs of letters and digits in ``text``, UTF-8 encoded."""
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


_Phrase = tuple[int, frozenset[bytes], tuple[tuple[bytes, bytes], ...]]


class TermIndex:
    """Distinct keywords (by their matching form), found in a text with one tokenisation of it."""

    __slots__ = ("_firsts", "_phrases", "_single", "_singles", "_words")

    def __init__(self, keys: Sequence[str]) -> None:
        single: dict[bytes, list[int]] = {}  # word (or its plural) -> one-word keywords it is
        # first word -> (id, words between the first and the last, ((last-word form, b" whole phrase "), ...))
        phrases: dict[bytes, list[_Phrase]] = {}
        words_used: set[bytes] = set()
        for tid, key in enumerate(keys):
            words = [word.encode() for word in key.split(" ")]
            lasts = [words[-1], *(form.encode() for form in _plural_forms(key.rsplit(" ", 1)[-1]))]
            words_used.update(words, lasts)
            if len(words) == 1:
                for form in lasts:
                    single.setdefault(form, []).append(tid)
            else:
                head = b" ".join(words[:-1])
                ends = tuple((form, b" %s %s " % (head, form)) for form in lasts)
                phrases.setdefault(words[0], []).append((tid, frozenset(words[1:-1]), ends))
        self._single = {word: tuple(ids) for word, ids in single.items()}
        self._singles = frozenset(single)
        self._phrases = {word: tuple(entries) for word, entries in phrases.items()}
        self._firsts = frozenset(phrases)
        # Every word of every keyword: a text's words are intersected with this once.
        self._words = frozenset(words_used)

    def scan(self, text: str) -> set[int]:
        """Return the ids of the keywords that occur in ``text``."""
        words = _words(text)
        present = self._words.intersection(words)
        found = set(chain.from_iterable(map(self._single.__getitem__, present & self._singles)))
        joined = b""
        for first in present & self._firsts:
            for tid, middle, ends in self._phrases[first]:
                if not middle <= present:
                    continue
                for last, needle in ends:
                    if last in present:
                        if not joined:
                            joined = b" %s " % b" ".join(words)
                        if needle in joined:
                            found.add(tid)
                            break
        return found
