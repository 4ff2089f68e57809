"""The Publisher port over Slack's Web API: paced per channel, bounded per workspace, failures as PublishError."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.translate import (
    Block,
    card_text,
    reply_messages,
    thread_blocks,
    thread_text,
    to_blocks,
)
from bot.errors import PublishError
from bot.models import ChannelRef, MessageRef, PaperCard, Reply, ThreadSummary

log = logging.getLogger(__name__)

_HINTS = {
    "not_in_channel": "; invite the bot to the channel first (/invite @arxiv-bot)",
    "channel_not_found": "; invite the bot to the channel first (/invite @arxiv-bot)",
    "is_archived": "; the channel is archived",
}


def retry_handlers() -> list[AsyncRetryHandler]:
    """Retries for dropped connections, 429 (waiting Retry-After) and 500/503.

    The handlers share one attempt counter per request, so each bound counts the attempts of all of them.
    """
    return [
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
        AsyncRateLimitErrorRetryHandler(max_retry_count=6),
        AsyncServerErrorRetryHandler(max_retry_count=3),
    ]


def make_client(*, token: str, api_url: str) -> AsyncWebClient:
    """A Web API client for ``api_url`` (which must end with ``/``) with our retry handlers."""
    base_url = api_url if api_url.endswith("/") else api_url + "/"
    return AsyncWebClient(token=token, base_url=base_url, retry_handlers=retry_handlers(), timeout=30)


class ChannelPacer:
    """At most one message per ``interval_s`` to each channel: callers reserve slots in arrival order.

    ``clock`` (monotonic seconds; default: the running loop's clock) and ``sleep`` are what tests replace.
    """

    def __init__(
        self,
        *,
        interval_s: float,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._interval_s = interval_s
        self._clock = clock
        self._sleep = sleep
        self._next: dict[ChannelRef, float] = {}

    async def wait_turn(self, channel: ChannelRef) -> None:
        """Return when this channel may take the next message."""
        if self._interval_s <= 0:
            return
        now = self._clock() if self._clock is not None else asyncio.get_running_loop().time()
        slot = max(now, self._next.get(channel, now))
        self._next[channel] = slot + self._interval_s
        if slot > now:
            await self._sleep(slot - now)


class SlackPublisher:
    """Posts cards, thread replies and command replies through ``chat.postMessage``/``chat.postEphemeral``."""

    def __init__(
        self,
        *,
        client: AsyncWebClient,
        post_interval_s: float = 1.0,
        max_concurrency: int = 4,
        pacer: ChannelPacer | None = None,
    ) -> None:
        self.client = client
        self._pacer = pacer if pacer is not None else ChannelPacer(interval_s=post_interval_s)
        self._max_concurrency = max_concurrency
        self._bounds: dict[str, asyncio.Semaphore] = {}

    def _bound(self, workspace: str) -> asyncio.Semaphore:
        bound = self._bounds.get(workspace)
        if bound is None:
            bound = self._bounds[workspace] = asyncio.Semaphore(self._max_concurrency)
        return bound

    async def _call(self, method: str, channel: ChannelRef, **args: Any) -> dict[str, Any]:
        try:
            async with self._bound(channel.workspace):
                response = await self.client.api_call(method, json={"channel": channel.channel, **args})
        except SlackApiError as err:
            code = str(err.response.get("error", "unknown_error"))
            raise PublishError(f"Slack refused {method} to {channel}: {code}{_HINTS.get(code, '')}") from None
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as err:
            raise PublishError(f"Slack could not be reached for {method} to {channel}: {err!r}") from None
        return dict(response.data) if isinstance(response.data, dict) else {}

    async def _post(self, channel: ChannelRef, *, text: str, blocks: list[Block], thread_ts: str | None = None) -> str:
        await self._pacer.wait_turn(channel)
        args: dict[str, Any] = {"text": text, "blocks": blocks, "unfurl_links": False, "unfurl_media": False}
        if thread_ts is not None:
            args["thread_ts"] = thread_ts
        data = await self._call("chat.postMessage", channel, **args)
        ts = data.get("ts")
        if not isinstance(ts, str) or not ts:
            raise PublishError(f"Slack answered chat.postMessage to {channel} without a message ts")
        return ts

    async def post_card(self, card: PaperCard, *, channel: ChannelRef) -> MessageRef:
        """Post a card as a top-level message; its ``ts`` is the reference."""
        ts = await self._post(channel, text=card_text(card), blocks=to_blocks(card))
        return MessageRef(channel, ts)

    async def post_thread(self, summary: ThreadSummary, *, parent: MessageRef) -> MessageRef:
        """Post the summary in the card's thread (several replies when it exceeds one message)."""
        text = thread_text(summary)
        first: str | None = None
        for blocks in thread_blocks(summary):
            ts = await self._post(parent.channel, text=text, blocks=blocks, thread_ts=parent.message_id)
            first = first or ts
        assert first is not None  # thread_blocks always gives at least one message
        return MessageRef(parent.channel, first)

    async def send_reply(self, reply: Reply, *, channel: ChannelRef, user_id: str | None) -> None:
        """Send a reply: ephemeral to ``user_id`` when asked and known, else to the channel."""
        for message in reply_messages(reply):
            if reply.ephemeral and user_id:
                await self._call(
                    "chat.postEphemeral", channel, user=user_id, text=message.text, blocks=message.blocks
                )
            else:
                await self._post(channel, text=message.text, blocks=message.blocks)
