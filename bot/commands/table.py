"""The command table: every ``/arxiv`` command once, with its parser, help, aliases and what kind of command it is.

Everything else is derived from ``COMMANDS`` (and ``SETTINGS``, the table of ``set``): the help page, the command
names that label metrics, the mutating and slow sets, and the lookup of a typed name or alias. A new command is one
new row; nothing else is kept in sync by hand.

Help is per platform where the syntax differs: a row's ``help`` is the text form (Slack, console), and
``help_by_platform`` replaces it for a platform that types the command differently: Discord's app-command form
(subcommands such as ``digest-now``, options as ``name:value``). How to save a paper differs too (a reaction, a
button, ``react N`` in the console): ``SAVE_HINT_BY_PLATFORM`` and ``HELP_FOOTER_BY_PLATFORM``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeVar

from bot.commands import model as cm
from bot.commands import parser as p
from bot.errors import MissingArguments, UserInputError

OTHER = "other"
"""The metrics label of a line whose first word is no command (never the user's text itself)."""
HELP_HEADER = "arxiv-bot commands (type them after /arxiv):"
HELP_FOOTER = (
    "React with the bookmark emoji on a paper to save it; thumbs-down or Not for us if it is not for this channel."
)
HELP_FOOTER_BY_PLATFORM: Mapping[str, str] = MappingProxyType(
    {
        "discord": (
            "React with 🔖 or press Save on a paper card to save it; 👎 or Not for us if it is not for this channel."
        ),
        "console": "Type react N to save paper card #N, unreact N to unsave it; down N (or react N 👎) if it is not"
        " for this channel.",
    }
)
"""A platform's own last line of help, where saving works differently there."""
SAVE_HINT = "react with the bookmark emoji on a paper to save it"
SAVE_HINT_BY_PLATFORM: Mapping[str, str] = MappingProxyType(
    {"discord": "react with 🔖 or press Save on a paper card to save it", "console": "type react N to save card #N"}
)
"""How to save a paper, as the answer to an empty ``saved`` says it."""
RESET_CONFIRM = "/arxiv ranking reset confirm"
RESET_CONFIRM_BY_PLATFORM: Mapping[str, str] = MappingProxyType({"discord": "/arxiv ranking action:reset-confirm"})
"""The exact command that confirms a ranking reset, as the platform types it."""
DISCORD = "discord"
USAGE_WIDTH = 36
"""Help aligns the descriptions after the widest usage of today plus two spaces."""


@dataclass(frozen=True, slots=True)
class HelpLine:
    """One line of the help page: how to type it, and what it does."""

    usage: str
    summary: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SettingSpec:
    """One row of the ``set`` table."""

    name: str
    """The canonical setting name, as help shows it."""
    aliases: tuple[str, ...] = ()
    parse: Callable[[list[str]], cm.Command]
    """Parses the words after the setting's name."""
    one_value: bool = True
    """Whether exactly one word follows the name (checked before ``parse`` runs)."""
    usage: str
    """The short form listed when ``set`` is typed wrong."""
    help: HelpLine
    help_by_platform: Mapping[str, HelpLine] = field(default_factory=dict)

    def help_for(self, platform: str | None) -> HelpLine:
        """This setting's help line on a platform."""
        return self.help_by_platform.get(platform or "", self.help)


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandSpec:
    """One row of the command table."""

    name: str
    """The canonical name: what help shows first and what labels metrics."""
    aliases: tuple[str, ...] = ()
    """Other first words that select this command."""
    parse: Callable[[p.CommandWords], cm.Command]
    """Parses the line (its name as typed and the rest); raises ``UserInputError`` with a one-line answer."""
    help: tuple[HelpLine, ...]
    """The command's lines on the help page, in the text form."""
    help_by_platform: Mapping[str, tuple[HelpLine, ...]] = field(default_factory=dict)
    """Replaces ``help`` on a platform whose syntax differs."""
    mutating: bool = False
    """Changes the channel's settings: refused to someone who may not manage the channel."""
    mutating_if: Callable[[cm.Command], bool] | None = None
    """For a command whose arguments decide it (``ranking`` shows to anyone; ``ranking off`` is a change)."""
    slow: bool = False
    """May take longer than a platform's acknowledgement window (adapters acknowledge first)."""
    slow_if: Callable[[cm.Command], bool] | None = None
    """Slow only for some of its forms (``saved export`` is, ``saved`` is not)."""

    def is_slow(self, command: cm.Command) -> bool:
        """Whether this parsed form of the command may outlast the acknowledgement window."""
        return self.slow or (self.slow_if is not None and self.slow_if(command))

    def help_for(self, platform: str | None) -> tuple[HelpLine, ...]:
        """This command's help lines on a platform."""
        return self.help_by_platform.get(platform or "", self.help)

    def changes_settings(self, command: cm.Command) -> bool:
        """Whether this parsed command changes the channel's settings."""
        return self.mutating or (self.mutating_if is not None and self.mutating_if(command))


MIN_SCORE_HELP = "lowest score posted: keyword score, or the ranking's in learned mode"
"""How ``min-score`` reads once learning is on (``/arxiv why`` shows a paper's score in the channel's mode)."""

SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec(
        name="time",
        parse=p.parse_time,
        one_value=False,
        usage="set time HH:MM [Area/City]",
        help=HelpLine(
            "set time HH:MM [Area/City]", "daily post time (Monday to Friday), e.g. set time 09:30 Europe/Berlin"
        ),
        help_by_platform={
            DISCORD: HelpLine(
                "set time:HH:MM [timezone:Area/City]",
                "daily post time, Monday to Friday, e.g. time:09:30 timezone:Asia/Tokyo",
            )
        },
    ),
    SettingSpec(
        name="max",
        parse=p.parse_max,
        usage="set max <n>",
        help=HelpLine(f"set max <1-{p.MAX_MAX_PAPERS}>", "papers per day"),
        help_by_platform={DISCORD: HelpLine(f"set max:<1-{p.MAX_MAX_PAPERS}>", "papers per day")},
    ),
    SettingSpec(
        name="min-score",
        aliases=("minscore", "min_score"),
        parse=p.parse_min_score,
        usage="set min-score <x>",
        help=HelpLine(f"set min-score <0-{p.MAX_MIN_SCORE:g}>", MIN_SCORE_HELP),
        help_by_platform={DISCORD: HelpLine(f"set min-score:<0-{p.MAX_MIN_SCORE:g}>", MIN_SCORE_HELP)},
    ),
    SettingSpec(
        name="cross",
        parse=p.parse_cross,
        usage="set cross on|off",
        help=HelpLine("set cross on|off", "include papers cross-listed into your categories"),
        help_by_platform={
            DISCORD: HelpLine("set cross:True|False", "include papers cross-listed into your categories")
        },
    ),
    SettingSpec(
        name="language",
        parse=p.parse_language,
        usage="set language <code>",
        help=HelpLine("set language <code>", "summary language, e.g. en, zh, de"),
        help_by_platform={DISCORD: HelpLine("set language:<code>", "summary language, e.g. en, zh, de")},
    ),
)

SET_USAGE = " | ".join(s.usage for s in SETTINGS)


_Row = TypeVar("_Row", bound="SettingSpec | CommandSpec")


def _index(rows: Iterable[_Row]) -> dict[str, _Row]:
    """Each row by its name and by each alias; a word that names two rows is a mistake in the table."""
    index: dict[str, _Row] = {}
    for row in rows:
        for word in (row.name, *row.aliases):
            if word != word.lower() or word in index:
                raise ValueError(f"command table: {word!r} is not lower case or names two rows")
            index[word] = row
    return index


_SETTINGS_BY_WORD = _index(SETTINGS)


def parse_set(line: p.CommandWords) -> cm.Command:
    """``set <setting> <value>``: the setting's row parses the value."""
    words = line.words
    if not words:
        raise MissingArguments("set needs a setting and its value")
    what, values = words[0].lower(), words[1:]
    setting = _SETTINGS_BY_WORD.get(what)
    if (setting is None or setting.one_value) and len(values) != 1:
        raise UserInputError(f"set {what} takes one value: use {SET_USAGE}")
    if setting is None:
        raise UserInputError(f"unknown setting {what!r}: use {SET_USAGE}")
    return setting.parse(values)


def _set_help() -> dict[str, tuple[HelpLine, ...]]:
    platforms = {platform for s in SETTINGS for platform in s.help_by_platform}
    return {platform: tuple(s.help_for(platform) for s in SETTINGS) for platform in platforms}


LIKE_HELP = "papers this channel likes: the ranking learns from them"

COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(name="help", aliases=("?",), parse=lambda _: cm.Help(), help=(HelpLine("help", "this list"),)),
    CommandSpec(
        name="subscribe",
        parse=p.parse_subscribe,
        mutating=True,
        help=(
            HelpLine(
                "subscribe <cat> [<cat>...]", "follow arXiv categories or archives, e.g. subscribe cs.DC cs.LG, or cs"
            ),
        ),
        help_by_platform={
            DISCORD: (
                HelpLine(
                    "subscribe categories:<cat> [<cat>...]",
                    "follow categories or archives, e.g. categories:cs.DC cs.LG, or cs",
                ),
            )
        },
    ),
    CommandSpec(
        name="unsubscribe",
        parse=p.parse_unsubscribe,
        mutating=True,
        help=(HelpLine("unsubscribe <cat> [<cat>...]", "stop following categories"),),
        help_by_platform={DISCORD: (HelpLine("unsubscribe categories:<cat> [<cat>...]", "stop following categories"),)},
    ),
    CommandSpec(
        name="keywords",
        aliases=("keyword",),
        parse=p.parse_keywords,
        mutating=True,
        help=(
            HelpLine(
                "keywords add|remove|set <terms>",
                'comma separated; "quotes" keep a phrase; term^2 doubles its weight',
            ),
            HelpLine("keywords clear", "remove every keyword"),
        ),
        help_by_platform={
            DISCORD: (
                HelpLine(
                    "keywords action:add|remove|set terms:<terms>",
                    'comma separated; "quotes" keep a phrase; term^2 doubles its weight',
                ),
                HelpLine("keywords action:clear", "remove every keyword"),
            )
        },
    ),
    CommandSpec(
        name="exclude",
        parse=p.parse_exclude,
        mutating=True,
        help=(
            HelpLine("exclude add|remove <terms>", "drop papers that mention these terms"),
            HelpLine("exclude clear", "remove every exclude term"),
        ),
        help_by_platform={
            DISCORD: (
                HelpLine("exclude action:add|remove terms:<terms>", "drop papers that mention these terms"),
                HelpLine("exclude action:clear", "remove every exclude term"),
            )
        },
    ),
    CommandSpec(
        name="authors",
        aliases=("author",),
        parse=p.parse_authors,
        mutating=True,
        help=(HelpLine("authors follow|unfollow <name>", "papers by followed authors score higher"),),
        help_by_platform={
            DISCORD: (
                HelpLine("authors action:follow|unfollow name:<name>", "papers by followed authors score higher"),
            )
        },
    ),
    CommandSpec(
        name="settings",
        parse=lambda _: cm.ShowSettings(),
        help=(HelpLine("settings", "show this channel's settings"),),
    ),
    CommandSpec(
        name="set",
        parse=parse_set,
        mutating=True,
        help=tuple(s.help for s in SETTINGS),
        help_by_platform=_set_help(),
    ),
    CommandSpec(
        name="digest",
        aliases=("digest-now",),
        parse=p.parse_digest,
        slow=True,
        help=(HelpLine("digest now", "post today's papers now"),),
        help_by_platform={DISCORD: (HelpLine("digest-now", "post today's papers now"),)},
    ),
    CommandSpec(
        name="preview",
        parse=lambda _: cm.Preview(),
        slow=True,
        help=(HelpLine("preview", 'show what "digest now" would post, without posting'),),
        help_by_platform={DISCORD: (HelpLine("preview", "show what digest-now would post, without posting"),)},
    ),
    CommandSpec(
        name="summarize",
        aliases=("summarise",),
        parse=p.parse_summarize,
        slow=True,
        help=(HelpLine("summarize <id or arXiv URL>", "post one paper with its summary"),),
        help_by_platform={DISCORD: (HelpLine("summarize paper:<id or arXiv URL>", "post one paper with its summary"),)},
    ),
    CommandSpec(
        name="saved",
        parse=p.parse_saved,
        slow_if=lambda command: isinstance(command, cm.ExportSaves),
        help=(
            HelpLine("saved", "list the papers you saved"),
            HelpLine("saved export bibtex|ris", "your saved papers as a file for your reference manager, privately"),
        ),
        help_by_platform={
            DISCORD: (
                HelpLine("saved", "list the papers you saved"),
                HelpLine("saved export:bibtex|ris", "your saved papers as a file for your reference manager"),
            )
        },
    ),
    CommandSpec(
        name="channel-saves",
        aliases=("channel-saved",),
        parse=p.parse_channel_saves,
        slow=True,
        help=(HelpLine("channel-saves export bibtex|ris", "every paper saved in this channel, as a file, privately"),),
        help_by_platform={
            DISCORD: (HelpLine("channel-saves export:bibtex|ris", "every paper saved in this channel, as a file"),)
        },
    ),
    CommandSpec(
        name="alerts",
        aliases=("alert",),
        parse=p.parse_alerts,
        help=(HelpLine("alerts on|off", "a private note when a paper you saved gets a new version (on by default)"),),
        help_by_platform={
            DISCORD: (HelpLine("alerts state:on|off", "a private note when a paper you saved gets a new version"),)
        },
    ),
    CommandSpec(
        name="unsave",
        parse=p.parse_unsave,
        help=(HelpLine("unsave <id>", "forget a saved paper"),),
        help_by_platform={DISCORD: (HelpLine("unsave paper:<id>", "forget a saved paper"),)},
    ),
    CommandSpec(
        name="stats",
        parse=p.parse_stats,
        help=(HelpLine("stats", "LLM calls, tokens, cost and summary cache hits, today and this month"),),
    ),
    CommandSpec(
        name="feed", parse=p.parse_feed, help=(HelpLine("feed", "the RSS feed address of this channel's papers"),)
    ),
    CommandSpec(
        name="like",
        parse=p.parse_like,
        slow=True,
        help=(HelpLine("like <id or URL> [<id or URL>...]", LIKE_HELP),),
        help_by_platform={DISCORD: (HelpLine("like papers:<ids or URLs>", LIKE_HELP),)},
    ),
    CommandSpec(
        name="why",
        parse=p.parse_why,
        slow=True,
        help=(HelpLine("why <id or URL>", "why the ranking places a paper where it does, picked or not"),),
        help_by_platform={
            DISCORD: (HelpLine("why paper:<id or URL>", "why the ranking places a paper where it does, picked or not"),)
        },
    ),
    CommandSpec(
        name="ranking",
        parse=p.parse_ranking,
        mutating_if=lambda command: not isinstance(command, cm.ShowRanking),
        help=(
            HelpLine("ranking", "how this channel's papers are ranked: mode, signals, last fit, quality"),
            HelpLine("ranking on|off", "learn from saves, likes and thumbs-down, or rank by keywords only"),
            HelpLine("ranking reset", "forget what the ranking learned (keywords stay); asks to confirm"),
        ),
        help_by_platform={
            DISCORD: (
                HelpLine("ranking", "how this channel's papers are ranked: mode, signals, last fit, quality"),
                HelpLine("ranking action:on|off", "learn from saves, likes and 👎, or rank by keywords only"),
                HelpLine(
                    "ranking action:reset", "forget what the ranking learned (keywords stay); asks to confirm"
                ),
            )
        },
    ),
)
"""Every command, in the order help lists them."""

_COMMANDS_BY_WORD = _index(COMMANDS)

COMMAND_NAMES = frozenset(c.name for c in COMMANDS)
"""Canonical command names: the metrics labels (with ``OTHER``), never arbitrary user text."""
MUTATING = frozenset(c.name for c in COMMANDS if c.mutating or c.mutating_if is not None)
"""Commands that change a channel's settings, always or with some arguments (and may need a permission)."""
SLOW = frozenset(c.name for c in COMMANDS if c.slow)
"""Commands that may take longer than a platform's acknowledgement window (in every form; see ``is_slow``)."""


def find_command(word: str) -> CommandSpec | None:
    """The row a typed first word (a name or an alias, any case) selects, or None."""
    return _COMMANDS_BY_WORD.get(word.lower())


def closest_command(word: str) -> str | None:
    """The command name a mistyped first word most looks like (``subscrbe`` -> ``subscribe``), or None."""
    names = [c.name for c in COMMANDS]
    match = difflib.get_close_matches(word.lower(), [*names, *(a for c in COMMANDS for a in c.aliases)], n=1)
    if not match:
        return None
    found = find_command(match[0])
    return found.name if found is not None else None


def _lines(lines: Iterable[HelpLine]) -> list[str]:
    rows = list(lines)
    width = max([USAGE_WIDTH, *(len(line.usage) for line in rows)])
    return [f"  {line.usage.ljust(width)}  {line.summary}" for line in rows]


def help_text(platform: str | None = None) -> str:
    """The help page on a platform (``None``: the text form)."""
    body = _lines(line for command in COMMANDS for line in command.help_for(platform))
    return "\n".join([HELP_HEADER, *body, HELP_FOOTER_BY_PLATFORM.get(platform or "", HELP_FOOTER)])


def usage_text(command: CommandSpec, platform: str | None = None) -> str:
    """One command's lines of the help page on a platform: its usage, shown when it is typed incompletely."""
    return "\n".join(_lines(command.help_for(platform)))


def reset_confirm_command(platform: str | None = None) -> str:
    """The command that confirms a ranking reset, as typed on a platform."""
    return RESET_CONFIRM_BY_PLATFORM.get(platform or "", RESET_CONFIRM)


def save_hint(platform: str | None = None) -> str:
    """How to save a paper on a platform (``react N`` in the console)."""
    return SAVE_HINT_BY_PLATFORM.get(platform or "", SAVE_HINT)
