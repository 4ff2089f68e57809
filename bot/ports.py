"""The small interfaces through which the core reaches the outside world."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Protocol

from bot.models import ChannelRef, Listing, MessageRef, Paper, PaperCard, Reply, ThreadSummary


class PaperSource(Protocol):
    """Where papers come from (arXiv's RSS listing and export API)."""

    async def fetch_listing(self, categories: Collection[str]) -> Listing:
        """Return today's announcement for these categories (empty on weekends and holidays)."""
        ...

    async def lookup(self, paper_id: str) -> Paper:
        """Return one paper by id; raise ``PaperNotFound`` if there is none."""
        ...


class Publisher(Protocol):
    """Where posts go: one platform's channels."""

    async def post_card(self, card: PaperCard, *, channel: ChannelRef) -> MessageRef:
        """Post a paper card as a top-level message and return its reference."""
        ...

    async def post_thread(self, summary: ThreadSummary, *, parent: MessageRef) -> MessageRef:
        """Post a summary in the thread of ``parent`` and return the reply's reference."""
        ...

    async def send_reply(self, reply: Reply, *, channel: ChannelRef, user_id: str | None) -> None:
        """Send a command reply outside an interaction (ephemeral to ``user_id`` when set)."""
        ...


class Summarizer(Protocol):
    """Turns a paper into the text that goes in its thread."""

    async def summarize(self, paper: Paper, *, language: str) -> ThreadSummary:
        """Summarise ``paper`` in ``language``; never raises for provider faults, falls back instead."""
        ...


class Clock(Protocol):
    """The current time, so tests can move it."""

    def now(self) -> datetime:
        """Timezone-aware current time."""
        ...
