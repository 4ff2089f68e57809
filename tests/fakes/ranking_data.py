"""The small ranking fixture cut from the dev data (one profile: GUI agents) as papers."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from bot.models import AnnounceType, Paper

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "ranking_gui_agents.json.gz"


@dataclass(frozen=True, slots=True, kw_only=True)
class RankingFixture:
    """A channel's liked papers, stored background, a day's candidates and which of them it liked."""

    keywords: tuple[str, ...]
    categories: tuple[str, ...]
    liked: tuple[Paper, ...]
    liked_titles_only: tuple[Paper, ...]
    background: tuple[Paper, ...]
    candidates: tuple[Paper, ...]
    positives: frozenset[str]


def fixture_paper(item: dict[str, Any]) -> Paper:
    """One fixture entry as a paper (a title-only entry has an empty abstract)."""
    return Paper(
        arxiv_id=item["id"],
        version=1,
        title=item["title"],
        abstract=item.get("abstract", ""),
        authors=tuple(item.get("authors", ())),
        categories=tuple(item.get("categories", ("cs.AI",))),
        primary_category=item.get("primary_category", "cs.AI"),
        announce_type=AnnounceType.NEW,
        published=date.fromisoformat(item["date"]) if "date" in item else None,
    )


@cache
def gui_agents() -> RankingFixture:
    """The fixture, read once."""
    with gzip.open(FIXTURE, "rt", encoding="utf-8") as f:
        data = json.load(f)
    return RankingFixture(
        keywords=tuple(data["keywords"]),
        categories=tuple(data["categories"]),
        liked=tuple(map(fixture_paper, data["liked"])),
        liked_titles_only=tuple(map(fixture_paper, data["liked_titles"])),
        background=tuple(map(fixture_paper, data["background"])),
        candidates=tuple(map(fixture_paper, data["candidates"])),
        positives=frozenset(data["candidate_positives"]),
    )
