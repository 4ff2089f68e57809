"""A hand-written Publisher that records what it was asked to post, and can fail, lose answers or crash on demand.

Like a platform it remembers the key each message carried, so a post left ``sending`` by an earlier attempt is
found (``PostKey.sending_since`` set) instead of being posted twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.delivery.thread_parts import post_parts
from bot.errors import PublishError, PublishOutcomeUnknown
from bot.models import ChannelRef, MessageRef, PaperCard, PostKey, Reply, ThreadSummary
from bot.ports import ThreadJournal


class SimulatedCrash(BaseException):
    """Stands for the process dying mid-run: not an Exception, so nothing in the core catches it."""


@dataclass
class FakePublisher:
    """Records every post in ``sent``; ``fail_cards``/``lose_answers``/``crash_after_cards`` inject faults."""

    sent: list[tuple[str, object]] = field(default_factory=list)
    fail_cards: set[str] = field(default_factory=set)
    """Versioned ids whose card post raises PublishError (nothing is posted)."""
    lose_answers: set[str] = field(default_factory=set)
    """Versioned ids whose card is posted but whose answer is lost (PublishOutcomeUnknown), once each."""
    crash_after_cards: int | None = None
    """Raise SimulatedCrash when this many cards have been posted."""
    crash_after_posting: bool = False
    """Crash after the card is posted (the answer never reaches the ledger), not before."""
    fail_updates: set[str] = field(default_factory=set)
    """Versioned ids whose card update raises PublishError."""
    keys: list[PostKey | None] = field(default_factory=list)
    """The key of every post asked for, in order (card and thread parts)."""
    found: list[str] = field(default_factory=list)
    """Keys of posts an earlier attempt had made, found instead of posted again."""
    by_key: dict[str, MessageRef] = field(default_factory=dict)
    where: list[tuple[str, ChannelRef]] = field(default_factory=list)
    """(kind, channel) of every card, thread part and update posted, in order."""
    _n: int = 0

    def kinds_in(self, channel: ChannelRef) -> list[str]:
        """What was posted to ``channel`` (card, thread, update), in order."""
        return [kind for kind, where in self.where if where == channel]

    @property
    def cards(self) -> list[PaperCard]:
        """Cards posted, in order."""
        return [item for kind, item in self.sent if kind == "card"]  # type: ignore[misc]

    @property
    def threads(self) -> list[tuple[MessageRef, ThreadSummary]]:
        """(parent, summary) of each thread reply, in order."""
        return [item for kind, item in self.sent if kind == "thread"]  # type: ignore[misc]

    @property
    def updates(self) -> list[tuple[MessageRef, PaperCard]]:
        """(message, card as updated) of each card update, in order."""
        return [item for kind, item in self.sent if kind == "update"]  # type: ignore[misc]

    @property
    def replies(self) -> list[Reply]:
        """Replies sent outside an interaction."""
        return [item for kind, item in self.sent if kind == "reply"]  # type: ignore[misc]

    def _lookup(self, key: PostKey | None) -> MessageRef | None:
        if key is None or key.sending_since is None or key.value not in self.by_key:
            return None
        self.found.append(key.value)
        return self.by_key[key.value]

    def _remember(self, key: PostKey | None, ref: MessageRef) -> MessageRef:
        if key is not None:
            self.by_key[key.value] = ref
        return ref

    async def post_card(self, card: PaperCard, *, channel: ChannelRef, key: PostKey | None = None) -> MessageRef:
        """Record a card (or return the one this key already made), or fail/lose/crash as told."""
        self.keys.append(key)
        existing = self._lookup(key)
        if existing is not None:
            return existing
        if card.paper.versioned_id in self.fail_cards:
            raise PublishError(f"refused {card.paper.versioned_id}")
        crash = self.crash_after_cards is not None and len(self.cards) >= self.crash_after_cards
        if crash and not self.crash_after_posting:
            raise SimulatedCrash()
        self._n += 1
        self.sent.append(("card", card))
        self.where.append(("card", channel))
        ref = self._remember(key, MessageRef(channel, f"m{self._n}-{card.paper.versioned_id}"))
        if crash:
            raise SimulatedCrash()
        if card.paper.versioned_id in self.lose_answers:
            self.lose_answers.discard(card.paper.versioned_id)
            raise PublishOutcomeUnknown(f"answer to {card.paper.versioned_id} lost")
        return ref

    async def post_thread(
        self, summary: ThreadSummary, *, parent: MessageRef, journal: ThreadJournal | None = None
    ) -> MessageRef:
        """Record a thread reply (one part)."""

        async def send(part: ThreadSummary, key: PostKey | None) -> str:
            self.keys.append(key)
            self._n += 1
            self.sent.append(("thread", (parent, part)))
            self.where.append(("thread", parent.channel))
            return self._remember(key, MessageRef(parent.channel, f"t{self._n}")).message_id

        async def find(_n: int, _part: ThreadSummary, key: PostKey) -> str | None:
            ref = self._lookup(key)
            return None if ref is None else ref.message_id

        first = await post_parts([summary], journal=journal, send=send, find=find)
        return MessageRef(parent.channel, first or parent.message_id)

    async def update_card(self, card: PaperCard, *, message: MessageRef, key: PostKey | None = None) -> None:
        """Record an update of a posted card (or fail as told)."""
        if card.paper.versioned_id in self.fail_updates:
            raise PublishError(f"update of {card.paper.versioned_id} refused")
        self.sent.append(("update", (message, card)))
        self.where.append(("update", message.channel))

    async def send_reply(self, reply: Reply, *, channel: ChannelRef, user_id: str | None) -> None:
        """Record a reply."""
        self.sent.append(("reply", reply))
