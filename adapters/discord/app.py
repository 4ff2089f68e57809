"""The Discord client: runs the ``/arxiv`` commands (declared in ``commands.py``), the Save and Not for us buttons
and reactions (🔖 saves, 👎 marks a paper not for the channel).

Handlers are thin: ``translate.to_commands`` turns an interaction into CommandService text, the core runs it,
and ``answer`` sends the Reply back (ephemeral, every send with ``AllowedMentions.none()``).
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import Sequence
from typing import Any, cast

import discord
from discord import app_commands

from adapters.discord.commands import ArxivCommands
from adapters.discord.publisher import NO_MENTIONS, PLATFORM_FAULTS, publish_error
from adapters.discord.translate import (
    DOWN_ID_PREFIX,
    SAVE_ID_PREFIX,
    CommandPayload,
    batch_embeds,
    channel_ref,
    down_custom_id,
    reaction_target,
    reply_chunks,
    save_custom_id,
    to_commands,
    to_embed,
)
from bot.commands.replies import styled
from bot.commands.service import CommandService
from bot.errors import PublishError, UserInputError
from bot.models import ChannelRef, CommandContext, ExportFile, MessageRef, PaperCard, Reply
from bot.store.channels import ChannelStore

log = logging.getLogger(__name__)

ACK_BUDGET_S = 2.0
"""A command not done by then is deferred: Discord drops an interaction not acknowledged within 3 s."""
REFUSAL = "Changing this channel's arxiv-bot settings needs the Manage Channels permission; ask someone who has it"
NOT_IN_GUILD = "Use /arxiv in a server text channel (it does not work in direct messages)"
FAILED = "Something went wrong on our side; nothing was changed, try again later"
OUT_OF_DATE = "This /arxiv command is out of date on Discord's side; try again in a minute (the bot re-syncs them)"
NOT_A_CARD = "This is not one of arxiv-bot's paper cards, so there is nothing to save"
DEFAULT_ATTACHMENT_LIMIT = 10 * 1024 * 1024
"""The attachment size limit when the interaction does not say (Discord's default for a server without boosts)."""
REACTION_EVENT = "arxiv_reaction"
"""Custom client event dispatched after each raw reaction was handled: ``(payload, Reply | None)``."""

def command_context(interaction: discord.Interaction[Any]) -> CommandContext | None:
    """Who typed a command, and where; a thread counts as its parent channel. None outside a server."""
    if interaction.guild_id is None or interaction.channel_id is None:
        return None
    channel_id = interaction.channel_id
    channel = interaction.channel
    if isinstance(channel, discord.Thread) and channel.parent_id:
        channel_id = channel.parent_id
    permissions = interaction.permissions
    return CommandContext(
        channel=channel_ref(interaction.guild_id, channel_id),
        user_id=str(interaction.user.id),
        user_name=interaction.user.display_name,
        can_manage=permissions.manage_channels or permissions.administrator,
        refusal=REFUSAL,
    )


class InteractionFiles:
    """``PrivateFiles`` within one interaction: the file goes as an ephemeral follow-up with an attachment, which
    only the person who typed the command sees."""

    def __init__(self, interaction: discord.Interaction[Any]) -> None:
        self._interaction = interaction

    async def send_file(self, file: ExportFile, *, channel: ChannelRef, user_id: str) -> str:
        """Attach ``file`` to an ephemeral message to the caller (deferring first if nothing was answered yet)."""
        interaction = self._interaction
        if str(interaction.user.id) != user_id:
            raise PublishError("a file goes only to the person who typed the command")
        limit = getattr(interaction, "filesize_limit", 0) or DEFAULT_ATTACHMENT_LIMIT
        if len(file.content) > limit:
            raise PublishError(f"{file.name} is larger than Discord's attachment limit here ({limit} bytes)")
        attachment = discord.File(io.BytesIO(file.content), filename=file.name, description=file.title[:1024])
        try:
            if not interaction.response.is_done():
                await interaction.response.defer(thinking=True, ephemeral=True)
            await interaction.followup.send(
                content=file.title, file=attachment, ephemeral=True, allowed_mentions=NO_MENTIONS
            )
        except PLATFORM_FAULTS as err:
            raise publish_error(f"the file {file.name}", channel, err) from None
        return "here, visible only to you"


class SaveButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=re.escape(SAVE_ID_PREFIX) + r"(?P<paper>[A-Za-z0-9./\-]{1,90})",
):
    """The persistent "Save" button of a card: works after a restart because its custom_id is a template."""

    def __init__(self, versioned_id: str, key: str | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                label="Save",
                emoji="🔖",
                style=discord.ButtonStyle.secondary,
                custom_id=save_custom_id(versioned_id, key),
            )
        )
        self.versioned_id = versioned_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: Any, /
    ) -> SaveButton:
        """Rebuild the button from a pressed custom_id."""
        return cls(match["paper"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Save the card's paper for the presser."""
        client = interaction.client
        if isinstance(client, ArxivDiscordClient):
            await client.save_from_button(interaction)


class NotForUsButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=re.escape(DOWN_ID_PREFIX) + r"(?P<paper>[A-Za-z0-9./\-]{1,90})",
):
    """The persistent "Not for us" button of a card (a 👎 for the ranking); pressed again, it takes that back."""

    def __init__(self, versioned_id: str, key: str | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                label="Not for us",
                emoji="👎",
                style=discord.ButtonStyle.secondary,
                custom_id=down_custom_id(versioned_id, key),
            )
        )
        self.versioned_id = versioned_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: Any, /
    ) -> NotForUsButton:
        """Rebuild the button from a pressed custom_id."""
        return cls(match["paper"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Mark the card's paper not for this channel (or take that back) for the presser."""
        client = interaction.client
        if isinstance(client, ArxivDiscordClient):
            await client.down_from_button(interaction)


def save_view(card: PaperCard, key: str | None = None) -> discord.ui.View:
    """The view under a card: the persistent Save and Not for us buttons (their custom_ids carry the post key)."""
    view = discord.ui.View(timeout=None)
    view.add_item(SaveButton(card.paper.versioned_id, key))
    view.add_item(NotForUsButton(card.paper.versioned_id, key))
    return view


def _pressed_card(interaction: discord.Interaction[Any]) -> MessageRef | None:
    """The card message whose button was pressed; None outside a server."""
    message = interaction.message
    if interaction.guild_id is None or interaction.channel_id is None or message is None:
        return None
    return MessageRef(channel_ref(interaction.guild_id, interaction.channel_id), str(message.id))


class ArxivDiscordClient(discord.AutoShardedClient):
    """A sharded discord.py client with default intents, the ``/arxiv`` tree, the Save button and reaction saving.

    ``shard_count`` None asks Discord how many shards to run (all of them here); with ``shard_ids`` this process runs
    only that slice of ``shard_count`` (other processes run the rest).
    """

    def __init__(
        self,
        *,
        service: CommandService,
        channels: ChannelStore,
        save_emoji: str,
        shard_count: int | None = None,
        shard_ids: Sequence[int] | None = None,
    ) -> None:
        # We use no voice: skip discord.py's start-up warnings about missing voice libraries.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        slice_of: dict[str, Any] = {} if shard_ids is None else {"shard_ids": list(shard_ids)}
        super().__init__(
            intents=discord.Intents.default(),
            allowed_mentions=NO_MENTIONS,
            max_messages=None,
            shard_count=shard_count,
            **slice_of,
        )
        self._shards_up: set[int] = set()
        self.service = service
        self.channels = channels
        self.save_emoji = save_emoji
        self.tree: app_commands.CommandTree[ArxivDiscordClient] = app_commands.CommandTree(self)
        self.tree.add_command(ArxivCommands(bot=self))
        self.tree.error(self._on_app_command_error)
        self.gateway_ready = asyncio.Event()

    async def setup_hook(self) -> None:
        """Register the buttons' templates so cards posted before a restart keep working."""
        self.add_dynamic_items(SaveButton, NotForUsButton)

    def _running_shards(self) -> set[int]:
        return set(self.shard_ids) if self.shard_ids is not None else set(range(self.shard_count or 1))

    async def on_shard_connect(self, shard_id: int) -> None:
        """READY arrived on one shard: ready once every shard of this process has it."""
        self._shards_up.add(shard_id)
        if self._shards_up >= self._running_shards():
            self.gateway_ready.set()

    async def on_shard_resumed(self, shard_id: int) -> None:
        """One shard's session was resumed after a drop."""
        await self.on_shard_connect(shard_id)

    async def on_shard_disconnect(self, shard_id: int) -> None:
        """One shard's gateway connection dropped (discord.py reconnects it)."""
        self._shards_up.discard(shard_id)
        self.gateway_ready.clear()

    # ------------------------------------------------------------------------------------------ commands

    async def subscribed(self, interaction: discord.Interaction[Any]) -> tuple[str, ...]:
        """The categories the interaction's channel follows (for autocomplete)."""
        ctx = command_context(interaction)
        record = await self.channels.get(ctx.channel) if ctx is not None else None
        return record.categories if record is not None else ()

    async def run_command(self, interaction: discord.Interaction[Any]) -> None:
        """Run one ``/arxiv`` interaction through the CommandService and answer it.

        Each command text is parsed once; the core refuses what the caller may not do, in Discord's wording.
        """
        ctx = command_context(interaction)
        if ctx is None:
            await self.answer(interaction, Reply(text=NOT_IN_GUILD))
            return
        try:
            texts = to_commands(cast(CommandPayload, interaction.data or {}))
        except UserInputError as err:
            await self.answer(interaction, styled(Reply(text=str(err))))
            return
        commands = [self.service.prepare(text) for text in texts]
        if any(command.slow for command in commands):
            await interaction.response.defer(thinking=True, ephemeral=True)
        work = asyncio.ensure_future(self.service.execute_many(ctx, commands, files=InteractionFiles(interaction)))
        if not interaction.response.is_done():
            done, _ = await asyncio.wait({work}, timeout=ACK_BUDGET_S)
            if not done:
                await interaction.response.defer(thinking=True, ephemeral=True)
        reply = await work
        await self.answer(interaction, reply, code=commands[0].name == "help")

    async def answer(self, interaction: discord.Interaction[Any], reply: Reply, *, code: bool = False) -> None:
        """Send a Reply as the interaction's response and follow-ups, split to Discord's limits.

        Text-only messages suppress link previews: a list of saved papers would otherwise grow a preview per link.
        """
        messages: list[tuple[str | None, list[discord.Embed]]] = [(c, []) for c in reply_chunks(reply.text, code=code)]
        messages += [(None, batch) for batch in batch_embeds([to_embed(card) for card in reply.cards])]
        for content, embeds in messages:
            if not interaction.response.is_done():
                await interaction.response.send_message(
                    content=content,
                    embeds=embeds,
                    ephemeral=reply.ephemeral,
                    allowed_mentions=NO_MENTIONS,
                    suppress_embeds=not embeds,
                )
            else:
                await interaction.followup.send(
                    content=content if content is not None else discord.utils.MISSING,
                    embeds=embeds,
                    ephemeral=reply.ephemeral,
                    allowed_mentions=NO_MENTIONS,
                    suppress_embeds=not embeds,
                )

    # ------------------------------------------------------------------------------------------ saving

    async def save_from_button(self, interaction: discord.Interaction[Any]) -> None:
        """The Save button: save the card's paper for the presser (same as the reaction)."""
        ref = _pressed_card(interaction)
        reply = (
            Reply(text=NOT_IN_GUILD)
            if ref is None
            else await self.service.react(message=ref, user_id=str(interaction.user.id), added=True)
        )
        await self.answer(interaction, reply or Reply(text=NOT_A_CARD))

    async def down_from_button(self, interaction: discord.Interaction[Any]) -> None:
        """The Not for us button: mark the card's paper not for this channel, or take that back."""
        ref = _pressed_card(interaction)
        reply = (
            Reply(text=NOT_IN_GUILD)
            if ref is None
            else await self.service.not_for_us(message=ref, user_id=str(interaction.user.id))
        )
        await self.answer(interaction, reply or Reply(text=NOT_A_CARD))

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        """A save-emoji reaction on one of our cards saves its paper for the reacting user; 👎 marks it not for
        this channel."""
        await self._reaction(payload, added=True)

    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        """Removing the save-emoji reaction unsaves the paper; removing 👎 takes the mark back."""
        await self._reaction(payload, added=False)

    async def _reaction(self, payload: discord.RawReactionActionEvent, *, added: bool) -> None:
        target = reaction_target(
            emoji=str(payload.emoji),
            emoji_name=payload.emoji.name,
            save_emoji=self.save_emoji,
            guild_id=payload.guild_id,
            channel_id=payload.channel_id,
            message_id=payload.message_id,
            user_id=payload.user_id,
            bot_id=self.user.id if self.user is not None else None,
        )
        reply = None
        if target is not None:
            card, kind = target
            # Discord has no ephemeral answer to a reaction: the reaction itself is the feedback.
            reply = await self.service.react(message=card, user_id=str(payload.user_id), added=added, kind=kind)
            if reply is not None:
                log.info("reaction by %s on %s: %s", payload.user_id, card.message_id, reply.text.split("\n")[0])
        self.dispatch(REACTION_EVENT, payload, reply)

    # ------------------------------------------------------------------------------------------ errors

    async def _on_app_command_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        await self.report_failure(f"/arxiv ({type(error).__name__})", error, interaction)

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        """Failures in event handlers (reactions, connection events)."""
        await self.report_failure(event_method, None, None)

    async def report_failure(
        self, where: str, error: BaseException | None, interaction: discord.Interaction[Any] | None
    ) -> None:
        """The one place that handles failures: log them, and answer the interaction with one line if we can."""
        log.error("Discord %s failed", where, exc_info=error if error is not None else True)
        if interaction is None or interaction.is_expired():
            return
        text = FAILED
        if isinstance(error, (app_commands.CommandNotFound, app_commands.CommandSignatureMismatch)):
            text = OUT_OF_DATE
        try:
            await self.answer(interaction, Reply(text=text))
        except PLATFORM_FAULTS as err:
            log.warning("could not tell the user that %s failed: %s", where, err)
