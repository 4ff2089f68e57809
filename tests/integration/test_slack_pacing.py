"""Per-workspace tokens and 429 handling against the fake Slack: a 429 on a post pauses that channel alone, while
the workspace's other channels and other workspaces go on posting, each with its own token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from adapters.slack.pacing import WorkspaceHolds
from adapters.slack.publisher import ChannelPacer, SlackPublisher, make_client
from bot.errors import PublishError
from bot.models import ChannelRef
from tests.fakes.slack_api import FakeSlack, running_fake_slack
from tests.integration.test_slack_publisher import CARD

TOKENS = {"TA": "xoxb-ta-0001-installed", "TB": "xoxb-tb-0002-installed"}


class FixedTokens:
    """The token of each workspace, as installations would give them."""

    async def token_for(self, workspace: str) -> str:
        """The workspace's token; PublishError for one that is not installed."""
        try:
            return TOKENS[workspace]
        except KeyError:
            raise PublishError(f"{workspace} is not installed") from None


class GatedTime:
    """A clock that stands still and a sleep that waits until the test moves the clock past it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self._moved = asyncio.Condition()

    def clock(self) -> float:
        """The current (test) time."""
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Return once the test has moved the clock ``seconds`` on."""
        until = self.now + seconds
        async with self._moved:
            self.sleeps.append(seconds)
            self._moved.notify_all()
            await self._moved.wait_for(lambda: self.now >= until)

    async def wait_sleepers(self, n: int) -> None:
        """Wait until ``n`` sleeps have started."""
        async with self._moved:
            await asyncio.wait_for(self._moved.wait_for(lambda: len(self.sleeps) >= n), 5)

    async def advance(self, seconds: float) -> None:
        """Move the clock on, waking the sleeps that are due."""
        async with self._moved:
            self.now += seconds
            self._moved.notify_all()


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    """The fake Slack Web API, taking the two workspaces' tokens."""
    async with running_fake_slack() as server:
        server.team_tokens.update({token: team for team, token in TOKENS.items()})
        server.issued.update(server.team_tokens)
        yield server


async def test_a_429_pauses_its_channel_alone_while_the_workspaces_other_channels_and_other_workspaces_post(
    slack: FakeSlack,
) -> None:
    time = GatedTime()
    publisher = SlackPublisher(
        client=make_client(token=None, api_url=slack.api_url),
        tokens=FixedTokens(),
        pacer=ChannelPacer(interval_s=0, clock=time.clock, sleep=time.sleep),
        holds=WorkspaceHolds(clock=time.clock, sleep=time.sleep),
    )
    slack.fail((429, {"Retry-After": "30"}))
    first = asyncio.create_task(publisher.post_card(CARD, channel=ChannelRef("slack", "TA", "CA1")))
    await time.wait_sleepers(1)  # CA1's post was refused with 429: CA1 is paused for 30 s
    assert time.sleeps == [30.0]

    await publisher.post_card(CARD, channel=ChannelRef("slack", "TA", "CA2"))  # TA's other channel posts at once
    for channel in ("CB1", "CB2"):  # and so does TB, with its own token
        await publisher.post_card(CARD, channel=ChannelRef("slack", "TB", channel))
    assert [c.args["channel"] for c in slack.calls_to("chat.postMessage")] == ["CA1", "CA2", "CB1", "CB2"]
    assert not first.done()

    await time.advance(30)
    await first
    calls = slack.calls_to("chat.postMessage")
    assert [c.args["channel"] for c in calls[4:]] == ["CA1"]
    assert [c.status for c in calls] == [429, 200, 200, 200, 200]
    assert {c.args["channel"] for c in slack.posts_in("TA")} == {"CA1", "CA2"}
    assert {c.token for c in slack.posts_in("TB")} == {TOKENS["TB"]}


async def test_a_workspace_with_no_token_is_refused_without_calling_slack(slack: FakeSlack) -> None:
    publisher = SlackPublisher(client=make_client(token=None, api_url=slack.api_url), tokens=FixedTokens())
    with pytest.raises(PublishError, match="TC is not installed"):
        await publisher.post_card(CARD, channel=ChannelRef("slack", "TC", "C1"))
    assert slack.calls == []


async def test_a_429_on_conversations_open_holds_that_workspace_alone_and_the_call_is_retried_after_it(
    slack: FakeSlack,
) -> None:
    time = GatedTime()
    holds = WorkspaceHolds(clock=time.clock, sleep=time.sleep)
    publisher = SlackPublisher(
        client=make_client(token=None, api_url=slack.api_url),
        tokens=FixedTokens(),
        pacer=ChannelPacer(interval_s=0, clock=time.clock, sleep=time.sleep),
        holds=holds,
    )
    slack.fail((429, {"Retry-After": "30"}), method="conversations.open")
    dm = asyncio.create_task(publisher.open_dm(ChannelRef("slack", "TA", "CA1"), "U1"))
    await time.wait_sleepers(1)  # Slack rate-limited TA's conversations.open: TA is held for 30 s
    assert time.sleeps == [30.0] and holds.held("TA") and not holds.held("TB")

    for channel in ("CB1", "CB2"):  # another workspace posts at once
        await publisher.post_card(CARD, channel=ChannelRef("slack", "TB", channel))
    held_post = asyncio.create_task(publisher.post_card(CARD, channel=ChannelRef("slack", "TA", "CA2")))
    await time.wait_sleepers(2)  # TA's own post waits out the hold
    assert [c.args["channel"] for c in slack.calls_to("chat.postMessage")] == ["CB1", "CB2"]
    assert not dm.done() and not held_post.done()

    await time.advance(30)
    assert await dm == ChannelRef("slack", "TA", "DU1")
    await held_post
    assert [c.status for c in slack.calls_to("conversations.open")] == [429, 200]
    assert {c.token for c in slack.calls_to("conversations.open")} == {TOKENS["TA"]}
    assert [c.args["channel"] for c in slack.posts_in("TA")] == ["CA2"]
