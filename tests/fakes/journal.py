"""A hand-written ThreadJournal: keeps in memory what the ledger keeps for a thread reply posted part by part."""

from __future__ import annotations

from datetime import datetime

from bot.models import PostKey


class MemoryJournal:
    """Parts posted (their message ids), the part sending and since when; ``done`` once the last part is posted."""

    def __init__(self, key: str, *, sent_at: datetime) -> None:
        self.key = key
        self.sent_at = sent_at
        self.posted: list[str] = []
        self.sending_part: int | None = None
        self.done = False

    def resume(self) -> tuple[int, PostKey]:
        """The next part; with ``sending_since`` when it was sending (its outcome unknown)."""
        part = len(self.posted)
        since = self.sent_at if self.sending_part == part else None
        return part, PostKey(f"{self.key}.{part}", since)

    async def sending(self, part: int) -> PostKey:
        """Record the intent for ``part``."""
        self.sending_part = part
        return PostKey(f"{self.key}.{part}")

    async def sent(self, part: int, message_id: str, *, last: bool) -> None:
        """Record ``part`` as posted."""
        assert part == len(self.posted), (part, self.posted)
        self.posted.append(message_id)
        self.sending_part, self.done = None, last
