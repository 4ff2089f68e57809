"""SlackPublisher against the fake Slack Web API: pacing, concurrency bound, retries, errors, long threads."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.publisher import METADATA_EVENT, ChannelPacer, SlackPublisher, make_client, retry_handlers
from bot.errors import PublishError, PublishOutcomeUnknown, PublishRefused
from bot.models import ChannelRef, MessageRef, Paper, PaperCard, PostKey, Reply, SummarySection, ThreadSummary
from tests.fakes.clock import ManualClock
from tests.fakes.faults import HANG, LOST, RESET
from tests.fakes.journal import MemoryJournal
from tests.fakes.slack_api import BOT_TOKEN, TEAM, FakeSlack, running_fake_slack

PAPER = Paper(
    arxiv_id="2601.00644",
    version=1,
    title="Serving LLMs at the edge",
    abstract="We serve large language models on small devices.",
    authors=("Ada Lovelace", "Alan Turing"),
    categories=("cs.DC",),
    primary_category="cs.DC",
)
CARD = PaperCard(paper=PAPER, score=1.5, matched=("LLM",), teaser="We serve LLMs.", is_cross_list=False)


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    """The fake Slack Web API."""
    async with running_fake_slack() as server:
        yield server


def publisher(
    slack: FakeSlack,
    *,
    interval: float = 0.0,
    bound: int = 4,
    pacer: ChannelPacer | None = None,
    timeout_s: float = 30.0,
) -> SlackPublisher:
    """A publisher on the fake."""
    client = make_client(token=BOT_TOKEN, api_url=slack.api_url.rstrip("/"), timeout_s=timeout_s)
    return SlackPublisher(client=client, post_interval_s=interval, max_concurrency=bound, pacer=pacer)


def channel(name: str = "C1") -> ChannelRef:
    """A Slack channel in the fake workspace."""
    return ChannelRef("slack", TEAM, name)


def channels_posted(slack: FakeSlack) -> list[str]:
    """The channel of each successful chat.postMessage, in order."""
    return [call.args["channel"] for call in slack.posts()]


async def test_posts_to_one_channel_are_paced_and_other_channels_are_not_held_up(slack: FakeSlack) -> None:
    clock = ManualClock()
    pub = publisher(slack, pacer=ChannelPacer(interval_s=1.0, clock=clock.time, sleep=clock.sleep))
    posting = asyncio.gather(
        *(pub.post_card(CARD, channel=channel("C1")) for _ in range(3)), pub.post_card(CARD, channel=channel("C2"))
    )
    # At time 0: one post to each channel; C1's next one waits for its turn 1 s later, the third behind it.
    await slack.wait_for(lambda: len(slack.posts()) == 2)
    await clock.wait_for_sleepers(1)
    assert sorted(channels_posted(slack)) == ["C1", "C2"]
    assert clock.sleeps == [1.0]
    clock.advance(0.5)
    assert clock.sleeping == 1  # nothing is due before its turn
    clock.advance(0.5)
    await slack.wait_for(lambda: len(slack.posts()) == 3)
    await clock.wait_for_sleepers(1)
    assert channels_posted(slack)[2] == "C1" and clock.sleeps == [1.0, 1.0]  # a second after the one before it
    clock.advance(1.0)
    refs = await posting
    assert channels_posted(slack)[3] == "C1"
    assert len({r.message_id for r in refs}) == 4


@pytest.mark.looptime
async def test_a_429_pauses_that_channel_only_and_the_pace_holds_after_the_retry(slack: FakeSlack) -> None:
    # looptime: the loop's clock is a fake one that jumps over sleeps; the fake stamps calls with it too.
    loop = asyncio.get_running_loop()
    slack.clock = loop.time
    slack.fail((429, {"Retry-After": "5"}), after=2)  # the third post (C1's second or C2's...) is refused
    pub = publisher(slack, interval=1.0, bound=1)

    async def post_all(name: str) -> None:
        for _ in range(6):
            await pub.post_card(CARD, channel=channel(name))

    await asyncio.gather(post_all("C1"), post_all("C2"))
    [limited] = [c for c in slack.calls_to("chat.postMessage") if c.status == 429]
    paused, other = limited.args["channel"], ({"C1", "C2"} - {limited.args["channel"]}).pop()

    def sent_at(name: str) -> list[float]:
        return [c.at for c in slack.posts() if c.args["channel"] == name]

    for name in ("C1", "C2"):
        times = sent_at(name)
        assert len(times) == 6
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert min(gaps) >= 1.0 - 1e-6, (name, gaps)  # never two messages to a channel within the interval
    assert sent_at(other)[-1] - sent_at(other)[0] < 5.0 + 1e-6  # not held up by the other channel's pause
    retry = next(t for t in sent_at(paused) if t > limited.at)
    assert retry - limited.at >= 5.0 - 1e-6  # the paused channel waited its Retry-After
    after = [t for t in sent_at(paused) if t >= retry]
    assert all(round(b - a, 3) >= 1.0 for a, b in itertools.pairwise(after)) and len(after) > 1


@pytest.mark.looptime
async def test_concurrent_requests_per_workspace_are_bounded(slack: FakeSlack) -> None:
    # Each answer takes 10 s of loop time (looptime: no real second): every request the bound lets through
    # has arrived long before the first answer.
    slack.latency_s = 10.0
    pub = publisher(slack, bound=2)
    await asyncio.gather(*(pub.post_card(CARD, channel=channel(f"C{i}")) for i in range(6)))
    assert len(slack.posts()) == 6
    assert slack.max_in_flight == 2


@pytest.mark.looptime
async def test_retry_after_is_honoured(slack: FakeSlack) -> None:
    # slack_sdk's retry handler sleeps on the event loop; looptime makes that loop's clock a fake one that
    # jumps over sleeps (I/O takes no loop time), so the wait is measured exactly and costs no real second.
    loop = asyncio.get_running_loop()
    slack.fail((429, {"Retry-After": "30"}))
    started = loop.time()
    ref = await publisher(slack).post_card(CARD, channel=channel())
    waited = loop.time() - started
    limited, ok = slack.calls_to("chat.postMessage")
    assert (limited.status, ok.status) == (429, 200)
    assert 30.0 <= waited <= 31.0  # Retry-After, plus slack_sdk's jitter of under a second
    assert ref == MessageRef(channel(), ok.answer["ts"])


async def test_refusals_and_unreachable_slack_become_publish_errors(slack: FakeSlack) -> None:
    with pytest.raises(PublishError, match=r"channel_not_found; invite the bot"):
        await publisher(slack).post_card(CARD, channel=channel(""))
    slack.bot_tokens.clear()
    with pytest.raises(PublishError, match="invalid_auth"):
        await publisher(slack).post_card(CARD, channel=channel())
    # No retry handlers here: the retries of a refused connection are slack_sdk's, and take seconds.
    dead = SlackPublisher(client=AsyncWebClient(token=BOT_TOKEN, base_url="http://127.0.0.1:9/api/", retry_handlers=[]))
    with pytest.raises(PublishError, match="could not be reached") as refused:
        await dead.post_card(CARD, channel=channel())
    assert not isinstance(refused.value, PublishOutcomeUnknown)  # the connection never opened: nothing can exist


async def test_a_long_summary_goes_to_the_thread_as_several_replies(slack: FakeSlack) -> None:
    sections = tuple(SummarySection(title=f"Part {i}", body="word " * 2000) for i in range(12))
    summary = ThreadSummary(paper=PAPER, heading="Summary", sections=sections)
    parent = MessageRef(channel(), "1767600000.000001")
    ref = await publisher(slack).post_thread(summary, parent=parent)
    replies = slack.posts()
    assert len(replies) >= 2
    assert all(r.args["thread_ts"] == parent.message_id for r in replies)
    assert all(len(r.args["blocks"]) <= 50 for r in replies)
    assert ref == MessageRef(channel(), replies[0].answer["ts"])


async def test_ephemeral_reply_goes_to_the_user_and_a_public_one_to_the_channel(slack: FakeSlack) -> None:
    pub = publisher(slack)
    await pub.send_reply(Reply(text="only you"), channel=channel(), user_id="U1")
    await pub.send_reply(Reply(text="everyone", ephemeral=False), channel=channel(), user_id="U1")
    (ephemeral,) = slack.calls_to("chat.postEphemeral")
    (public,) = slack.posts()
    assert ephemeral.args["user"] == "U1" and ephemeral.args["blocks"][0]["text"]["text"] == "only you"
    assert public.args["blocks"][0]["text"]["text"] == "everyone" and public.args["unfurl_links"] is False


KEY = "0123456789abcdef0123"
SENT_AT = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
"""When the intent of a post whose outcome was unknown was recorded (before the fake created anything)."""
LONG = ThreadSummary(
    paper=PAPER,
    heading="Summary",
    sections=tuple(SummarySection(title=f"Part {i}", body="word " * 2000) for i in range(30)),
)
"""Three messages or more (50 blocks each)."""


def metadata_keys(messages: list[dict[str, Any]]) -> list[str]:
    """The post key in each message's metadata."""
    return [m["metadata"]["event_payload"]["key"] for m in messages]


@pytest.mark.parametrize("fault", [LOST, RESET, 500])
async def test_a_card_post_that_may_have_reached_slack_is_not_retried(slack: FakeSlack, fault: str | int) -> None:
    slack.fail(fault)
    with pytest.raises(PublishOutcomeUnknown):
        await publisher(slack).post_card(CARD, channel=channel(), key=PostKey(KEY))
    assert len(slack.calls_to("chat.postMessage")) == 1  # slack_sdk sent it once, and did not send it again
    assert len(slack.messages.get("C1", [])) == (1 if fault == LOST else 0)


@pytest.mark.parametrize("fault", [LOST, RESET, 500])
async def test_the_resend_finds_the_card_by_its_key_or_posts_it_once(slack: FakeSlack, fault: str | int) -> None:
    pub = publisher(slack)
    await pub.post_card(CARD, channel=channel(), key=PostKey("another-key-of-ours"))  # a card already there
    slack.fail(fault)
    with pytest.raises(PublishOutcomeUnknown):
        await pub.post_card(CARD, channel=channel(), key=PostKey(KEY))
    ref = await pub.post_card(CARD, channel=channel(), key=PostKey(KEY, sending_since=SENT_AT))
    assert metadata_keys(slack.messages["C1"]) == ["another-key-of-ours", KEY]  # exactly once, lost or not
    assert ref == MessageRef(channel(), slack.messages["C1"][1]["ts"])
    (lookup,) = slack.calls_to("conversations.history")
    assert lookup.args["channel"] == "C1" and lookup.args["include_all_metadata"] == "true"
    assert float(lookup.args["oldest"]) == SENT_AT.timestamp() - 60  # from the intent on (a minute of skew)
    assert slack.messages["C1"][1]["metadata"] == {"event_type": METADATA_EVENT, "event_payload": {"key": KEY}}


async def test_the_search_is_bounded_by_the_intents_time(slack: FakeSlack) -> None:
    pub = publisher(slack)
    await pub.post_card(CARD, channel=channel(), key=PostKey(KEY))
    later = datetime.fromtimestamp(float(slack.messages["C1"][0]["ts"]), UTC) + timedelta(minutes=2)
    await pub.post_card(CARD, channel=channel(), key=PostKey(KEY, sending_since=later))
    assert len(slack.messages["C1"]) == 2  # the older message is outside the search: not taken for this post


@pytest.mark.looptime
async def test_a_hang_past_the_client_timeout_is_not_retried_and_the_card_is_found(slack: FakeSlack) -> None:
    slack.fail(HANG)
    slack.hang_s = 120.0
    pub = publisher(slack, timeout_s=10.0)
    with pytest.raises(PublishOutcomeUnknown, match="could not be reached"):
        await pub.post_card(CARD, channel=channel(), key=PostKey(KEY))
    assert len(slack.calls_to("chat.postMessage")) == 1 and metadata_keys(slack.messages["C1"]) == [KEY]
    ref = await pub.post_card(CARD, channel=channel(), key=PostKey(KEY, sending_since=SENT_AT))
    assert ref.message_id == slack.messages["C1"][0]["ts"] and len(slack.messages["C1"]) == 1


async def test_without_the_history_scope_one_warning_names_it_and_posts_go_out_as_before(
    slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    slack.scopes.discard("channels:history")
    pub = publisher(slack)
    with caplog.at_level(logging.WARNING, logger="adapters.slack.publisher"):
        await pub.post_card(CARD, channel=channel(), key=PostKey(KEY, sending_since=SENT_AT))
        await pub.post_card(CARD, channel=channel(), key=PostKey("k2", sending_since=SENT_AT))
    assert [c.answer["error"] for c in slack.calls_to("conversations.history")] == ["missing_scope"] * 2
    assert len(slack.messages["C1"]) == 2
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "missing scope channels:history" in warning and "add channels:history to the app" in warning


async def test_a_split_thread_reply_is_exactly_once_per_part_across_a_lost_answer(slack: FakeSlack) -> None:
    parent = MessageRef(channel(), "1767600000.000001")
    slack.messages["C1"] = [{"type": "message", "ts": parent.message_id, "text": "card"}]
    journal = MemoryJournal(KEY, sent_at=SENT_AT)
    slack.fail(LOST, after=1)  # the second part is created, its answer lost
    pub = publisher(slack)
    with pytest.raises(PublishOutcomeUnknown):
        await pub.post_thread(LONG, parent=parent, journal=journal)
    assert len(journal.posted) == 1 and journal.sending_part == 1
    await pub.post_thread(LONG, parent=parent, journal=journal)  # the retry: part 1 is found, the rest sent
    replies = slack.replies[("C1", parent.message_id)]
    assert len(replies) >= 3 and journal.done
    assert metadata_keys(replies) == [f"{KEY}.{n}" for n in range(len(replies))]  # each part once, in order
    assert journal.posted == [r["ts"] for r in replies]
    (lookup,) = slack.calls_to("conversations.replies")
    assert lookup.args["ts"] == parent.message_id


@pytest.mark.parametrize(
    ("method", "error", "status", "retried"),
    [
        ("chat.postMessage", aiohttp.ServerDisconnectedError(), None, False),  # may have been created
        ("chat.postMessage", aiohttp.ClientOSError(104, "Connection reset by peer"), None, False),
        ("chat.postMessage", None, 503, False),
        ("chat.postMessage", aiohttp.ConnectionTimeoutError(), None, True),  # never connected: nothing sent
        ("chat.postMessage", None, 429, False),  # the publisher pauses that channel itself, outside the bound
        ("chat.update", None, 429, False),
        ("users.info", None, 429, True),  # Bolt's own calls: slack_sdk waits Retry-After
        ("conversations.history", aiohttp.ServerDisconnectedError(), None, True),  # a read: safe to repeat
        ("conversations.history", None, 503, True),
    ],
)
async def test_which_failures_slack_sdk_may_retry(
    method: str, error: Exception | None, status: int | None, retried: bool
) -> None:
    request = HttpRequest(method="POST", url=f"https://slack.com/api/{method}", headers={})
    response = None if status is None else HttpResponse(status_code=status, headers={"retry-after": ["0"]})
    decisions = [
        await handler.can_retry_async(state=RetryState(), request=request, response=response, error=error)
        for handler in retry_handlers()
    ]
    assert any(decisions) is retried


async def test_a_card_update_edits_the_posted_card_in_place_and_its_tldr_cannot_ping_or_format(
    slack: FakeSlack,
) -> None:
    pub = publisher(slack)
    ref = await pub.post_card(CARD, channel=channel(), key=PostKey(KEY))
    hostile = "We win <!channel> @everyone <@U123> *bold* _it_ \u202egnp.exe"
    for _ in range(2):  # repeated (an interrupted update retried): the same message, the same text
        await pub.update_card(replace(CARD, tldr=hostile), message=ref, key=PostKey(KEY))
    [card] = slack.messages["C1"]
    assert len(slack.posts()) == 1 and slack.replies == {}  # never a second message
    assert card["ts"] == ref.message_id and "edited" in card
    [update, again] = slack.calls_to("chat.update")
    assert update.args["ts"] == ref.message_id and update.args["blocks"] == again.args["blocks"]
    [tldr] = [b["text"] for b in card["blocks"] if b["type"] == "section" and "TL;DR" in b["text"]["text"]]
    assert tldr["type"] == "plain_text"  # Slack renders no formatting, link or mention in it
    assert "<" not in tldr["text"] and "&lt;!channel&gt;" in tldr["text"] and "\u202e" not in tldr["text"]
    assert "@\u2060everyone" in tldr["text"]
    assert card["metadata"] == {"event_type": METADATA_EVENT, "event_payload": {"key": KEY}}  # still findable
    assert [b["type"] for b in card["blocks"]][-1] == "actions"  # the Save and PDF buttons stay


@pytest.mark.looptime
async def test_updating_a_card_slack_no_longer_has_is_refused_and_a_lost_answer_is_simply_repeated(
    slack: FakeSlack,
) -> None:
    pub = publisher(slack)
    with pytest.raises(PublishRefused, match="message_not_found"):
        await pub.update_card(CARD, message=MessageRef(channel(), "1767600000.000001"))
    ref = await pub.post_card(CARD, channel=channel())
    slack.fail(LOST, method="chat.update")  # the edit is made, its answer lost: slack_sdk repeats the edit
    await pub.update_card(replace(CARD, tldr="Short."), message=ref)
    assert [c.fault for c in slack.calls_to("chat.update")][-2:] == [LOST, None]
    assert len(slack.messages["C1"]) == 1 and len(slack.posts()) == 1
    slack.fail(503, 503, 503, 503, method="chat.update")  # more than slack_sdk's retries
    with pytest.raises(PublishError) as failed:
        await pub.update_card(replace(CARD, tldr="Short."), message=ref)
    assert not isinstance(failed.value, PublishRefused)  # worth retrying later
