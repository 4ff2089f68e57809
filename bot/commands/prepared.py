"""Reading an ``/arxiv`` line once: ``prepare`` finds its row in the command table and parses its arguments.

``prepare`` is the one parse entry point. An adapter calls it (through ``CommandService.prepare``) once per
command, decides from the result what the platform needs before running it (acknowledge a slow command first,
look up a permission only for a mutating one), and hands the same result to ``CommandService.execute``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.commands import model as cm
from bot.commands.parser import CommandWords, shown
from bot.commands.table import OTHER, CommandSpec, closest_command, find_command
from bot.errors import UnknownCommand, UserInputError

log = logging.getLogger(__name__)

PREFIX = "/arxiv"


@dataclass(frozen=True, slots=True)
class PreparedCommand:
    """A command line parsed once: its table row and typed command, or the error to answer instead."""

    text: str
    """The line as given (for logs)."""
    spec: CommandSpec | None
    """The row its first word selects; None when no command has that name."""
    command: cm.Command | None = None
    """The typed command; None when ``error`` is set."""
    error: Exception | None = None
    """Why it cannot run: a ``UserInputError`` (its message is the answer) or a parser that crashed."""

    @property
    def name(self) -> str:
        """The canonical command name, for metrics and logs (``other`` when the first word is no command)."""
        return self.spec.name if self.spec is not None else OTHER

    @property
    def mutating(self) -> bool:
        """Whether running it changes the channel's settings (bad input changes nothing)."""
        return self.command is not None and self.spec is not None and self.spec.changes_settings(self.command)

    @property
    def slow(self) -> bool:
        """Whether running it may outlast a platform's acknowledgement window (bad input is answered at once)."""
        return self.command is not None and self.spec is not None and self.spec.is_slow(self.command)


def prepare(text: str) -> PreparedCommand:
    """Parse one ``/arxiv`` line (with or without the ``/arxiv`` prefix); never raises."""
    line = text.strip()
    if line.lower().startswith(PREFIX):
        line = line[len(PREFIX) :].strip()
    head, _, tail = (line or "help").partition(" ")
    spec = find_command(head)
    if spec is None:
        close = closest_command(head)
        hint = f" (did you mean {close}?)" if close else ""
        return PreparedCommand(text=text, spec=None, error=UnknownCommand(f"unknown command {shown(head)!r}{hint}"))
    try:
        command = spec.parse(CommandWords(head.lower(), tail.strip()))
    except UserInputError as err:
        return PreparedCommand(text=text, spec=spec, error=err)
    except Exception as err:  # a bug in a parser: answered like any failure, never with a traceback
        log.exception("parsing %r crashed", text)
        return PreparedCommand(text=text, spec=spec, error=err)
    return PreparedCommand(text=text, spec=spec, command=command)
