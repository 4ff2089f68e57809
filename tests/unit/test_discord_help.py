"""Help on Discord is the app-command form its users type: every line names a real ``/arxiv`` subcommand and its
real options (and choices), and every subcommand and option is on the page."""

from __future__ import annotations

import re
from typing import Any, cast

from discord import app_commands

from adapters.discord.commands import ArxivCommands
from bot.commands.table import help_text


def subcommands() -> dict[str, app_commands.Command[Any, ..., Any]]:
    """Every subcommand by the name help gives it: ``settings``, and ``me settings`` for one of a group."""
    group = ArxivCommands(bot=cast(Any, None))
    found = {c.name: c for c in group.commands if isinstance(c, app_commands.Command)}
    for sub in group.commands:
        if isinstance(sub, app_commands.Group):
            found |= {f"{sub.name} {c.name}": c for c in sub.commands if isinstance(c, app_commands.Command)}
    return found


def _subcommand(usage: str) -> str:
    words = usage.split()
    return " ".join(words[:2]) if words[0] == "me" else words[0]


def help_lines() -> list[tuple[str, list[tuple[str, str]]]]:
    """Each line of the Discord help page as (subcommand, [(option, value), ...])."""
    lines = help_text("discord").splitlines()[1:-1]
    usages = [re.split(r" {2,}", line.strip())[0] for line in lines]
    return [(_subcommand(usage), re.findall(r"([a-z][\w-]*):([^\s\]]+)", usage)) for usage in usages]


def test_every_discord_help_line_is_a_real_subcommand_with_real_options_and_choices() -> None:
    commands = subcommands()
    for name, options in help_lines():
        assert name in commands, f"/arxiv {name} is no Discord subcommand"
        parameters = {p.display_name: p for p in commands[name].parameters}
        assert {p for p, param in parameters.items() if param.required} <= {o for o, _ in options}
        for option, value in options:
            assert option in parameters, f"/arxiv {name} has no option {option}"
            choices = [c.value for c in parameters[option].choices]
            if choices:
                assert set(value.split("|")) <= set(choices), f"{name} {option}: {value} not in {choices}"


def test_every_discord_subcommand_and_option_is_on_the_help_page() -> None:
    page = help_text("discord")
    shown = {name for name, _ in help_lines()}
    commands = subcommands()
    assert shown == set(commands)
    for name, command in commands.items():
        for parameter in command.parameters:
            assert f"{parameter.display_name}:" in page, f"/arxiv {name} {parameter.display_name} is not in help"
    assert "digest now" not in page and "set time HH:MM" not in page  # no text-form syntax on Discord
