"""The delivery ledger: planning, marks, the card index and the posted history."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from bot.errors import StoreError
from bot.models import (
    CardPosted,
    CardSending,
    CardUpdated,
    CardUpdateFailed,
    CardUpdateState,
    ChannelRef,
    Delivery,
    DeliveryState,
    PostFailed,
    PostUnconfirmed,
    ThreadPosted,
    ThreadSending,
)
from tests.fakes.clock import FixedClock
from tests.integration.repository_contract.conftest import OTHER_WORKSPACE, A, B, Repositories, paper, scored

UNKNOWN_ID = 999_999


async def _channel(repos: Repositories, ref: ChannelRef = A) -> int:
    return (await repos.channels.get_or_create(ref)).id


async def test_plan_writes_pending_rows_ranked_by_position(repos: Repositories) -> None:
    a = await _channel(repos)
    p1, p2, p3 = paper("2601.00001"), paper("2601.00002", 3), paper("2601.00003")
    assert await repos.ledger.plan(a, [scored(p1, 9.5, ("LLM", "RL")), scored(p2, 4.0, ()), scored(p3, 1.0)]) == 3
    rows = await repos.ledger.unfinished(a)
    assert [(r.arxiv_id, r.version, r.rank, r.score, r.matched) for r in rows] == [
        ("2601.00001", 1, 0, 9.5, ("LLM", "RL")),
        ("2601.00002", 3, 1, 4.0, ()),
        ("2601.00003", 1, 2, 1.0, ("LLM",)),
    ]
    assert all(
        (r.channel_id, r.state, r.thread_state, r.message_id, r.attempts)
        == (a, DeliveryState.PENDING, DeliveryState.PENDING, None, 0)
        for r in rows
    )
    assert len({r.id for r in rows}) == 3


async def test_plan_leaves_papers_the_channel_already_has_alone(repos: Repositories, clock: FixedClock) -> None:
    a, b = await _channel(repos), await _channel(repos, B)
    p1, p2 = paper("2601.00001"), paper("2601.00002")
    await repos.ledger.plan(a, [scored(p1, 5.0)])
    before = await repos.ledger.unfinished(a)
    clock.current += timedelta(days=1)
    # p1 again (even at a new version, with another score) is not planned twice; p2 gets rank 1 of this plan.
    assert await repos.ledger.plan(a, [scored(paper("2601.00001", 2), 8.0), scored(p2, 3.0)]) == 1
    rows = await repos.ledger.unfinished(a)
    assert rows[0] == before[0]
    assert [(r.arxiv_id, r.version, r.rank) for r in rows] == [("2601.00001", 1, 0), ("2601.00002", 1, 1)]
    # Another channel plans the same paper independently.
    assert await repos.ledger.plan(b, [scored(p1)]) == 1
    assert await repos.ledger.plan(a, [scored(p1), scored(p2)]) == 0


async def test_a_paper_twice_in_one_plan_is_planned_once_at_its_first_rank(repos: Repositories) -> None:
    a = await _channel(repos)
    p1 = paper("2601.00001")
    assert await repos.ledger.plan(a, [scored(p1, 9.0), scored(paper("2601.00002")), scored(p1, 1.0)]) == 2
    rows = await repos.ledger.unfinished(a)
    assert [(r.arxiv_id, r.rank, r.score) for r in rows] == [("2601.00001", 0, 9.0), ("2601.00002", 1, 1.0)]


async def test_plan_for_an_unknown_channel(repos: Repositories) -> None:
    assert await repos.ledger.plan(UNKNOWN_ID, []) == 0
    with pytest.raises(StoreError):
        await repos.ledger.plan(UNKNOWN_ID, [scored(paper())])
    assert await repos.ledger.unfinished(UNKNOWN_ID) == []
    assert await repos.ledger.delivered_ids(UNKNOWN_ID, ["2601.00001"]) == set()


async def test_unfinished_oldest_plan_first_then_rank_then_id(repos: Repositories, clock: FixedClock) -> None:
    a, b = await _channel(repos), await _channel(repos, B)
    await repos.ledger.plan(a, [scored(paper("2601.00001")), scored(paper("2601.00002"))])
    await repos.ledger.plan(b, [scored(paper("2601.00009"))])
    clock.current += timedelta(minutes=1)
    await repos.ledger.plan(a, [scored(paper("2601.00003")), scored(paper("2601.00004"))])
    clock.current -= timedelta(minutes=2)  # a plan stamped earlier (another replica's clock) comes first
    await repos.ledger.plan(a, [scored(paper("2601.00005")), scored(paper("2601.00006")), scored(paper("2601.00007"))])
    rows = await repos.ledger.unfinished(a)
    assert [(r.arxiv_id, r.rank) for r in rows] == [
        ("2601.00005", 0),
        ("2601.00006", 1),
        ("2601.00007", 2),
        ("2601.00001", 0),
        ("2601.00002", 1),
        ("2601.00003", 0),
        ("2601.00004", 1),
    ]
    assert [r.arxiv_id for r in await repos.ledger.unfinished(b)] == ["2601.00009"]


async def test_same_plan_time_and_rank_goes_by_id(repos: Repositories) -> None:
    a = await _channel(repos)
    await repos.ledger.plan(a, [scored(paper("2601.00002"))])
    await repos.ledger.plan(a, [scored(paper("2601.00001"))])
    rows = await repos.ledger.unfinished(a)
    assert [(r.arxiv_id, r.rank) for r in rows] == [("2601.00002", 0), ("2601.00001", 0)]
    assert rows[0].id < rows[1].id


async def test_delivered_ids_counts_pending_and_posted_rows_of_the_channel(repos: Repositories) -> None:
    a, b = await _channel(repos), await _channel(repos, B)
    await repos.ledger.plan(a, [scored(paper("2601.00001")), scored(paper("2601.00002"))])
    await repos.ledger.plan(b, [scored(paper("2601.00003"))])
    row = (await repos.ledger.unfinished(a))[0]
    await repos.ledger.mark(row, CardPosted("m1"))
    asked = iter(["2601.00001", "2601.00002", "2601.00003", "2601.00004"])
    assert await repos.ledger.delivered_ids(a, asked) == {"2601.00001", "2601.00002"}
    assert await repos.ledger.delivered_ids(a, []) == set()


async def test_a_posted_card_then_its_thread(repos: Repositories, clock: FixedClock) -> None:
    a = await _channel(repos)
    p = paper("2601.00001", 2)
    await repos.papers.add_many([p])
    await repos.ledger.plan(a, [scored(p, 3.0)])
    row = (await repos.ledger.unfinished(a))[0]
    clock.current += timedelta(seconds=30)
    carded = await repos.ledger.mark(row, CardPosted("1767607200.000100"))
    assert carded == Delivery(
        id=row.id,
        channel_id=a,
        arxiv_id="2601.00001",
        version=2,
        rank=0,
        score=3.0,
        matched=("LLM",),
        state=DeliveryState.POSTED,
        message_id="1767607200.000100",
        thread_state=DeliveryState.PENDING,
        attempts=0,
    )
    assert await repos.ledger.unfinished(a) == [carded]  # its thread is still to post
    assert await repos.ledger.card_paper(A, "1767607200.000100") == (a, "2601.00001", 2)
    posted = await repos.ledger.posted_papers(a)
    assert [(x.paper, x.rank, x.score, x.matched, x.posted_at) for x in posted] == [
        (p, 0, 3.0, ("LLM",), clock.current)
    ]
    threaded = await repos.ledger.mark(carded, ThreadPosted("t1"))
    assert threaded == replace(carded, thread_state=DeliveryState.POSTED, thread_parts=1)
    assert threaded.finished and not carded.finished
    assert await repos.ledger.unfinished(a) == []
    assert await repos.ledger.posted_since(a) == [threaded]


async def test_a_failed_attempt_is_counted_and_the_row_stays_pending(repos: Repositories) -> None:
    a = await _channel(repos)
    await repos.ledger.plan(a, [scored(paper("2601.00001"))])
    row = (await repos.ledger.unfinished(a))[0]
    once = await repos.ledger.mark(row, PostFailed("HTTP 500"))
    twice = await repos.ledger.mark(once, PostFailed("x" * 600))
    assert (once.attempts, twice.attempts, twice.state) == (1, 2, DeliveryState.PENDING)
    assert await repos.ledger.unfinished(a) == [twice]
    assert await repos.last_error(row.id) == "x" * 500
    carded = await repos.ledger.mark(twice, CardPosted("m1"))
    assert carded.attempts == 2 and await repos.last_error(row.id) is None
    # A failed thread post counts on the same row, which stays unfinished until the thread is posted.
    failed_thread = await repos.ledger.mark(carded, PostFailed("thread refused"))
    assert await repos.ledger.unfinished(a) == [failed_thread]
    assert failed_thread.attempts == 3 and failed_thread.state is DeliveryState.POSTED
    assert await repos.last_error(row.id) == "thread refused"


async def test_the_card_index(repos: Repositories) -> None:
    a, b = await _channel(repos), await _channel(repos, B)
    p1, p2 = paper("2601.00001", 3), paper("2601.00002")
    await repos.ledger.record_card(a, "m1", p1)
    await repos.ledger.record_card(a, "m1", p2)  # the first card of a message id wins
    await repos.ledger.record_card(b, "m1", p2)  # message ids are per channel
    assert await repos.ledger.card_paper(A, "m1") == (a, "2601.00001", 3)
    assert await repos.ledger.card_paper(B, "m1") == (b, "2601.00002", 1)
    assert await repos.ledger.card_paper(A, "m2") is None
    assert await repos.ledger.card_paper(ChannelRef("slack", "T9", "C1"), "m1") is None
    assert await repos.ledger.card_paper(ChannelRef("discord", "T1", "C1"), "m1") is None
    # A card recorded outside the digest is no delivery: nothing planned, nothing posted.
    assert await repos.ledger.unfinished(a) == [] and await repos.ledger.posted_papers(a) == []
    with pytest.raises(StoreError):
        await repos.ledger.record_card(UNKNOWN_ID, "m5", p1)


async def test_a_digest_card_and_a_recorded_card_share_the_index(repos: Repositories) -> None:
    a = await _channel(repos)
    await repos.ledger.record_card(a, "m1", paper("2601.00009"))
    await repos.ledger.plan(a, [scored(paper("2601.00001")), scored(paper("2601.00002"))])
    first, second = await repos.ledger.unfinished(a)
    await repos.ledger.mark(first, CardPosted("m1"))  # the message id is taken: the index keeps the first
    await repos.ledger.mark(second, CardPosted("m2"))
    assert await repos.ledger.card_paper(A, "m1") == (a, "2601.00009", 1)
    assert await repos.ledger.card_paper(A, "m2") == (a, "2601.00002", 1)


async def _post(repos: Repositories, channel_id: int, ids: list[str], clock: FixedClock | None = None) -> None:
    papers = [paper(i) for i in ids]
    await repos.papers.add_many(papers)
    await repos.ledger.plan(channel_id, [scored(p) for p in papers])
    for n, row in enumerate(await repos.ledger.unfinished(channel_id)):
        if row.state is DeliveryState.PENDING:
            await repos.ledger.mark(row, CardPosted(f"{row.arxiv_id}-{n}"))
            if clock is not None:
                clock.current += timedelta(seconds=1)


async def test_posted_history_newest_first_then_rank_then_id(repos: Repositories, clock: FixedClock) -> None:
    a, b = await _channel(repos), await _channel(repos, B)
    clock.current = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    await _post(repos, a, ["2601.00001", "2601.00002", "2601.00003"])  # one digest: all at 09:00, by rank
    clock.current = datetime(2026, 1, 6, 9, 0, tzinfo=UTC)
    await _post(repos, a, ["2601.00004", "2601.00005"], clock)  # one second apart
    await _post(repos, b, ["2601.00006"])
    await repos.ledger.plan(a, [scored(paper("2601.00007"))])  # pending: not posted
    order = [p.paper.arxiv_id for p in await repos.ledger.posted_papers(a)]
    assert order == ["2601.00005", "2601.00004", "2601.00001", "2601.00002", "2601.00003"]
    assert [d.arxiv_id for d in await repos.ledger.posted_since(a)] == order
    assert [p.paper.arxiv_id for p in await repos.ledger.posted_papers(a, limit=3)] == order[:3]
    assert await repos.ledger.posted_papers(a, limit=0) == []
    assert [p.paper.arxiv_id for p in await repos.ledger.posted_papers(b)] == ["2601.00006"]
    assert all(p.posted_at.utcoffset() == timedelta(0) for p in await repos.ledger.posted_papers(a))


async def test_posted_papers_since_is_inclusive_and_any_zone(repos: Repositories, clock: FixedClock) -> None:
    a = await _channel(repos)
    clock.current = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    await _post(repos, a, ["2601.00001"])
    clock.current = datetime(2026, 1, 6, 9, 0, tzinfo=UTC)
    await _post(repos, a, ["2601.00002"])
    since = datetime(2026, 1, 6, 9, 0, tzinfo=UTC)
    assert [p.paper.arxiv_id for p in await repos.ledger.posted_papers(a, since=since)] == ["2601.00002"]
    later = since + timedelta(microseconds=1)
    assert await repos.ledger.posted_papers(a, since=later) == []
    berlin = datetime(2026, 1, 5, 10, 0, tzinfo=timezone(timedelta(hours=1)))  # 09:00 UTC
    assert [p.paper.arxiv_id for p in await repos.ledger.posted_papers(a, since=berlin)] == ["2601.00002", "2601.00001"]
    assert [p.paper.arxiv_id for p in await repos.ledger.posted_papers(a, since=berlin, limit=1)] == ["2601.00002"]


async def test_posted_since_counts_from_the_start_of_the_utc_day(repos: Repositories, clock: FixedClock) -> None:
    a = await _channel(repos)
    clock.current = datetime(2026, 1, 5, 23, 59, 59, tzinfo=UTC)
    await _post(repos, a, ["2601.00001"])
    clock.current = datetime(2026, 1, 6, 0, 0, tzinfo=UTC)
    await _post(repos, a, ["2601.00002"])
    assert [d.arxiv_id for d in await repos.ledger.posted_since(a, date(2026, 1, 6))] == ["2601.00002"]
    assert [d.arxiv_id for d in await repos.ledger.posted_since(a, date(2026, 1, 5))] == ["2601.00002", "2601.00001"]
    assert await repos.ledger.posted_since(a, date(2026, 1, 7)) == []


async def test_a_posted_paper_without_a_stored_version(repos: Repositories) -> None:
    a = await _channel(repos)
    await repos.papers.add_many([paper("2601.00001", 1)])
    await repos.ledger.plan(a, [scored(paper("2601.00001", 2)), scored(paper("2601.00002"))])
    for row in await repos.ledger.unfinished(a):
        await repos.ledger.mark(row, CardPosted(f"m-{row.arxiv_id}"))
    # The feed and the export show papers with their text: v2 and 2601.00002 are not stored, so none.
    assert await repos.ledger.posted_papers(a) == []
    # The posted rows are there all the same.
    assert [(d.arxiv_id, d.version) for d in await repos.ledger.posted_since(a)] == [
        ("2601.00001", 2),
        ("2601.00002", 1),
    ]


async def test_marks_on_a_row_not_in_the_ledger_change_no_row(repos: Repositories) -> None:
    a = await _channel(repos)
    await repos.ledger.plan(a, [scored(paper("2601.00001"))])
    row = (await repos.ledger.unfinished(a))[0]
    ghost = replace(row, id=row.id + 100, arxiv_id="2601.00099")
    assert (await repos.ledger.mark(ghost, ThreadPosted("t"))).thread_state is DeliveryState.POSTED
    assert (await repos.ledger.mark(ghost, PostFailed("e"))).attempts == 1
    assert await repos.ledger.unfinished(a) == [row]
    assert await repos.ledger.posted_since(a) == []


async def test_posted_at_the_same_instant_goes_by_rank_before_id(repos: Repositories) -> None:
    a = await _channel(repos)
    papers = [paper(f"2601.0000{i}") for i in (1, 2, 3)]
    await repos.papers.add_many(papers)
    await repos.ledger.plan(a, [scored(papers[0]), scored(papers[1])])  # ranks 0 and 1
    await repos.ledger.plan(a, [scored(papers[2])])  # rank 0, a higher row id
    for row in await repos.ledger.unfinished(a):
        await repos.ledger.mark(row, CardPosted(f"m-{row.arxiv_id}"))  # all at the clock's one instant
    expected = ["2601.00001", "2601.00003", "2601.00002"]
    assert [p.paper.arxiv_id for p in await repos.ledger.posted_papers(a)] == expected
    assert [d.arxiv_id for d in await repos.ledger.posted_since(a)] == expected


async def test_the_intent_is_recorded_before_the_card_is_sent(repos: Repositories, clock: FixedClock) -> None:
    a = await _channel(repos)
    await repos.ledger.plan(a, [scored(paper("2601.00001"))])
    [row] = await repos.ledger.unfinished(a)
    assert (row.key, row.sending_since, row.thread_parts) == (None, None, 0)
    clock.current += timedelta(seconds=5)
    sending = await repos.ledger.mark(row, CardSending("k" * 20))
    assert sending == replace(row, state=DeliveryState.SENDING, key="k" * 20, sending_since=clock.current)
    assert await repos.ledger.unfinished(a) == [sending]  # what recovery reads back after a crash
    assert await repos.ledger.card_paper(A, "m1") is None and await repos.ledger.posted_since(a) == []
    clock.current += timedelta(seconds=5)
    posted = await repos.ledger.mark(sending, CardPosted("m1"))
    assert posted == replace(sending, state=DeliveryState.POSTED, message_id="m1", sending_since=None)
    assert await repos.ledger.unfinished(a) == [posted]  # the key stays: the thread's parts derive from it
    assert await repos.ledger.card_paper(A, "m1") == (a, "2601.00001", 1)


async def test_proof_of_nothing_created_goes_back_to_pending_an_unknown_outcome_stays_sending(
    repos: Repositories, clock: FixedClock
) -> None:
    a = await _channel(repos)
    await repos.ledger.plan(a, [scored(paper("2601.00001"))])
    [row] = await repos.ledger.unfinished(a)
    refused = await repos.ledger.mark(await repos.ledger.mark(row, CardSending("key-1")), PostFailed("HTTP 403"))
    assert (refused.state, refused.key, refused.sending_since, refused.attempts) == (
        DeliveryState.PENDING, "key-1", None, 1
    )
    assert await repos.ledger.unfinished(a) == [refused]
    sent_at = clock.current
    sending = await repos.ledger.mark(refused, CardSending("key-1"))
    clock.current += timedelta(minutes=1)
    lost = await repos.ledger.mark(sending, PostUnconfirmed("answer lost: connection reset"))
    # Still sending since the intent: the search for the message starts there.
    assert (lost.state, lost.sending_since, lost.attempts) == (DeliveryState.SENDING, sent_at, 2)
    assert await repos.ledger.unfinished(a) == [lost]
    assert await repos.last_error(row.id) == "answer lost: connection reset"


async def test_a_split_thread_is_recorded_part_by_part(repos: Repositories, clock: FixedClock) -> None:
    a = await _channel(repos)
    await repos.ledger.plan(a, [scored(paper("2601.00001"))])
    [row] = await repos.ledger.unfinished(a)
    carded = await repos.ledger.mark(await repos.ledger.mark(row, CardSending("key-1")), CardPosted("m1"))
    first = await repos.ledger.mark(carded, ThreadSending("key-1", 0))
    assert (first.thread_state, first.thread_parts, first.sending_since) == (DeliveryState.SENDING, 0, clock.current)
    one = await repos.ledger.mark(first, ThreadPosted("t0", part=0, last=False))
    assert (one.thread_state, one.thread_parts, one.sending_since) == (DeliveryState.PENDING, 1, None)
    assert await repos.ledger.unfinished(a) == [one]
    clock.current += timedelta(seconds=2)
    second = await repos.ledger.mark(one, ThreadSending("key-1", 1))
    unknown = await repos.ledger.mark(second, PostUnconfirmed("timeout"))
    assert (unknown.thread_state, unknown.thread_parts, unknown.sending_since) == (
        DeliveryState.SENDING, 1, clock.current
    )
    assert await repos.ledger.unfinished(a) == [unknown]
    refused = await repos.ledger.mark(unknown, PostFailed("HTTP 400"))
    # Only the part in flight goes back: the card stays posted, part 0 stays counted.
    assert (refused.state, refused.thread_state, refused.thread_parts) == (
        DeliveryState.POSTED, DeliveryState.PENDING, 1
    )
    assert await repos.ledger.unfinished(a) == [refused]
    done = await repos.ledger.mark(await repos.ledger.mark(refused, ThreadSending("key-1", 1)), ThreadPosted("t1", 1))
    assert (done.thread_state, done.thread_parts, done.attempts, done.finished) == (DeliveryState.POSTED, 2, 2, True)
    assert await repos.ledger.unfinished(a) == []
    assert [d.id for d in await repos.ledger.posted_since(a)] == [row.id]


async def test_unfinished_channels_are_those_with_a_row_not_done_planned_by_then(
    repos: Repositories, clock: FixedClock
) -> None:
    a, b, c = await _channel(repos), await _channel(repos, B), await _channel(repos, OTHER_WORKSPACE)
    start = clock.current
    await _post(repos, a, ["2601.00001"])  # card posted, thread still pending
    await repos.ledger.plan(b, [scored(paper("2601.00002"))])
    [row] = await repos.ledger.unfinished(b)
    await repos.ledger.mark(await repos.ledger.mark(row, CardSending("k")), CardPosted("m"))
    [row] = await repos.ledger.unfinished(b)
    await repos.ledger.mark(row, ThreadPosted("t"))  # b is done
    clock.current += timedelta(minutes=10)
    await repos.ledger.plan(c, [scored(paper("2601.00003"))])
    assert await repos.ledger.unfinished_channels(planned_before=clock.current) == [a, c]
    assert await repos.ledger.unfinished_channels(planned_before=start) == [a]
    assert await repos.ledger.unfinished_channels(planned_before=start - timedelta(seconds=1)) == []
    berlin = (start + timedelta(minutes=10)).astimezone(timezone(timedelta(hours=1)))
    assert await repos.ledger.unfinished_channels(planned_before=berlin) == [a, c]


async def test_a_card_due_to_show_its_tldr_is_unfinished_until_updated_or_refused(repos: Repositories) -> None:
    a = await _channel(repos)
    await repos.ledger.plan(a, [scored(paper("2601.00001")), scored(paper("2601.00002")), scored(paper("2601.00003"))])
    rows = await repos.ledger.unfinished(a)
    threaded = []
    for row, tldr in zip(rows, ["Short <!channel> sentence.", "Another one.", "  "], strict=True):
        intent = await repos.ledger.mark(row, CardSending(f"k{row.id}"))
        carded = await repos.ledger.mark(intent, CardPosted(f"m{row.id}"))
        sending = await repos.ledger.mark(carded, ThreadSending(f"k{row.id}", 0))
        threaded.append(await repos.ledger.mark(sending, ThreadPosted(f"t{row.id}", 0, last=True, tldr=tldr)))
    due, other, blank = threaded
    assert (due.card_update, due.tldr, due.finished) == (CardUpdateState.PENDING, "Short <!channel> sentence.", False)
    assert (blank.card_update, blank.finished) == (None, True)  # nothing to show: done with its thread
    assert await repos.ledger.unfinished(a) == [due, other]
    assert await repos.ledger.unfinished_channels(planned_before=datetime(2100, 1, 1, tzinfo=UTC)) == [a]
    updated = await repos.ledger.mark(due, CardUpdated())
    assert (updated.card_update, updated.finished) == (CardUpdateState.DONE, True)
    failed = await repos.ledger.mark(other, CardUpdateFailed("HTTP 503"))
    assert (failed.card_update, failed.attempts) == (CardUpdateState.PENDING, 1)
    assert await repos.ledger.unfinished(a) == [failed]  # retried later, with its TL;DR kept
    assert await repos.last_error(other.id) == "HTTP 503"
    refused = await repos.ledger.mark(failed, CardUpdateFailed("message_not_found", refused=True))
    assert (refused.card_update, refused.attempts, refused.finished) == (CardUpdateState.REFUSED, 2, True)
    assert await repos.ledger.unfinished(a) == []
    assert sorted(d.id for d in await repos.ledger.posted_since(a)) == [r.id for r in rows]
    assert {d.id: d.card_update for d in await repos.ledger.posted_since(a)} == {
        due.id: CardUpdateState.DONE, other.id: CardUpdateState.REFUSED, blank.id: None
    }


async def test_a_digest_plans_reads_and_marks_many_channels_at_once_as_row_by_row(
    repos: Repositories, clock: FixedClock
) -> None:
    a, b, c = await _channel(repos), await _channel(repos, B), await _channel(repos, OTHER_WORKSPACE)
    await repos.ledger.plan(a, [scored(paper("2601.00001"))])  # already planned: left alone
    picks = [scored(paper("2601.00001")), scored(paper("2601.00002")), scored(paper("2601.00001"))]
    assert await repos.ledger.plan_many({a: picks, b: picks[:2], c: []}) == 3
    todo = await repos.ledger.unfinished_many([c, b, a])
    assert todo == {a: await repos.ledger.unfinished(a), b: await repos.ledger.unfinished(b), c: []}
    assert [(r.arxiv_id, r.rank) for r in todo[a]] == [("2601.00001", 0), ("2601.00002", 1)]
    first, second = todo[a]
    other, _ = todo[b]
    intents = await repos.ledger.mark_many(
        [(first, CardSending("ka")), (second, CardSending("kb")), (other, CardSending("kc"))]
    )
    assert intents == [await repos.ledger.unfinished(a)][0] + [(await repos.ledger.unfinished(b))[0]]
    clock.current += timedelta(seconds=5)
    posted = await repos.ledger.mark_many(
        [(intents[0], CardPosted("m1")), (intents[1], PostFailed("HTTP 400")), (intents[2], CardPosted("m3"))]
    )
    assert [(r.state, r.message_id, r.attempts) for r in posted] == [
        (DeliveryState.POSTED, "m1", 0),
        (DeliveryState.PENDING, None, 1),
        (DeliveryState.POSTED, "m3", 0),
    ]
    assert await repos.ledger.card_paper(A, "m1") == (a, "2601.00001", 1)
    assert await repos.ledger.card_paper(B, "m3") == (b, "2601.00001", 1)
    parts = await repos.ledger.mark_many([(posted[0], ThreadSending("ka", 0)), (posted[2], ThreadSending("kc", 0))])
    done = await repos.ledger.mark_many(
        [(parts[0], ThreadPosted("t1", 0, last=True, tldr="Short.")), (parts[1], ThreadPosted("t3", 0, last=True))]
    )
    assert [(r.thread_state, r.card_update, r.tldr) for r in done] == [
        (DeliveryState.POSTED, CardUpdateState.PENDING, "Short."),
        (DeliveryState.POSTED, None, None),
    ]
    [updated] = await repos.ledger.mark_many([(done[0], CardUpdated())])
    assert updated.finished and await repos.ledger.unfinished_many([a, b]) == {a: [posted[1]], b: [todo[b][1]]}
    assert await repos.ledger.posted_since(a) == [updated]
    assert await repos.ledger.mark_many([]) == []
