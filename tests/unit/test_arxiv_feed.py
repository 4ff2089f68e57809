"""Parsing arXiv's RSS listings and export API answers."""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path

import pytest

from bot.arxiv.feed import parse_api_entry, parse_listing
from bot.errors import PaperNotFound, SourceUnavailable
from bot.models import AnnounceType

FIXTURES = Path(__file__).parents[1] / "fixtures"
BIG_FEED = FIXTURES / "arxiv-rss" / "2026-01-05_cs.AI+cs.CL+cs.DC+cs.LG.xml"
WEEKEND_FEED = FIXTURES / "arxiv-rss" / "2026-01-10_cs.DC_weekend_empty.xml"
FOUR = ("cs.AI", "cs.CL", "cs.DC", "cs.LG")


def api_body(name: str) -> str:
    """The raw body of a recorded export API answer."""
    body: str = json.loads((FIXTURES / "arxiv-api" / name).read_text(encoding="utf-8"))["body"]
    return body


def rss(*items: str, pub_date: str = "Tue, 06 Jan 2026 00:00:00 -0500") -> str:
    """A feed in arXiv's RSS format around hand-written items."""
    return f"""<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" version="2.0">
  <channel>
    <title>test updates on arXiv.org</title>
    <link>http://rss.arxiv.org/rss/cs.DC</link>
    <description>test</description>
    <pubDate>{pub_date}</pubDate>
    {"".join(items)}
  </channel>
</rss>"""


def item(
    guid: str | None = "oai:arXiv.org:2601.01000v1",
    *,
    title: str | None = "A Title",
    categories: tuple[str, ...] = ("cs.DC",),
    announce: str | None = "new",
    description: str | None = None,
    creator: str = "Ada Lovelace",
    pub_date: str | None = "Tue, 06 Jan 2026 00:00:00 -0500",
    extra: str = "",
) -> str:
    """One RSS item; pass None to leave an element out."""
    shown_id = guid.rsplit(":", 1)[-1] if guid else "x"
    if description is None:
        description = f"arXiv:{shown_id} Announce Type: {announce or 'new'} \nAbstract: An abstract."
    parts = [
        f"<title>{title}</title>" if title is not None else "",
        f"<description>{description}</description>",
        f'<guid isPermaLink="false">{guid}</guid>' if guid is not None else "",
        *(f"<category>{c}</category>" for c in categories),
        f"<pubDate>{pub_date}</pubDate>" if pub_date is not None else "",
        f"<arxiv:announce_type>{announce}</arxiv:announce_type>" if announce is not None else "",
        f"<dc:creator>{creator}</dc:creator>",
        extra,
    ]
    return "<item>" + "".join(parts) + "</item>"


# --- the recorded listings ---------------------------------------------------------------------------


def test_real_feed_has_its_30_papers() -> None:
    listing = parse_listing(BIG_FEED.read_bytes(), categories=FOUR)

    assert listing.categories == frozenset(FOUR)
    assert listing.announced == date(2026, 1, 5)
    assert listing.skipped_entries == 0
    assert len(listing.papers) == 30
    assert len({p.arxiv_id for p in listing.papers}) == 30
    assert [p.versioned_id for p in listing.papers[:3]] == ["2601.00644v1", "2601.00192v1", "2601.00227v1"]
    assert listing.papers[-1].arxiv_id == "2601.00240"
    assert all(p.announce_type is AnnounceType.NEW for p in listing.papers)
    assert all(p.primary_category in FOUR for p in listing.papers)
    assert all(p.published == date(2026, 1, 5) for p in listing.papers)


def test_real_feed_first_paper_in_detail() -> None:
    paper = parse_listing(BIG_FEED.read_bytes(), categories=FOUR).papers[0]

    assert paper.arxiv_id == "2601.00644"
    assert paper.version == 1
    assert paper.title == (
        "FlexSpec: Frozen Drafts Meet Evolving Targets in Edge-Cloud Collaborative LLM Speculative Decoding"
    )
    assert len(paper.authors) == 14
    assert paper.authors[0] == "Yuchen Li"
    assert paper.authors[-1] == "Dawei Yin"
    assert paper.categories == ("cs.DC",)
    assert paper.primary_category == "cs.DC"
    assert paper.abstract.startswith("Deploying large language models (LLMs) in mobile and edge computing")
    assert "Announce Type" not in paper.abstract
    assert "\n" not in paper.abstract
    assert paper.doi is None
    assert paper.journal_ref is None


def test_real_feed_splits_two_author_creator() -> None:
    papers = parse_listing(BIG_FEED.read_bytes(), categories=FOUR).papers
    by_id = {p.arxiv_id: p for p in papers}

    assert by_id["2601.00192"].authors == ("Moirangthem Tiken Singh", "Manibhushan Yaikhom")
    assert by_id["2601.00444"].authors == ("Muhammad Shahmeer Khan",)


def test_weekend_feed_is_an_empty_listing() -> None:
    listing = parse_listing(WEEKEND_FEED.read_text(encoding="utf-8"), categories=["cs.DC"])

    assert listing.papers == ()
    assert listing.announced == date(2026, 1, 10)
    assert listing.categories == frozenset({"cs.DC"})
    assert listing.skipped_entries == 0


# --- hand-written listings ---------------------------------------------------------------------------


def test_announce_types_categories_and_author_forms() -> None:
    feed = rss(
        item(
            "oai:arXiv.org:2601.01000v1",
            categories=("cs.LG", "cs.DC"),
            announce="cross",
            creator="Ada Lovelace and Alan Turing",
        ),
        item(
            "oai:arXiv.org:2512.01234v3",
            announce="replace",
            creator="Ada Lovelace, Alan Turing, and Grace Hopper",
            extra="<arxiv:DOI>10.1000/xyz123</arxiv:DOI>"
            "<arxiv:journal_reference>J. Parallel Comput. 12 (2025) 1-10</arxiv:journal_reference>",
        ),
        item(
            "oai:arXiv.org:hep-th/9901001v2",
            categories=("hep-th", "cs.DC"),
            announce=None,
            description="arXiv:hep-th/9901001v2 Announce Type: replace-cross \nAbstract: Old style.",
            creator=" Ada Lovelace ,  Alan Turing, Grace Hopper ",
        ),
    )

    first, second, third = parse_listing(feed, categories=["cs.DC"]).papers

    assert first.announce_type is AnnounceType.CROSS
    assert first.categories == ("cs.LG", "cs.DC")
    assert first.primary_category == "cs.LG"
    assert first.authors == ("Ada Lovelace", "Alan Turing")
    assert second.versioned_id == "2512.01234v3"
    assert second.announce_type is AnnounceType.REPLACE
    assert second.authors == ("Ada Lovelace", "Alan Turing", "Grace Hopper")
    assert second.doi == "10.1000/xyz123"
    assert second.journal_ref == "J. Parallel Comput. 12 (2025) 1-10"
    assert (third.arxiv_id, third.version) == ("hep-th/9901001", 2)
    assert third.announce_type is AnnounceType.REPLACE_CROSS
    assert third.primary_category == "hep-th"
    assert third.authors == ("Ada Lovelace", "Alan Turing", "Grace Hopper")
    assert third.abstract == "Old style."


def test_entities_and_wrapped_title_and_abstract() -> None:
    feed = rss(
        item(
            title="Graphs &amp;amp; Flows:\n      a Wrapped\n  Title on &lt;b&gt;Trees&lt;/b&gt;",
            description=(
                "arXiv:2601.01000v1 Announce Type: new \nAbstract: We show x &lt; y &amp;amp; z,\n"
                "   as O&amp;#39;Brien&amp;nbsp;et al.\n\tconjectured   &quot;long ago&quot;."
            ),
        )
    )

    paper = parse_listing(feed, categories=["cs.DC"]).papers[0]

    assert paper.title == "Graphs & Flows: a Wrapped Title on <b>Trees</b>"
    assert paper.abstract == 'We show x < y & z, as O\'Brien et al. conjectured "long ago".'


def test_dates_come_from_the_item_in_its_own_time_zone_else_the_channel() -> None:
    feed = rss(
        item("oai:arXiv.org:2601.01000v1", pub_date="Mon, 05 Jan 2026 23:30:00 -0500"),
        item("oai:arXiv.org:2601.01001v1", pub_date=None),
        pub_date="Wed, 07 Jan 2026 00:00:00 -0500",
    )

    listing = parse_listing(feed, categories=["cs.DC"])

    assert listing.announced == date(2026, 1, 7)
    assert [p.published for p in listing.papers] == [date(2026, 1, 5), date(2026, 1, 7)]


@pytest.mark.parametrize(
    ("version", "primary", "requested", "expected"),
    [
        (1, "cs.DC", ["cs.DC"], AnnounceType.NEW),
        (1, "math.CO", ["cs.DC"], AnnounceType.CROSS),
        (2, "cs.DC", ["cs.DC", "cs.LG"], AnnounceType.REPLACE),
        (3, "math.CO", ["cs.DC"], AnnounceType.REPLACE_CROSS),
        (1, "cs.LG", ["cs"], AnnounceType.NEW),
    ],
)
def test_announce_type_is_inferred_when_the_feed_omits_it(
    version: int, primary: str, requested: list[str], expected: AnnounceType
) -> None:
    feed = rss(
        item(
            f"oai:arXiv.org:2601.01000v{version}",
            categories=(primary, "cs.DC"),
            announce=None,
            description="Abstract: no announce type anywhere",
        )
    )

    paper = parse_listing(feed, categories=requested).papers[0]

    assert paper.announce_type is expected
    assert paper.abstract == "no announce type anywhere"


def test_malformed_items_are_skipped_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    feed = rss(
        item("oai:arXiv.org:2601.01000v1", title="Good one"),
        item(None, title="No guid"),
        item("oai:arXiv.org:2601.01001v1", title="Good two"),
        item("oai:arXiv.org:2601.01002v1", title=None),
        item("oai:arXiv.org:not-an-id", title="Bad guid"),
        item("oai:arXiv.org:2601.01003", title="No version"),
        item("oai:arXiv.org:2601.01004v1", title="No category", categories=()),
        item("oai:arXiv.org:2601.01005v1", title="Good three"),
    )

    with caplog.at_level(logging.WARNING, logger="bot.arxiv.feed"):
        listing = parse_listing(feed, categories=["cs.DC"])

    assert [p.title for p in listing.papers] == ["Good one", "Good two", "Good three"]
    assert listing.skipped_entries == 5
    warnings = [r for r in caplog.records if r.name == "bot.arxiv.feed" and r.levelno == logging.WARNING]
    assert len(warnings) == 5


def test_title_zero_is_a_valid_title() -> None:
    paper = parse_listing(rss(item(title="0")), categories=["cs.DC"]).papers[0]

    assert paper.title == "0"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"garbage",
        b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>",
        BIG_FEED.read_bytes()[:5000],
        "https://rss.arxiv.org/rss/cs.DC",
        str(BIG_FEED),
    ],
    ids=["empty", "garbage", "html", "truncated", "url-is-not-fetched", "path-is-not-read"],
)
def test_a_body_that_is_not_a_feed_is_source_unavailable(body: bytes | str) -> None:
    with pytest.raises(SourceUnavailable) as caught:
        parse_listing(body, categories=["cs.DC"])

    assert "\n" not in str(caught.value)


# --- the export API ----------------------------------------------------------------------------------


def test_api_paper_titled_zero() -> None:
    paper = parse_api_entry(api_body("id_2104.12255v1.json"))

    assert paper.versioned_id == "2104.12255v1"
    assert paper.title == "0"
    assert paper.authors == ("Quan Thoi Minh Nguyen",)
    assert paper.categories == ("cs.CR",)
    assert paper.primary_category == "cs.CR"
    assert paper.published == date(2021, 4, 20)
    assert paper.abstract.startswith("What is the funniest number in cryptography? 0.")
    assert paper.doi is None
    assert paper.journal_ref is None


def test_api_2016_format_with_wrapped_text_doi_and_journal_ref() -> None:
    xml = (FIXTURES / "arxiv-api" / "id_list_1111.2011v2_2016format.xml").read_bytes()

    paper = parse_api_entry(xml)

    assert (paper.arxiv_id, paper.version) == ("1111.2011", 2)
    assert paper.title == "Quantum Criticality for Extended Nodes on a Bethe Lattice in the Large Connectivity Limit"
    assert paper.primary_category == "cond-mat.str-el"
    assert paper.categories == ("cond-mat.str-el", "cond-mat.stat-mech")
    assert paper.authors == ("James M. Murray", "Adrian Del Maestro", "Zlatko Tesanovic")
    assert paper.doi == "10.1103/PhysRevB.85.115117"
    assert paper.journal_ref == "Phys. Rev. B 85, 115117 (2012)"
    assert paper.published == date(2011, 11, 8)
    assert paper.abstract.startswith("Theoretical description of anisotropic systems, such as layered superconductors")
    assert "\n" not in paper.abstract
    assert "  " not in paper.abstract


def test_api_error_entry_is_paper_not_found() -> None:
    with pytest.raises(PaperNotFound, match=r"^no such paper on arXiv: abc \(incorrect id format for abc\)$"):
        parse_api_entry(api_body("id_abc_error.json"), requested_id="abc")


def test_api_zero_entries_is_paper_not_found_naming_the_id() -> None:
    with pytest.raises(PaperNotFound, match=r"^no such paper on arXiv: 0000\.0000$"):
        parse_api_entry(api_body("id_0000.0000_empty.json"))


def test_api_garbage_is_source_unavailable() -> None:
    with pytest.raises(SourceUnavailable):
        parse_api_entry("<html><body>Rate exceeded.</body></html>")
