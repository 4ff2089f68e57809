"""A database error while recording a post: retried, never aborting the digest, never losing a message the platform
took (the row stays ``sending`` and the next delivery finds the message by its key). On the real store (SQLite, or
PostgreSQL when the suite runs on it), with statements failed through SQLAlchemy's own hook."""

from __future__ import annotations

import sqlalchemy as sa

from adapters.composition import Services
from bot.delivery.runner import DigestRunner
from bot.models import ChannelRef, DeliveryState
from bot.store import schema as db
from tests.conftest import FEED_0105, ctx
from tests.fakes.arxiv_server import FakeArxivServer
from tests.fakes.publisher import FakePublisher
from tests.fakes.store_faults import StatementFaults

A, B = ChannelRef("test", "w1", "a"), ChannelRef("test", "w1", "b")
CARD_POSTED = r"UPDATE deliveries SET .*[^_]message_id\s*="
"""The statement that records posted cards (not ``thread_message_id``)."""


async def _channels(services: Services, arxiv: FakeArxivServer) -> None:
    arxiv.feeds[frozenset({"cs.DC"})] = FEED_0105.read_bytes()
    for ref in (A, B):
        for line in ("subscribe cs.DC", "keywords add LLM", "set max 3"):
            await services.commands.execute(ctx(channel=ref), line)


def runner(services: Services, publisher: FakePublisher) -> DigestRunner:
    """A digest runner on the services' real stores, posting to ``publisher``."""
    return DigestRunner(
        source=services.source,
        channels=services.channels,
        papers=services.papers,
        ledger=services.ledger,
        publisher=publisher,
        summarizer=services.summarizer,
        clock=services.database.clock,
        author_bonus=2.0,
        mark_retry_delays_s=(0.0,) * 4,  # four retries, at once: the waits are not what is tested here
    )


async def _states(services: Services) -> dict[tuple[int, str], tuple[str, str, str | None]]:
    d = db.deliveries.c
    async with services.database.transaction() as conn:
        rows = await conn.execute(sa.select(d.channel_id, d.arxiv_id, d.state, d.thread_state, d.post_key))
        return {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows}


async def test_a_card_posted_but_not_recorded_stays_sending_the_digest_goes_on_and_nothing_is_posted_twice(
    services: Services, arxiv: FakeArxivServer
) -> None:
    await _channels(services, arxiv)
    faults = StatementFaults(services.database.engine)
    faults.fail(CARD_POSTED, times=5)  # the first write of posted cards fails, then each of its 4 retries
    platform = FakePublisher()
    records = await services.channels.all_active()
    outcomes = await runner(services, platform).run(records)  # returns: the digest is not aborted
    assert faults.pending == 0 and len(faults.failed) == 5
    states = await _states(services)
    sending = [k for k, (state, _, key) in states.items() if state == DeliveryState.SENDING.value and key]
    assert len(states) >= 4 and sending  # the cards taken while the database failed: recorded as sending, keyed
    assert sum(o.posted for o in outcomes.values()) == len(states) - len(sending)  # the other cards went on
    assert {k[1] for k in states} - {k[1] for k in sending}  # including later cards of the same channels
    waiting = {k[0] for k in sending}
    assert all(r.last_digest_at is None for r in await services.channels.all_active() if r.id in waiting)
    cards_before = len(platform.cards)
    assert cards_before == len(states)  # each card was posted once, recorded or not

    # The next delivery (the catch-up, or the next start) finds each unrecorded card by its key: no second card.
    for record in records:
        await runner(services, platform).deliver(record)
    assert len(platform.cards) == cards_before
    assert sorted(platform.found) == sorted(key or "" for k, (_, _, key) in states.items() if k in sending)
    assert all(state == thread == DeliveryState.POSTED.value for state, thread, _ in (await _states(services)).values())
    assert len(platform.threads) == len(states)


async def test_a_passing_database_error_is_retried_and_every_post_recorded(
    services: Services, arxiv: FakeArxivServer
) -> None:
    await _channels(services, arxiv)
    faults = StatementFaults(services.database.engine)
    faults.fail(CARD_POSTED, times=2)
    faults.fail(r"UPDATE deliveries SET .*thread_state", times=1)
    platform = FakePublisher()
    outcomes = await runner(services, platform).run(await services.channels.all_active())
    assert faults.pending == 0
    assert all(o.unfinished == 0 and o.failed == 0 for o in outcomes.values())
    assert len(platform.cards) == len(platform.threads) == len(await _states(services)) >= 4
    assert all(r.last_digest_at is not None for r in await services.channels.all_active())
