"""Slack HTTP mode against replays: a signed request seen before, an event already handled, a malformed timestamp."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import pytest

from adapters.slack.runtime import ReplayGuard
from tests.conftest import FEED_0105
from tests.fakes.arxiv_server import FakeArxivServer
from tests.fakes.clock import FixedClock, ManualClock
from tests.fakes.slack_api import FakeSlack, command_form, reaction_event, running_fake_slack, signed_headers
from tests.integration.test_slack_app import (
    CHANNEL,
    FORM,
    cards,
    http_client,
    message_text,
    slack_bot,
    subscribe_dc_llm,
)

JSON = {"Content-Type": "application/json"}


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    """The fake Slack Web API and response_url."""
    async with running_fake_slack() as server:
        yield server


@pytest.fixture
def cs_dc(arxiv: FakeArxivServer) -> FakeArxivServer:
    """The fake arXiv also serving the 2026-01-05 feed for cs.DC alone."""
    arxiv.feeds[frozenset({"cs.DC"})] = FEED_0105.read_bytes()
    return arxiv


async def test_a_replayed_signed_command_within_the_window_changes_nothing(
    db_url: str, cs_dc: FakeArxivServer, clock: FixedClock, slack: FakeSlack
) -> None:
    async with slack_bot(db_url, cs_dc, clock, slack) as runtime, http_client(runtime, slack) as client:
        body = command_form("subscribe cs.DC", response_url=slack.response_url("sub"))
        headers = signed_headers(body) | FORM
        assert (await client.post(body, headers))[0] == 200
        await slack.wait_for(lambda: slack.responded("sub"))
        assert "Unsubscribed from cs.DC" in await client.run("unsubscribe cs.DC", "unsub")
        # An attacker who saw the first request sends it again, byte for byte, within the 5 minutes.
        assert await client.post(body, headers) == (200, "")
        record = await runtime.services.channels.get(CHANNEL)
        assert record is not None and record.categories == ()
        assert len(slack.responded("sub")) == 1  # the replay ran nothing: no second answer


async def test_an_event_already_handled_is_acknowledged_and_ignored_even_when_slack_retries_it(
    db_url: str, cs_dc: FakeArxivServer, clock: FixedClock, slack: FakeSlack
) -> None:
    async with slack_bot(db_url, cs_dc, clock, slack) as runtime, http_client(runtime, slack) as client:
        await subscribe_dc_llm(client)
        await client.run("digest now", "digest")
        ts = cards(slack)[0].answer["ts"]
        event = json.dumps(reaction_event(ts=ts))
        assert (await client.post(event, signed_headers(event) | JSON))[0] == 200
        await slack.wait_for(lambda: len(slack.calls_to("chat.postEphemeral")) == 1)
        # Slack's retry of the same event: newly signed, marked with X-Slack-Retry-Num.
        retry = signed_headers(event, timestamp=int(time.time()) - 1) | JSON | {"X-Slack-Retry-Num": "1"}
        assert await client.post(event, retry) == (200, "")
        # A different event still runs (the unsave), and only it: one confirmation each.
        assert await client.event(reaction_event(ts=ts, added=False)) == 200
        await slack.wait_for(lambda: len(slack.calls_to("chat.postEphemeral")) == 2)
        texts = [message_text(c.args) for c in slack.calls_to("chat.postEphemeral")]
        assert texts[0].startswith("Saved") and texts[1].startswith("Removed from your saved papers")
        assert await runtime.services.saves.list(channel=CHANNEL, user_id="U1") == []


@pytest.mark.parametrize("timestamp", ["abc", "1.5e9", "١٧٦٧٦٠٠٠٠٠", "", " 1767600000"])
async def test_a_malformed_timestamp_header_is_a_401(
    db_url: str, cs_dc: FakeArxivServer, clock: FixedClock, slack: FakeSlack, timestamp: str
) -> None:
    async with slack_bot(db_url, cs_dc, clock, slack) as runtime, http_client(runtime, slack) as client:
        body = command_form("subscribe cs.DC", response_url=slack.response_url("x"))
        headers = signed_headers(body) | FORM | {"X-Slack-Request-Timestamp": timestamp}
        assert await client.post(body, headers) == (401, "invalid request signature")
        record = await runtime.services.channels.get(CHANNEL)
        assert record is None and slack.responded("x") == []


async def test_the_replay_guard_forgets_after_the_window() -> None:
    clock = ManualClock()
    guard = ReplayGuard(window_s=300.0, clock=clock.time)
    assert await guard.first("request:1:v0=a") and not await guard.first("request:1:v0=a")
    assert await guard.first("event:Ev1")
    clock.advance(299.0)
    assert not await guard.first("request:1:v0=a") and not await guard.first("event:Ev1")
    clock.advance(1.0)  # past the window Slack itself refuses the timestamp, so the entry may go
    assert await guard.first("request:1:v0=a")
    await guard.forget("event:Ev1")
    assert await guard.first("event:Ev1")
