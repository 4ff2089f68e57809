"""The learned ranker wired by the composition root, over a real SQLite file and the local fake arXiv."""

from __future__ import annotations

from adapters.composition import build_services
from bot.models import ChannelRef, SignalSource
from tests.conftest import TEST_CHANNEL, ctx, make_settings
from tests.fakes.arxiv_server import FakeArxivServer
from tests.fakes.clock import FixedClock
from tests.fakes.publisher import FakePublisher
from tests.fakes.ranking_data import gui_agents

OTHER = ChannelRef(TEST_CHANNEL.platform, TEST_CHANNEL.workspace, "other")


async def test_a_channel_with_enough_likes_gets_its_digest_reordered_and_told_why(
    db_url: str, arxiv: FakeArxivServer, clock: FixedClock
) -> None:
    services = build_services(make_settings(db_url, arxiv), clock=clock)
    publisher = FakePublisher()
    services.router.add("test", publisher)
    try:
        assert services.ranking is not None
        data = gui_agents()
        await services.papers.add_many([*data.background, *data.liked])  # stored before: the corpus
        for channel in (TEST_CHANNEL, OTHER):
            for line in ("subscribe cs.AI cs.CL cs.DC cs.LG", "keywords add RL, LLM, agent", "set max 5"):
                await services.commands.execute(ctx(channel=channel), line)
        learning = await services.channels.get(TEST_CHANNEL)
        assert learning is not None
        liked = [p.arxiv_id for p in data.liked]
        added = await services.signals.record_likes(
            channel_id=learning.id, arxiv_ids=liked, user_id="U1", source=SignalSource.LIKE
        )
        assert added == len(liked)
        services.ranking.signals_changed(learning.id)
        await services.commands.execute(ctx(channel=TEST_CHANNEL), "digest now")
        learned = publisher.cards
        await services.commands.execute(ctx(channel=OTHER), "digest now")
        plain = publisher.cards[len(learned) :]
        assert len(learned) == 5 and len(plain) == 5
        assert [c.paper.arxiv_id for c in learned] != [c.paper.arxiv_id for c in plain]
        assert all(any(m.startswith("like: ") for m in c.matched) for c in learned)
        assert not any(m.startswith(("like: ", "learned: ")) for c in plain for m in c.matched)
        status = await services.ranking.status(learning)
        assert (status.mode, status.positives) == ("learned", len(data.liked)) and status.last_fit_at is not None
        why = await services.ranking.explain(learning, learned[0].paper)
        assert why.mode == "learned" and why.nearest_liked_title in {p.title for p in data.liked}
    finally:
        await services.aclose()

