"""The RSS 2.0 feed of what was posted to a channel. Pure: data in, bytes out; all paper text is untrusted."""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

from bot.models import PostedPaper, ThreadSummary

FEED_NAMESPACE = "urn:arxiv-bot:feed:1"
"""Namespace of our own item elements (score, matched keywords, announce type)."""
MAX_FEED_ITEMS = 100

# Characters XML 1.0 does not allow at all, even escaped (control characters, lone surrogates, U+FFFE/F).
_NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelFeed:
    """One channel's feed: where it lives and what was posted there (newest first)."""

    title: str
    site_url: str
    feed_url: str
    description: str
    items: Sequence[PostedPaper]
    summaries: Mapping[str, ThreadSummary]
    """Stored summaries by versioned paper id; papers without one show their abstract only."""
    updated: datetime
    """When the feed last changed: its newest item, else when the channel was created."""


def xml_text(value: str) -> str:
    """``value`` safe as XML character data or attribute value: invalid characters dropped, markup escaped."""
    return html.escape(_NOT_XML.sub("", value), quote=True)


def rfc822(moment: datetime) -> str:
    """An RSS date, e.g. ``Mon, 05 Jan 2026 10:00:00 GMT``."""
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return format_datetime(aware, usegmt=True)


def _element(name: str, text: str, **attributes: str) -> str:
    attrs = "".join(f' {key.rstrip("_")}="{xml_text(value)}"' for key, value in attributes.items())
    return f"<{name}{attrs}>{xml_text(text)}</{name}>"


def _score(value: float) -> str:
    return f"{value:g}"


def item_html(item: PostedPaper, summary: ThreadSummary | None) -> str:
    """The item's description: HTML whose every piece of paper text is escaped (readers render it as HTML)."""
    p = item.paper
    esc = html.escape
    facts = [p.primary_category, p.announce_type.value, f"score {_score(item.score)}"]
    if item.matched:
        facts.append("matched: " + ", ".join(item.matched))
    parts = [
        f"<p>{esc(', '.join(p.authors))}</p>",
        f"<p>{esc(' · '.join(facts))} · {esc(p.versioned_id)}</p>",
        f"<p>{esc(' '.join(p.abstract.split()))}</p>",
    ]
    if summary is not None:
        if summary.tldr:
            parts.append(f"<p><strong>TL;DR</strong> {esc(summary.tldr)}</p>")
        for section in summary.sections:
            parts.append(f"<h4>{esc(section.title)}</h4>")
            parts.extend(f"<p>{esc(para)}</p>" for para in section.body.split("\n\n") if para.strip())
        if summary.note:
            parts.append(f"<p><em>{esc(summary.note)}</em></p>")
    return "".join(parts)


def _item(item: PostedPaper, summary: ThreadSummary | None) -> str:
    p = item.paper
    lines = [
        "<item>",
        _element("title", " ".join(p.title.split())),
        _element("link", p.abs_url),
        _element("guid", p.abs_url, isPermaLink="true"),
        _element("pubDate", rfc822(item.posted_at)),
        *(_element("dc:creator", author) for author in p.authors),
        *(_element("category", c, domain="https://arxiv.org") for c in _categories(p.primary_category, p.categories)),
        _element("description", item_html(item, summary)),
        _element("comments", p.pdf_url),
        _element("ab:score", _score(item.score)),
        *(_element("ab:matched", term) for term in item.matched),
        _element("ab:announceType", p.announce_type.value),
        "</item>",
    ]
    return "\n".join(lines)


def _categories(primary: str, categories: Sequence[str]) -> list[str]:
    return [primary, *(c for c in categories if c != primary)]


def render_rss(feed: ChannelFeed) -> bytes:
    """The feed as an RSS 2.0 document (UTF-8); the same input always gives the same bytes."""
    head = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"'
        f' xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:ab="{FEED_NAMESPACE}">',
        "<channel>",
        _element("title", feed.title),
        _element("link", feed.site_url),
        _element("description", feed.description),
        f'<atom:link href="{xml_text(feed.feed_url)}" rel="self" type="application/rss+xml"/>',
        _element("lastBuildDate", rfc822(feed.updated)),
        _element("generator", "arxiv-bot"),
        _element("docs", "https://www.rssboard.org/rss-specification"),
        _element("ttl", "60"),
    ]
    items = [_item(i, feed.summaries.get(i.paper.versioned_id)) for i in feed.items[:MAX_FEED_ITEMS]]
    return "\n".join([*head, *items, "</channel>", "</rss>", ""]).encode("utf-8")


def entity_tag(body: bytes) -> str:
    """A strong ETag for a response body."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
