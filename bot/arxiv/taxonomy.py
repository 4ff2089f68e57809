"""arXiv's category taxonomy, shipped with the project in ``bot/arxiv/data/arxiv_categories.txt``.

Categories (``cs.DC``, ``hep-th``) and archives: the groups of dotted categories (``cs``, ``math``, ``astro-ph``),
each of which arXiv's RSS serves whole (``/rss/cs``). A channel may follow either; ``subscription`` says which.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from functools import cache
from importlib import resources

from bot.errors import UserInputError

_DATA_FILE = "data/arxiv_categories.txt"


@cache
def _names() -> dict[str, str]:
    """Canonical code -> name, read once from the shipped data file."""
    text = resources.files("bot.arxiv").joinpath(_DATA_FILE).read_text(encoding="utf-8")
    names: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        code, name = line.split("\t")
        names[code.strip()] = name.strip()
    return names


@cache
def _by_lower() -> dict[str, str]:
    """Lower-cased code -> canonical code."""
    return {code.lower(): code for code in _names()}


def all_categories() -> tuple[str, ...]:
    """Every canonical category code, sorted."""
    return tuple(sorted(_names()))


def is_category(code: str) -> bool:
    """Whether ``code`` is a canonical arXiv category code (case-sensitive: ``cs.DC``, not ``cs.dc``)."""
    return code in _names()


def canonical_category(code: str) -> str | None:
    """The canonical spelling of ``code`` matched case-insensitively (``CS.dc`` -> ``cs.DC``), or None."""
    return _by_lower().get(code.strip().lower())


@cache
def _archives_by_lower() -> dict[str, str]:
    """Lower-cased archive code -> archive code, for every archive that has dotted categories."""
    return {code.split(".", 1)[0].lower(): code.split(".", 1)[0] for code in _names() if "." in code}


def all_archives() -> tuple[str, ...]:
    """Every archive code that groups categories (``astro-ph``, ``cond-mat``, ``cs``, ``math``, ...), sorted."""
    return tuple(sorted(_archives_by_lower().values()))


def is_archive(code: str) -> bool:
    """Whether ``code`` is an archive of dotted categories (``cs``, ``math``; not ``cs.DC``, not ``hep-th``)."""
    return code in _archives_by_lower().values()


def archive_categories(archive: str) -> tuple[str, ...]:
    """The categories of an archive (``cs`` -> ``cs.AI``, ``cs.AR``, ...), sorted; empty for no archive."""
    return tuple(code for code in all_categories() if code.startswith(archive + ".")) if is_archive(archive) else ()


def subscription(code: str) -> str | None:
    """What a channel may follow, spelled canonically: a category (``CS.dc`` -> ``cs.DC``) or an archive
    (``CS`` -> ``cs``); None for anything else."""
    text = code.strip().lower()
    return _by_lower().get(text) or _archives_by_lower().get(text)


def closest_subscriptions(code: str, n: int = 3) -> list[str]:
    """Up to ``n`` categories or archives that look like ``code``, best first (for "did you mean" hints)."""
    known = _by_lower() | _archives_by_lower()
    matches = difflib.get_close_matches(code.strip().lower(), list(known), n=n, cutoff=0.6)
    return [known[m] for m in matches]


def closest_categories(code: str, n: int = 3) -> list[str]:
    """Up to ``n`` canonical codes that look like ``code``, best first (for "did you mean" hints)."""
    lowered = _by_lower()
    matches = difflib.get_close_matches(code.strip().lower(), list(lowered), n=n, cutoff=0.6)
    return [lowered[m] for m in matches]


def category_name(code: str) -> str:
    """The human name of a category (``cs.DC`` -> "Distributed, Parallel, and Cluster Computing").

    Raises ``UserInputError`` for an unknown code, with suggestions when there are close ones.
    """
    canonical = canonical_category(code)
    if canonical is None:
        raise UserInputError(_unknown_message(code))
    return _names()[canonical]


def archive_of(code: str) -> str:
    """The archive a category belongs to: ``cs`` for ``cs.DC``, ``hep-th`` for ``hep-th``."""
    return code.strip().split(".", 1)[0]


def visible_categories(codes: Iterable[str], listed: Iterable[Iterable[str]] = ()) -> set[str]:
    """The categories a channel following ``codes`` sees: those codes, and for each archive its categories (the
    taxonomy's and any new one of that archive among ``listed``, the categories of today's papers)."""
    codes = set(codes)
    seen = set(codes)
    archives = {c for c in codes if is_archive(c)}
    for archive in archives:
        seen.update(archive_categories(archive))
    if archives:
        seen.update(c for categories in listed for c in categories if archive_of(c) in archives)
    return seen


def _unknown_message(code: str) -> str:
    shown = " ".join(code.split())[:40]
    hint = closest_categories(code)
    suggestion = f"; did you mean {', '.join(hint)}?" if hint else "; see https://arxiv.org/category_taxonomy"
    return f"unknown arXiv category {shown!r}{suggestion}"
