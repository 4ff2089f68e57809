"""Pure translation between console lines and core commands, and core posts into terminal text."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

from bot.delivery.cards import author_line
from bot.models import PaperCard, Reply, SignalKind, ThreadSummary

# C0/C1 control characters (ESC starts terminal escape sequences), bidi controls (they reorder what follows) and
# zero-width characters (they hide text or glue a word to a mention) are removed from untrusted text.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200b-\u200d\u2060\ufeff]")
_REACT = re.compile(
    r"^(?P<verb>react|unreact|save|unsave-card|down)\s+#?(?P<n>\d{1,6})(?:\s+(?P<emoji>\S+))?$", re.IGNORECASE
)
DOWN_EMOJIS = frozenset({"👎", ":-1:", "-1", ":thumbsdown:", "thumbsdown"})
"""What ``react N <emoji>`` takes as 👎 (anything else, or no emoji, is the save emoji)."""
INDENT = "    "
THREAD_INDENT = "      │ "


@dataclass(frozen=True, slots=True)
class CommandLine:
    """A ``/arxiv ...`` command."""

    text: str


@dataclass(frozen=True, slots=True)
class Reaction:
    """A reaction on card number ``number``, added or removed: 🔖 (save) or 👎 (not for this channel)."""

    number: int
    added: bool
    kind: SignalKind = SignalKind.SAVE


@dataclass(frozen=True, slots=True)
class NotForUs:
    """``down N``: the "Not for us" button of card number ``number`` (pressed again, it takes the mark back)."""

    number: int


@dataclass(frozen=True, slots=True)
class Unknown:
    """A line that is neither a command nor a reaction."""

    text: str


@dataclass(frozen=True, slots=True)
class Quit:
    """``quit`` or ``exit``: end the console session, as Ctrl-D does."""


QUIT_WORDS = frozenset({"quit", "exit", "/quit", "/exit"})
ConsoleInput = CommandLine | Reaction | NotForUs | Unknown | Quit | None


def to_input(line: str) -> ConsoleInput:
    """Read one typed line: a command, a reaction, quit, something unknown, or None for a blank line."""
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    lowered = line.lower()
    if lowered in QUIT_WORDS:
        return Quit()
    if lowered.startswith(("/arxiv", "arxiv ")):
        return CommandLine(line.removeprefix("arxiv ") if not line.startswith("/") else line)
    match = _REACT.match(line)
    if match:
        verb, number = match["verb"].lower(), int(match["n"])
        if verb == "down":
            return NotForUs(number) if match["emoji"] is None else Unknown(line)
        emoji = (match["emoji"] or "").replace("\ufe0f", "").lower()
        kind = SignalKind.DOWN if emoji in DOWN_EMOJIS else SignalKind.SAVE
        return Reaction(number, verb in ("react", "save"), kind)
    return Unknown(line)


def clean(text: str) -> str:
    """Untrusted text made safe for a terminal: no control characters, escape sequences, bidi controls or
    zero-width characters."""
    return _CONTROL.sub("", text)


def _wrap(text: str, prefix: str, width: int = 100) -> str:
    return "\n".join(
        textwrap.fill(paragraph, width=width, initial_indent=prefix, subsequent_indent=prefix)
        for paragraph in clean(text).split("\n")
    )


def render_card(card: PaperCard, number: int, *, personal_for: str | None = None) -> str:
    """A card as terminal text, numbered so the user can react to it; ``personal_for``: a card of that person's own
    digest (a direct message on the chat platforms)."""
    p = card.paper
    cats = p.primary_category + (" (cross-list)" if card.is_cross_list else "")
    why = f"score {card.score:g}" + (f" · matched: {clean(', '.join(card.matched))}" if card.matched else "")
    whose = "" if personal_for is None else f"personal digest for {clean(personal_for)}: "
    lines = [
        f"[#{number}] {whose}{clean(p.title)}",
        f"{INDENT}{clean(author_line(p.authors))}",
        f"{INDENT}{cats} · {p.versioned_id} · {why}",
        f"{INDENT}{p.abs_url}  PDF: {p.pdf_url}",
        _wrap(card.teaser, INDENT),
    ]
    if card.tldr and card.tldr.strip():
        lines.append(_wrap(f"TL;DR: {card.tldr}", INDENT))
    if card.requested_by:
        lines.append(f"{INDENT}(requested by {clean(card.requested_by)})")
    return "\n".join(lines)


def render_card_update(card: PaperCard, number: int) -> str:
    """An updated card, reprinted: its number and title, and its TL;DR."""
    lines = [f"[#{number}, updated] {clean(card.paper.title)}"]
    if card.tldr and card.tldr.strip():
        lines.append(_wrap(f"TL;DR: {card.tldr}", INDENT))
    return "\n".join(lines)


def render_thread(summary: ThreadSummary) -> str:
    """A thread reply, indented under its card."""
    lines = [f"{THREAD_INDENT}── thread: {clean(summary.heading)}"]
    if summary.tldr:
        lines.append(_wrap(f"TL;DR: {summary.tldr}", THREAD_INDENT))
    for section in summary.sections:
        if section.title != summary.heading:
            lines.append(f"{THREAD_INDENT}{clean(section.title)}")
        lines.append(_wrap(section.body, THREAD_INDENT))
    if summary.note:
        lines.append(f"{THREAD_INDENT}({clean(summary.note)})")
    return "\n".join(lines)


def render_reply(reply: Reply, first_number: int) -> str:
    """A command's reply; cards in it (preview) are shown without numbers to react to."""
    parts = [clean(reply.text)]
    for offset, card in enumerate(reply.cards):
        parts.append(
            render_card(card, first_number + offset).replace(f"[#{first_number + offset}]", "  -", 1)
        )
    return "\n".join(parts)
