"""A hand-written PaperSource: listings and papers from memory, every request recorded, faults on demand."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date

from bot.errors import PaperNotFound, SourceError
from bot.models import Listing, Paper

_VERSIONED = re.compile(r"(?P<id>.+)v(?P<version>\d+)")


@dataclass
class FakeSource:
    """Serves ``listings`` (by category set; none is an empty, weekend-like listing) and looks up ``papers``."""

    listings: dict[frozenset[str], tuple[Paper, ...]] = field(default_factory=dict)
    papers: list[Paper] = field(default_factory=list)
    """What ``lookup`` finds (by id, newest version, or by versioned id)."""
    announced: date = date(2026, 1, 5)
    fail: SourceError | None = None
    """Raised by every request while set."""
    failing: dict[frozenset[str], SourceError] = field(default_factory=dict)
    """Raised by listing requests for these category sets."""
    fetched: list[tuple[str, ...]] = field(default_factory=list)
    """The categories of every listing request, in order."""
    looked_up: list[str] = field(default_factory=list)
    batches: list[tuple[str, ...]] = field(default_factory=list)
    """The ids of every ``lookup_many`` call, in order."""
    gate: asyncio.Event | None = None
    """While set to an unset event, listing requests wait for it (after being recorded): requests in flight."""
    _held: asyncio.Condition | None = None
    _holding: int = 0

    async def fetch_listing(self, categories: Collection[str]) -> Listing:
        """Today's listing for exactly these categories."""
        self.fetched.append(tuple(categories))
        if self.gate is not None:
            held = self._condition()
            async with held:
                self._holding += 1
                held.notify_all()
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        if frozenset(categories) in self.failing:
            raise self.failing[frozenset(categories)]
        papers = self.listings.get(frozenset(categories), ())
        return Listing(categories=frozenset(categories), announced=self.announced if papers else None, papers=papers)

    async def wait_held(self, n: int) -> None:
        """Wait until ``n`` listing requests are held by the gate."""
        held = self._condition()
        async with held:
            await held.wait_for(lambda: self._holding >= n)

    def _condition(self) -> asyncio.Condition:
        if self._held is None:
            self._held = asyncio.Condition()
        return self._held

    async def lookup(self, paper_id: str) -> Paper:
        """One paper by id (its newest version) or versioned id; ``PaperNotFound`` if there is none."""
        self.looked_up.append(paper_id)
        if self.fail is not None:
            raise self.fail
        versioned = _VERSIONED.fullmatch(paper_id)
        if versioned is not None:
            found = [p for p in self.papers if p.versioned_id == paper_id]
        else:
            found = sorted((p for p in self.papers if p.arxiv_id == paper_id), key=lambda p: p.version)
        if not found:
            raise PaperNotFound(f"no such paper on arXiv: {paper_id}")
        return found[-1]

    async def lookup_many(self, arxiv_ids: Sequence[str]) -> list[Paper]:
        """The newest version of each known paper among these unversioned ids, in the order asked."""
        self.batches.append(tuple(arxiv_ids))
        if self.fail is not None:
            raise self.fail
        newest: dict[str, Paper] = {}
        for paper in sorted(self.papers, key=lambda p: p.version):
            newest[paper.arxiv_id] = paper
        return [newest[i] for i in dict.fromkeys(arxiv_ids) if i in newest]
