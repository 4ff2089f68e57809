"""A hand-written Publisher that records what it was asked to post, and can fail or crash on demand."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.errors import PublishError
from bot.models import ChannelRef, MessageRef, PaperCard, Reply, ThreadSummary


class SimulatedCrash(BaseException):
    """Stands for the process dying mid-run: not an Exception, so nothing in the core catches it."""


@dataclass
class FakePublisher:
    """Records every post in ``sent``; ``fail_cards``/``crash_after_cards`` inject faults."""

    sent: list[tuple[str, object]] = field(default_factory=list)
    fail_cards: set[str] = field(default_factory=set)
    """Versioned ids whose card post raises PublishError."""
    crash_after_cards: int | None = None
    """Raise SimulatedCrash when this many cards have been posted."""
    _n: int = 0

    @property
    def cards(self) -> list[PaperCard]:
        """Cards posted, in order."""
        return [item for kind, item in self.sent if kind == "card"]  # type: ignore[misc]

    @property
    def threads(self) -> list[tuple[MessageRef, ThreadSummary]]:
        """(parent, summary) of each thread reply, in order."""
        return [item for kind, item in self.sent if kind == "thread"]  # type: ignore[misc]

    @property
    def replies(self) -> list[Reply]:
        """Replies sent outside an interaction."""
        return [item for kind, item in self.sent if kind == "reply"]  # type: ignore[misc]

    async def post_card(self, card: PaperCard, *, channel: ChannelRef) -> MessageRef:
        """Record a card, or fail/crash as told."""
        if card.paper.versioned_id in self.fail_cards:
            raise PublishError(f"refused {card.paper.versioned_id}")
        if self.crash_after_cards is not None and len(self.cards) >= self.crash_after_cards:
            raise SimulatedCrash()
        self._n += 1
        self.sent.append(("card", card))
        return MessageRef(channel, f"m{self._n}-{card.paper.versioned_id}")

    async def post_thread(self, summary: ThreadSummary, *, parent: MessageRef) -> MessageRef:
        """Record a thread reply."""
        self._n += 1
        self.sent.append(("thread", (parent, summary)))
        return MessageRef(parent.channel, f"t{self._n}")

    async def send_reply(self, reply: Reply, *, channel: ChannelRef, user_id: str | None) -> None:
        """Record a reply."""
        self.sent.append(("reply", reply))
