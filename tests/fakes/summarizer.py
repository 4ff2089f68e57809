"""A hand-written Summarizer that records what it was asked and can fail on demand."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.errors import SummaryError
from bot.models import Paper, SummarySection, ThreadSummary


@dataclass
class FakeSummarizer:
    """Answers ``summary of <id> in <language>``; ``asked`` records (versioned id, language) of every call."""

    asked: list[tuple[str, str]] = field(default_factory=list)
    fail: set[str] = field(default_factory=set)
    """Versioned ids whose summary raises SummaryError."""
    tldr: str | None = None
    """With it, each summary's TL;DR is ``<tldr> <versioned id>``."""

    async def summarize(self, paper: Paper, *, language: str) -> ThreadSummary:
        """A one-section summary naming the paper and the language."""
        self.asked.append((paper.versioned_id, language))
        if paper.versioned_id in self.fail:
            raise SummaryError(f"no summary for {paper.versioned_id}")
        return ThreadSummary(
            paper=paper,
            heading="Summary",
            sections=(SummarySection(title="TL;DR", body=f"summary of {paper.versioned_id} in {language}"),),
            tldr=None if self.tldr is None else f"{self.tldr} {paper.versioned_id}",
        )
