"""arXiv's category taxonomy, shipped with the project in ``bot/arxiv/data/arxiv_categories.txt``."""

from __future__ import annotations

import difflib
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


def _unknown_message(code: str) -> str:
    shown = " ".join(code.split())[:40]
    hint = closest_categories(code)
    suggestion = f"; did you mean {', '.join(hint)}?" if hint else "; see https://arxiv.org/category_taxonomy"
    return f"unknown arXiv category {shown!r}{suggestion}"
