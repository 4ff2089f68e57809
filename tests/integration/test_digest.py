"""The daily run posts channels side by side while each channel's own posts stay one at a time, in rank order."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from adapters.composition import Services
from bot.models import ChannelRef, MessageRef, PaperCard, PostKey
from tests.conftest import ctx
from tests.fakes.publisher import FakePublisher


@dataclass
class OverlapPublisher(FakePublisher):
    """Holds every card post until posts of two channels are in flight at once (or a timeout passes)."""

    in_flight: dict[ChannelRef, int] = field(default_factory=dict)
    max_channels_at_once: int = 0
    max_per_channel: int = 0
    overlapped: asyncio.Event = field(default_factory=asyncio.Event)
    order: list[tuple[ChannelRef, float]] = field(default_factory=list)

    async def post_card(self, card: PaperCard, *, channel: ChannelRef, key: PostKey | None = None) -> MessageRef:
        self.in_flight[channel] = self.in_flight.get(channel, 0) + 1
        busy = [c for c, n in self.in_flight.items() if n]
        self.max_channels_at_once = max(self.max_channels_at_once, len(busy))
        self.max_per_channel = max(self.max_per_channel, self.in_flight[channel])
        if len(busy) >= 2:
            self.overlapped.set()
        try:
            # Without side-by-side posting the second channel never starts and this wait times out.
            await asyncio.wait_for(self.overlapped.wait(), timeout=5)
            self.order.append((channel, card.score))
            return await super().post_card(card, channel=channel, key=key)
        finally:
            self.in_flight[channel] -= 1


async def test_channels_post_side_by_side_each_in_rank_order(services: Services) -> None:
    publisher = OverlapPublisher()
    services.router.add("test", publisher)
    a, b = ChannelRef("test", "w1", "a"), ChannelRef("test", "w1", "b")
    for channel in (a, b):
        for line in ("subscribe cs.AI cs.CL cs.DC cs.LG", "keywords add LLM", "set max 5"):
            await services.commands.execute(ctx(channel=channel), line)
    outcomes = await services.runner.run(await services.channels.all_active())
    assert publisher.overlapped.is_set()
    assert publisher.max_channels_at_once == 2 and publisher.max_per_channel == 1
    assert outcomes[a].posted == outcomes[b].posted == 5
    for channel in (a, b):
        scores = [score for c, score in publisher.order if c == channel]
        assert len(scores) == 5 and scores == sorted(scores, reverse=True)
    assert len(publisher.threads) == 10
