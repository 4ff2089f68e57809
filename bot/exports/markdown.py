"""A channel's posted papers as a markdown digest, like the reference bot's README. Pure: data in, text out."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from bot.models import PostedPaper, ThreadSummary

# Markdown punctuation that could turn untrusted text into emphasis, links, images or code.
_MARKDOWN = re.compile(r"([\\`*_\[\]~])")
# At the start of a line these would start a heading, a list or a rule.
_LINE_START = re.compile(r"^(\s*)([#+\-=])", re.MULTILINE)
_ORDERED_ITEM = re.compile(r"^(\s*\d+)([.)])", re.MULTILINE)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelDigest:
    """What one export covers."""

    channel: str
    """How the channel is named in the heading, e.g. ``slack:C0123``."""
    categories: Sequence[str]
    papers: Sequence[PostedPaper]
    summaries: Mapping[str, ThreadSummary]
    """Stored summaries by versioned paper id."""
    since: date | None = None


def md_text(value: str, *, starts_line: bool = False) -> str:
    """Untrusted text as inert markdown: HTML escaped (so no tag, not even ``</details>``), markup backslashed.

    With ``starts_line`` the text begins a line (a paragraph), so a leading ``#``, ``-`` or ``1.`` is escaped too.
    """
    escaped = _MARKDOWN.sub(r"\\\1", html.escape(value, quote=False))
    if not starts_line:
        return escaped
    escaped = _LINE_START.sub(r"\1\\\2", escaped)
    return _ORDERED_ITEM.sub(r"\1\\\2", escaped)


def _inline(value: str) -> str:
    return md_text(" ".join(value.split()))


def _utc(moment: datetime) -> str:
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return aware.strftime("%Y-%m-%d %H:%M:%S UTC")


def ranked(papers: Sequence[PostedPaper]) -> list[PostedPaper]:
    """Best score first; ties keep the order they were posted in."""
    return sorted(papers, key=lambda p: (-p.score, p.posted_at, p.rank, p.paper.arxiv_id))


def _summary_block(summary: ThreadSummary) -> list[str]:
    lines = [
        "<details>",
        f"<summary><strong>{html.escape(summary.heading or 'Summary')}</strong> - click to expand</summary>",
        "",
    ]
    if summary.tldr:
        lines += [f"**TL;DR**: {_inline(summary.tldr)}", ""]
    for section in summary.sections:
        lines += [f"#### {_inline(section.title)}", ""]
        for paragraph in section.body.split("\n\n"):
            if paragraph.strip():
                lines += [md_text(paragraph.strip(), starts_line=True), ""]
    if summary.note:
        lines += [f"*{_inline(summary.note)}*", ""]
    lines += ["</details>", ""]
    return lines


def _paper_block(number: int, item: PostedPaper, summary: ThreadSummary | None) -> list[str]:
    p = item.paper
    fields = [
        f"**Authors**: {_inline(', '.join(p.authors))}",
        f"**Category**: {md_text(p.primary_category)}",
        f"**Published**: {p.published.isoformat() if p.published else 'unknown'}",
        f"**Posted**: {_utc(item.posted_at)}",
        f"**Score**: {item.score:.1f}",
        f"**Matched**: {_inline(', '.join(item.matched)) if item.matched else 'none'}",
        f"**Type**: {p.announce_type.value}",
        f"**ArXiv ID**: {md_text(p.versioned_id)}",
    ]
    lines = [f"### {number}. [{_inline(p.title)}]({p.abs_url})", ""]
    lines += [field + "  " for field in fields]
    lines += ["", "#### Abstract", md_text(" ".join(p.abstract.split()), starts_line=True), ""]
    if summary is not None:
        lines += _summary_block(summary)
    lines += ["---", ""]
    return lines


def render_markdown(digest: ChannelDigest) -> str:
    """The digest: a statistics block, then each paper (best first) with its abstract and collapsible summary."""
    papers = ranked(digest.papers)
    updated = max((p.posted_at for p in papers), default=None)
    period = f" since {digest.since.isoformat()}" if digest.since else ""
    lines = [
        f"# arXiv papers posted to {md_text(digest.channel)}",
        "",
        "## 📊 Statistics",
        "",
        f"- **Last Updated**: {_utc(updated) if updated else 'never'}",
        f"- **Papers Posted**: {len(papers)}{period}",
        f"- **Summaries**: {sum(1 for p in papers if p.paper.versioned_id in digest.summaries)}",
        f"- **Categories Monitored**: {md_text(', '.join(digest.categories)) or 'none'}",
        "",
        "## 📚 Papers",
        "",
    ]
    if not papers:
        lines += ["No papers were posted to this channel" + (f"{period}." if period else "."), ""]
    for number, item in enumerate(papers, 1):
        lines += _paper_block(number, item, digest.summaries.get(item.paper.versioned_id))
    return "\n".join(lines).rstrip("\n") + "\n"
