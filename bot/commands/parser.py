"""The grammar of ``/arxiv`` arguments: pure functions from the words after a command's name to a typed command.

Which function parses which command is the command table's business (``bot.commands.table``); reading a whole
line once is ``bot.commands.prepared``. Bad input raises ``UserInputError`` with a one-line answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.arxiv import taxonomy
from bot.arxiv.ids import parse_paper_id
from bot.commands import model as cm
from bot.config import LANGUAGE_RE, canonical_timezone, closest_timezones, normal_time
from bot.errors import MissingArguments, UserInputError
from bot.ranking.terms import validate_term

MAX_TERMS_PER_COMMAND = 30
MAX_MAX_PAPERS = 50
MAX_MIN_SCORE = 100.0
MAX_WEIGHT = 10.0

_QUOTES = {'"': '"', "“": "”", "'": "'"}
_WEIGHT_RE = re.compile(r"^(?P<term>.*?)\s*\^\s*(?P<weight>[0-9]+(?:\.[0-9]+)?)$")


@dataclass(frozen=True, slots=True)
class CommandWords:
    """A command line split after its first word: the name as typed (lower case) and the rest."""

    name: str
    tail: str

    @property
    def words(self) -> list[str]:
        """The rest, split at whitespace."""
        return self.tail.split()


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


def _weight_usage(term: str) -> str:
    example = term.split("^", 1)[0].strip() or "LLM"
    return f"use term^w with w a number from 0.1 to {MAX_WEIGHT:g}, e.g. {shown(example)}^2"


def _weighted(typed: str) -> cm.WeightedTerm:
    """``term`` or ``term^w``; anything else after a ``^`` (``foo^-2``, ``foo^x``, ``foo^``) is refused."""
    raw, weight = typed, 1.0
    match = _WEIGHT_RE.match(typed)
    if match:
        raw, weight = match["term"], float(match["weight"])
        if not 0 < weight <= MAX_WEIGHT:
            raise UserInputError(f"weight {weight:g} is out of range: {_weight_usage(raw)}")
    _, caret, after = raw.rpartition("^")
    if caret and not any(ch.isspace() for ch in after.strip()):
        raise UserInputError(f"bad weight in {shown(typed)!r}: {_weight_usage(raw)}")
    return cm.WeightedTerm(validate_term(raw), weight)


def _categories(words: list[str], verb: str) -> tuple[str, ...]:
    """Categories or whole archives, separated by spaces or commas, each once, in the order given."""
    given = [w for w in re.split(r"[\s,]+", " ".join(words)) if w]
    if not given:
        raise MissingArguments(f"{verb} needs at least one category or archive, e.g. {verb} cs.DC cs.LG")
    out: list[str] = []
    for word in given:
        canonical = taxonomy.subscription(word)
        if canonical is None:
            close = taxonomy.closest_subscriptions(word)
            hint = (
                f"; did you mean {', '.join(close)}?"
                if close
                else "; see https://arxiv.org/category_taxonomy"
            )
            raise UserInputError(f"{shown(word)!r} is not an arXiv category{hint}")
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


def _action(line: CommandWords) -> tuple[str, str]:
    action, _, rest = line.tail.partition(" ")
    return action.lower(), rest


# ---------------------------------------------------------------------------------------------- commands


def parse_subscribe(line: CommandWords) -> cm.Subscribe:
    """``subscribe <cat>...``."""
    return cm.Subscribe(_categories(line.words, "subscribe"))


def parse_unsubscribe(line: CommandWords) -> cm.Unsubscribe:
    """``unsubscribe <cat>...``."""
    return cm.Unsubscribe(_categories(line.words, "unsubscribe"))


def parse_keywords(line: CommandWords) -> cm.Keywords:
    """``keywords add|remove|set <terms>`` or ``keywords clear``."""
    action, rest = _action(line)
    usage = "keywords add|remove|set <term>, <term>... or keywords clear"
    if action == "clear":
        return cm.Keywords("clear", ())
    if not action:
        raise MissingArguments("keywords needs what to do: add, remove, set or clear")
    if action not in ("add", "remove", "set"):
        raise UserInputError(f"unknown keywords action {shown(action)!r}: use {usage}")
    if action == "remove":
        return cm.Keywords(action, tuple(cm.WeightedTerm(validate_term(t)) for t in _terms(rest, usage)))
    return cm.Keywords(action, tuple(_weighted(t) for t in _terms(rest, usage)))


def parse_exclude(line: CommandWords) -> cm.Exclude:
    """``exclude add|remove <terms>`` or ``exclude clear``."""
    action, rest = _action(line)
    usage = "exclude add|remove <term>, <term>... or exclude clear"
    if action == "clear":
        return cm.Exclude("clear", ())
    if not action:
        raise MissingArguments("exclude needs what to do: add, remove or clear")
    if action not in ("add", "remove"):
        raise UserInputError(f"unknown exclude action {shown(action)!r}: use {usage}")
    return cm.Exclude(action, tuple(validate_term(t) for t in _terms(rest, usage)))


def parse_authors(line: CommandWords) -> cm.Authors:
    """``authors follow|unfollow <name>``."""
    action, rest = _action(line)
    if not action:
        raise MissingArguments("authors needs follow or unfollow and a name")
    name_text = " ".join(split_terms(rest)[:1]) if rest.strip() else ""
    if action not in ("follow", "unfollow") or not name_text:
        raise UserInputError("use authors follow|unfollow <name>, e.g. authors follow Yann LeCun")
    if len(name_text) > 100:
        raise UserInputError("author name is too long: give at most 100 characters")
    return cm.Authors(action, " ".join(name_text.split()))


def parse_digest(line: CommandWords) -> cm.DigestNow:
    """``digest now`` (or ``digest-now``)."""
    if line.name == "digest" and not line.words:
        raise MissingArguments("digest needs now: digest now")
    if line.name == "digest" and [w.lower() for w in line.words] != ["now"]:
        raise UserInputError("use digest now")
    return cm.DigestNow()


def parse_summarize(line: CommandWords) -> cm.Summarize:
    """``summarize <arXiv id or URL>``."""
    if not line.words:
        raise MissingArguments("summarize needs an arXiv id or URL, e.g. summarize 2601.00644")
    if len(line.words) != 1:
        raise UserInputError("use summarize <arXiv id or URL>, e.g. summarize 2601.00644")
    arxiv_id, version = parse_paper_id(line.words[0])
    return cm.Summarize(arxiv_id, version)


def parse_unsave(line: CommandWords) -> cm.Unsave:
    """``unsave <arXiv id>``."""
    if not line.words:
        raise MissingArguments("unsave needs an arXiv id, e.g. unsave 2601.00644")
    if len(line.words) != 1:
        raise UserInputError("use unsave <arXiv id>, e.g. unsave 2601.00644")
    return cm.Unsave(parse_paper_id(line.words[0])[0])


EXPORT_FORMATS = ("bibtex", "ris")
SAVED_USAGE = "use saved, or saved export bibtex|ris"
CHANNEL_SAVES_USAGE = "use channel-saves export bibtex|ris"


def _export(words: list[str], usage: str) -> str:
    if len(words) != 2 or words[0].lower() != "export" or words[1].lower() not in EXPORT_FORMATS:
        raise UserInputError(f"{shown(' '.join(words))!r} is not an export: {usage}")
    return words[1].lower()


def parse_saved(line: CommandWords) -> cm.Saved | cm.ExportSaves:
    """``saved`` (the list), or ``saved export bibtex|ris`` (the caller's saves as a file)."""
    if not line.words:
        return cm.Saved()
    return cm.ExportSaves(_export(line.words, SAVED_USAGE))


def parse_channel_saves(line: CommandWords) -> cm.ExportSaves:
    """``channel-saves export bibtex|ris``: every paper saved in this channel, as a file."""
    if not line.words:
        raise MissingArguments("channel-saves needs export and a format")
    return cm.ExportSaves(_export(line.words, CHANNEL_SAVES_USAGE), channel=True)


def parse_alerts(line: CommandWords) -> cm.Alerts:
    """``alerts on|off``."""
    if not line.words:
        raise MissingArguments("alerts needs on or off")
    if len(line.words) != 1 or line.words[0].lower() not in ("on", "off"):
        raise UserInputError(f"{shown(' '.join(line.words))!r} is not on or off: use alerts on|off")
    return cm.Alerts(on=line.words[0].lower() == "on")


def parse_stats(line: CommandWords) -> cm.Stats:
    """``stats``, nothing after it."""
    if line.words:
        raise UserInputError("stats takes no arguments: use stats")
    return cm.Stats()


def parse_feed(line: CommandWords) -> cm.Feed:
    """``feed``, nothing after it."""
    if line.words:
        raise UserInputError("feed takes no arguments: use feed")
    return cm.Feed()


MAX_LIKES_PER_COMMAND = 50
"""Ids one ``like`` takes (a library goes through ``arxiv-bot import``)."""


def parse_like(line: CommandWords) -> cm.Like:
    """``like <id or URL> [<id or URL>...]``: ids or links separated by spaces or commas, each once."""
    words = line.tail.replace(",", " ").split()
    if not words:
        raise MissingArguments("like needs arXiv ids or URLs, e.g. like 2601.00644 2601.00645")
    if len(words) > MAX_LIKES_PER_COMMAND:
        raise UserInputError(
            f"too many papers ({len(words)}): like takes at most {MAX_LIKES_PER_COMMAND}; "
            "for a whole library use arxiv-bot import --channel PLATFORM:ID FILE"
        )
    return cm.Like(tuple(dict.fromkeys(parse_paper_id(word)[0] for word in words)))


def parse_why(line: CommandWords) -> cm.Why:
    """``why <arXiv id or URL>``."""
    if not line.words:
        raise MissingArguments("why needs an arXiv id or URL, e.g. why 2601.00644")
    if len(line.words) != 1:
        raise UserInputError("use why <arXiv id or URL>, e.g. why 2601.00644")
    arxiv_id, version = parse_paper_id(line.words[0])
    return cm.Why(arxiv_id, version)


RANKING_USAGE = "use ranking, ranking on, ranking off, ranking reset or ranking reset confirm"


def parse_ranking(line: CommandWords) -> cm.ShowRanking | cm.SwitchRanking | cm.ResetRanking:
    """``ranking``, ``ranking on|off``, ``ranking reset [confirm]``."""
    words = [w.lower() for w in line.words]
    match words:
        case []:
            return cm.ShowRanking()
        case ["on" | "off" as value]:
            return cm.SwitchRanking(value == "on")
        case ["reset"]:
            return cm.ResetRanking(confirmed=False)
        case ["reset", "confirm"]:
            return cm.ResetRanking(confirmed=True)
    raise UserInputError(f"unknown ranking action {shown(' '.join(line.words))!r}: {RANKING_USAGE}")


# ---------------------------------------------------------------------------------------------- settings


TIME_USAGE = "use set time HH:MM [Area/City], e.g. set time 09:30 Europe/Berlin"


def parse_time(values: list[str]) -> cm.SetTime:
    """``set time HH:MM [Area/City]``: the words after ``time`` (``9:30`` is ``09:30``; zones in any case)."""
    time = normal_time(values[0]) if 1 <= len(values) <= 2 else None
    if time is None:
        got = " ".join(values) or "nothing"
        raise UserInputError(f"bad time {shown(got)!r}: {TIME_USAGE}")
    if len(values) == 1:
        return cm.SetTime(time, None)
    zone = canonical_timezone(values[1])
    if zone is None:
        close = closest_timezones(values[1])
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise UserInputError(f"unknown time zone {shown(values[1])!r}{hint}: {TIME_USAGE}")
    return cm.SetTime(time, zone)


def shown(text: str, limit: int = 40) -> str:
    """User input as a reply quotes it: whitespace collapsed, at most ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_max(values: list[str]) -> cm.SetMax:
    """``set max <n>``: the one value."""
    return cm.SetMax(int(_number(values[0], "max", 1, MAX_MAX_PAPERS, integer=True)))


def parse_min_score(values: list[str]) -> cm.SetMinScore:
    """``set min-score <x>``: the one value."""
    return cm.SetMinScore(_number(values[0], "min-score", 0, MAX_MIN_SCORE, integer=False))


def parse_cross(values: list[str]) -> cm.SetCross:
    """``set cross on|off``: the one value."""
    value = values[0]
    if value.lower() not in ("on", "off"):
        raise UserInputError(f"bad value {value!r}: use set cross on|off")
    return cm.SetCross(value.lower() == "on")


def parse_language(values: list[str]) -> cm.SetLanguage:
    """``set language <code>``: the one value."""
    value = values[0]
    if not LANGUAGE_RE.match(value):
        raise UserInputError(f"bad language code {value!r}: use a code such as en, zh, de or pt-BR")
    return cm.SetLanguage(value)
