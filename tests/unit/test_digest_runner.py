"""The digest runner over fakes: rank order, once per paper, faults that lose and duplicate nothing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bot.errors import PublishRefused, SourceUnavailable
from bot.models import (
    CardPosted,
    CardSending,
    CardUpdated,
    CardUpdateState,
    ChannelRef,
    DeliveryState,
    MessageRef,
    PaperCard,
    PostFailed,
    PostKey,
    PostUnconfirmed,
    ScoredPaper,
    ThreadPosted,
    ThreadSending,
)
from tests.fakes.core import TODAY, FakeCore, ctx, fake_core, paper
from tests.fakes.publisher import FakePublisher, SimulatedCrash

A, B, C = ChannelRef("test", "w1", "a"), ChannelRef("test", "w1", "b"), ChannelRef("test", "w2", "c")


async def channel(core: FakeCore, ref: ChannelRef, *lines: str) -> None:
    for line in ("subscribe cs.DC", "keywords add LLM, RL, MoE", *lines):
        await core.commands.execute(ctx(channel=ref), line)


async def test_each_channel_gets_its_cards_in_rank_order_then_the_threads() -> None:
    core = fake_core()
    core.source.listings[frozenset({"cs.DC"})] = TODAY
    await channel(core, A)
    await channel(core, B, "set max 2")
    outcomes = await core.runner.run(await core.repos.channels.all_active())
    assert [(o.posted, o.failed, o.listed, o.error) for o in outcomes.values()] == [(3, 0, 4, None), (2, 0, 4, None)]
    assert [s.paper.arxiv_id for s in outcomes[A].selected] == ["2601.00001", "2601.00002", "2601.00003"]
    assert core.source.fetched == [("cs.DC",)]  # one request for the category set both channels share
    assert core.repos.papers.stored == list(TODAY)  # every listed paper is stored, matching or not
    assert posted_order(core, A) == ["2601.00001", "2601.00002", "2601.00003"]
    assert posted_order(core, B) == ["2601.00001", "2601.00002"]
    # In each channel every card before any thread (channels side by side, each on to its threads when its cards
    # are posted).
    assert core.publisher.kinds_in(A) == ["card"] * 3 + ["thread"] * 3
    assert core.publisher.kinds_in(B) == ["card"] * 2 + ["thread"] * 2
    # Each row: the intent before each platform call, the message after it.
    per_row: dict[int, list[type]] = {}
    for row_id, mark in core.repos.ledger.marks:
        per_row.setdefault(row_id, []).append(type(mark))
    assert list(per_row.values()) == [[CardSending, CardPosted, ThreadSending, ThreadPosted]] * 5
    assert all(r.state is r.thread_state is DeliveryState.POSTED for r in core.repos.ledger.rows)
    # The platform got each row's key: the card the key itself, its one thread part key.0.
    row_keys = sorted(r.post_key or "" for r in core.repos.ledger.rows)
    assert len(set(row_keys)) == 5 and all(len(k) == 20 for k in row_keys)
    sent_keys = [k.value for k in core.publisher.keys if k is not None]
    assert sorted(sent_keys) == sorted(row_keys + [f"{k}.0" for k in row_keys])
    assert all(r.last_digest_at == core.clock.current for r in core.repos.channels.records)


def posted_order(core: FakeCore, ref: ChannelRef) -> list[str]:
    """The papers whose cards were posted to ``ref``, in the order they were posted (``m<n>-`` message ids)."""
    channel_id = core.repos.channels.id_of(ref)
    rows = [r for r in core.repos.ledger.rows if r.channel_id == channel_id and r.message_id is not None]
    return [r.arxiv_id for r in sorted(rows, key=lambda r: int((r.message_id or "").split("-")[0][1:]))]


async def test_a_summary_is_written_once_per_paper_and_language() -> None:
    core = fake_core()
    core.source.listings[frozenset({"cs.DC"})] = TODAY
    await channel(core, A, "set max 1")
    await channel(core, B, "set max 1")
    await channel(core, C, "set max 1", "set language de")
    await core.runner.run(await core.repos.channels.all_active())
    assert sorted(core.summarizer.asked) == [("2601.00001v1", "de"), ("2601.00001v1", "en")]
    threads = {parent.channel: s.sections[0].body for parent, s in core.publisher.threads}
    assert threads == {
        A: "summary of 2601.00001v1 in en",
        B: "summary of 2601.00001v1 in en",
        C: "summary of 2601.00001v1 in de",
    }


async def test_the_same_announcement_twice_posts_nothing_new() -> None:
    core = fake_core()
    core.source.listings[frozenset({"cs.DC"})] = TODAY
    await channel(core, A)
    records = await core.repos.channels.all_active()
    await core.runner.run(records)
    sent, rows = list(core.publisher.sent), len(core.repos.ledger.rows)
    outcome = (await core.runner.run(records))[A]
    assert (outcome.posted, outcome.failed, len(outcome.selected)) == (0, 0, 3)
    assert core.publisher.sent == sent and len(core.repos.ledger.rows) == rows


async def test_a_refused_card_stays_pending_and_deliver_posts_it_once() -> None:
    core = fake_core()
    core.source.listings[frozenset({"cs.DC"})] = TODAY
    await channel(core, A)
    core.publisher.fail_cards.add("2601.00002v1")
    [record] = await core.repos.channels.all_active()
    outcome = (await core.runner.run([record]))[A]
    assert (outcome.posted, outcome.failed) == (2, 1)
    assert [m for _, m in core.repos.ledger.marks if isinstance(m, PostFailed)] == [PostFailed("refused 2601.00002v1")]
    core.publisher.fail_cards.clear()
    assert await core.runner.deliver(record) == (1, 0)
    assert await core.runner.deliver(record) == (0, 0)
    ids = [c.paper.arxiv_id for c in core.publisher.cards]
    assert ids == ["2601.00001", "2601.00003", "2601.00002"]
    assert await core.repos.ledger.unfinished(record.id) == []


async def test_after_a_crash_a_new_runner_posts_the_rest_once_with_the_missing_threads() -> None:
    core = fake_core()
    core.source.listings[frozenset({"cs.DC"})] = TODAY
    await channel(core, A)
    [record] = await core.repos.channels.all_active()
    crashing = FakePublisher(crash_after_cards=2)
    try:
        await core.new_runner(crashing).run([record])
    except SimulatedCrash:
        pass
    else:
        raise AssertionError("the simulated crash did not happen")
    assert len(crashing.cards) == 2 and crashing.threads == []
    assert core.repos.channels.records[0].last_digest_at is None  # the run did not finish
    after = FakePublisher()
    outcome = (await core.new_runner(after).run([record]))[A]
    assert outcome.posted == 1
    assert [c.paper.arxiv_id for c in crashing.cards + after.cards] == ["2601.00001", "2601.00002", "2601.00003"]
    threaded = {s.paper.arxiv_id: parent.message_id for parent, s in after.threads}
    assert threaded == {
        "2601.00001": "m1-2601.00001v1",  # under the cards posted before the crash
        "2601.00002": "m2-2601.00002v1",
        "2601.00003": "m1-2601.00003v1",
    }


async def test_a_failed_summary_leaves_the_thread_pending_for_the_next_run() -> None:
    core = fake_core()
    core.source.listings[frozenset({"cs.DC"})] = TODAY
    await channel(core, A, "set max 2")
    [record] = await core.repos.channels.all_active()
    core.summarizer.fail.add("2601.00001v1")
    outcome = (await core.runner.run([record]))[A]
    assert (outcome.posted, outcome.failed) == (2, 0)
    assert [s.paper.arxiv_id for _, s in core.publisher.threads] == ["2601.00002"]
    [pending] = await core.repos.ledger.unfinished(record.id)
    assert (pending.arxiv_id, pending.state, pending.thread_state) == (
        "2601.00001",
        DeliveryState.POSTED,
        DeliveryState.PENDING,
    )
    core.summarizer.fail.clear()
    assert await core.runner.deliver(record) == (0, 0)
    assert [s.paper.arxiv_id for _, s in core.publisher.threads] == ["2601.00002", "2601.00001"]
    assert len(core.publisher.cards) == 2 and await core.repos.ledger.unfinished(record.id) == []


async def test_a_ledger_row_whose_paper_is_not_stored_is_counted_failed() -> None:
    core = fake_core()
    await channel(core, A)
    [record] = await core.repos.channels.all_active()
    await core.repos.ledger.plan(record.id, [ScoredPaper(paper=paper(9, "Lost"), score=1.0, matched=())])
    assert await core.runner.deliver(record) == (0, 1)
    assert core.publisher.sent == [] and len(await core.repos.ledger.unfinished(record.id)) == 1


async def test_arxiv_down_for_one_category_set_spares_the_others() -> None:
    core = fake_core()
    core.source.listings[frozenset({"cs.DC"})] = TODAY
    await channel(core, A)
    await core.commands.execute(ctx(channel=B), "subscribe cs.LG")
    core.source.failing[frozenset({"cs.LG"})] = SourceUnavailable("arXiv RSS answered HTTP 503")
    outcomes = await core.runner.run(await core.repos.channels.all_active())
    assert outcomes[B].error == "arXiv RSS answered HTTP 503" and outcomes[B].posted == 0
    assert outcomes[A].posted == 3 and outcomes[A].error is None
    last = {r.ref: r.last_digest_at for r in core.repos.channels.records}
    assert last == {A: core.clock.current, B: None}


async def test_stop_starts_no_new_post_and_the_rest_stays_pending() -> None:
    core = fake_core()
    core.source.listings[frozenset({"cs.DC"})] = TODAY
    await channel(core, A)
    [record] = await core.repos.channels.all_active()
    core.runner.stop()
    outcome = (await core.runner.run([record]))[A]
    assert outcome.posted == 0 and core.publisher.sent == []
    assert len(await core.repos.ledger.unfinished(record.id)) == 3


async def test_select_scores_without_planning_or_posting() -> None:
    core = fake_core()
    core.source.listings[frozenset({"cs.DC"})] = TODAY
    await channel(core, A, "set min-score 2")
    selection = await core.runner.select(await core.repos.channels.all_active())
    assert [(s.paper.arxiv_id, s.score) for s in selection.picks[A]] == [("2601.00001", 4.5), ("2601.00002", 3.0)]
    assert selection.listed == {A: 4} and selection.errors == {}
    assert core.repos.ledger.rows == [] and core.publisher.sent == []


async def test_a_lost_answer_leaves_the_card_sending_and_the_next_delivery_finds_it_instead_of_reposting() -> None:
    core = fake_core()
    core.source.listings[frozenset({"cs.DC"})] = TODAY
    await channel(core, A)
    [record] = await core.repos.channels.all_active()
    core.publisher.lose_answers.add("2601.00002v1")  # the platform takes the card, the answer never comes
    outcome = (await core.runner.run([record]))[A]
    assert (outcome.posted, outcome.failed, outcome.unfinished) == (2, 1, 1)
    [row] = [r for r in core.repos.ledger.rows if r.arxiv_id == "2601.00002"]
    assert (row.state, row.message_id, row.attempts) == (DeliveryState.SENDING, None, 1)
    assert isinstance(core.repos.ledger.marks[-1][1], ThreadPosted)  # the others went on
    assert [m for i, m in core.repos.ledger.marks if i == row.id][-1] == PostUnconfirmed("answer to 2601.00002v1 lost")
    assert core.repos.channels.records[0].last_digest_at is None  # not done: a row is unfinished

    assert await core.runner.deliver(record) == (1, 0)
    assert core.publisher.found == [row.post_key]  # looked up by its key, not posted again
    assert [c.paper.arxiv_id for c in core.publisher.cards] == ["2601.00001", "2601.00002", "2601.00003"]
    assert (row.state, row.message_id) == (DeliveryState.POSTED, "m2-2601.00002v1")
    assert len(core.publisher.threads) == 3 and await core.repos.ledger.unfinished(record.id) == []
    # The next run of the same announcement finds nothing to post and records the digest as done.
    again = (await core.runner.run([record]))[A]
    assert (again.posted, again.unfinished) == (0, 0)
    assert core.repos.channels.records[0].last_digest_at == core.clock.current


async def test_a_crash_after_the_platform_took_the_card_is_recovered_without_a_second_post() -> None:
    core = fake_core()
    core.source.listings[frozenset({"cs.DC"})] = TODAY
    await channel(core, A)
    [record] = await core.repos.channels.all_active()
    platform = FakePublisher(crash_after_cards=1, crash_after_posting=True)  # killed before the mark
    try:
        await core.new_runner(platform).run([record])
    except SimulatedCrash:
        pass
    else:
        raise AssertionError("the simulated crash did not happen")
    sending = [r for r in core.repos.ledger.rows if r.state is DeliveryState.SENDING]
    assert [r.arxiv_id for r in sending] == ["2601.00002"] and len(platform.cards) == 2
    platform.crash_after_cards = None
    outcome = (await core.new_runner(platform).run([record]))[A]  # restarted, on the same platform
    assert (outcome.posted, outcome.unfinished) == (2, 0)
    assert [c.paper.arxiv_id for c in platform.cards] == ["2601.00001", "2601.00002", "2601.00003"]
    assert platform.found == [sending[0].post_key]
    assert sorted(s.paper.arxiv_id for _, s in platform.threads) == ["2601.00001", "2601.00002", "2601.00003"]


async def test_a_run_with_a_failed_post_or_stopped_is_not_done() -> None:
    core = fake_core()
    core.source.listings[frozenset({"cs.DC"})] = TODAY
    await channel(core, A)
    await channel(core, B)
    core.publisher.fail_cards.add("2601.00003v1")
    records = await core.repos.channels.all_active()
    outcomes = await core.runner.run(records[:1])
    assert (outcomes[A].failed, outcomes[A].unfinished, outcomes[A].error) == (1, 1, None)
    stopped = core.new_runner()
    stopped.stop()
    assert (await stopped.run(records[1:]))[B].unfinished == 3
    assert [r.last_digest_at for r in core.repos.channels.records] == [None, None]
    # Refused, the card went back to pending (not sending): the platform proved it took nothing.
    [refused] = await core.repos.ledger.unfinished(records[0].id)
    assert (refused.state, refused.attempts, refused.sending_since) == (DeliveryState.PENDING, 1, None)


@dataclass
class HeldPublisher(FakePublisher):
    """Holds every card post to ``held`` until ``release`` is set."""

    held: ChannelRef = B
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def post_card(self, card: PaperCard, *, channel: ChannelRef, key: PostKey | None = None) -> MessageRef:
        if channel == self.held:
            self.entered.set()
            await self.release.wait()
        return await super().post_card(card, channel=channel, key=key)


async def test_catch_up_delivers_idle_channels_and_leaves_a_busy_one_to_its_run() -> None:
    core = fake_core()
    await channel(core, A)
    await channel(core, B)
    records = await core.repos.channels.all_active()
    await core.repos.papers.add_many(TODAY)
    for record in records:
        await core.repos.ledger.plan(record.id, [ScoredPaper(paper=TODAY[0], score=4.5, matched=("LLM",))])
    publisher = HeldPublisher()
    runner = core.new_runner(publisher)
    busy = asyncio.create_task(runner.deliver(records[1]))  # B's delivery is under way, its post held
    await asyncio.wait_for(publisher.entered.wait(), timeout=5)
    assert await runner.catch_up(records) == {A: (1, 0)}
    assert [parent.channel for parent, _ in publisher.threads] == [A]
    publisher.release.set()
    assert await asyncio.wait_for(busy, timeout=5) == (1, 0)
    assert [c.paper.arxiv_id for c in publisher.cards] == ["2601.00001", "2601.00001"]
    assert all(r.finished for r in [row.delivery() for row in core.repos.ledger.rows])


async def test_each_card_shows_its_tldr_once_its_thread_is_posted_and_only_once() -> None:
    core = fake_core()
    core.summarizer.tldr = "In short:"
    core.source.listings[frozenset({"cs.DC"})] = TODAY
    await channel(core, A)
    await channel(core, B, "set max 1")
    records = await core.repos.channels.all_active()
    outcomes = await core.runner.run(records)
    assert [o.unfinished for o in outcomes.values()] == [0, 0]
    # In each channel: its cards, their threads, then each card shows its TL;DR (never posted again).
    assert core.publisher.kinds_in(A) == ["card"] * 3 + ["thread"] * 3 + ["update"] * 3
    assert core.publisher.kinds_in(B) == ["card", "thread", "update"]
    for message, card in core.publisher.updates:
        assert card.tldr == f"In short: {card.paper.versioned_id}"
        # The card posted for that paper in that channel, the same card as posted with its TL;DR added.
        [row] = [r for r in core.repos.ledger.rows if r.message_id == message.message_id]
        assert (row.arxiv_id, row.channel_id) == (card.paper.arxiv_id, core.repos.channels.id_of(message.channel))
        assert (card.score, card.matched) == (row.score, row.matched)
    row_updates = [(i, type(m)) for i, m in core.repos.ledger.marks if isinstance(m, CardUpdated)]
    assert len(row_updates) == len({i for i, _ in row_updates}) == 4
    assert all(r.card_update is CardUpdateState.DONE for r in core.repos.ledger.rows)
    # Nothing is updated twice: another run, a delivery, a catch-up.
    await core.runner.run(records)
    await core.runner.deliver(records[0])
    await core.runner.catch_up(records)
    assert len(core.publisher.updates) == 4 and len(core.publisher.cards) == 4


async def test_an_update_that_fails_is_retried_never_reposted_and_a_refused_one_is_given_up() -> None:
    core = fake_core()
    core.summarizer.tldr = "TL;DR"
    core.source.listings[frozenset({"cs.DC"})] = TODAY
    await channel(core, A, "set max 2")
    [record] = await core.repos.channels.all_active()
    core.publisher.fail_updates.add("2601.00001v1")
    outcome = (await core.runner.run([record]))[A]
    assert (outcome.posted, outcome.failed, outcome.unfinished) == (2, 0, 1)  # the digest is not done yet
    assert core.repos.channels.records[0].last_digest_at is None
    [row] = [r for r in core.repos.ledger.rows if r.arxiv_id == "2601.00001"]
    assert (row.thread_state, row.card_update, row.tldr) == (
        DeliveryState.POSTED,
        CardUpdateState.PENDING,
        "TL;DR 2601.00001v1",
    )
    core.publisher.fail_updates.clear()
    # A restarted process (another runner) finishes it: the update only, no card, no thread.
    after = FakePublisher()
    assert await core.new_runner(after).deliver(record) == (0, 0)
    assert [kind for kind, _ in after.sent] == ["update"]
    [(message, card)] = after.updates
    assert message.message_id == row.message_id and card.tldr == "TL;DR 2601.00001v1"
    assert row.card_update is CardUpdateState.DONE and await core.repos.ledger.unfinished(record.id) == []


async def test_a_card_the_platform_refuses_to_update_is_given_up_and_the_digest_is_done() -> None:
    core = fake_core()
    core.summarizer.tldr = "TL;DR"
    core.source.listings[frozenset({"cs.DC"})] = TODAY
    await channel(core, A, "set max 1")
    [record] = await core.repos.channels.all_active()
    refusing = RefusingPublisher()
    outcome = (await core.new_runner(refusing).run([record]))[A]
    assert (outcome.posted, outcome.unfinished) == (1, 0)
    [row] = core.repos.ledger.rows
    assert row.card_update is CardUpdateState.REFUSED and row.last_error == "message deleted"
    assert core.repos.channels.records[0].last_digest_at == core.clock.current
    await core.new_runner(refusing).deliver(record)
    assert refusing.tries == 1  # given up: never tried again


@dataclass
class RefusingPublisher(FakePublisher):
    """Refuses every card update for good (the card was deleted)."""

    tries: int = 0

    async def update_card(self, card: PaperCard, *, message: MessageRef, key: PostKey | None = None) -> None:
        self.tries += 1
        raise PublishRefused("message deleted")


async def test_channels_posting_side_by_side_share_their_ledger_transactions() -> None:
    core = fake_core()
    core.summarizer.tldr = "TL;DR"
    core.source.listings[frozenset({"cs.DC"})] = TODAY
    refs = [ChannelRef("test", "w1", f"c{n}") for n in range(20)]
    for ref in refs:
        await channel(core, ref)
    outcomes = await core.runner.run(await core.repos.channels.all_active())
    assert [(o.posted, o.unfinished) for o in outcomes.values()] == [(3, 0)] * 20
    marks = len(core.repos.ledger.marks)
    assert marks == 20 * 3 * 5  # each post: intent, card, thread intent, thread part, card update
    # Group commit: the marks of the 20 channels went in batches, one per step of a post, not one per mark.
    assert core.repos.ledger.batches <= 3 * 5 + 5
    # Every row still got its marks in order, each intent written before its platform call.
    per_row: dict[int, list[type]] = {}
    for row_id, mark in core.repos.ledger.marks:
        per_row.setdefault(row_id, []).append(type(mark))
    assert set(map(tuple, per_row.values())) == {(CardSending, CardPosted, ThreadSending, ThreadPosted, CardUpdated)}


@dataclass
class GatheringPublisher(FakePublisher):
    """Holds each channel's first card until ``expected`` channels are posting at the same time."""

    expected: int = 20
    inside: set[ChannelRef] = field(default_factory=set)
    all_in: asyncio.Event = field(default_factory=asyncio.Event)

    async def post_card(self, card: PaperCard, *, channel: ChannelRef, key: PostKey | None = None) -> MessageRef:
        self.inside.add(channel)
        if len(self.inside) >= self.expected:
            self.all_in.set()
        await asyncio.wait_for(self.all_in.wait(), timeout=5)  # fails if the runner lets fewer post at once
        return await super().post_card(card, channel=channel, key=key)


async def test_channels_post_side_by_side_as_many_as_there_are_not_eight_at_a_time() -> None:
    core = fake_core()
    core.source.listings[frozenset({"cs.DC"})] = TODAY
    refs = [ChannelRef("test", "w1", f"c{n:02d}") for n in range(20)]
    for ref in refs:
        await channel(core, ref, "set max 1")
    publisher = GatheringPublisher()
    outcomes = await core.new_runner(publisher).run(await core.repos.channels.all_active())
    assert publisher.all_in.is_set() and [o.posted for o in outcomes.values()] == [1] * 20
