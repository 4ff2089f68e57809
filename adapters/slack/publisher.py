"""The Publisher port over Slack's Web API: paced per channel, bounded per workspace, failures as PublishError.

Exactly once: every message we post carries message ``metadata`` (event type ``arxiv_bot_post``, payload
``{"key": <ledger key>}``). A ``chat.postMessage`` is retried automatically only when it provably did not reach
Slack (429 with Retry-After, a connection that never opened); after a reset, a timeout or a 5xx the message may
exist, so the failure is ``PublishOutcomeUnknown`` and the ledger keeps the row ``sending``. Before such a message
is posted again it is looked for by its key: ``conversations.history`` for a card, ``conversations.replies`` for a
thread part, from the intent's time on. Both need the ``channels:history`` (public) or ``groups:history`` (private
channel) scope; without it the publisher warns once, naming the scope, and posts again as it did before.

A personal digest (channel ``@<user id>``) goes to the direct messages with its owner: ``conversations.open``
(``im:write``) once per person, then kept; its cards, threads and card updates are posted there (looking a key up
needs ``im:history``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.pacing import RateLimitRetry, WorkspaceHolds, workspace_client
from adapters.slack.translate import (
    Block,
    card_text,
    reply_messages,
    thread_blocks,
    thread_text,
    to_blocks,
)
from bot.delivery.thread_parts import post_parts
from bot.errors import PublishError, PublishOutcomeUnknown, PublishRefused
from bot.models import ChannelRef, ExportFile, MessageRef, PaperCard, PostKey, Reply, ThreadSummary
from bot.ports import ThreadJournal

log = logging.getLogger(__name__)

METADATA_EVENT = "arxiv_bot_post"
"""The ``metadata.event_type`` of every message we post; ``event_payload.key`` is the ledger key."""
MESSAGE_CREATING = frozenset({"chat.postMessage", "chat.postEphemeral", "files.completeUploadExternal"})
RATE_LIMIT_RETRIES = 6
"""429s in a row after which a post fails (it stays pending in the ledger)."""
NEVER_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)
"""Failures before the request left: nothing can have been created."""
CLOCK_SKEW = timedelta(seconds=60)
"""Margin before the intent's time, for a clock that differs from Slack's."""
HISTORY_PAGE = 200
HISTORY_PAGES = 20
"""A key is looked for among at most this many pages of messages since the intent."""
HISTORY_SCOPES = {"channels:history", "groups:history", "im:history", "mpim:history"}

UPDATE_REFUSALS = frozenset(
    {"message_not_found", "cant_update_message", "edit_window_closed", "channel_not_found", "is_archived"}
    | {"not_in_channel"}
)
"""chat.update errors that no retry can change: the card stays as it was posted."""

_HINTS = {
    "not_in_channel": "; invite the bot to the channel first (/invite @arxiv-bot)",
    "channel_not_found": "; invite the bot to the channel first (/invite @arxiv-bot)",
    "is_archived": "; the channel is archived",
}


def _method(request: HttpRequest) -> str:
    return request.url.rstrip("/").rsplit("/", 1)[-1]


def _creates_message(request: HttpRequest) -> bool:
    return _method(request) in MESSAGE_CREATING


class _SparingMessageCreates(AsyncRetryHandler):
    """Mixed into a slack_sdk retry handler: a message-creating call is never retried by it (it may have reached
    Slack and created the message); the ledger looks for the message instead."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if _creates_message(request):
            return False
        return await super()._can_retry_async(state=state, request=request, response=response, error=error)


class ConnectionRetry(_SparingMessageCreates, AsyncConnectionErrorRetryHandler):
    """slack_sdk's retry of dropped connections; a message-creating call only when the connection never opened."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if isinstance(error, NEVER_SENT):
            return True
        return await super()._can_retry_async(state=state, request=request, response=response, error=error)


class ServerErrorRetry(_SparingMessageCreates, AsyncServerErrorRetryHandler):
    """slack_sdk's retry of 500/503, except for a message-creating call (Slack may have created it)."""


def retry_handlers() -> list[AsyncRetryHandler]:
    """Retries for dropped connections, 429 (waiting Retry-After) and 500/503, none that could post twice; the
    publisher's own calls get their 429s back (``SlackRateLimited``) and wait outside the workspace's bound.

    The handlers share one attempt counter per request, so each bound counts the attempts of all of them.
    """
    return [
        ConnectionRetry(max_retry_count=2),
        RateLimitRetry(max_retry_count=6),
        ServerErrorRetry(max_retry_count=3),
    ]


def retry_after_s(headers: Any, default: float = 1.0) -> float:
    """The Retry-After of a 429, in seconds (``default`` when missing or malformed)."""
    for name, value in dict(headers or {}).items():
        if str(name).lower() == "retry-after":
            try:
                return max(0.0, float(value[0] if isinstance(value, list) else value))
            except (TypeError, ValueError):
                return default
    return default


def make_client(*, token: str | None, api_url: str, timeout_s: float = 30.0, pooled: bool = False) -> AsyncWebClient:
    """A Web API client for ``api_url`` (which must end with ``/``) with our retry handlers; ``token`` None when each
    call names its own (many workspaces). ``pooled`` (inside the running loop; ``SlackPublisher.aclose`` closes it):
    one session whose connections are kept alive for every call, where slack_sdk would otherwise open a session and
    a TCP connection per call, most of what a post costs."""
    base_url = api_url if api_url.endswith("/") else api_url + "/"
    # slack_sdk types the timeout as int but hands it to aiohttp.ClientTimeout, which takes a float.
    timeout: Any = timeout_s
    session = (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s), connector=aiohttp.TCPConnector(limit=0))
        if pooled
        else None
    )
    return AsyncWebClient(
        token=token, base_url=base_url, retry_handlers=retry_handlers(), timeout=timeout, session=session
    )


def metadata(key: PostKey | None) -> dict[str, Any] | None:
    """The message metadata that carries a post key."""
    return None if key is None else {"event_type": METADATA_EVENT, "event_payload": {"key": key.value}}


def carries_key(message: dict[str, Any], key: str) -> bool:
    """Whether a message from conversations.history/replies is ours with this key."""
    meta = message.get("metadata")
    if not isinstance(meta, dict) or meta.get("event_type") != METADATA_EVENT:
        return False
    payload = meta.get("event_payload")
    return isinstance(payload, dict) and payload.get("key") == key


class ChannelPacer:
    """At most one message per ``interval_s`` to each channel, counted from the message sent before it, and nothing
    to a channel paused by a 429 until its Retry-After has passed; one channel waiting never holds up another.

    The spacing is measured from each message's own turn, so a pause does not let the messages queued behind it go
    out together when it ends: after a retry the pace holds. ``clock`` (monotonic seconds; default: the running
    loop's clock) and ``sleep`` are what tests replace.
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
        self._paused: dict[ChannelRef, float] = {}
        self._turns: dict[ChannelRef, asyncio.Lock] = {}

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    async def wait_turn(self, channel: ChannelRef) -> None:
        """Return when this channel may take the next message (callers of one channel take turns in order)."""
        turn = self._turns.get(channel)
        if turn is None:
            turn = self._turns[channel] = asyncio.Lock()
        async with turn:
            while True:
                now = self._now()
                due = max(self._next.get(channel, now), self._paused.get(channel, now))
                if due <= now:
                    break
                await self._sleep(due - now)
            if self._interval_s > 0:
                self._next[channel] = now + self._interval_s

    def sent(self, channel: ChannelRef) -> None:
        """A message to this channel leaves now (it may have waited for the workspace's bound since its turn): the
        next one waits a whole interval from now."""
        if self._interval_s > 0:
            self._next[channel] = max(self._next.get(channel, 0.0), self._now() + self._interval_s)

    def pause(self, channel: ChannelRef, seconds: float) -> None:
        """Slack answered 429 for this channel: send it nothing for ``seconds`` (the others go on)."""
        until = self._now() + max(0.0, seconds)
        self._paused[channel] = max(self._paused.get(channel, until), until)


class WorkspaceTokens(Protocol):
    """The bot token of each workspace (many workspaces installed through OAuth)."""

    async def token_for(self, workspace: str) -> str:
        """The token that posts in ``workspace``; a PublishError when there is none (it uninstalled the app)."""
        ...


class SlackPublisher:
    """Posts cards, thread replies and command replies through ``chat.postMessage``/``chat.postEphemeral``.

    Channels post side by side: each channel paced (``post_interval_s``, Slack's one message per second per
    channel), at most ``max_concurrency`` requests in flight per workspace; a 429 on a post pauses that channel only,
    for its Retry-After, and frees the workspace's slot meanwhile. With ``tokens`` every call carries the token of
    its channel's workspace; without, the client's one token. Each workspace calls through its own copy of
    ``client``, so a 429 on any other call holds that workspace alone (``holds``).
    """

    def __init__(
        self,
        *,
        client: AsyncWebClient,
        post_interval_s: float = 1.0,
        max_concurrency: int = 4,
        pacer: ChannelPacer | None = None,
        tokens: WorkspaceTokens | None = None,
        holds: WorkspaceHolds | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.client = client
        self._tokens = tokens
        self._holds = holds if holds is not None else WorkspaceHolds()
        self._clients: dict[str, AsyncWebClient] = {}
        self._pacer = pacer if pacer is not None else ChannelPacer(interval_s=post_interval_s)
        self._sleep = sleep
        self._max_concurrency = max_concurrency
        self._bounds: dict[str, asyncio.Semaphore] = {}
        self._missing_scopes: set[str] = set()
        self._dms: dict[tuple[str, str], ChannelRef] = {}

    def _client_for(self, workspace: str) -> AsyncWebClient:
        client = self._clients.get(workspace)
        if client is None:
            client = self._clients[workspace] = workspace_client(self.client, holds=self._holds, workspace=workspace)
        return client

    async def aclose(self) -> None:
        """Close the client's connection pool, if it has one (the workspaces' clients share it)."""
        session = self.client.session
        if session is not None and not session.closed:
            await session.close()

    async def _auth(self, workspace: str) -> dict[str, str]:
        """The ``token`` argument of a call in ``workspace`` (none with one token for every call)."""
        return {} if self._tokens is None else {"token": await self._tokens.token_for(workspace)}

    def _bound(self, workspace: str) -> asyncio.Semaphore:
        bound = self._bounds.get(workspace)
        if bound is None:
            bound = self._bounds[workspace] = asyncio.Semaphore(self._max_concurrency)
        return bound

    async def _call(
        self, method: str, channel: ChannelRef, *, params: dict[str, Any] | None = None, **args: Any
    ) -> dict[str, Any]:
        """One Web API call (JSON body, or ``params`` as a GET query); failures as PublishError, and as
        PublishOutcomeUnknown when a message-creating call may have reached Slack."""
        for _attempt in range(RATE_LIMIT_RETRIES):
            try:
                return await self._call_once(method, channel, params=params, **args)
            except SlackRateLimited as err:
                if method == "chat.postMessage":
                    raise  # _post pauses the channel and waits its turn again
                await self._sleep(err.retry_after_s)  # outside the workspace's bound: other channels go on
        return await self._call_once(method, channel, params=params, **args)

    async def _call_once(
        self, method: str, channel: ChannelRef, *, params: dict[str, Any] | None = None, **args: Any
    ) -> dict[str, Any]:
        creates = method in MESSAGE_CREATING
        auth = await self._auth(channel.workspace)
        client = self._client_for(channel.workspace)
        try:
            async with self._bound(channel.workspace):
                await self._holds.wait(channel.workspace)
                if method == "chat.postMessage":
                    self._pacer.sent(channel)
                if params is not None:
                    response = await client.api_call(
                        method, http_verb="GET", params={"channel": channel.channel, **params, **auth}
                    )
                else:
                    response = await client.api_call(method, json={"channel": channel.channel, **args, **auth})
        except SlackApiError as err:
            code = str(err.response.get("error", "unknown_error"))
            text = f"Slack refused {method} to {channel}: {code}{_HINTS.get(code, '')}"
            if err.response.status_code == 429:
                # Nothing was created; Slack says when to come back.
                raise SlackRateLimited(text, retry_after_s=retry_after_s(err.response.headers)) from None
            if creates and err.response.status_code >= 500:
                raise PublishOutcomeUnknown(f"{text} (HTTP {err.response.status_code})") from None
            raise SlackRefusal(text, code=code, needed=str(err.response.get("needed") or "")) from None
        except NEVER_SENT as err:
            raise PublishError(f"Slack could not be reached for {method} to {channel}: {err!r}") from None
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as err:
            text = f"Slack could not be reached for {method} to {channel}: {err!r}"
            raise (PublishOutcomeUnknown(text) if creates else PublishError(text)) from None
        return dict(response.data) if isinstance(response.data, dict) else {}

    async def _post(
        self,
        channel: ChannelRef,
        *,
        text: str,
        blocks: list[Block],
        thread_ts: str | None = None,
        key: PostKey | None = None,
    ) -> str:
        args: dict[str, Any] = {"text": text, "blocks": blocks, "unfurl_links": False, "unfurl_media": False}
        if thread_ts is not None:
            args["thread_ts"] = thread_ts
        meta = metadata(key)
        if meta is not None:
            args["metadata"] = meta
        for attempt in range(RATE_LIMIT_RETRIES + 1):
            await self._pacer.wait_turn(channel)
            try:
                data = await self._call("chat.postMessage", channel, **args)
                break
            except SlackRateLimited as err:
                if attempt == RATE_LIMIT_RETRIES:
                    raise
                log.info("Slack rate-limited %s: pausing it %.2f s", channel, err.retry_after_s)
                self._pacer.pause(channel, err.retry_after_s)
        ts = data.get("ts")
        if not isinstance(ts, str) or not ts:
            raise PublishOutcomeUnknown(f"Slack answered chat.postMessage to {channel} without a message ts")
        return ts

    async def _find(self, channel: ChannelRef, key: PostKey, *, thread_ts: str | None = None) -> str | None:
        """The ts of our message with ``key`` posted since the intent (in the thread of ``thread_ts``), or None.

        Without the history scope: one warning naming it, then None (the message is posted again, as before).
        """
        assert key.sending_since is not None
        method = "conversations.replies" if thread_ts else "conversations.history"
        params: dict[str, Any] = {
            "oldest": f"{(key.sending_since - CLOCK_SKEW).timestamp():.6f}",
            "include_all_metadata": "true",
            "limit": str(HISTORY_PAGE),
        }
        if thread_ts:
            params["ts"] = thread_ts
        for _page in range(HISTORY_PAGES):
            try:
                data = await self._call(method, channel, params=params)
            except SlackRefusal as err:
                if err.code == "missing_scope":
                    self._warn_missing_scope(method, err.needed)
                    return None
                raise PublishOutcomeUnknown(f"could not look for message {key.value}: {err}") from None
            except PublishError as err:
                raise PublishOutcomeUnknown(f"could not look for message {key.value}: {err}") from None
            for message in data.get("messages") or []:
                if isinstance(message, dict) and carries_key(message, key.value) and message.get("ts"):
                    log.info("found message %s in %s, posted by an earlier attempt", key.value, channel)
                    return str(message["ts"])
            cursor = (data.get("response_metadata") or {}).get("next_cursor")
            if not data.get("has_more") or not cursor:
                return None
            params["cursor"] = cursor
        return None

    def _warn_missing_scope(self, method: str, needed: str) -> None:
        scopes = {s for s in needed.split(",") if s} or {"channels:history", "groups:history"}
        new = scopes - self._missing_scopes
        if not new:
            return
        self._missing_scopes |= new
        log.warning(
            "Slack did not allow %s (missing scope %s): a post whose answer was lost is posted again without "
            "looking for it first, which may duplicate it; add %s to the app's bot scopes and reinstall it",
            method,
            ", ".join(sorted(new)),
            " and ".join(sorted(scopes & HISTORY_SCOPES) or sorted(scopes)),
        )

    async def _destination(self, channel: ChannelRef) -> ChannelRef:
        """Where posts to ``channel`` go: the channel itself, or for a personal digest (``@<user id>``) the direct
        messages with its owner (``conversations.open`` once per person, then kept: a DM's id does not change)."""
        owner = channel.owner
        if owner is None:
            return channel
        dm = self._dms.get((channel.workspace, owner))
        if dm is None:
            dm = self._dms[(channel.workspace, owner)] = await self.open_dm(channel, owner)
        return dm

    async def post_card(self, card: PaperCard, *, channel: ChannelRef, key: PostKey | None = None) -> MessageRef:
        """Post a card as a top-level message (carrying ``key``); its ``ts`` is the reference. A card whose earlier
        attempt may have been created is looked for first. A personal digest's card goes to its owner's DM."""
        target = await self._destination(channel)
        if key is not None and key.sending_since is not None:
            found = await self._find(target, key)
            if found is not None:
                return MessageRef(channel, found)
        ts = await self._post(target, text=card_text(card), blocks=to_blocks(card), key=key)
        return MessageRef(channel, ts)

    async def update_card(self, card: PaperCard, *, message: MessageRef, key: PostKey | None = None) -> None:
        """Replace the posted card's text and blocks (``chat.update``: the same message, now with its TL;DR); the
        key stays in its metadata. Repeating it changes nothing; what Slack will never take is ``PublishRefused``."""
        args: dict[str, Any] = {"ts": message.message_id, "text": card_text(card), "blocks": to_blocks(card)}
        meta = metadata(key)
        if meta is not None:
            args["metadata"] = meta
        try:
            await self._call("chat.update", await self._destination(message.channel), **args)
        except SlackRefusal as err:
            if err.code in UPDATE_REFUSALS:
                raise PublishRefused(str(err)) from None
            raise

    async def post_thread(
        self, summary: ThreadSummary, *, parent: MessageRef, journal: ThreadJournal | None = None
    ) -> MessageRef:
        """Post the summary in the card's thread (several replies when it exceeds one message), each part recorded
        in ``journal`` and carrying its key."""
        text = thread_text(summary)
        target = await self._destination(parent.channel)

        async def send(blocks: list[Block], key: PostKey | None) -> str:
            return await self._post(target, text=text, blocks=blocks, thread_ts=parent.message_id, key=key)

        async def find(_part: int, _blocks: list[Block], key: PostKey) -> str | None:
            return await self._find(target, key, thread_ts=parent.message_id)

        first = await post_parts(thread_blocks(summary), journal=journal, send=send, find=find)
        return MessageRef(parent.channel, first or parent.message_id)

    async def send_reply(self, reply: Reply, *, channel: ChannelRef, user_id: str | None) -> None:
        """Send a reply: ephemeral to ``user_id`` when asked and known, else to the channel."""
        channel = await self._destination(channel)
        for message in reply_messages(reply):
            if reply.ephemeral and user_id:
                await self._call(
                    "chat.postEphemeral", channel, user=user_id, text=message.text, blocks=message.blocks
                )
            else:
                await self._post(channel, text=message.text, blocks=message.blocks)

    async def open_dm(self, channel: ChannelRef, user_id: str) -> ChannelRef:
        """The direct-message channel with a user of ``channel``'s workspace (``conversations.open``, im:write)."""
        token = (await self._auth(channel.workspace)).get("token")
        try:
            async with self._bound(channel.workspace):
                await self._holds.wait(channel.workspace)
                # The workspace's own client: a 429 here holds this workspace alone, then the call is retried.
                client = self._client_for(channel.workspace)
                response = await client.conversations_open(users=user_id, token=token)
        except SlackApiError as err:
            raise _refusal("conversations.open", channel, err) from None
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as err:
            raise PublishError(f"Slack could not be reached for conversations.open in {channel}: {err!r}") from None
        opened = response.get("channel")
        dm = opened.get("id") if isinstance(opened, dict) else None
        if not isinstance(dm, str) or not dm:
            raise PublishError(f"Slack answered conversations.open in {channel} without a channel id")
        return ChannelRef(channel.platform, channel.workspace, dm)

    async def send_file(self, file: ExportFile, *, channel: ChannelRef, user_id: str) -> str:
        """Upload a file into the caller's direct messages with the bot (files.uploadV2: get an upload URL, send
        the bytes, complete the upload into the DM). Needs the ``im:write`` and ``files:write`` scopes."""
        dm = await self.open_dm(channel, user_id)
        token = (await self._auth(channel.workspace)).get("token")
        try:
            async with self._bound(channel.workspace):
                await self._holds.wait(channel.workspace)
                await self._client_for(channel.workspace).files_upload_v2(
                    channel=dm.channel, content=file.content, filename=file.name, title=file.title, token=token
                )
        except SlackApiError as err:
            raise _refusal("files.uploadV2", dm, err) from None
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as err:
            raise PublishError(f"Slack could not be reached for files.uploadV2 to {dm}: {err!r}") from None
        return "in your direct messages with arxiv-bot"

    async def send_note(self, text: str, *, channel: ChannelRef, user_id: str, key: PostKey) -> str:
        """A private note in the user's direct messages with the bot, carrying ``key`` (looked for first in the DM's
        history when it may exist: that needs the ``im:history`` scope)."""
        dm = await self.open_dm(channel, user_id)
        return await self._post_text(dm, text, key=key)

    async def reply_in_thread(self, text: str, *, parent: MessageRef, key: PostKey) -> str:
        """A reply in a card's thread, carrying ``key`` (looked for first when it may exist)."""
        target = await self._destination(parent.channel)
        return await self._post_text(target, text, key=key, thread_ts=parent.message_id)

    async def _post_text(self, channel: ChannelRef, text: str, *, key: PostKey, thread_ts: str | None = None) -> str:
        if key.sending_since is not None:
            found = await self._find(channel, key, thread_ts=thread_ts)
            if found is not None:
                return found
        [message] = reply_messages(Reply(text=text))[:1]
        return await self._post(channel, text=message.text, blocks=message.blocks, thread_ts=thread_ts, key=key)


def _refusal(method: str, channel: ChannelRef, err: SlackApiError) -> SlackRefusal:
    code = str(err.response.get("error", "unknown_error"))
    needed = str(err.response.get("needed") or "")
    hint = f" (add the {needed} scope to the app and reinstall it)" if code == "missing_scope" and needed else ""
    return SlackRefusal(f"Slack refused {method} to {channel}: {code}{hint}", code=code, needed=needed)


class SlackRateLimited(PublishError):
    """Slack answered 429: nothing was done; ``retry_after_s`` says when to come back."""

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class SlackRefusal(PublishError):
    """Slack answered ``ok: false``: nothing was done. ``code`` is Slack's error, ``needed`` a missing scope."""

    def __init__(self, message: str, *, code: str, needed: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.needed = needed
