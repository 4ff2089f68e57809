"""The RSS 2.0 builder: valid RSS that feedparser reads back, hostile text escaped, stable bytes for ETags."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import feedparser

from bot.exports.rss import FEED_NAMESPACE, MAX_FEED_ITEMS, ChannelFeed, entity_tag, render_rss, rfc822
from bot.models import AnnounceType, Paper, PostedPaper, SummarySection, ThreadSummary

HOSTILE = "<script>alert(1)</script> ]]> & &amp; <!channel> <@U123> @everyone \x07\x1b[31m"
POSTED = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
GOLDEN = Path(__file__).parents[1] / "golden" / "feed_three_posts.xml"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def paper(n: int, *, title: str = "", abstract: str = "", authors: tuple[str, ...] = ("Ada Lovelace",)) -> Paper:
    return Paper(
        arxiv_id=f"2601.{n:05d}",
        version=1,
        title=title or f"Paper number {n}",
        abstract=abstract or f"Abstract of paper {n}.",
        authors=authors,
        categories=("cs.LG", "cs.DC"),
        primary_category="cs.DC",
        announce_type=AnnounceType.NEW,
        published=date(2026, 1, 5),
    )


def posted(p: Paper, *, score: float = 2.5, matched: tuple[str, ...] = ("LLM",), minutes: int = 0) -> PostedPaper:
    return PostedPaper(paper=p, rank=0, score=score, matched=matched, posted_at=POSTED + timedelta(minutes=minutes))


def channel_feed(items: list[PostedPaper], summaries: dict[str, ThreadSummary] | None = None) -> ChannelFeed:
    return ChannelFeed(
        title="arxiv-bot: papers posted to slack channel C1",
        site_url="https://bot.example.org",
        feed_url="https://bot.example.org/feeds/tok.xml",
        description="Papers posted to slack:T1:C1",
        items=items,
        summaries=summaries or {},
        updated=max((i.posted_at for i in items), default=POSTED),
    )


def test_feed_is_rss_2_with_every_required_and_promised_element() -> None:
    first, second = paper(1, authors=("Ada Lovelace", "Alan Turing")), paper(2)
    summary = ThreadSummary(
        paper=first,
        heading="Summary",
        sections=(SummarySection(title="Main contributions", body="A faster decoder."),),
        tldr="Decoding, faster.",
    )
    body = render_rss(
        channel_feed(
            [posted(second, minutes=5), posted(first, matched=("LLM", "speculative decoding"))],
            {first.versioned_id: summary},
        )
    )
    root = ET.fromstring(body)
    assert root.tag == "rss" and root.attrib["version"] == "2.0"
    channel = root.find("channel")
    assert channel is not None
    for required in ("title", "link", "description"):
        assert (channel.findtext(required) or "").strip(), required

    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "rss20"
    assert parsed.feed.title == "arxiv-bot: papers posted to slack channel C1"
    assert [e.id for e in parsed.entries] == [second.abs_url, first.abs_url]
    entry = parsed.entries[1]
    assert entry.title == first.title
    assert entry.link == "https://arxiv.org/abs/2601.00001v1"
    assert entry.published_parsed[:5] == (2026, 1, 5, 10, 0)
    assert [a["name"] for a in entry.authors] == ["Ada Lovelace", "Alan Turing"]
    assert [t.term for t in entry.tags] == ["cs.DC", "cs.LG"]
    assert "score 2.5" in entry.summary and "matched: LLM, speculative decoding" in entry.summary
    assert "Abstract of paper 1." in entry.summary
    assert "Main contributions" in entry.summary and "A faster decoder." in entry.summary
    assert "Main contributions" not in parsed.entries[0].summary  # no summary stored for the second paper
    items = channel.findall("item")
    assert items[1].findtext(f"{{{FEED_NAMESPACE}}}score") == "2.5"
    assert [m.text for m in items[1].findall(f"{{{FEED_NAMESPACE}}}matched")] == ["LLM", "speculative decoding"]


def test_hostile_text_is_escaped_and_the_feed_still_parses() -> None:
    evil = paper(3, title=f"Title {HOSTILE}", abstract=f"Abstract {HOSTILE}", authors=(f"Mallory {HOSTILE}",))
    summary = ThreadSummary(
        paper=evil, heading="Summary", sections=(SummarySection(title=HOSTILE, body=HOSTILE),), tldr=HOSTILE
    )
    feed = channel_feed([posted(evil, matched=(HOSTILE,))], {evil.versioned_id: summary})
    feed = replace(feed, title=HOSTILE, description=HOSTILE)
    body = render_rss(feed)
    text = body.decode("utf-8")
    assert "<script" not in text and "]]>" not in text
    assert "\x07" not in text and "\x1b" not in text
    assert "&lt;script&gt;" in text  # titles: XML-escaped plain text
    assert "&amp;lt;script&amp;gt;" in text  # descriptions: HTML-escaped, then XML-escaped
    ET.fromstring(body)
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0
    entry = parsed.entries[0]
    assert entry.title.startswith("Title <script>alert(1)</script> ]]> & &amp; <!channel>")
    # The description is HTML whose text shows the markup literally: no element was injected.
    assert "<script" not in entry.summary and "&lt;script&gt;" in entry.summary
    assert entry.authors[0]["name"].startswith("Mallory <script>")


def golden_feed(*, reverse_summaries: bool = False) -> ChannelFeed:
    """Three posts, two of them with summaries (inserted in either order)."""
    items = [posted(paper(n), minutes=n, matched=("LLM", "RL")[: n % 2 + 1]) for n in range(3)]
    summaries = {
        p.paper.versioned_id: ThreadSummary(
            paper=p.paper, heading="Summary", sections=(SummarySection(title="Results", body=f"Result {n}."),),
            tldr=f"In short, {n}.",
        )
        for n, p in enumerate(items[:2])
    }
    if reverse_summaries:
        summaries = dict(reversed(summaries.items()))
    return channel_feed(items, summaries)


def test_the_bytes_are_the_golden_file_and_depend_on_nothing_but_the_input() -> None:
    body = render_rss(golden_feed())
    if UPDATE:
        GOLDEN.write_bytes(body)
    assert body == GOLDEN.read_bytes()  # no render time, no hash order: the ETag is stable across restarts
    assert render_rss(golden_feed(reverse_summaries=True)) == body


def test_the_etag_changes_with_any_content() -> None:
    feed = golden_feed()
    first = entity_tag(render_rss(feed))
    assert first.startswith('"') and first.endswith('"') and len(first) == 34
    changed = [
        replace(feed, items=[*feed.items, posted(paper(9), minutes=9)]),
        replace(feed, items=[replace(feed.items[0], score=3.0), *feed.items[1:]]),
        replace(feed, summaries={}),
        replace(feed, title="another title"),
        replace(feed, updated=feed.updated + timedelta(seconds=1)),
    ]
    tags = [entity_tag(render_rss(other)) for other in changed]
    assert first not in tags and len(set(tags)) == len(tags)


def test_feed_is_capped_and_dates_are_rfc_822_gmt() -> None:
    items = [posted(paper(n)) for n in range(MAX_FEED_ITEMS + 5)]
    assert len(feedparser.parse(render_rss(channel_feed(items))).entries) == MAX_FEED_ITEMS
    assert rfc822(datetime(2026, 1, 5, 11, 0, tzinfo=UTC)) == "Mon, 05 Jan 2026 11:00:00 GMT"
    assert rfc822(datetime(2026, 1, 5, 10, 0)) == "Mon, 05 Jan 2026 10:00:00 GMT"  # naive means UTC


def test_an_empty_feed_is_still_valid() -> None:
    parsed = feedparser.parse(render_rss(channel_feed([])))
    assert parsed.bozo == 0 and parsed.version == "rss20" and parsed.entries == []
