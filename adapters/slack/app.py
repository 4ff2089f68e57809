"""The Bolt app: thin handlers that acknowledge first, translate, call the core, and answer."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any, cast

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.publisher import SlackPublisher
from adapters.slack.translate import (
    DOWN_ACTION,
    PDF_ACTION,
    SAVE_ACTION,
    CardSignal,
    MalformedPayload,
    SlashCommandPayload,
    command_text,
    reply_messages,
    to_card_click,
    to_command,
    to_reaction,
)
from bot.commands.service import CommandService
from bot.config import SlackSettings
from bot.errors import ArxivBotError, PublishError
from bot.models import CommandContext, Reply, SignalKind

log = logging.getLogger(__name__)

COMMAND = "/arxiv"
WORKING = "Working on it…"
FAILED = "Something went wrong on our side; nothing was changed, try again later"
NOT_A_CARD = "This message is not a paper card I know; use /arxiv summarize <arXiv id> to post it again"


class InFlight:
    """The handler tasks still running after their ack, so shutdown can wait for them or cancel them."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def track(self) -> None:
        """Count the calling task until it finishes."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Return when every handler tracked so far (but the caller) has finished."""
        current = asyncio.current_task()
        pending = [t for t in self._tasks if t is not current and not t.done()]
        if pending:
            await asyncio.wait(pending)

    async def aclose(self, *, grace_s: float = 5.0) -> None:
        """Let running handlers finish for ``grace_s`` seconds, then cancel the rest."""
        current = asyncio.current_task()
        pending = [t for t in self._tasks if t is not current and not t.done()]
        if not pending:
            return
        _, late = await asyncio.wait(pending, timeout=grace_s)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=grace_s)


class SlackHandlers:
    """What the app does with each request; Bolt passes the arguments it names."""

    def __init__(
        self, *, commands: CommandService, publisher: SlackPublisher, settings: SlackSettings, in_flight: InFlight
    ) -> None:
        self._commands = commands
        self._publisher = publisher
        self._settings = settings
        self._in_flight = in_flight
        # Handlers run concurrently after their ack; saves, 👎 and their confirmations keep arrival order.
        self._saving = asyncio.Lock()

    async def _can_manage(self, client: AsyncWebClient, user_id: str) -> bool:
        try:
            response = await client.users_info(user=user_id)
        except SlackClientError as err:
            log.warning("users.info for %s failed, treating them as not an admin: %s", user_id, err)
            return False
        user = response.get("user") or {}
        return bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))

    async def _respond(self, respond: AsyncRespond, reply: Reply, ctx: CommandContext) -> None:
        """Answer through response_url; if that is spent or gone, post the answer ephemeral instead."""
        response_type = "ephemeral" if reply.ephemeral else "in_channel"
        try:
            for message in reply_messages(reply):
                sent = await respond(
                    text=message.text, blocks=message.blocks, response_type=response_type, replace_original=False
                )
                if sent.status_code != 200:
                    raise PublishError(f"response_url answered HTTP {sent.status_code}")
        except Exception as err:
            log.warning("respond() in %s failed (%s); sending the reply with chat.postEphemeral", ctx.channel, err)
            await self._publisher.send_reply(reply, channel=ctx.channel, user_id=ctx.user_id)

    async def on_command(
        self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        """``/arxiv ...``: acknowledge at once, run the command, answer (the posts themselves go to the channel).

        The command is parsed once, here; whether it is slow (say so in the ack) or mutating (then, with
        ``admins_only``, ask users.info whether the caller is an admin) comes from that one parse.
        """
        command = self._commands.prepare(command_text(cast(SlashCommandPayload, body)))
        if command.slow:
            await ack(text=WORKING, response_type="ephemeral")
        else:
            await ack()
        self._in_flight.track()
        # Failures after ack() are handled here: a listener that raises right after ack() can make Bolt
        # overwrite the acknowledgement (the HTTP request then times out into a 404 for Slack).
        try:
            ctx, _ = to_command(cast(SlashCommandPayload, body))
            if self._settings.admins_only and command.mutating:
                ctx = replace(ctx, can_manage=await self._can_manage(client, ctx.user_id))
            reply = await self._commands.execute(ctx, command)
            await self._respond(respond, reply, ctx)
        except Exception as err:
            await self.on_error(err, body, respond)

    async def _signal(self, request: CardSignal, *, quiet_if_unknown: bool) -> None:
        async with self._saving:
            if request.button and request.kind is SignalKind.DOWN:
                reply = await self._commands.not_for_us(message=request.message, user_id=request.user_id)
            else:
                reply = await self._commands.react(
                    message=request.message, user_id=request.user_id, added=request.added, kind=request.kind
                )
            if reply is None:
                if quiet_if_unknown:
                    return
                reply = Reply(text=NOT_A_CARD)
            await self._publisher.send_reply(reply, channel=request.message.channel, user_id=request.user_id)

    async def on_reaction(self, body: dict[str, Any]) -> None:
        """``reaction_added``/``reaction_removed``: the save emoji on one of our cards (un)saves its paper, 👎
        marks it not for this channel (or takes that back)."""
        self._in_flight.track()
        try:
            request = to_reaction(body, save_emoji=self._settings.save_emoji)
            if request is not None:
                await self._signal(request, quiet_if_unknown=True)
        except Exception as err:
            await self.on_error(err, body)

    async def on_card_click(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        """The card's Save button (the same as reacting with the save emoji) or its Not for us button."""
        await ack()
        self._in_flight.track()
        try:
            await self._signal(to_card_click(body), quiet_if_unknown=False)
        except Exception as err:
            await self.on_error(err, body, respond)

    async def on_pdf_click(self, ack: AsyncAck) -> None:
        """The PDF button opens its URL in the browser; Slack still expects an acknowledgement."""
        await ack()

    async def on_error(self, error: Exception, body: dict[str, Any], respond: AsyncRespond | None = None) -> None:
        """Any failure in a handler: logged once, and the caller (if any) gets one line, no traceback.

        Also Bolt's error handler, for anything that escapes a listener.
        """
        if isinstance(error, MalformedPayload):
            log.warning("ignored a malformed Slack payload: %s", error)
        elif isinstance(error, ArxivBotError):
            log.warning("Slack handler failed: %s", error)
        else:
            log.error("Slack handler failed: %s", error, exc_info=error)
        if respond is not None and respond.response_url:
            try:
                await respond(text=FAILED, response_type="ephemeral", replace_original=False)
            except Exception as err:
                log.warning("could not tell the user about the failure: %s", err)


def build_slack_app(
    *,
    commands: CommandService,
    publisher: SlackPublisher,
    settings: SlackSettings,
    signing_secret: str,
    in_flight: InFlight,
    oauth_settings: AsyncOAuthSettings | None = None,
) -> AsyncApp:
    """The Bolt app, sharing the publisher's Web API client; HTTP requests are verified with ``signing_secret``.

    With ``oauth_settings`` (many workspaces) Bolt looks up each request's token in their installation store.
    """
    handlers = SlackHandlers(commands=commands, publisher=publisher, settings=settings, in_flight=in_flight)
    app = AsyncApp(
        client=publisher.client,
        signing_secret=signing_secret,
        request_verification_enabled=bool(signing_secret),
        process_before_response=False,
        logger=logging.getLogger("adapters.slack.bolt"),
        name="arxiv-bot",
        oauth_settings=oauth_settings,
    )
    app.command(COMMAND)(handlers.on_command)
    app.event("reaction_added")(handlers.on_reaction)
    app.event("reaction_removed")(handlers.on_reaction)
    app.action(SAVE_ACTION)(handlers.on_card_click)
    app.action(DOWN_ACTION)(handlers.on_card_click)
    app.action(PDF_ACTION)(handlers.on_pdf_click)
    app.error(handlers.on_error)
    return app
