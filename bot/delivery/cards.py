"""Turn selected papers into the platform-neutral card and thread contents."""

from __future__ import annotations

import functools
import re

from bot.models import Paper, PaperCard, ScoredPaper, SummarySection, ThreadSummary

TEASER_CHARS = 200
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")


def shorten(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` characters at a word boundary, with an ellipsis when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:") + "…"


@functools.lru_cache(maxsize=8192)
def teaser(abstract: str, limit: int = TEASER_CHARS) -> str:
    """The abstract's first sentence, shortened to one line (worked out once per paper: channels share it)."""
    first = _SENTENCE_END.split(" ".join(abstract.split()), maxsplit=1)[0]
    return shorten(first, limit)


def make_card(
    paper: Paper,
    *,
    channel_categories: tuple[str, ...] | frozenset[str],
    score: float,
    matched: tuple[str, ...],
    requested_by: str | None = None,
) -> PaperCard:
    """The card for ``paper`` as one channel sees it."""
    return PaperCard(
        paper=paper,
        score=score,
        matched=matched,
        teaser=teaser(paper.abstract),
        is_cross_list=bool(channel_categories) and paper.primary_category not in channel_categories,
        requested_by=requested_by,
    )


def card_for(selected: ScoredPaper, channel_categories: tuple[str, ...]) -> PaperCard:
    """The card for a paper selected by the scorer."""
    return make_card(
        selected.paper, channel_categories=channel_categories, score=selected.score, matched=selected.matched
    )


def abstract_thread(paper: Paper, *, note: str | None = None) -> ThreadSummary:
    """A thread reply holding the paper's abstract (when no summary is available)."""
    return ThreadSummary(
        paper=paper,
        heading="Abstract",
        sections=(SummarySection(title="Abstract", body=paper.abstract),),
        note=note,
    )


def author_line(authors: tuple[str, ...], *, shown: int = 3) -> str:
    """Authors joined with commas, "et al." after ``shown``."""
    if len(authors) <= shown:
        return ", ".join(authors)
    return ", ".join(authors[:shown]) + " et al."
