"""Pure translation between Slack payloads and the core: commands and reactions in, Block Kit out. No I/O.

Everything we post is untrusted text (paper titles and abstracts, LLM output, names users typed). Prose goes into
``plain_text`` objects (Slack renders no formatting, links or mentions in them); every string is escaped: bidi
controls and zero-width characters are removed first (they reorder or hide text), then ``&``, ``<``, ``>`` become
entities, so ``<!channel>`` or ``<@U123>`` can never form, and ``@channel``/``@here``/``@everyone`` get our own
word joiner after the ``@`` (added after the removal, so untrusted text cannot bring or cancel one). The only
``mrkdwn`` we send is the linked card title and bold section titles, where formatting marks in untrusted text are
swapped for look-alikes.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from bot.delivery.cards import author_line
from bot.models import ChannelRef, CommandContext, MessageRef, PaperCard, Reply, SignalKind, ThreadSummary

Block = dict[str, Any]
"""One Block Kit block, as JSON."""

PLATFORM = "slack"
SECTION_LIMIT = 3000
"""Characters in a section's text."""
HEADER_LIMIT = 150
CONTEXT_LIMIT = 2000
BLOCKS_PER_MESSAGE = 50
FALLBACK_LIMIT = 300
"""Characters of the notification text of a message with blocks."""
SAVE_ACTION = "arxiv_save"
DOWN_ACTION = "arxiv_down"
DOWN_EMOJIS = frozenset({"-1", "thumbsdown"})
"""Slack's names of 👎 (``:-1:`` and its alias ``:thumbsdown:``)."""
PDF_ACTION = "arxiv_pdf"
WORD_JOINER = "\u2060"

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# Bidi embeddings, overrides and isolates; zero-width space, (non-)joiner, word joiner and BOM.
_INVISIBLE = re.compile("[\u202a-\u202e\u2066-\u2069\u200b-\u200d\u2060\ufeff]")
_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
_ENTITY = re.compile(r"&(amp|lt|gt);")
# In the few mrkdwn strings, untrusted text has its formatting marks swapped for look-alikes, which Slack ignores.
_MARK_LOOKALIKES = str.maketrans({"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02cb"})
# A word: a run of non-space characters, where a markdown link [label](url) counts as one piece even with spaces.
_ATOM = re.compile(r"(?:\[[^\]\n]{0,500}\]\([^()\s]{1,2000}\)|\S)+")


class MalformedPayload(ValueError):
    """A Slack payload lacks a field we need."""


class SlashCommandPayload(TypedDict, total=False):
    """The fields of a slash command we use (form fields in HTTP mode, a dict in Socket Mode)."""

    team_id: str
    channel_id: str
    user_id: str
    user_name: str
    command: str
    text: str
    response_url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CardSignal:
    """A user telling us about the paper of one message: a save-emoji or 👎 reaction added or removed, or the Save
    or "Not for us" button pressed."""

    message: MessageRef
    user_id: str
    added: bool
    kind: SignalKind = SignalKind.SAVE
    button: bool = False
    """Pressed rather than reacted: "Not for us" pressed again takes the mark back."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SlackMessage:
    """One message to send: notification ``text`` (already escaped) and its blocks."""

    text: str
    blocks: list[Block]


def strip_invisible(text: str) -> str:
    """Untrusted text without bidi controls and zero-width characters."""
    return _INVISIBLE.sub("", text)


def escape(text: str) -> str:
    """Untrusted text made inert for Slack: invisible characters removed, ``&<>`` as entities, broadcast words
    broken with our word joiner."""
    escaped = "".join(_ESCAPES.get(ch, ch) for ch in strip_invisible(text))
    return _BROADCAST.sub(lambda m: "@" + WORD_JOINER + m[1], escaped)


def unescape(text: str) -> str:
    """Text Slack sent us (it escapes ``&<>``), decoded in one pass so ``&amp;lt;`` stays ``&lt;``."""
    return _ENTITY.sub(lambda m: {"amp": "&", "lt": "<", "gt": ">"}[m[1]], text)


def _escaped_width(ch: str) -> int:
    # An "@" may gain a word joiner; counting it as two keeps every hard-split piece within the limit.
    return len(_ESCAPES.get(ch, ch)) + (1 if ch == "@" else 0)


def _hard_split(atom: str, limit: int) -> list[str]:
    """Cut one over-long word into escaped pieces of at most ``limit`` characters, never inside an entity."""
    pieces: list[str] = []
    start = width = 0
    for i, ch in enumerate(atom):
        w = _escaped_width(ch)
        if width + w > limit:
            pieces.append(escape(atom[start:i]))
            start, width = i, 0
        width += w
    pieces.append(escape(atom[start:]))
    return pieces


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Escape ``text`` and cut it into pieces of at most ``limit`` characters.

    Cuts fall between words and never inside a markdown link; only a single word longer than ``limit`` is cut
    inside (and never inside an entity). Line breaks inside a piece are kept.
    """
    text = strip_invisible(text)
    chunks: list[str] = []
    current = ""
    pos = 0
    for match in _ATOM.finditer(text):
        gap, atom = text[pos : match.start()], match.group()
        pos = match.end()
        piece = escape(atom)
        if current:
            joined = current + gap + piece
            if len(joined) <= limit:
                current = joined
                continue
            chunks.append(current)
            current = ""
        if len(piece) <= limit:
            current = piece
        else:
            *full, current = _hard_split(atom, limit)
            chunks.extend(full)
    if current:
        chunks.append(current)
    return chunks


def fit(text: str, limit: int) -> str:
    """Escape ``text`` on one line, shortened at a word boundary with an ellipsis to ``limit`` characters."""
    line = " ".join(strip_invisible(text).split())
    whole = escape(line)
    if len(whole) <= limit:
        return whole
    # Not ";": it ends an entity.
    return split_text(line, limit - 1)[0].rstrip(" ,:") + "…"


def plain(escaped: str) -> dict[str, Any]:
    """A plain_text object holding already-escaped text (emoji codes stay as typed)."""
    return {"type": "plain_text", "text": escaped, "emoji": False}


def _mrkdwn(escaped: str) -> dict[str, Any]:
    # verbatim: Slack does no auto-linking of URLs, channel names or mentions in it.
    return {"type": "mrkdwn", "text": escaped, "verbatim": True}


def _prose(text: str) -> list[Block]:
    return [{"type": "section", "text": plain(chunk)} for chunk in split_text(text, SECTION_LIMIT)]


def fit_mrkdwn(text: str, limit: int) -> str:
    """Like ``fit``, for use inside mrkdwn: formatting marks (``*_~```) become look-alikes that do not format."""
    return fit(text.translate(_MARK_LOOKALIKES), limit)


def _bold_title(title: str) -> Block:
    return {"type": "section", "text": _mrkdwn(f"*{fit_mrkdwn(title, SECTION_LIMIT - 2)}*")}


def _link(url: str, label: str) -> str:
    return f"<{escape(url).replace('|', '%7C')}|{label}>"


def card_text(card: PaperCard) -> str:
    """The notification text of a card."""
    return fit(f"{card.paper.title} ({card.paper.versioned_id})", FALLBACK_LIMIT)


def to_blocks(card: PaperCard, *, with_actions: bool = True) -> list[Block]:
    """A paper card: linked title, authors, category and score line, teaser, its TL;DR once the summary is ready,
    and the PDF, Save and Not for us buttons."""
    p = card.paper
    meta = [p.primary_category + (" (cross-list)" if card.is_cross_list else ""), p.versioned_id]
    meta.append(f"score {card.score:g}")
    if card.matched:
        meta.append("matched: " + ", ".join(card.matched))
    if card.requested_by:
        meta.append(f"requested by {card.requested_by}")
    context = [plain(fit(" · ".join(meta), CONTEXT_LIMIT))]
    if p.authors:
        context.insert(0, plain(fit(author_line(p.authors), CONTEXT_LIMIT)))
    blocks: list[Block] = [
        {"type": "section", "text": _mrkdwn("*" + _link(p.abs_url, fit_mrkdwn(p.title or p.versioned_id, 2500)) + "*")},
        {"type": "context", "elements": context},
    ]
    if card.teaser.strip():
        blocks.append({"type": "section", "text": plain(fit(card.teaser, SECTION_LIMIT))})
    if card.tldr and card.tldr.strip():
        blocks.append({"type": "section", "text": plain(fit(f"TL;DR: {card.tldr}", SECTION_LIMIT))})
    if with_actions:
        blocks.append(
            {
                "type": "actions",
                "block_id": f"paper:{p.versioned_id}"[:255],
                "elements": [
                    {"type": "button", "action_id": PDF_ACTION, "text": plain("PDF"), "url": p.pdf_url},
                    {
                        "type": "button",
                        "action_id": SAVE_ACTION,
                        "text": plain("Save"),
                        "value": p.versioned_id[:2000],
                    },
                    {
                        "type": "button",
                        "action_id": DOWN_ACTION,
                        "text": plain("Not for us"),
                        "value": p.versioned_id[:2000],
                    },
                ],
            }
        )
    return blocks


def thread_text(summary: ThreadSummary) -> str:
    """The notification text of a thread reply."""
    return fit(f"{summary.heading}: {summary.paper.title}", FALLBACK_LIMIT)


def _batches(blocks: list[Block]) -> list[list[Block]]:
    return [blocks[i : i + BLOCKS_PER_MESSAGE] for i in range(0, len(blocks), BLOCKS_PER_MESSAGE)]


@functools.lru_cache(maxsize=1024)
def thread_blocks(summary: ThreadSummary) -> list[list[Block]]:
    """The summary for a card's thread, as one or more messages within Slack's limits (built once per summary: every
    channel given the same paper in the same language shares them; callers must not change them)."""
    blocks: list[Block] = []
    if summary.heading.strip():
        blocks.append({"type": "header", "text": plain(fit(summary.heading, HEADER_LIMIT))})
    if summary.tldr and summary.tldr.strip():
        blocks += _prose(f"TL;DR: {summary.tldr}")
    for section in summary.sections:
        if section.title.strip() and section.title != summary.heading:
            blocks.append(_bold_title(section.title))
        blocks += _prose(section.body)
    if summary.note and summary.note.strip():
        blocks.append({"type": "context", "elements": [plain(fit(summary.note, CONTEXT_LIMIT))]})
    if not blocks:
        blocks = _prose(summary.paper.abstract) or [{"type": "section", "text": plain("(no summary)")}]
    return _batches(blocks)


def reply_messages(reply: Reply) -> list[SlackMessage]:
    """A command's reply as messages: its text, then any cards it shows (without buttons)."""
    blocks = _prose(reply.text)
    for card in reply.cards:
        blocks += [{"type": "divider"}, *to_blocks(card, with_actions=False)]
    text = fit(reply.text, FALLBACK_LIMIT) or "arxiv-bot"
    return [SlackMessage(text=text, blocks=batch) for batch in _batches(blocks)] or [
        SlackMessage(text=text, blocks=[])
    ]


def _required(payload: Mapping[str, object], *path: str) -> str:
    value: Any = payload
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    if not isinstance(value, str) or not value:
        raise MalformedPayload(f"Slack payload without {'.'.join(path)}")
    return value


def command_text(payload: SlashCommandPayload) -> str:
    """The text after ``/arxiv`` with Slack's escaping undone (never raises: it is read before the ack)."""
    return unescape(str(payload.get("text") or ""))


def to_command(payload: SlashCommandPayload, *, can_manage: bool = True) -> tuple[CommandContext, str]:
    """A slash command's caller and place, and the text after ``/arxiv`` (Slack's escaping undone)."""
    user_id = _required(payload, "user_id")
    ctx = CommandContext(
        channel=ChannelRef(PLATFORM, _required(payload, "team_id"), _required(payload, "channel_id")),
        user_id=user_id,
        user_name=str(payload.get("user_name") or user_id),
        can_manage=can_manage,
    )
    return ctx, command_text(payload)


def to_reaction(body: Mapping[str, Any], *, save_emoji: str) -> CardSignal | None:
    """A save-emoji or 👎 reaction added to or removed from a message; None for any other reaction or item."""
    event = body.get("event")
    if not isinstance(event, Mapping) or event.get("type") not in ("reaction_added", "reaction_removed"):
        return None
    name = str(event.get("reaction", "")).split("::", 1)[0]  # a skin tone follows "::"
    item = event.get("item")
    if not isinstance(item, Mapping) or item.get("type") != "message":
        return None
    if name == save_emoji.strip(":"):
        kind = SignalKind.SAVE
    elif name in DOWN_EMOJIS:
        kind = SignalKind.DOWN
    else:
        return None
    team = body.get("team_id") or event.get("item_team") or ""
    if not team:
        raise MalformedPayload("Slack payload without team_id")
    return CardSignal(
        message=MessageRef(ChannelRef(PLATFORM, str(team), _required(item, "channel")), _required(item, "ts")),
        user_id=_required(event, "user"),
        added=event["type"] == "reaction_added",
        kind=kind,
    )


def to_card_click(body: Mapping[str, Any]) -> CardSignal:
    """A click on a card's Save or Not for us button."""
    container = body.get("container") if isinstance(body.get("container"), Mapping) else {}
    channel = (body.get("channel") or {}).get("id") or (container or {}).get("channel_id")
    ts = (container or {}).get("message_ts") or (body.get("message") or {}).get("ts")
    if not channel or not ts:
        raise MalformedPayload("Slack payload without the clicked message")
    actions = body.get("actions")
    first = actions[0] if isinstance(actions, list) and actions else None
    action = first.get("action_id") if isinstance(first, Mapping) else None
    return CardSignal(
        message=MessageRef(ChannelRef(PLATFORM, _required(body, "team", "id"), str(channel)), str(ts)),
        user_id=_required(body, "user", "id"),
        added=True,
        kind=SignalKind.DOWN if action == DOWN_ACTION else SignalKind.SAVE,
        button=True,
    )
