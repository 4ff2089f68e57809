"""The text of command answers: stored state (settings, rules, saved papers, LLM usage) and the one reply style.

Every answer leaves the core through ``styled``: its first letter upper case, a one-line answer without a closing
full stop, whatever part of the core wrote it. Counts agree with their nouns (``counted``). Pure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from bot.models import ChannelRecord, Reply, Rule, RuleKind, SavedPaper, UsageReport, UsageTotals

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
    """The ``settings`` answer: everything a channel has set."""
    return "\n".join(
        [
            f"Categories: {categories_text(record)}",
            f"Keywords: {terms_text(record.terms(RuleKind.INCLUDE))}",
            f"Exclude: {terms_text(record.terms(RuleKind.EXCLUDE))}",
            f"Followed authors: {terms_text(record.terms(RuleKind.AUTHOR))}",
            f"Posts at {record.post_time} {record.timezone}, Monday to Friday; "
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


def combined(replies: Sequence[Reply]) -> Reply:
    """The answer to several commands sent as one (Discord's ``/arxiv set`` with several options).

    Each one's first line, then the last answer whole (after settings changes: the settings as they now are).
    """
    if len(replies) == 1:
        return replies[0]
    heads = [r.text.split("\n", 1)[0] for r in replies[:-1]]
    return Reply(text="\n".join([*heads, replies[-1].text]), ephemeral=all(r.ephemeral for r in replies))
