"""The text of command answers: stored state (settings, rules, saved papers, LLM usage) and the one reply style.

Every answer leaves the core through ``styled``: its first letter upper case, a one-line answer without a closing
full stop, whatever part of the core wrote it. Counts agree with their nouns (``counted``). Pure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from bot.models import (
    ChannelRecord,
    ChannelSignals,
    Paper,
    PickExplanation,
    RankingStatus,
    Reply,
    Rule,
    RuleKind,
    SavedPaper,
    UsageReport,
    UsageTotals,
    as_utc,
)
from bot.signals.likes import LikeOutcome

LISTED_PAPERS = 10
"""Papers an answer names one by one; the rest are counted."""
TITLE_CHARS = 90

_PLAIN_WORD = re.compile(r"^(?!arxiv-bot\b)[a-z]+(?:-[a-z]+)*(?=[\s,:;?!]|$)")
"""A first word that is an ordinary lower-case word: not a code (``cs.DC``), a name (``arXiv``, ``arxiv-bot``) or a
quote."""


def styled_text(text: str) -> str:
    """``text`` in the reply style: first letter upper case (unless it starts with a code or a name such as
    ``cs.DC`` or ``arXiv``), no full stop closing a one-line answer."""
    if _PLAIN_WORD.match(text):
        text = text[0].upper() + text[1:]
    if "\n" not in text and text.endswith(".") and not text.endswith(".."):
        text = text[:-1]
    return text


def styled(reply: Reply) -> Reply:
    """A reply in the reply style (see ``styled_text``)."""
    text = styled_text(reply.text)
    return reply if text == reply.text else replace(reply, text=text)


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``1 paper``, ``2 papers``: a count with its noun in the right number."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def categories_text(record: ChannelRecord) -> str:
    """A channel's categories, comma separated (``none`` when it follows none)."""
    return ", ".join(record.categories) or "none"


def terms_text(rules: Sequence[Rule]) -> str:
    """Rules as typed back: ``term`` or ``term^weight``, comma separated (``none`` when empty)."""
    if not rules:
        return "none"
    return ", ".join(r.term if r.weight == 1.0 else f"{r.term}^{r.weight:g}" for r in rules)


def settings_text(record: ChannelRecord) -> str:
    """The ``settings`` answer: everything a channel (or a person's own digest) has set."""
    personal = []
    if record.personal:
        state = "off (/arxiv me on resumes it)" if record.paused else "on"
        personal = [f"Your own digest, sent to you by direct message: {state}"]
    return "\n".join(
        [
            *personal,
            f"Categories: {categories_text(record)}",
            f"Keywords: {terms_text(record.terms(RuleKind.INCLUDE))}",
            f"Exclude: {terms_text(record.terms(RuleKind.EXCLUDE))}",
            f"Followed authors: {terms_text(record.terms(RuleKind.AUTHOR))}",
            f"{'Comes' if record.personal else 'Posts'} at {record.post_time} {record.timezone}, Monday to Friday; "
            f"up to {counted(record.max_papers, 'paper')} with score >= {record.min_score:g}; "
            f"cross-lists {'on' if record.include_cross else 'off'}; "
            f"language {record.language}",
        ]
    )


def _usage_line(label: str, t: UsageTotals) -> str:
    failed = f" ({t.failures} failed)" if t.failures else ""
    lookups = t.cache_hits + t.cache_misses
    rate = "no lookups" if t.hit_rate is None else f"{t.hit_rate:.0%} ({t.cache_hits} of {lookups} lookups)"
    return (
        f"{label}: {t.calls} LLM calls{failed}, {t.tokens:,} tokens ({t.input_tokens:,} in, "
        f"{t.output_tokens:,} out), ${t.cost_usd:.4f}; summary cache hit rate {rate}"
    )


def stats_text(report: UsageReport) -> str:
    """The ``stats`` answer: the model and budget, then today's and this month's usage."""
    head = (
        f"LLM summaries with {report.model}; daily budget ${report.today.cost_usd:.2f} of "
        f"${report.daily_budget_usd:.2f} spent (UTC day)"
        if report.model
        else "No language model is configured: threads get extractive summaries (no LLM calls)"
    )
    return "\n".join(
        [
            head,
            _usage_line(f"Today ({report.day.isoformat()})", report.today),
            _usage_line(f"This month ({report.day:%Y-%m})", report.month),
        ]
    )


def saved_text(saved: Sequence[SavedPaper], *, how_to_save: str) -> str:
    """The ``saved`` answer: the caller's saves, newest first (``how_to_save`` when there are none)."""
    if not saved:
        return f"you have no saved papers: {how_to_save}"
    lines = [f"Your saved papers ({len(saved)}), newest first:"]
    for s in saved:
        lines.append(f"• {s.arxiv_id}v{s.version} {s.title or ''} https://arxiv.org/abs/{s.arxiv_id}v{s.version}")
    return "\n".join(lines)


def _title(paper: Paper) -> str:
    title = " ".join(paper.title.split())
    return title if len(title) <= TITLE_CHARS else title[: TITLE_CHARS - 1].rstrip() + "…"


def _ids(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:LISTED_PAPERS])
    return shown + (f" and {len(ids) - LISTED_PAPERS} more" if len(ids) > LISTED_PAPERS else "")


def liked_text(outcome: LikeOutcome) -> str:
    """The ``like`` answer: the papers added to the channel's taste, then those already counted or unknown."""
    liked = outcome.liked
    if liked:
        lines = [f"Added {counted(len(liked), 'paper')} to this channel's taste (the ranking learns from them):"]
        lines += [f"• {p.arxiv_id} {_title(p)}" for p in liked[:LISTED_PAPERS]]
        if len(liked) > LISTED_PAPERS:
            lines.append(f"• and {len(liked) - LISTED_PAPERS} more")
    else:
        lines = ["No paper added to this channel's taste"]
    if outcome.duplicates:
        lines.append(f"Already counted (saved, liked or imported before, or given twice): {_ids(outcome.duplicates)}")
    if outcome.unknown:
        lines.append(f"Not on arXiv, nothing stored: {_ids(outcome.unknown)}")
    return "\n".join(lines)


def learning_text(status: RankingStatus) -> str:
    """One line after a ``like``: whether the ranking learns from the channel's signals yet."""
    if status.mode == "off":
        return "Learning is off in this channel (ranking on switches it back on); the likes are kept"
    if status.mode == "learned":
        return f"The ranking learns from this channel's {counted(status.positives, 'positive signal')}"
    return (
        f"The ranking learns once the channel has {counted(status.min_positives, 'positive signal')} "
        f"({status.positives} so far)"
    )


_MODES = {"learned": "learned ranking", "keywords": "keyword ranking", "off": "keyword ranking (learning off)"}


def explanation_text(paper: Paper, why: PickExplanation) -> str:
    """The ``why`` answer: the paper, the mode and score, matched keywords, top terms and the most similar like."""
    lines = [
        f"{paper.versioned_id} {_title(paper)}",
        f"Ranked by {_MODES.get(why.mode, why.mode)}, score {why.score:.3g}",
        f"Matched keywords: {', '.join(why.matched_keywords) or 'none'}",
    ]
    if why.top_terms:
        lines.append(f"Top terms: {', '.join(why.top_terms)}")
    if why.nearest_liked_title:
        lines.append(f"Like: {' '.join(why.nearest_liked_title.split())}")
    return "\n".join(lines)


def _when(at: datetime | None) -> str:
    return "none yet" if at is None else f"{as_utc(at):%Y-%m-%d %H:%M} UTC"


def ranking_text(status: RankingStatus) -> str:
    """The ``ranking`` answer: mode, signals counted, last fit and the channel's own quality."""
    head = {
        "learned": "Ranking: learned from this channel's signals, with its keywords",
        "off": "Ranking: by keywords only, learning is off (ranking on switches it back on)",
    }.get(
        status.mode,
        f"Ranking: by keywords until the channel has {counted(status.min_positives, 'positive signal')} "
        f"({status.positives} so far)",
    )
    quality = (
        "not measured yet (needs more signals)"
        if status.quality_ap is None
        else f"AP {status.quality_ap:.2f} on a time split of this channel's own signals"
    )
    return "\n".join(
        [
            head,
            f"Signals: {status.positives} positive (saves, likes, imports), {status.negatives} negative "
            "(👎, Not for us)",
            f"Last fit: {_when(status.last_fit_at)}",
            f"Quality: {quality}",
        ]
    )


def scope_text(record: ChannelRecord) -> str:
    """Whose ranking an answer speaks of: ``in this channel``, or ``for your own digest``."""
    return "for your own digest" if record.personal else "in this channel"


def reset_prompt_text(signals: ChannelSignals, *, confirm: str, scope: str = "in this channel") -> str:
    """What ``ranking reset`` would forget (``scope``: in this channel, or for your own digest), and the exact command
    that does it."""
    return "\n".join(
        [
            f"This forgets what the ranking learned {scope}: {counted(len(signals.positives), 'positive')} "
            f"and {counted(len(signals.negatives), 'negative')} signals. Likes, imports and 👎 are deleted; saves "
            "stay saved but stop counting; keywords and settings stay.",
            f"To go ahead, type: {confirm}",
        ]
    )


def combined(replies: Sequence[Reply]) -> Reply:
    """The answer to several commands sent as one (Discord's ``/arxiv set`` with several options).

    Each one's first line, then the last answer whole (after settings changes: the settings as they now are).
    """
    if len(replies) == 1:
        return replies[0]
    heads = [r.text.split("\n", 1)[0] for r in replies[:-1]]
    return Reply(text="\n".join([*heads, replies[-1].text]), ephemeral=all(r.ephemeral for r in replies))
