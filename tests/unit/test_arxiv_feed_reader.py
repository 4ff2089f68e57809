"""The fast RSS reader gives exactly feedparser's papers, and leaves to feedparser what it does not know."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bot.arxiv.feed import _read_arxiv_rss, parse_listing, parse_listing_with_feedparser
from bot.errors import SourceUnavailable
from tests.unit.test_arxiv_feed import BIG_FEED, FOUR, item, rss

RSS_FIXTURES = sorted((Path(__file__).parents[1] / "fixtures" / "arxiv-rss").glob("*.xml"))

# Pieces of text that parsers treat differently when they are careless: entities (once and twice escaped),
# markup, CDATA, whitespace runs, non-ASCII, bidi controls, a lone ampersand in CDATA.
PIECES = [
    "plain words", "x &lt; y", "a &amp;amp; b", "&lt;b&gt;bold&lt;/b&gt;", "O&amp;#39;Brien", "&#169; &#x263a;",
    "<![CDATA[<i>cdata</i> & raw]]>", "  spaced \n\t out  ", "Müller–Schmidt", "\u202eevil", "&quot;q&quot;",
    "&amp;nbsp;", "Abstract: inner", "Announce Type: cross", "$O(n^2)$ &gt; 3",
]  # fmt: skip
CREATORS = ["Ada Lovelace", "Ada Lovelace and Alan Turing", "A, B, and C", " X ,  Y ", "Grace Hopper (Navy)", ""]


def fuzz_feed(rng: random.Random) -> str:
    """A feed of random items built from the pieces above, some with elements left out or doubled."""
    items = []
    for n in range(rng.randint(0, 6)):
        text = " ".join(rng.choices(PIECES, k=rng.randint(1, 4)))
        version = rng.choice((1, 2))
        items.append(
            item(
                rng.choice([f"oai:arXiv.org:2601.{n:05d}v{version}", None, "oai:arXiv.org:bad"]),
                title=rng.choice([text, None, "0", ""]),
                categories=tuple(rng.sample(["cs.DC", "cs.LG", "math.CO", "hep-th"], rng.randint(0, 2))),
                announce=rng.choice(["new", "cross", "replace", "replace-cross", None, "weird"]),
                description=rng.choice([None, f"arXiv:2601.{n:05d}v{version} Announce Type: new \nAbstract: {text}"]),
                creator=rng.choice(CREATORS),
                pub_date=rng.choice(["Tue, 06 Jan 2026 00:00:00 -0500", None, "2026-01-07T00:00:00Z", "garbage"]),
                extra=rng.choice(["", "<arxiv:DOI>10.1/x</arxiv:DOI>", "<dc:creator>Second One</dc:creator>"]),
            )
        )
    return rss(*items, pub_date=rng.choice(["Tue, 06 Jan 2026 00:00:00 -0500", ""]))


@pytest.mark.parametrize("path", RSS_FIXTURES, ids=[p.name for p in RSS_FIXTURES])
def test_every_recorded_feed_is_read_fast_and_gives_feedparsers_papers(path: Path) -> None:
    body = path.read_bytes()
    assert _read_arxiv_rss(body) is not None
    for categories in (FOUR, ["cs.DC"], ["cs"]):
        assert parse_listing(body, categories=categories) == parse_listing_with_feedparser(body, categories=categories)


@pytest.mark.parametrize("seed", range(200))
def test_random_feeds_give_feedparsers_papers(seed: int) -> None:
    body = fuzz_feed(random.Random(seed))
    assert parse_listing(body, categories=["cs.DC"]) == parse_listing_with_feedparser(body, categories=["cs.DC"])


def test_most_random_feeds_are_read_fast() -> None:
    fast = sum(_read_arxiv_rss(fuzz_feed(random.Random(seed)).encode()) is not None for seed in range(200))
    assert fast >= 150


@pytest.mark.parametrize(
    "body",
    [
        rss(item(extra="<content:encoded xmlns:content='urn:c'>more</content:encoded>")),  # not an arXiv element
        rss(item(description="a <b>bold</b> claim")),  # markup inside an element
        rss(item(creator="Ada Lovelace (ada@example.org)")),  # feedparser splits e-mail addresses out
        rss(item()).replace("xmlns:arxiv", "xmlns:ax").replace("arxiv:", "ax:"),  # another prefix, other keys
        rss(item(title="x &nbsp; y")),  # an HTML entity XML does not define: not well-formed
        rss(item()).replace("encoding='UTF-8'", "encoding='ISO-8859-1'"),
        rss(item()).replace('version="2.0"', 'version="0.91"'),
        rss(item()).replace("<pubDate>Tue", "<dc:date>2026-01-06</dc:date><pubDate>Tue", 1),  # feed date in dc:date
        BIG_FEED.read_text(encoding="utf-8").replace("<title>", "<title>Twice</title><title>", 5),
    ],
    ids=["unknown-element", "markup", "email", "prefix", "html-entity", "latin-1", "rss-0.91", "dc-date", "two-titles"],
)
def test_what_the_reader_does_not_know_goes_to_feedparser(body: str) -> None:
    assert _read_arxiv_rss(body.encode()) is None
    assert parse_listing(body, categories=["cs.DC"]) == parse_listing_with_feedparser(body, categories=["cs.DC"])


@pytest.mark.parametrize("body", [b"", b"garbage", BIG_FEED.read_bytes()[:5000], b"<html><body>502</body></html>"])
def test_a_body_that_is_not_a_feed_is_still_refused(body: bytes) -> None:
    with pytest.raises(SourceUnavailable):
        parse_listing(body, categories=["cs.DC"])
