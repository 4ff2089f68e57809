"""The ``/arxiv`` command group as Discord sees it: subcommands with typed options and their autocomplete.

Every subcommand hands its interaction to the client (``CommandHost.run_command``), which translates and runs it.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

import discord
from discord import app_commands

from adapters.discord.translate import category_choices, timezone_choices
from bot.commands.parser import MAX_MAX_PAPERS, MAX_MIN_SCORE

KeywordAction = Literal["add", "remove", "set", "clear"]
ExcludeAction = Literal["add", "remove", "clear"]
AuthorAction = Literal["follow", "unfollow"]
RankingAction = Literal["on", "off", "reset", "reset-confirm"]
ExportFormat = Literal["bibtex", "ris"]
OnOff = Literal["on", "off"]


class CommandHost(Protocol):
    """What the group needs from the client."""

    async def run_command(self, interaction: discord.Interaction[Any]) -> None:
        """Run one ``/arxiv`` interaction and answer it."""

    async def subscribed(self, interaction: discord.Interaction[Any]) -> tuple[str, ...]:
        """The categories the interaction's channel follows."""


def _choices(pairs: list[tuple[str, str]]) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=label, value=value) for label, value in pairs]


class ArxivCommands(app_commands.Group):
    """``/arxiv <subcommand>``: the core's commands as Discord slash subcommands with typed options."""

    def __init__(self, *, bot: CommandHost) -> None:
        super().__init__(
            name="arxiv",
            description="New arXiv papers in this channel",
            guild_only=True,
            allowed_contexts=app_commands.AppCommandContext(guild=True),
            # No default_permissions: Discord applies it to the whole /arxiv group, which would hide saved,
            # settings and help from members too. Changing settings is refused at run time instead.
        )
        self.bot = bot

    @app_commands.command(name="subscribe", description="Follow arXiv categories or whole archives, e.g. cs.DC cs.LG")
    @app_commands.describe(categories="Category or archive codes separated by spaces, e.g. cs.DC cs.LG, or cs")
    async def subscribe(
        self, interaction: discord.Interaction[Any], categories: app_commands.Range[str, 1, 300]
    ) -> None:
        """Follow categories."""
        await self.bot.run_command(interaction)

    @subscribe.autocomplete("categories")
    async def _subscribe_categories(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return _choices(category_choices(current))

    @app_commands.command(name="unsubscribe", description="Stop following arXiv categories")
    @app_commands.describe(categories="Category codes separated by spaces")
    async def unsubscribe(
        self, interaction: discord.Interaction[Any], categories: app_commands.Range[str, 1, 300]
    ) -> None:
        """Stop following categories."""
        await self.bot.run_command(interaction)

    @unsubscribe.autocomplete("categories")
    async def _unsubscribe_categories(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return _choices(category_choices(current, await self.bot.subscribed(interaction)))

    @app_commands.command(name="keywords", description="Change the keywords papers are scored by")
    @app_commands.describe(
        action="add, remove or set terms, or clear them all",
        terms='Comma separated; "quotes" keep a phrase; term^2 doubles its weight',
    )
    async def keywords(
        self,
        interaction: discord.Interaction[Any],
        action: KeywordAction,
        terms: app_commands.Range[str, 1, 1000] | None = None,
    ) -> None:
        """Change include keywords."""
        await self.bot.run_command(interaction)

    @app_commands.command(name="exclude", description="Drop papers that mention these terms")
    @app_commands.describe(action="add or remove terms, or clear them all", terms="Comma separated terms")
    async def exclude(
        self,
        interaction: discord.Interaction[Any],
        action: ExcludeAction,
        terms: app_commands.Range[str, 1, 1000] | None = None,
    ) -> None:
        """Change exclude terms."""
        await self.bot.run_command(interaction)

    @app_commands.command(name="authors", description="Follow or unfollow an author (their papers score higher)")
    @app_commands.describe(action="follow or unfollow", name="The author's name, e.g. Yann LeCun")
    async def authors(
        self, interaction: discord.Interaction[Any], action: AuthorAction, name: app_commands.Range[str, 1, 100]
    ) -> None:
        """Follow or unfollow an author."""
        await self.bot.run_command(interaction)

    @app_commands.command(name="settings", description="Show this channel's settings")
    async def settings(self, interaction: discord.Interaction[Any]) -> None:
        """Show settings."""
        await self.bot.run_command(interaction)

    @app_commands.command(name="set", description="Change this channel's settings (give one or more)")
    @app_commands.rename(min_score="min-score")
    @app_commands.describe(
        time="Daily post time HH:MM (24-hour), Monday to Friday",
        timezone="IANA time zone of the post time, e.g. Europe/Berlin (give it with time)",
        max="Papers per day",
        min_score="Lowest score that gets posted",
        cross="Include papers cross-listed into your categories",
        language="Summary language code, e.g. en, zh, de",
    )
    async def set_settings(
        self,
        interaction: discord.Interaction[Any],
        time: app_commands.Range[str, 4, 5] | None = None,
        timezone: app_commands.Range[str, 1, 64] | None = None,
        max: app_commands.Range[int, 1, MAX_MAX_PAPERS] | None = None,
        min_score: app_commands.Range[float, 0.0, MAX_MIN_SCORE] | None = None,
        cross: bool | None = None,
        language: app_commands.Range[str, 2, 10] | None = None,
    ) -> None:
        """Change settings."""
        await self.bot.run_command(interaction)

    @set_settings.autocomplete("timezone")
    async def _set_timezone(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return _choices(timezone_choices(current))

    @app_commands.command(name="digest-now", description="Post today's papers now")
    async def digest_now(self, interaction: discord.Interaction[Any]) -> None:
        """Post today's papers."""
        await self.bot.run_command(interaction)

    @app_commands.command(name="preview", description='Show what "digest-now" would post, without posting')
    async def preview(self, interaction: discord.Interaction[Any]) -> None:
        """Preview today's papers."""
        await self.bot.run_command(interaction)

    @app_commands.command(name="summarize", description="Post one paper with its summary")
    @app_commands.describe(paper="arXiv id or URL, e.g. 2601.00644 or https://arxiv.org/abs/2601.00644")
    async def summarize(self, interaction: discord.Interaction[Any], paper: app_commands.Range[str, 4, 200]) -> None:
        """Post one paper."""
        await self.bot.run_command(interaction)

    @app_commands.command(name="saved", description="List the papers you saved, newest first, or export them")
    @app_commands.describe(export="Send your saved papers to you as a BibTeX or RIS file instead")
    async def saved(self, interaction: discord.Interaction[Any], export: ExportFormat | None = None) -> None:
        """List or export saves."""
        await self.bot.run_command(interaction)

    @app_commands.command(name="channel-saves", description="Every paper saved in this channel, as a file for you")
    @app_commands.describe(export="BibTeX or RIS")
    async def channel_saves(self, interaction: discord.Interaction[Any], export: ExportFormat) -> None:
        """Export the channel's saves."""
        await self.bot.run_command(interaction)

    @app_commands.command(name="alerts", description="A private note when a paper you saved gets a new version")
    @app_commands.describe(state="on (the default) or off")
    async def alerts(self, interaction: discord.Interaction[Any], state: OnOff) -> None:
        """Turn version alerts on or off."""
        await self.bot.run_command(interaction)

    @app_commands.command(name="unsave", description="Forget a saved paper")
    @app_commands.describe(paper="arXiv id, e.g. 2601.00644")
    async def unsave(self, interaction: discord.Interaction[Any], paper: app_commands.Range[str, 4, 200]) -> None:
        """Forget a save."""
        await self.bot.run_command(interaction)

    @app_commands.command(name="stats", description="LLM calls, tokens, cost and summary cache hits")
    async def stats(self, interaction: discord.Interaction[Any]) -> None:
        """Show LLM usage."""
        await self.bot.run_command(interaction)

    @app_commands.command(name="feed", description="The RSS feed address of this channel's papers")
    async def feed(self, interaction: discord.Interaction[Any]) -> None:
        """Show the channel's feed address."""
        await self.bot.run_command(interaction)

    @app_commands.command(name="like", description="Papers this channel likes: the ranking learns from them")
    @app_commands.describe(papers="arXiv ids or URLs separated by spaces, e.g. 2601.00644 2601.00645")
    async def like(self, interaction: discord.Interaction[Any], papers: app_commands.Range[str, 4, 2000]) -> None:
        """Like papers."""
        await self.bot.run_command(interaction)

    @app_commands.command(name="why", description="Why the ranking places a paper where it does, picked or not")
    @app_commands.describe(paper="arXiv id or URL, e.g. 2601.00644")
    async def why(self, interaction: discord.Interaction[Any], paper: app_commands.Range[str, 4, 200]) -> None:
        """Explain a paper's ranking."""
        await self.bot.run_command(interaction)

    @app_commands.command(name="ranking", description="How this channel's papers are ranked, and its switches")
    @app_commands.describe(
        action="on or off: learn from saves, likes and 👎 or not; reset: forget what it learned (asks to confirm)"
    )
    async def ranking(self, interaction: discord.Interaction[Any], action: RankingAction | None = None) -> None:
        """Show or switch the channel's ranking."""
        await self.bot.run_command(interaction)

    me = app_commands.Group(name="me", description="Your own digest, sent to you by direct message")

    @me.command(name="settings", description="Your own digest's settings")
    async def me_settings(self, interaction: discord.Interaction[Any]) -> None:
        """Show your digest's settings."""
        await self.bot.run_command(interaction)

    @me.command(name="subscribe", description="Follow arXiv categories or archives in your own digest")
    @app_commands.describe(categories="Category or archive codes separated by spaces, e.g. cs.DC cs.LG, or cs")
    async def me_subscribe(
        self, interaction: discord.Interaction[Any], categories: app_commands.Range[str, 1, 300]
    ) -> None:
        """Follow categories in your digest."""
        await self.bot.run_command(interaction)

    @me_subscribe.autocomplete("categories")
    async def _me_subscribe_categories(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return _choices(category_choices(current))

    @me.command(name="unsubscribe", description="Stop following categories in your own digest")
    @app_commands.describe(categories="Category codes separated by spaces")
    async def me_unsubscribe(
        self, interaction: discord.Interaction[Any], categories: app_commands.Range[str, 1, 300]
    ) -> None:
        """Stop following categories in your digest."""
        await self.bot.run_command(interaction)

    @me.command(name="keywords", description="Change the keywords your own digest is scored by")
    @app_commands.describe(
        action="add, remove or set terms, or clear them all",
        terms='Comma separated; "quotes" keep a phrase; term^2 doubles its weight',
    )
    async def me_keywords(
        self,
        interaction: discord.Interaction[Any],
        action: KeywordAction,
        terms: app_commands.Range[str, 1, 1000] | None = None,
    ) -> None:
        """Change your keywords."""
        await self.bot.run_command(interaction)

    @me.command(name="exclude", description="Drop papers that mention these terms from your own digest")
    @app_commands.describe(action="add or remove terms, or clear them all", terms="Comma separated terms")
    async def me_exclude(
        self,
        interaction: discord.Interaction[Any],
        action: ExcludeAction,
        terms: app_commands.Range[str, 1, 1000] | None = None,
    ) -> None:
        """Change your exclude terms."""
        await self.bot.run_command(interaction)

    @me.command(name="authors", description="Follow or unfollow an author in your own digest")
    @app_commands.describe(action="follow or unfollow", name="The author's name, e.g. Yann LeCun")
    async def me_authors(
        self, interaction: discord.Interaction[Any], action: AuthorAction, name: app_commands.Range[str, 1, 100]
    ) -> None:
        """Follow or unfollow an author for you."""
        await self.bot.run_command(interaction)

    @me.command(name="set", description="Change your own digest's settings (give one or more)")
    @app_commands.rename(min_score="min-score")
    @app_commands.describe(
        time="When it comes, HH:MM (24-hour), Monday to Friday",
        timezone="IANA time zone of the time, e.g. Europe/Berlin (give it with time)",
        max="Papers per day",
        min_score="Lowest score that gets sent",
        cross="Include papers cross-listed into your categories",
        language="Summary language code, e.g. en, zh, de",
    )
    async def me_set(
        self,
        interaction: discord.Interaction[Any],
        time: app_commands.Range[str, 4, 5] | None = None,
        timezone: app_commands.Range[str, 1, 64] | None = None,
        max: app_commands.Range[int, 1, MAX_MAX_PAPERS] | None = None,
        min_score: app_commands.Range[float, 0.0, MAX_MIN_SCORE] | None = None,
        cross: bool | None = None,
        language: app_commands.Range[str, 2, 10] | None = None,
    ) -> None:
        """Change your digest's settings."""
        await self.bot.run_command(interaction)

    @me_set.autocomplete("timezone")
    async def _me_set_timezone(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return _choices(timezone_choices(current))

    @me.command(name="digest-now", description="Send your own digest now")
    async def me_digest_now(self, interaction: discord.Interaction[Any]) -> None:
        """Send your digest now."""
        await self.bot.run_command(interaction)

    @me.command(name="preview", description="Show what your own digest would send, without sending")
    async def me_preview(self, interaction: discord.Interaction[Any]) -> None:
        """Preview your digest."""
        await self.bot.run_command(interaction)

    @me.command(name="like", description="Papers you like: your digest's ranking learns from them")
    @app_commands.describe(papers="arXiv ids or URLs separated by spaces, e.g. 2601.00644 2601.00645")
    async def me_like(self, interaction: discord.Interaction[Any], papers: app_commands.Range[str, 4, 2000]) -> None:
        """Like papers for your digest."""
        await self.bot.run_command(interaction)

    @me.command(name="ranking", description="How your own digest is ranked, and its switches")
    @app_commands.describe(
        action="on or off: learn from your saves and likes or not; reset: forget what it learned (asks to confirm)"
    )
    async def me_ranking(self, interaction: discord.Interaction[Any], action: RankingAction | None = None) -> None:
        """Show or switch your digest's ranking."""
        await self.bot.run_command(interaction)

    @me.command(name="off", description="Stop your own digest (its settings are kept)")
    async def me_off(self, interaction: discord.Interaction[Any]) -> None:
        """Stop your digest."""
        await self.bot.run_command(interaction)

    @me.command(name="on", description="Resume your own digest")
    async def me_on(self, interaction: discord.Interaction[Any]) -> None:
        """Resume your digest."""
        await self.bot.run_command(interaction)

    @app_commands.command(name="help", description="How to use arxiv-bot")
    async def help(self, interaction: discord.Interaction[Any]) -> None:
        """Show help."""
        await self.bot.run_command(interaction)
