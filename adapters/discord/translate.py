"""Pure translation between Discord payloads and the core: options -> command text, cards -> embeds.

Everything the core hands us is untrusted text (titles, abstracts, author and user names, LLM output). It is
escaped here so that it renders as plain text: no markdown, no masked links, no mentions. Control, bidi and
zero-width characters are removed first; then mentions are broken with our own zero-width space (so untrusted text
can neither bring one nor cancel ours). Our own markup (bold section titles, small-print notes, links to arXiv) is
added around the escaped text.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, TypedDict
from zoneinfo import available_timezones

import discord

from bot.arxiv import taxonomy
from bot.delivery.cards import shorten
from bot.errors import UserInputError
from bot.models import ChannelRef, MessageRef, PaperCard, SignalKind, ThreadSummary

PLATFORM = "discord"
CONTENT_LIMIT = 2000
DESCRIPTION_LIMIT = 4096
TITLE_LIMIT = 256
FIELD_LIMIT = 1024
MESSAGE_EMBED_LIMIT = 6000
EMBEDS_PER_MESSAGE = 10
THREAD_NAME_LIMIT = 100
TLDR_LIMIT = 1000
"""Characters of the TL;DR shown on a card (the whole summary is in its thread)."""
CHOICES_LIMIT = 25
CHOICE_TEXT_LIMIT = 100
SAVE_ID_PREFIX = "arxiv-save:"
DOWN_ID_PREFIX = "arxiv-down:"
DOWN_EMOJI = "👎"

ARCHIVE_COLOURS: Mapping[str, int] = {
    "cs": 0x2F6FDE,
    "math": 0x7C4DDB,
    "stat": 0x1E9E6A,
    "eess": 0x0F9BB5,
    "econ": 0xB8860B,
    "q-bio": 0x3FA34D,
    "q-fin": 0xC9A227,
    "physics": 0xE0712B,
    "astro-ph": 0x243F8F,
    "cond-mat": 0xD9534F,
    "gr-qc": 0x5C5C8A,
    "hep-ex": 0xB03A2E,
    "hep-lat": 0xA64D79,
    "hep-ph": 0xC0392B,
    "hep-th": 0x8E44AD,
    "math-ph": 0x6D4C9F,
    "nlin": 0x16A085,
    "nucl-ex": 0xA04000,
    "nucl-th": 0xCA6F1E,
    "quant-ph": 0x1F618D,
}
"""Embed colour of each arXiv archive; archives not listed get a stable colour derived from their name."""


class OptionPayload(TypedDict, total=False):
    """One option of an application-command interaction (a subcommand holds its own options)."""

    name: str
    type: int
    value: str | int | float | bool
    options: list[OptionPayload]
    focused: bool


class CommandPayload(TypedDict, total=False):
    """The ``data`` of an ``INTERACTION_CREATE`` for ``/arxiv <subcommand>``."""

    id: str
    name: str
    type: int
    guild_id: str
    options: list[OptionPayload]


@dataclass(frozen=True, slots=True)
class ThreadPost:
    """One message in a card's thread: up to 10 embeds, within Discord's per-message limits."""

    embeds: tuple[discord.Embed, ...]


# ---------------------------------------------------------------------------------------------- escaping

# C0 controls, bidi embeddings/overrides/isolates, zero-width space/(non-)joiner, word joiner and BOM.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069\u200b-\u200d\u2060\ufeff]")
_URL = re.compile(r"https?://[^\s<>\"*|`~\[\]\\]*[^\s<>\".,:;!?'()*|`~\[\]\\_]")
_INLINE = re.compile(r"([\\*_~`|\[\]])")
_LINE_START = re.compile(r"^([ \t]*)([#>+-]|\d+(?=[.)]))", re.MULTILINE)
_ANGLE_MENTION = re.compile(r"<(?=[@#/:]|a:|t:|id:)")
_EVERYONE = re.compile(r"@(?=(?:everyone|here)\b)", re.IGNORECASE)
ZWSP = "\u200b"


def neutralise_mentions(text: str) -> str:
    """Break ``@everyone``, ``@here``, ``<@id>``, ``<@&id>``, ``<#id>``, ``</cmd:id>`` with a zero-width space."""
    return _EVERYONE.sub("@" + ZWSP, _ANGLE_MENTION.sub("<" + ZWSP, _CONTROL.sub("", text)))


def escape(text: str) -> str:
    """Untrusted text as Discord markdown that renders it literally; bare links stay clickable."""
    text = _CONTROL.sub("", text)
    parts: list[str] = []
    last = 0
    for match in _URL.finditer(text):
        parts.append(_INLINE.sub(r"\\\1", text[last : match.start()]))
        parts.append(match.group(0))
        last = match.end()
    parts.append(_INLINE.sub(r"\\\1", text[last:]))
    escaped = "".join(parts)

    def line_start(match: re.Match[str]) -> str:
        marker = match.group(2)
        # "1." starts a list: escape the dot after the number; others get a backslash before the marker.
        return match.group(1) + (marker + "\\" if marker[0].isdigit() else "\\" + marker)

    escaped = _LINE_START.sub(line_start, escaped)
    return neutralise_mentions(escaped)


def fit(text: str, limit: int) -> str:
    """Untrusted one-line text, escaped and shortened at a word boundary so it is at most ``limit`` chars."""
    budget = limit
    while True:
        out = escape(shorten(text, budget))
        if len(out) <= limit or budget <= 1:
            return out[:limit]
        budget -= len(out) - limit


def plain_fit(text: str, limit: int) -> str:
    """Untrusted one-line text for places that render no markdown (thread names), mentions broken, shortened."""
    budget = limit
    while True:
        out = neutralise_mentions(shorten(text, budget))
        if len(out) <= limit or budget <= 1:
            return out[:limit]
        budget -= len(out) - limit


# ---------------------------------------------------------------------------------------------- splitting


def _cut_at(text: str, limit: int) -> int:
    """Where to cut ``text`` (longer than ``limit``): the best whitespace at or before ``limit``."""
    window = text[: limit + 1]
    for separator in ("\n\n", "\n"):
        at = window.rfind(separator)
        if at >= limit // 2:
            return at
    sentence = max(window.rfind(". "), window.rfind("! "), window.rfind("? "))
    if sentence >= limit // 2:
        return sentence + 1
    space = max(window.rfind(" "), window.rfind("\t"))
    if space > 0:
        return space
    # One token longer than the limit (nothing else fits): a hard cut that keeps an escape pair whole.
    cut = limit
    while cut > 1 and text[cut - 1] == "\\":
        cut -= 1
    return cut


def split_text(text: str, limit: int) -> list[str]:
    """Split ``text`` into chunks of at most ``limit`` chars at paragraph, line, sentence or word boundaries.

    Words and links (runs without whitespace) are never cut unless one alone is longer than ``limit``.
    """
    chunks: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = _cut_at(rest, limit)
        chunk = rest[:cut].rstrip()
        if chunk:
            chunks.append(chunk)
        rest = rest[cut:].lstrip()
    if rest:
        chunks.append(rest)
    return chunks


def reply_chunks(text: str, *, code: bool = False) -> list[str]:
    """A command reply as message contents of at most 2,000 chars; ``code`` keeps columns in a code block."""
    if code:
        body = _CONTROL.sub("", text).replace("`", "ˋ")
        return [f"```\n{chunk}\n```" for chunk in split_text(body, CONTENT_LIMIT - 8)]
    return split_text(escape(text), CONTENT_LIMIT) or ["(no answer)"]


# ---------------------------------------------------------------------------------------------- cards


def archive_colour(category: str) -> int:
    """The embed colour of a category's archive."""
    archive = taxonomy.archive_of(category)
    return ARCHIVE_COLOURS.get(archive, zlib.crc32(archive.encode()) & 0xFFFFFF)


def _categories_line(card: PaperCard) -> str:
    p = card.paper
    others = [c for c in p.categories if c != p.primary_category]
    line = f"**{escape(p.primary_category)}**" + (f" · {escape(', '.join(others))}" if others else "")
    return line + (" · cross-list" if card.is_cross_list else "")


def to_embed(card: PaperCard) -> discord.Embed:
    """The embed of one paper card: linked title, teaser, its TL;DR once the summary is ready, authors /
    categories / score / matched fields."""
    p = card.paper
    lines = [escape(card.teaser), f"[abs]({p.abs_url}) · [PDF]({p.pdf_url})"]
    if card.tldr and card.tldr.strip():
        lines.insert(1, f"**TL;DR** {fit(card.tldr, TLDR_LIMIT)}")
    if card.requested_by:
        lines.append(f"-# requested by {fit(card.requested_by, 80)}")
    embed = discord.Embed(
        title=fit(p.title, TITLE_LIMIT) or p.versioned_id,
        url=p.abs_url,
        description="\n".join(lines)[:DESCRIPTION_LIMIT],
        colour=archive_colour(p.primary_category),
    )
    embed.add_field(name="Authors", value=fit(", ".join(p.authors), FIELD_LIMIT) or "unknown", inline=False)
    categories = _categories_line(card)
    if len(categories) > FIELD_LIMIT:
        categories = categories[: categories.rfind(", ", 0, FIELD_LIMIT - 2)] + " …"
    embed.add_field(name="Categories", value=categories, inline=True)
    embed.add_field(name="Score", value=f"{card.score:g}", inline=True)
    embed.add_field(name="Matched", value=fit(", ".join(card.matched), FIELD_LIMIT) or "none", inline=True)
    published = f" · {p.published.isoformat()}" if p.published else ""
    embed.set_footer(text=f"arXiv:{p.versioned_id} · {p.announce_type.value}{published}")
    return embed


def batch_embeds(embeds: Sequence[discord.Embed]) -> list[list[discord.Embed]]:
    """Group embeds into messages of at most 10 embeds and 6,000 embed characters."""
    batches: list[list[discord.Embed]] = []
    size = 0
    for embed in embeds:
        if not batches or len(batches[-1]) >= EMBEDS_PER_MESSAGE or size + len(embed) > MESSAGE_EMBED_LIMIT:
            batches.append([])
            size = 0
        batches[-1].append(embed)
        size += len(embed)
    return batches


def thread_name(card_title: str) -> str:
    """The name of a card's thread (at most 100 chars, no markdown is rendered there)."""
    return plain_fit(card_title, THREAD_NAME_LIMIT)


@lru_cache(maxsize=1024)
def thread_messages(summary: ThreadSummary) -> list[ThreadPost]:
    """A summary as thread messages within Discord's limits, split without cutting a word or a link (built once per
    summary: every channel given the same paper in the same language shares them; callers must not change them)."""
    blocks: list[str] = []
    if summary.tldr:
        blocks.append(f"**TL;DR** {escape(summary.tldr.strip())}")
    for section in summary.sections:
        body = escape(section.body.strip())
        if section.title.strip() and section.title.strip() != summary.heading.strip():
            blocks.append(f"**{fit(section.title, 200)}**\n{body}")
        elif body:
            blocks.append(body)
    if summary.note:
        blocks.append(f"-# {fit(summary.note, 500)}")
    text = "\n\n".join(b for b in blocks if b.strip()) or "No summary is available for this paper."
    colour = archive_colour(summary.paper.primary_category)
    title = fit(summary.heading, TITLE_LIMIT) or "Summary"
    embeds = [
        discord.Embed(title=title if n == 0 else None, description=chunk, colour=colour)
        for n, chunk in enumerate(split_text(text, DESCRIPTION_LIMIT))
    ]
    return [ThreadPost(embeds=tuple(batch)) for batch in batch_embeds(embeds)]


# ---------------------------------------------------------------------------------------------- commands


def _values(options: Iterable[OptionPayload]) -> dict[str, Any]:
    return {o["name"]: o["value"] for o in options if "value" in o and "name" in o}


def _text(values: Mapping[str, Any], name: str) -> str:
    value = values.get(name)
    return "" if value is None else " ".join(str(value).split())


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _set_commands(values: Mapping[str, Any]) -> list[str]:
    texts: list[str] = []
    if "timezone" in values and "time" not in values:
        raise UserInputError("give the time with the time zone, e.g. /arxiv set time:09:30 timezone:Europe/Berlin")
    if "time" in values:
        texts.append(f"set time {_text(values, 'time')} {_text(values, 'timezone')}".strip())
    if "max" in values:
        texts.append(f"set max {_number(values['max'])}")
    if "min-score" in values:
        texts.append(f"set min-score {_number(values['min-score'])}")
    if "cross" in values:
        texts.append(f"set cross {'on' if values['cross'] else 'off'}")
    if "language" in values:
        texts.append(f"set language {_text(values, 'language')}")
    if not texts:
        raise UserInputError("choose what to set: time (with timezone), max, min-score, cross or language")
    return texts


def subcommand_of(data: CommandPayload) -> tuple[str, list[OptionPayload]]:
    """The subcommand name and its options (``help`` when there is none); a subcommand of a group (``me``) is named
    with its group, ``me keywords``."""
    for option in data.get("options") or []:
        if option.get("type") == discord.AppCommandOptionType.subcommand_group.value:
            name, options = subcommand_of({"options": list(option.get("options") or [])})
            return f"{option.get('name', '')} {name}", options
        if option.get("type") == discord.AppCommandOptionType.subcommand.value:
            return option.get("name", "help"), list(option.get("options") or [])
    return "help", []


PERSONAL_SUBCOMMANDS = frozenset(
    {"settings", "subscribe", "unsubscribe", "keywords", "exclude", "authors", "set", "digest-now", "preview"}
    | {"like", "ranking", "on", "off"}
)
"""The subcommands of ``/arxiv me``: the channel's own, on the caller's personal digest, and on and off."""


def to_commands(data: CommandPayload) -> list[str]:
    """The CommandService text(s) for one ``/arxiv`` interaction; ``set`` with several options gives several;
    ``/arxiv me <subcommand>`` is the same subcommand's text after ``me``.

    Raises ``UserInputError`` for a combination Discord's option types cannot rule out.
    """
    name, options = subcommand_of(data)
    group, _, inner = name.rpartition(" ")
    if group == "me" and inner in PERSONAL_SUBCOMMANDS:
        if inner in ("on", "off"):
            return [f"me {inner}"]
        return [f"me {text}" for text in _texts(inner, _values(options))]
    if group:
        raise UserInputError(f"unknown command {name!r}: see /arxiv help")
    return _texts(name, _values(options))


def _texts(name: str, values: Mapping[str, Any]) -> list[str]:
    match name:
        case "subscribe" | "unsubscribe":
            return [f"{name} {_text(values, 'categories')}".strip()]
        case "keywords" | "exclude":
            action = _text(values, "action")
            return [f"{name} {action} {'' if action == 'clear' else _text(values, 'terms')}".strip()]
        case "authors":
            return [f"authors {_text(values, 'action')} {_text(values, 'name')}".strip()]
        case "set":
            return _set_commands(values)
        case "digest-now":
            return ["digest now"]
        case "summarize" | "unsave" | "why":
            return [f"{name} {_text(values, 'paper')}".strip()]
        case "like":
            return [f"like {_text(values, 'papers')}".strip()]
        case "ranking":
            return [f"ranking {_text(values, 'action').replace('-', ' ')}".strip()]
        case "alerts":
            return [f"alerts {_text(values, 'state')}".strip()]
        case "saved" | "channel-saves" if _text(values, "export"):
            return [f"{name} export {_text(values, 'export')}"]
        case "settings" | "preview" | "saved" | "channel-saves" | "help" | "stats" | "feed":
            return [name]
    raise UserInputError(f"unknown command {name!r}: see /arxiv help")


def category_choices(current: str, candidates: Sequence[str] | None = None) -> list[tuple[str, str]]:
    """Autocomplete for a space-separated category list: completes the last word; (label, value) pairs."""
    words = current.split()
    done, partial = (words, "") if current.endswith(" ") or not words else (words[:-1], words[-1])
    prefix = " ".join(done)
    pool = list(candidates) if candidates is not None else list(taxonomy.all_categories())
    wanted = partial.lower()
    starts = [c for c in pool if c.lower().startswith(wanted) and c not in done]
    contains = [c for c in pool if wanted and wanted in c.lower() and c not in starts and c not in done]
    choices: list[tuple[str, str]] = []
    for code in (starts + contains)[:CHOICES_LIMIT]:
        value = f"{prefix} {code}".strip()
        if len(value) > CHOICE_TEXT_LIMIT:
            continue
        name = taxonomy.category_name(code) if taxonomy.is_category(code) else code
        label = f"{value} — {name}" if len(f"{value} — {name}") <= CHOICE_TEXT_LIMIT else value
        choices.append((label, value))
    return choices


@cache
def _zones() -> tuple[str, ...]:
    return tuple(sorted(z for z in available_timezones() if "/" in z or z == "UTC"))


def timezone_choices(current: str) -> list[tuple[str, str]]:
    """Autocomplete for an IANA time zone name."""
    wanted = current.strip().lower()
    starts = [z for z in _zones() if z.lower().startswith(wanted)]
    contains = [z for z in _zones() if wanted and wanted in z.lower() and z not in starts]
    return [(z, z) for z in (starts + contains)[:CHOICES_LIMIT]]


# ---------------------------------------------------------------------------------------------- reactions


def channel_ref(guild_id: int | str, channel_id: int | str) -> ChannelRef:
    """Our reference to a Discord channel."""
    return ChannelRef(PLATFORM, str(guild_id), str(channel_id))


_SKIN_TONES = re.compile("[\U0001f3fb-\U0001f3ff]")


def _emoji_key(text: str) -> str:
    # Without the emoji presentation selector and skin tones: 👎🏽 is a 👎.
    return _SKIN_TONES.sub("", text.replace("\ufe0f", "")).strip()


def reaction_target(
    *,
    emoji: str,
    emoji_name: str | None,
    save_emoji: str,
    guild_id: int | None,
    channel_id: int,
    message_id: int,
    user_id: int,
    bot_id: int | None,
) -> tuple[MessageRef, SignalKind] | None:
    """The card message a reaction is on and what it says (the save emoji: save; 👎: not for us), or None when
    the reaction is neither (or is ours, or outside a server)."""
    if guild_id is None or user_id == bot_id:
        return None
    kind = reaction_kind(emoji=emoji, emoji_name=emoji_name, save_emoji=save_emoji)
    return None if kind is None else (MessageRef(channel_ref(guild_id, channel_id), str(message_id)), kind)


def reaction_kind(*, emoji: str, emoji_name: str | None, save_emoji: str) -> SignalKind | None:
    """What a reaction says: the save emoji saves, 👎 is not for us; None for any other emoji."""
    given = {_emoji_key(emoji), _emoji_key(emoji_name or "")}
    if _emoji_key(save_emoji) in given:
        return SignalKind.SAVE
    if DOWN_EMOJI in given:
        return SignalKind.DOWN
    return None


def save_custom_id(versioned_id: str, key: str | None = None) -> str:
    """The custom_id of a card's Save button (at most 100 chars): ``arxiv-save:<paper>``, then ``/<key>`` when the
    card has a post key, so a card can be found by its key in the channel's history (nonces are not kept there)."""
    return (SAVE_ID_PREFIX + versioned_id + (f"/{key}" if key else ""))[:100]


def down_custom_id(versioned_id: str, key: str | None = None) -> str:
    """The custom_id of a card's "Not for us" button: ``arxiv-down:<paper>``, then ``/<key>`` as the Save button."""
    return (DOWN_ID_PREFIX + versioned_id + (f"/{key}" if key else ""))[:100]


def carries_key(custom_ids: Iterable[str], key: str) -> bool:
    """Whether one of a message's component custom_ids is a Save button carrying ``key``."""
    return any(c.startswith(SAVE_ID_PREFIX) and c.endswith(f"/{key}") for c in custom_ids)
