"""DiscordPublisher: the Publisher port on Discord (embed cards with a Save button, summaries in threads)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final

import aiohttp
import discord

from adapters.discord.translate import ThreadPost, reply_chunks, thread_messages, thread_name, to_embed
from bot.errors import PublishError
from bot.models import ChannelRef, MessageRef, PaperCard, Reply, ThreadSummary

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
THREAD_ARCHIVE_MINUTES: Final = 10080
THREAD_EXISTS = 160004
"""Discord's error code for "A thread has already been created for this message"."""
PLATFORM_FAULTS = (discord.DiscordException, aiohttp.ClientError, OSError, asyncio.TimeoutError, ValueError)

ViewFactory = Callable[[PaperCard], discord.ui.View]


def publish_error(what: str, where: object, err: BaseException) -> PublishError:
    """A platform failure as the one-line PublishError the core expects."""
    if isinstance(err, discord.HTTPException):
        detail = f"HTTP {err.status}" + (f" (code {err.code}): {err.text}" if err.code else f": {err.text}")
        if isinstance(err, discord.Forbidden):
            detail += "; check the bot's permissions in this channel (see arxiv-bot discord-invite)"
    else:
        detail = f"{type(err).__name__}: {err}"
    return PublishError(f"Discord did not take {what} in {where}: {detail}")


class DiscordPublisher:
    """Posts cards, thread summaries and out-of-interaction replies; every send has ``AllowedMentions.none()``."""

    def __init__(self, *, client: discord.Client, make_view: ViewFactory, save_emoji: str) -> None:
        self._client = client
        self._make_view = make_view
        self._save_emoji = save_emoji

    async def _text_channel(self, ref: ChannelRef) -> discord.TextChannel:
        if not ref.channel.isdigit():
            raise PublishError(f"{ref} is not a Discord channel id")
        channel = self._client.get_channel(int(ref.channel))
        if channel is None:
            channel = await self._client.fetch_channel(int(ref.channel))
        if not isinstance(channel, discord.TextChannel):
            raise PublishError(f"{ref} is not a text channel where threads can be started from messages")
        return channel

    async def post_card(self, card: PaperCard, *, channel: ChannelRef) -> MessageRef:
        """Post a paper's embed card with a Save button, then add the save reaction for one-click saving."""
        what = f"the card of {card.paper.versioned_id}"
        try:
            target = await self._text_channel(channel)
            message = await target.send(
                embed=to_embed(card), view=self._make_view(card), allowed_mentions=NO_MENTIONS
            )
        except PLATFORM_FAULTS as err:
            raise publish_error(what, channel, err) from err
        try:
            await message.add_reaction(self._save_emoji)
        except PLATFORM_FAULTS as err:
            # The card is posted (and goes in the ledger); saving still works with the button.
            log.warning("could not add the save reaction to %s in %s: %s", card.paper.versioned_id, channel, err)
        return MessageRef(channel, str(message.id))

    async def post_thread(self, summary: ThreadSummary, *, parent: MessageRef) -> MessageRef:
        """Start a public thread from the card and post the summary there, split to Discord's limits.

        A retry after a partial failure reuses the thread and skips the parts already posted.
        """
        posts = thread_messages(summary)
        what = f"the summary thread of {summary.paper.versioned_id}"
        try:
            channel = await self._text_channel(parent.channel)
            thread, existing = await self._open_thread(channel, parent, summary.paper.title)
            first_id, done = (None, 0) if not existing else await self._posted_before(thread, posts)
            for post in posts[done:]:
                message = await thread.send(embeds=list(post.embeds), allowed_mentions=NO_MENTIONS)
                first_id = first_id or message.id
        except PLATFORM_FAULTS as err:
            raise publish_error(what, parent.channel, err) from err
        return MessageRef(parent.channel, str(first_id or parent.message_id))

    async def _open_thread(
        self, channel: discord.TextChannel, parent: MessageRef, title: str
    ) -> tuple[discord.abc.Messageable, bool]:
        message_id = int(parent.message_id)
        try:
            thread = await channel.create_thread(
                name=thread_name(title),
                message=discord.Object(id=message_id),
                auto_archive_duration=THREAD_ARCHIVE_MINUTES,
            )
            return thread, False
        except discord.HTTPException as err:
            if err.code != THREAD_EXISTS:
                raise
        # A thread started from a message has the message's id.
        partial = self._client.get_partial_messageable(
            message_id, guild_id=channel.guild.id, type=discord.ChannelType.public_thread
        )
        return partial, True

    async def _posted_before(self, thread: discord.abc.Messageable, posts: list[ThreadPost]) -> tuple[int | None, int]:
        """(first message id, number of ``posts`` already in the thread) from an earlier, interrupted attempt."""
        me = self._client.user.id if self._client.user else None
        ours = [m async for m in thread.history(limit=50) if m.author.id == me]
        ours.reverse()
        done = 0
        for message, post in zip(ours, posts, strict=False):
            if [e.description for e in message.embeds] != [e.description for e in post.embeds]:
                break
            done += 1
        return (ours[0].id if ours else None), done

    async def send_reply(self, reply: Reply, *, channel: ChannelRef, user_id: str | None) -> None:
        """Send a reply outside an interaction: to the user by DM (Discord has no ephemeral posts), else the channel."""
        try:
            target: discord.abc.Messageable
            if user_id is not None:
                target = await self._client.fetch_user(int(user_id))
            else:
                target = await self._text_channel(channel)
            for chunk in reply_chunks(reply.text):
                await target.send(chunk, allowed_mentions=NO_MENTIONS, suppress_embeds=True)
            for card in reply.cards:
                await target.send(embed=to_embed(card), allowed_mentions=NO_MENTIONS)
        except PLATFORM_FAULTS as err:
            raise publish_error("a reply", channel, err) from err
