"""Summarizers that need no language model."""

from __future__ import annotations

from bot.cards import abstract_thread
from bot.models import Paper, ThreadSummary


class AbstractSummarizer:
    """Puts the abstract in the thread: the fallback when no model is configured."""

    async def summarize(self, paper: Paper, *, language: str) -> ThreadSummary:
        """The paper's abstract as its thread reply."""
        return abstract_thread(paper)
