"""Parse the text after ``/arxiv`` into a typed command. Pure: no I/O, one parser for every platform."""

from __future__ import annotations

import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.arxiv import taxonomy
from bot.arxiv.feed import parse_paper_id
from bot.config import LANGUAGE_RE, TIME_RE
from bot.errors import UnknownCommand, UserInputError
from bot.ranking.terms import validate_term

MAX_TERMS_PER_COMMAND = 30
MAX_MAX_PAPERS = 50
MAX_MIN_SCORE = 100.0
MAX_WEIGHT = 10.0

HELP_TEXT = """arxiv-bot commands (type them after /arxiv):
  help                                  this list
  subscribe <cat> [<cat>...]            follow arXiv categories, e.g. subscribe cs.DC cs.LG
  unsubscribe <cat> [<cat>...]          stop following categories
  keywords add|remove|set <terms>       comma separated; "quotes" keep a phrase; term^2 doubles its weight
  keywords clear                        remove every keyword
  exclude add|remove <terms>            drop papers that mention these terms
  exclude clear                         remove every exclude term
  authors follow|unfollow <name>        papers by followed authors score higher
  settings                              show this channel's settings
  set time HH:MM [Area/City]            daily post time (Monday to Friday), e.g. set time 09:30 Europe/Berlin
  set max <1-50>                        papers per day
  set min-score <0-100>                 lowest score that gets posted
  set cross on|off                      include papers cross-listed into your categories
  set language <code>                   summary language, e.g. en, zh, de
  digest now                            post today's papers now
  preview                               show what "digest now" would post, without posting
  summarize <id or arXiv URL>           post one paper with its summary
  saved                                 list the papers you saved
  unsave <id>                           forget a saved paper
  stats                                 LLM calls, tokens, cost and summary cache hits, today and this month
  feed                                  the RSS feed address of this channel's papers
React with the bookmark emoji on a paper to save it."""


@dataclass(frozen=True, slots=True)
class Help:
    """Show the command list."""


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Follow categories."""

    categories: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """Stop following categories."""

    categories: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WeightedTerm:
    """A keyword with its weight."""

    term: str
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class Keywords:
    """Change include keywords: add, remove, set or clear."""

    action: str
    terms: tuple[WeightedTerm, ...]


@dataclass(frozen=True, slots=True)
class Exclude:
    """Change exclude keywords: add, remove or clear."""

    action: str
    terms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Authors:
    """Follow or unfollow an author."""

    action: str
    name: str


@dataclass(frozen=True, slots=True)
class ShowSettings:
    """Show the channel's settings."""


@dataclass(frozen=True, slots=True)
class SetTime:
    """Change the daily post time and, optionally, the zone."""

    time: str
    timezone: str | None


@dataclass(frozen=True, slots=True)
class SetMax:
    """Change how many papers a day."""

    value: int


@dataclass(frozen=True, slots=True)
class SetMinScore:
    """Change the lowest score that is posted."""

    value: float


@dataclass(frozen=True, slots=True)
class SetCross:
    """Switch cross-lists on or off."""

    value: bool


@dataclass(frozen=True, slots=True)
class SetLanguage:
    """Change the summary language."""

    code: str


@dataclass(frozen=True, slots=True)
class DigestNow:
    """Post today's papers now."""


@dataclass(frozen=True, slots=True)
class Preview:
    """Show what a digest would post."""


@dataclass(frozen=True, slots=True)
class Summarize:
    """Post one paper with its summary."""

    arxiv_id: str
    version: int | None


@dataclass(frozen=True, slots=True)
class Saved:
    """List the caller's saves."""


@dataclass(frozen=True, slots=True)
class Unsave:
    """Forget a save."""

    arxiv_id: str


@dataclass(frozen=True, slots=True)
class Feed:
    """Show the address of the channel's RSS feed."""


@dataclass(frozen=True, slots=True)
class Stats:
    """Show today's and this month's LLM usage."""


Command = (
    Help
    | Subscribe
    | Unsubscribe
    | Keywords
    | Exclude
    | Authors
    | ShowSettings
    | SetTime
    | SetMax
    | SetMinScore
    | SetCross
    | SetLanguage
    | DigestNow
    | Preview
    | Summarize
    | Saved
    | Unsave
    | Stats
    | Feed
)

MUTATING = (
    Subscribe,
    Unsubscribe,
    Keywords,
    Exclude,
    Authors,
    SetTime,
    SetMax,
    SetMinScore,
    SetCross,
    SetLanguage,
)
"""Commands that change a channel's settings (and may need a permission)."""

SLOW = (DigestNow, Preview, Summarize)
"""Commands that may take longer than a platform's acknowledgement window."""

COMMAND_NAMES = frozenset(
    {"help", "subscribe", "unsubscribe", "keywords", "exclude", "authors", "settings", "set", "digest", "digest-now",
     "preview", "summarize", "saved", "unsave"}
    | {"stats"}
    | {"feed"}
)
"""Subcommand names (used to label metrics without recording arbitrary user text)."""

_QUOTES = {'"': '"', "“": "”", "'": "'"}
_WEIGHT_RE = re.compile(r"^(?P<term>.*?)\s*\^\s*(?P<weight>[0-9]+(?:\.[0-9]+)?)$")


def split_terms(text: str) -> list[str]:
    """Split comma-separated terms; a quoted part keeps its commas and spaces."""
    terms: list[str] = []
    current: list[str] = []
    closing: str | None = None
    for ch in text:
        if closing is not None:
            if ch == closing:
                closing = None
            else:
                current.append(ch)
        elif ch in _QUOTES and not "".join(current).strip():
            closing = _QUOTES[ch]
        elif ch == ",":
            terms.append("".join(current))
            current = []
        else:
            current.append(ch)
    if closing is not None:
        raise UserInputError(f'unclosed quote in {text.strip()!r}: close it, e.g. "speculative decoding"')
    terms.append("".join(current))
    return [t.strip() for t in terms if t.strip()]


def _terms(text: str, usage: str) -> list[str]:
    terms = split_terms(text)
    if not terms:
        raise UserInputError(f"no terms given: use {usage}")
    if len(terms) > MAX_TERMS_PER_COMMAND:
        raise UserInputError(f"too many terms ({len(terms)}): give at most {MAX_TERMS_PER_COMMAND} at a time")
    return terms


def _weighted(raw: str) -> WeightedTerm:
    match = _WEIGHT_RE.match(raw)
    weight = 1.0
    if match:
        raw, weight = match["term"], float(match["weight"])
        if not 0 < weight <= MAX_WEIGHT:
            raise UserInputError(
                f"weight {weight:g} is out of range: use term^w with w from 0.1 to {MAX_WEIGHT:g}"
            )
    return WeightedTerm(validate_term(raw), weight)


def _categories(words: list[str], verb: str) -> tuple[str, ...]:
    if not words:
        raise UserInputError(f"no category given: use {verb} <category>..., e.g. {verb} cs.DC cs.LG")
    out: list[str] = []
    for word in (w.strip(",") for w in words):
        if not word:
            continue
        canonical = taxonomy.canonical_category(word)
        if canonical is None:
            close = taxonomy.closest_categories(word)
            hint = (
                f"; did you mean {', '.join(close)}?"
                if close
                else "; see https://arxiv.org/category_taxonomy"
            )
            raise UserInputError(f"{word!r} is not an arXiv category{hint}")
        if canonical not in out:
            out.append(canonical)
    return tuple(out)


def _number(text: str, what: str, low: float, high: float, *, integer: bool) -> float:
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise UserInputError(f"{what} must be {kind} from {low:g} to {high:g}, not {text!r}") from None
    if not low <= value <= high or value != value:
        raise UserInputError(f"{what} must be from {low:g} to {high:g}, not {text}")
    return value


def _parse_set(words: list[str]) -> Command:
    usage = "set time HH:MM [Area/City] | set max <n> | set min-score <x> | set cross on|off | set language <code>"
    if not words:
        raise UserInputError(f"set what? use {usage}")
    what, rest = words[0].lower(), words[1:]
    if what == "time":
        if not 1 <= len(rest) <= 2 or not TIME_RE.match(rest[0]):
            got = " ".join(rest) or "nothing"
            raise UserInputError(
                f"bad time {got!r}: use set time HH:MM [Area/City], e.g. set time 09:30 Europe/Berlin"
            )
        zone = rest[1] if len(rest) == 2 else None
        if zone is not None:
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise UserInputError(
                    f"unknown time zone {zone!r}: use an IANA name such as UTC, Europe/Berlin or America/New_York"
                ) from None
        return SetTime(rest[0], zone)
    if len(rest) != 1:
        raise UserInputError(f"set {what} takes one value: use {usage}")
    value = rest[0]
    if what == "max":
        return SetMax(int(_number(value, "max", 1, MAX_MAX_PAPERS, integer=True)))
    if what in ("min-score", "minscore", "min_score"):
        return SetMinScore(_number(value, "min-score", 0, MAX_MIN_SCORE, integer=False))
    if what == "cross":
        if value.lower() not in ("on", "off"):
            raise UserInputError(f"bad value {value!r}: use set cross on|off")
        return SetCross(value.lower() == "on")
    if what == "language":
        if not LANGUAGE_RE.match(value):
            raise UserInputError(f"bad language code {value!r}: use a code such as en, zh, de or pt-BR")
        return SetLanguage(value)
    raise UserInputError(f"unknown setting {what!r}: use {usage}")


def parse_command(text: str) -> Command:
    """Parse one ``/arxiv`` command line; raise ``UserInputError`` with a one-line answer on bad input."""
    text = text.strip()
    if text.lower().startswith("/arxiv"):
        text = text[len("/arxiv") :].strip()
    if not text:
        return Help()
    head, _, tail = text.partition(" ")
    name = head.lower()
    tail = tail.strip()
    words = tail.split()
    if name in ("help", "?"):
        return Help()
    if name == "subscribe":
        return Subscribe(_categories(words, "subscribe"))
    if name == "unsubscribe":
        return Unsubscribe(_categories(words, "unsubscribe"))
    if name in ("keywords", "keyword"):
        action, _, rest = tail.partition(" ")
        action = action.lower()
        usage = "keywords add|remove|set <term>, <term>... or keywords clear"
        if action == "clear":
            return Keywords("clear", ())
        if action not in ("add", "remove", "set"):
            raise UserInputError(f"unknown keywords action {action or 'nothing'!r}: use {usage}")
        if action == "remove":
            return Keywords(action, tuple(WeightedTerm(validate_term(t)) for t in _terms(rest, usage)))
        return Keywords(action, tuple(_weighted(t) for t in _terms(rest, usage)))
    if name == "exclude":
        action, _, rest = tail.partition(" ")
        action = action.lower()
        usage = "exclude add|remove <term>, <term>... or exclude clear"
        if action == "clear":
            return Exclude("clear", ())
        if action not in ("add", "remove"):
            raise UserInputError(f"unknown exclude action {action or 'nothing'!r}: use {usage}")
        return Exclude(action, tuple(validate_term(t) for t in _terms(rest, usage)))
    if name in ("authors", "author"):
        action, _, rest = tail.partition(" ")
        action = action.lower()
        name_text = " ".join(split_terms(rest)[:1]) if rest.strip() else ""
        if action not in ("follow", "unfollow") or not name_text:
            raise UserInputError("use authors follow|unfollow <name>, e.g. authors follow Yann LeCun")
        if len(name_text) > 100:
            raise UserInputError("author name is too long: give at most 100 characters")
        return Authors(action, " ".join(name_text.split()))
    if name == "settings":
        return ShowSettings()
    if name == "set":
        return _parse_set(words)
    if name in ("digest", "digest-now"):
        if name == "digest" and [w.lower() for w in words] != ["now"]:
            raise UserInputError("use digest now")
        return DigestNow()
    if name == "preview":
        return Preview()
    if name == "summarize" or name == "summarise":
        if len(words) != 1:
            raise UserInputError("use summarize <arXiv id or URL>, e.g. summarize 2601.00644")
        arxiv_id, version = parse_paper_id(words[0])
        return Summarize(arxiv_id, version)
    if name == "saved":
        return Saved()
    if name == "stats":
        if words:
            raise UserInputError("stats takes no arguments: use stats")
        return Stats()
    if name == "unsave":
        if len(words) != 1:
            raise UserInputError("use unsave <arXiv id>, e.g. unsave 2601.00644")
        return Unsave(parse_paper_id(words[0])[0])
    if name == "feed":
        if words:
            raise UserInputError("feed takes no arguments: use feed")
        return Feed()
    raise UnknownCommand(f"unknown command {head!r}.\n{HELP_TEXT}")
