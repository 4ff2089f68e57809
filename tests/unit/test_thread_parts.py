"""A split thread reply through the ledger's journal: every part sent exactly once across failures and restarts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.delivery.runner import LedgerThread
from bot.delivery.thread_parts import new_post_key, part_key, post_parts
from bot.errors import PublishOutcomeUnknown
from bot.models import CardPosted, CardSending, DeliveryState, PostKey, PostUnconfirmed, ScoredPaper
from tests.fakes.clock import FixedClock
from tests.fakes.core import CHANNEL, TODAY
from tests.fakes.repositories import FakeLedger, fake_repositories


class Thread:
    """A platform thread: messages by key; ``lose`` parts are created but their answer is lost."""

    def __init__(self, *, lose: set[int]) -> None:
        self.lose = lose
        self.created: list[tuple[int, str]] = []
        self.by_key: dict[str, str] = {}
        self.looked: list[str] = []

    async def send(self, part: int, key: PostKey | None) -> str:
        assert key is not None and key.value not in self.by_key
        message_id = f"msg-{len(self.created)}"
        self.created.append((part, message_id))
        self.by_key[key.value] = message_id
        if part in self.lose:
            self.lose.discard(part)
            raise PublishOutcomeUnknown(f"answer to part {part} lost")
        return message_id

    async def find(self, _n: int, part: int, key: PostKey) -> str | None:
        assert key.sending_since is not None
        self.looked.append(key.value)
        return self.by_key.get(key.value)


async def carded_row(clock: FixedClock) -> tuple[FakeLedger, LedgerThread]:
    repos = fake_repositories(clock=clock)
    channel = await repos.channels.get_or_create(CHANNEL)
    await repos.ledger.plan(channel.id, [ScoredPaper(paper=TODAY[0], score=1.0, matched=())])
    [row] = await repos.ledger.unfinished(channel.id)
    row = await repos.ledger.mark(await repos.ledger.mark(row, CardSending(new_post_key())), CardPosted("card"))
    return repos.ledger, LedgerThread(ledger=repos.ledger, row=row)


async def test_each_part_is_recorded_before_and_after_it_is_sent() -> None:
    clock = FixedClock()
    ledger, journal = await carded_row(clock)
    thread = Thread(lose=set())
    first = await post_parts([0, 1, 2], journal=journal, send=thread.send, find=thread.find)
    assert first == "msg-0" and [p for p, _ in thread.created] == [0, 1, 2]
    key = journal.row.key
    assert key is not None and sorted(thread.by_key) == [part_key(key, n) for n in range(3)]
    assert (journal.row.thread_state, journal.row.thread_parts) == (DeliveryState.POSTED, 3)
    kinds = [type(m).__name__ for _, m in ledger.marks][2:]
    assert kinds == ["ThreadSending", "ThreadPosted"] * 3
    assert thread.looked == []  # nothing was in doubt


async def test_a_lost_answer_mid_thread_is_found_on_resume_and_the_rest_sent_once() -> None:
    clock = FixedClock()
    ledger, journal = await carded_row(clock)
    thread = Thread(lose={1})
    with pytest.raises(PublishOutcomeUnknown):
        await post_parts([0, 1, 2], journal=journal, send=thread.send, find=thread.find)
    await ledger.mark(journal.row, PostUnconfirmed("answer to part 1 lost"))
    [row] = [r.delivery() for r in ledger.rows]
    assert (row.thread_state, row.thread_parts, row.sending_since) == (DeliveryState.SENDING, 1, clock.current)
    clock.current += timedelta(minutes=5)

    resumed = LedgerThread(ledger=ledger, row=row)  # a later run, or a restarted process
    assert resumed.resume() == (1, PostKey(part_key(row.key or "", 1), row.sending_since))
    await post_parts([0, 1, 2], journal=resumed, send=thread.send, find=thread.find)
    assert [p for p, _ in thread.created] == [0, 1, 2]  # part 1 was found, not sent again
    assert thread.looked == [part_key(row.key or "", 1)]
    assert (resumed.row.thread_state, resumed.row.thread_parts) == (DeliveryState.POSTED, 3)


async def test_a_summary_now_shorter_than_what_was_posted_ends_the_thread_without_sending() -> None:
    clock = FixedClock()
    ledger, journal = await carded_row(clock)
    key = journal.row.key or ""
    for n in range(3):  # an earlier summary had more parts: three were posted, a fourth was to come
        await journal.sending(n)
        await journal.sent(n, f"old-{n}", last=False)
    thread = Thread(lose=set())
    assert await post_parts([0, 1], journal=LedgerThread(ledger=ledger, row=journal.row), send=thread.send) is None
    assert thread.created == [] and thread.looked == []
    [row] = [r for r in ledger.rows]
    assert (row.thread_state, row.thread_parts, row.thread_message_id, row.post_key) == (
        DeliveryState.POSTED, 3, "old-0", key
    )


def test_part_keys_fit_a_discord_nonce() -> None:
    key = new_post_key()
    assert len(key) == 20 and len(part_key(key, 999)) <= 25
    with pytest.raises(ValueError, match="longer than 25"):
        part_key(key, 100000)
