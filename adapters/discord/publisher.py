"""DiscordPublisher: the Publisher port on Discord (embed cards with a Save button, summaries in threads).

Exactly once: every message we create carries its ledger key as its ``nonce`` with ``enforce_nonce`` (discord.py
sends both when ``send(nonce=...)`` is given), so Discord answers a second create with the same nonce within a few
minutes with the first message, which covers discord.py's own retries after a 5xx. Each create is bounded by
``post_timeout_s``; a timeout, a reset or a 5xx means the message may exist (``PublishOutcomeUnknown``). Before a
message whose outcome was unknown is sent again, it is looked for: a card by the key in its Save button's
custom_id (nonces are not kept in the history) among our messages since the intent, a thread part by its place
and text among our messages in the card's thread.

A personal digest (channel ``@<user id>``) goes to its owner's direct messages; a DM has no threads, so there the
summary parts are replies to the card.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Final

import aiohttp
import discord

from adapters.discord.translate import (
    ThreadPost,
    carries_key,
    reply_chunks,
    thread_messages,
    thread_name,
    to_embed,
)
from bot.delivery.thread_parts import post_parts
from bot.errors import PublishError, PublishOutcomeUnknown, PublishRefused
from bot.models import ChannelRef, MessageRef, PaperCard, PostKey, Reply, ThreadSummary
from bot.ports import ThreadJournal

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
THREAD_ARCHIVE_MINUTES: Final = 10080
THREAD_EXISTS = 160004
"""Discord's error code for "A thread has already been created for this message"."""
PLATFORM_FAULTS = (discord.DiscordException, aiohttp.ClientError, OSError, asyncio.TimeoutError, ValueError)
NEVER_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)
"""Failures before the request left: nothing can have been created."""
HISTORY_LIMIT = 500
"""Messages read when looking for a card by its key (from the intent on)."""
CLOCK_SKEW = timedelta(seconds=60)
"""Margin before the intent's time, for a clock that differs from Discord's."""

Destination = discord.TextChannel | discord.DMChannel
"""Where cards go: a server's text channel, or a person's direct messages (a personal digest)."""

ViewFactory = Callable[[PaperCard, str | None], discord.ui.View]
"""The view under a card, given the card and its post key."""


def publish_error(what: str, where: object, err: BaseException) -> PublishError:
    """A platform failure as the one-line PublishError the core expects."""
    if isinstance(err, discord.HTTPException):
        detail = f"HTTP {err.status}" + (f" (code {err.code}): {err.text}" if err.code else f": {err.text}")
        if isinstance(err, discord.Forbidden):
            detail += "; check the bot's permissions in this channel (see arxiv-bot discord-invite)"
    else:
        detail = f"{type(err).__name__}: {err}"
    return PublishError(f"Discord did not take {what} in {where}: {detail}")


def may_exist(err: BaseException) -> bool:
    """Whether a failed create may still have created the message: a 5xx, a reset, a timeout; not a refusal or a
    connection that never opened."""
    if isinstance(err, discord.HTTPException):
        return err.status >= 500
    if isinstance(err, NEVER_SENT):
        return False
    return isinstance(err, (aiohttp.ClientError, OSError, asyncio.TimeoutError))


def creation_error(what: str, where: object, err: BaseException) -> PublishError:
    """A failed create as PublishOutcomeUnknown when the message may exist, else as PublishError."""
    error = publish_error(what, where, err)
    return PublishOutcomeUnknown(str(error)) if may_exist(err) else error


def _nonce(key: PostKey | None) -> str | int:
    """The post key as the message nonce; without one, a random nonce as discord.py would pick."""
    return key.value if key is not None else secrets.randbits(64)


def _earlier_part(ours: list[discord.Message], part: int, post: ThreadPost, what: str) -> str | None:
    """The id of part ``part`` among our earlier messages when it holds this post's text, else None."""
    if len(ours) > part and _descriptions(ours[part]) == [e.description for e in post.embeds]:
        log.info("found part %d of %s posted by an earlier attempt", part, what)
        return str(ours[part].id)
    return None


def _descriptions(message: discord.Message) -> list[str | None]:
    return [e.description for e in message.embeds]


def _custom_ids(message: discord.Message) -> list[str]:
    ids: list[str] = []
    for row in message.components:
        for child in getattr(row, "children", ()):
            custom_id = getattr(child, "custom_id", None)
            if isinstance(custom_id, str):
                ids.append(custom_id)
    return ids


class DiscordPublisher:
    """Posts cards, thread summaries and out-of-interaction replies; every send has ``AllowedMentions.none()``."""

    def __init__(
        self,
        *,
        client: discord.Client,
        make_view: ViewFactory,
        save_emoji: str,
        post_timeout_s: float = 30.0,
    ) -> None:
        self._client = client
        self._make_view = make_view
        self._save_emoji = save_emoji
        self._timeout_s = post_timeout_s
        self._dms: dict[str, discord.DMChannel] = {}

    async def _destination(self, ref: ChannelRef) -> Destination:
        """Where posts to ``ref`` go: its text channel, or for a personal digest (``@<user id>``) the direct-message
        channel with its owner (opened once, then kept)."""
        owner = ref.owner
        return await self._text_channel(ref) if owner is None else await self._dm(owner)

    async def _dm(self, user_id: str) -> discord.DMChannel:
        dm = self._dms.get(user_id)
        if dm is not None:
            return dm
        if not user_id.isdigit():
            raise PublishError(f"{user_id!r} is not a Discord user id")
        dm = self._dms[user_id] = await self._client.create_dm(discord.Object(id=int(user_id)))
        return dm

    async def _text_channel(self, ref: ChannelRef) -> discord.TextChannel:
        if not ref.channel.isdigit():
            raise PublishError(f"{ref} is not a Discord channel id")
        channel = self._client.get_channel(int(ref.channel))
        if channel is None:
            channel = await self._client.fetch_channel(int(ref.channel))
        if not isinstance(channel, discord.TextChannel):
            raise PublishError(f"{ref} is not a text channel where threads can be started from messages")
        return channel

    async def _create(self, what: str, where: object, sending: Awaitable[discord.Message]) -> discord.Message:
        """One message create, bounded in time (discord.py's retries included); failures classified."""
        try:
            return await asyncio.wait_for(sending, self._timeout_s)
        except PLATFORM_FAULTS as err:
            raise creation_error(what, where, err) from err

    def _mine(self, message: discord.Message) -> bool:
        return self._client.user is not None and message.author.id == self._client.user.id

    async def post_card(self, card: PaperCard, *, channel: ChannelRef, key: PostKey | None = None) -> MessageRef:
        """Post a paper's embed card with a Save button (and the key as nonce), then add the save reaction.

        A card whose earlier attempt may have been created (``key.sending_since``) is looked for first.
        """
        what = f"the card of {card.paper.versioned_id}"
        try:
            target = await self._destination(channel)
        except PLATFORM_FAULTS as err:
            raise publish_error(what, channel, err) from err
        message = await self._find_card(target, key, what) if key and key.sending_since else None
        if message is None:
            message = await self._create(
                what,
                channel,
                target.send(
                    embed=to_embed(card),
                    view=self._make_view(card, key.value if key else None),
                    allowed_mentions=NO_MENTIONS,
                    nonce=_nonce(key),
                ),
            )
        try:
            await asyncio.wait_for(message.add_reaction(self._save_emoji), self._timeout_s)
        except PLATFORM_FAULTS as err:
            # The card is posted (and goes in the ledger); saving still works with the button.
            log.warning("could not add the save reaction to %s in %s: %s", card.paper.versioned_id, channel, err)
        return MessageRef(channel, str(message.id))

    async def update_card(self, card: PaperCard, *, message: MessageRef, key: PostKey | None = None) -> None:
        """Edit the posted card's embed to ``card`` (now with its TL;DR); its Save button and reaction stay.

        An edit creates nothing, and repeating it changes nothing; a deleted card or lost access is
        ``PublishRefused``.
        """
        what = f"the card of {card.paper.versioned_id}"
        try:
            target = await self._destination(message.channel)
            if not message.message_id.isdigit():
                raise PublishRefused(f"{message.message_id!r} is not a Discord message id")
            partial = target.get_partial_message(int(message.message_id))
            await asyncio.wait_for(partial.edit(embed=to_embed(card), allowed_mentions=NO_MENTIONS), self._timeout_s)
        except (discord.NotFound, discord.Forbidden) as err:
            raise PublishRefused(str(publish_error(f"the update of {what}", message.channel, err))) from err
        except PLATFORM_FAULTS as err:
            raise publish_error(f"the update of {what}", message.channel, err) from err

    async def _find_card(self, target: Destination, key: PostKey, what: str) -> discord.Message | None:
        """Our message carrying ``key`` in its Save button, created since the intent; None if there is none."""
        assert key.sending_since is not None
        try:
            async for message in target.history(
                limit=HISTORY_LIMIT, after=key.sending_since - CLOCK_SKEW, oldest_first=True
            ):
                if self._mine(message) and carries_key(_custom_ids(message), key.value):
                    log.info("found %s (key %s) posted by an earlier attempt", what, key.value)
                    return message
        except PLATFORM_FAULTS as err:
            raise PublishOutcomeUnknown(f"could not look for {what} in {target.id}: {err}") from err
        return None

    async def post_thread(
        self, summary: ThreadSummary, *, parent: MessageRef, journal: ThreadJournal | None = None
    ) -> MessageRef:
        """Start a public thread from the card and post the summary there, split to Discord's limits.

        With a journal each part is recorded and carries its key as nonce; a part an earlier attempt may have sent
        is looked for first. Without one, a retry after a partial failure skips the parts already in the thread.
        """
        posts = thread_messages(summary)
        what = f"the summary thread of {summary.paper.versioned_id}"
        if parent.channel.owner is not None:
            return await self._post_replies(posts, parent=parent, journal=journal, what=what)
        try:
            channel = await self._text_channel(parent.channel)
            thread, existing = await self._open_thread(channel, parent, summary.paper.title)
            if journal is None:
                first_id, done = (None, 0) if not existing else await self._posted_before(thread, posts)
                for post in posts[done:]:
                    message = await self._create(
                        what, parent.channel, thread.send(embeds=list(post.embeds), allowed_mentions=NO_MENTIONS)
                    )
                    first_id = first_id or message.id
                return MessageRef(parent.channel, str(first_id or parent.message_id))
        except PublishError:
            raise
        except PLATFORM_FAULTS as err:
            raise publish_error(what, parent.channel, err) from err

        async def send(post: ThreadPost, key: PostKey | None) -> str:
            sending = thread.send(embeds=list(post.embeds), allowed_mentions=NO_MENTIONS, nonce=_nonce(key))
            return str((await self._create(what, parent.channel, sending)).id)

        async def find(part: int, post: ThreadPost, _key: PostKey) -> str | None:
            try:
                ours = [m async for m in thread.history(limit=100, oldest_first=True) if self._mine(m)]
            except PLATFORM_FAULTS as err:
                raise PublishOutcomeUnknown(f"could not look for {what} in {parent.channel}: {err}") from err
            return _earlier_part(ours, part, post, what)

        first = await post_parts(posts, journal=journal, send=send, find=find)
        return MessageRef(parent.channel, first or parent.message_id)

    async def _post_replies(
        self, posts: list[ThreadPost], *, parent: MessageRef, journal: ThreadJournal | None, what: str
    ) -> MessageRef:
        """A summary in a direct message (which has no threads): replies to the card, each part recorded and carrying
        its key; a part an earlier attempt may have sent is looked for among our replies to the card."""
        if not parent.message_id.isdigit():
            raise PublishError(f"{parent.message_id!r} is not a Discord message id")
        card_id = int(parent.message_id)
        try:
            dm = await self._destination(parent.channel)
        except PLATFORM_FAULTS as err:
            raise publish_error(what, parent.channel, err) from err
        reference = discord.MessageReference(message_id=card_id, channel_id=dm.id, fail_if_not_exists=False)

        async def send(post: ThreadPost, key: PostKey | None) -> str:
            sending = dm.send(
                embeds=list(post.embeds),
                allowed_mentions=NO_MENTIONS,
                nonce=_nonce(key),
                reference=reference,
            )
            return str((await self._create(what, parent.channel, sending)).id)

        async def find(part: int, post: ThreadPost, _key: PostKey) -> str | None:
            try:
                ours = [
                    m
                    async for m in dm.history(limit=HISTORY_LIMIT, after=discord.Object(id=card_id), oldest_first=True)
                    if self._mine(m) and m.reference is not None and m.reference.message_id == card_id
                ]
            except PLATFORM_FAULTS as err:
                raise PublishOutcomeUnknown(f"could not look for {what} in {parent.channel}: {err}") from err
            return _earlier_part(ours, part, post, what)

        first = await post_parts(posts, journal=journal, send=send, find=find)
        return MessageRef(parent.channel, first or parent.message_id)

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
            if _descriptions(message) != [e.description for e in post.embeds]:
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
                target = await self._destination(channel)
            for chunk in reply_chunks(reply.text):
                await target.send(chunk, allowed_mentions=NO_MENTIONS, suppress_embeds=True)
            for card in reply.cards:
                await target.send(embed=to_embed(card), allowed_mentions=NO_MENTIONS)
        except PLATFORM_FAULTS as err:
            raise publish_error("a reply", channel, err) from err

    async def send_note(self, text: str, *, channel: ChannelRef, user_id: str, key: PostKey) -> str:
        """A private note by direct message, with ``key`` as its enforced nonce; when it may exist, our message with
        the same text since the intent is looked for first."""
        if not user_id.isdigit():
            raise PublishError(f"{user_id!r} is not a Discord user id")
        try:
            user = await self._client.fetch_user(int(user_id))
            dm = await user.create_dm()
        except PLATFORM_FAULTS as err:
            raise publish_error("a direct message", f"user {user_id}", err) from err
        return await self._send_text(dm, text, key, f"user {user_id}")

    async def reply_in_thread(self, text: str, *, parent: MessageRef, key: PostKey) -> str:
        """A reply in the card's thread (the thread started from the card has the card's id); in a direct message,
        which has no threads, a reply to the card."""
        if not parent.message_id.isdigit():
            raise PublishError(f"{parent.message_id!r} is not a Discord message id")
        if parent.channel.owner is not None:
            try:
                dm = await self._destination(parent.channel)
            except PLATFORM_FAULTS as err:
                raise publish_error("a reply", parent.channel, err) from err
            reference = discord.MessageReference(
                message_id=int(parent.message_id), channel_id=dm.id, fail_if_not_exists=False
            )
            return await self._send_text(dm, text, key, parent.channel, reference=reference)
        try:
            thread = self._client.get_channel(int(parent.message_id)) or await self._client.fetch_channel(
                int(parent.message_id)
            )
        except PLATFORM_FAULTS as err:
            raise publish_error("a thread reply", parent.channel, err) from err
        if not isinstance(thread, discord.Thread):
            raise PublishError(f"the card {parent.message_id} in {parent.channel} has no thread")
        return await self._send_text(thread, text, key, parent.channel)

    async def _send_text(
        self,
        target: discord.abc.Messageable,
        text: str,
        key: PostKey,
        where: object,
        *,
        reference: discord.MessageReference | None = None,
    ) -> str:
        [content] = reply_chunks(text)[:1]
        if key.sending_since is not None:
            try:
                async for message in target.history(after=key.sending_since - CLOCK_SKEW, limit=HISTORY_LIMIT):
                    if self._mine(message) and message.content == content:
                        return str(message.id)
            except PLATFORM_FAULTS as err:
                raise PublishOutcomeUnknown(f"could not look for message {key.value} in {where}: {err}") from err
        replying: dict[str, Any] = {} if reference is None else {"reference": reference}
        sent = await self._create(
            "a version alert",
            where,
            target.send(content, nonce=key.value, allowed_mentions=NO_MENTIONS, suppress_embeds=True, **replying),
        )
        return str(sent.id)
