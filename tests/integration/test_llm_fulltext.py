"""Full text from a local arxiv.org stand-in: HTML first, else the PDF, reduced to a budget; faults fall back."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator

import pytest

from adapters.composition import build_services
from bot.arxiv.client import ArxivClient
from bot.arxiv.fulltext import FullTextFetcher, Section, SectionKind, html_sections, reduce_sections, section_kind
from bot.arxiv.http import ArxivHttp
from bot.models import ChannelRef, Paper
from tests.conftest import ctx, make_settings
from tests.fakes.arxiv_server import FakeArxivServer, atom_entry
from tests.fakes.clock import FixedClock, SteppedClock
from tests.fakes.fulltext_server import FakeFullTextServer, make_pdf, running_fulltext_server
from tests.fakes.openai_server import FakeOpenAIServer, running_openai_server
from tests.fakes.publisher import FakePublisher

PAPER = Paper(
    arxiv_id="2601.00644",
    version=1,
    title="FlexSpec: Frozen Drafts Meet Evolving Targets",
    abstract="Deploying LLMs at the edge is hard. We propose FlexSpec.",
    authors=("Yuchen Li",),
    categories=("cs.DC",),
    primary_category="cs.DC",
)


def latexml_page(related_words: int = 50) -> str:
    """A page shaped like arXiv's LaTeXML HTML: title, abstract (h6), sections (h2) with subsections (h3)."""
    related = " ".join(["prior"] * related_words)
    return f"""<!DOCTYPE html><html><head><title>FlexSpec</title><style>.x{{color:red}}</style>
<script>var tracking = "SCRIPT-TEXT";</script></head><body>
<nav class="ltx_page_navbar">NAVIGATION-TEXT</nav>
<article class="ltx_document">
<h1 class="ltx_title ltx_title_document">FlexSpec: Frozen Drafts Meet Evolving Targets</h1>
<div class="ltx_abstract"><h6 class="ltx_title ltx_title_abstract">Abstract</h6>
<p class="ltx_p">ABSTRACT-TEXT deploying LLMs at the edge.</p></div>
<section class="ltx_section" id="S1">
<h2 class="ltx_title ltx_title_section"><span class="ltx_tag">1 </span>Introduction</h2>
<p>INTRO-TEXT Edge-cloud speculative decoding with a draft of size
<math alttext="7\\times 10^{{9}}"><mi>MATHML-NOISE</mi></math> parameters.</p></section>
<section class="ltx_section" id="S2"><h2 class="ltx_title ltx_title_section">2 Related Work</h2>
<p>RELATED-TEXT {related}</p></section>
<section class="ltx_section" id="S3"><h2 class="ltx_title ltx_title_section">3 Method</h2>
<p>METHOD-TEXT frozen drafts and an adaptive verifier.</p>
<section class="ltx_subsection"><h3 class="ltx_title ltx_title_subsection">3.1 Draft Selection</h3>
<p>SUBSECTION-TEXT chooses the draft.</p></section></section>
<section class="ltx_section" id="S4"><h2 class="ltx_title ltx_title_section">4 Experiments</h2>
<p>RESULTS-TEXT 2.1x lower latency on MT-Bench than EAGLE.</p></section>
<section class="ltx_section" id="S5"><h2 class="ltx_title ltx_title_section">5 Conclusion</h2>
<p>CONCLUSION-TEXT works with evolving targets; future work: multi-draft.</p></section>
<section class="ltx_bibliography"><h2 class="ltx_title ltx_title_bibliography">References</h2>
<ul><li>REFERENCE-TEXT [1] Leviathan et al.</li></ul></section>
<section class="ltx_appendix"><h2 class="ltx_title ltx_title_appendix">Appendix A Proofs</h2>
<p>APPENDIX-TEXT lemma.</p></section>
</article><footer>FOOTER-TEXT</footer></body></html>"""


PDF_LINES = [
    "FlexSpec: Frozen Drafts Meet Evolving Targets",
    "Abstract",
    "ABSTRACT-TEXT deploying LLMs at the edge.",
    "1 Introduction",
    *[f"INTRO-TEXT line {i} on edge-cloud speculative decoding (SD)." for i in range(70)],
    "2 Method",
    "METHOD-TEXT frozen drafts and an adaptive verifier.",
    "3 Experiments",
    "RESULTS-TEXT 2.1x lower latency on MT-Bench.",
    "4 Conclusion",
    "CONCLUSION-TEXT works; future work: multi-draft.",
    "References",
    "REFERENCE-TEXT [1] Leviathan et al.",
]


def llm_env(llm: FakeOpenAIServer, fulltext_base_url: str) -> dict[str, str]:
    """Settings for the fake model, with full texts from ``fulltext_base_url``."""
    return {
        "ARXIVBOT_LLM__MODEL": "openai/fake-model",
        "ARXIVBOT_LLM__API_BASE": llm.api_base,
        "ARXIVBOT_LLM__FULLTEXT_BASE_URL": fulltext_base_url,
    }


@pytest.fixture
async def site() -> AsyncIterator[FakeFullTextServer]:
    async with running_fulltext_server() as server:
        yield server


@pytest.fixture
async def fetcher(site: FakeFullTextServer) -> AsyncIterator[FullTextFetcher]:
    made = FullTextFetcher(http=ArxivHttp(timeout_s=5, min_interval_s=0), base_url=site.base_url, max_tokens=2000)
    yield made
    await made.aclose()


async def test_html_keeps_the_paper_and_drops_page_chrome_and_references(
    site: FakeFullTextServer, fetcher: FullTextFetcher
) -> None:
    site.html["2601.00644v1"] = latexml_page()
    full = await fetcher.fetch(PAPER)
    assert full is not None and full.origin == "html"
    assert site.requests == ["/html/2601.00644v1"]
    for kept in ("INTRO-TEXT", "METHOD-TEXT", "SUBSECTION-TEXT", "RESULTS-TEXT", "CONCLUSION-TEXT", "7\\times 10^{9}"):
        assert kept in full.text, kept
    for dropped in ("SCRIPT-TEXT", "NAVIGATION-TEXT", "FOOTER-TEXT", "MATHML-NOISE", "REFERENCE-TEXT", "color:red"):
        assert dropped not in full.text, dropped
    assert "ABSTRACT-TEXT" not in full.text  # the prompt carries the abstract already
    order = [full.text.index(t) for t in ("INTRO-TEXT", "RELATED-TEXT", "METHOD-TEXT", "CONCLUSION-TEXT")]
    assert order == sorted(order)  # document order


async def test_budget_keeps_intro_method_results_conclusion_before_the_rest(site: FakeFullTextServer) -> None:
    budget = 150
    site.html["2601.00644v1"] = latexml_page(related_words=3000)
    small = FullTextFetcher(http=ArxivHttp(timeout_s=5, min_interval_s=0), base_url=site.base_url, max_tokens=budget)
    try:
        full = await small.fetch(PAPER)
    finally:
        await small.aclose()
    assert full is not None
    assert len(full.text) <= budget * 4
    for kept in ("INTRO-TEXT", "METHOD-TEXT", "RESULTS-TEXT", "CONCLUSION-TEXT"):
        assert kept in full.text, kept
    assert "APPENDIX-TEXT" not in full.text
    assert full.text.count("prior") < 100  # related work only gets what the key sections left


def test_reduce_sections_fair_share_and_order() -> None:
    sections = [
        Section("1 Introduction", "intro " * 2000),
        Section("2 Background", "background " * 50),
        Section("3 Approach", "method " * 30),
        Section("4 Evaluation", "result " * 30),
        Section("5 Discussion and Limitations", "limit " * 20),
        Section("Acknowledgments", "thanks " * 10),
    ]
    text = reduce_sections(sections, max_tokens=400)
    assert len(text) <= 1600
    assert "method " * 30 in text and "result " * 30 in text and "limit " * 20 in text
    assert "thanks" not in text
    assert text.index("## 1 Introduction") < text.index("## 3 Approach") < text.index("## 5 Discussion")
    assert [section_kind(s.title) for s in sections] == [
        SectionKind.INTRODUCTION,
        SectionKind.OTHER,
        SectionKind.METHOD,
        SectionKind.RESULTS,
        SectionKind.CONCLUSION,
        SectionKind.REFERENCES,
    ]


def test_html_sections_split_at_section_headings_only() -> None:
    titles = [s.title for s in html_sections(latexml_page())]
    assert titles[0] == "Abstract"  # the document title has no body; <head> is skipped
    assert "1 Introduction" in titles and "3 Method" in titles and "3.1 Draft Selection" not in titles


async def test_pdf_when_there_is_no_html(site: FakeFullTextServer, fetcher: FullTextFetcher) -> None:
    site.pdf["2601.00644v1"] = make_pdf(PDF_LINES)
    full = await fetcher.fetch(PAPER)
    assert full is not None and full.origin == "pdf"
    assert site.requests == ["/html/2601.00644v1", "/pdf/2601.00644v1"]
    assert "## 1 Introduction" in full.text and "## 4 Conclusion" in full.text
    assert "INTRO-TEXT line 69" in full.text  # the second page was read too
    assert "METHOD-TEXT" in full.text and "RESULTS-TEXT" in full.text
    assert "REFERENCE-TEXT" not in full.text


@pytest.mark.parametrize(
    "html, pdf",
    [
        (None, None),
        ("<html><body><p>Conversion failed.</p></body></html>", b"%PDF-1.4 this is not really a PDF"),
        (None, b"<html>an error page served as a PDF</html>"),
    ],
    ids=["both-missing", "placeholder-and-broken-pdf", "not-a-pdf"],
)
async def test_faults_mean_no_full_text(
    site: FakeFullTextServer, fetcher: FullTextFetcher, html: str | None, pdf: bytes | None
) -> None:
    if html is not None:
        site.html["2601.00644v1"] = html
    if pdf is not None:
        site.pdf["2601.00644v1"] = pdf
    assert await fetcher.fetch(PAPER) is None
    assert site.requests == ["/html/2601.00644v1", "/pdf/2601.00644v1"]


async def test_unreachable_server_means_no_full_text_after_the_retries(caplog: pytest.LogCaptureFixture) -> None:
    async with running_fulltext_server() as gone:
        base = gone.base_url
    clock = SteppedClock()
    http = ArxivHttp(timeout_s=2, min_interval_s=0, max_retries=2, sleep=clock.sleep, monotonic=clock.monotonic)
    fetcher = FullTextFetcher(http=http, base_url=base, max_tokens=1000)
    try:
        with caplog.at_level(logging.INFO, logger="bot.arxiv"):
            assert await fetcher.fetch(PAPER) is None
    finally:
        await fetcher.aclose()
    assert clock.sleeps == [1.0, 2.0, 1.0, 2.0]  # the HTML's backoff, then the PDF's
    [summary] = [r.getMessage() for r in caplog.records if r.name == "bot.arxiv.fulltext"]
    assert "html: SourceUnavailable: arXiv unavailable (ConnectError" in summary and "after 3 attempts" in summary


async def test_a_busy_site_is_retried_honouring_retry_after(site: FakeFullTextServer) -> None:
    site.html["2601.00644v1"] = latexml_page()
    site.fail((429, {"Retry-After": "5"}), 503)
    clock = SteppedClock()
    site.clock = clock.monotonic
    http = ArxivHttp(min_interval_s=3.0, sleep=clock.sleep, monotonic=clock.monotonic, now=clock.wall)
    fetcher = FullTextFetcher(http=http, base_url=site.base_url, max_tokens=2000)
    try:
        full = await fetcher.fetch(PAPER)
    finally:
        await fetcher.aclose()
    assert full is not None and full.origin == "html"
    assert clock.sleeps == [5.0, 2.0, 1.0]  # Retry-After; backoff 2 s, then 1 s more to fill the 3 s interval
    assert site.starts == [1000.0, 1005.0, 1008.0]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_body_over_the_size_cap_is_refused_one_under_it_read(
    site: FakeFullTextServer, chunked: bool, caplog: pytest.LogCaptureFixture
) -> None:
    site.chunked = chunked
    site.html["2601.00644v1"] = latexml_page(related_words=3000)
    site.html["2601.00644v2"] = latexml_page()
    assert len(latexml_page(related_words=3000)) > 8000 > len(latexml_page())
    fetcher = FullTextFetcher(http=ArxivHttp(min_interval_s=0), base_url=site.base_url, max_tokens=2000, max_bytes=8000)
    try:
        with caplog.at_level(logging.INFO, logger="bot.arxiv.fulltext"):
            too_large = await fetcher.fetch(PAPER)
        small = await fetcher.fetch(dataclasses.replace(PAPER, version=2))
    finally:
        await fetcher.aclose()
    assert too_large is None
    [summary] = [r.getMessage() for r in caplog.records if r.name == "bot.arxiv.fulltext"]
    assert "html: ResponseTooLarge: arXiv answer larger than 8000 bytes" in summary
    assert small is not None and small.origin == "html"
    assert site.requests == ["/html/2601.00644v1", "/pdf/2601.00644v1", "/html/2601.00644v2"]


async def test_full_texts_wait_their_turn_with_listings_and_lookups(
    site: FakeFullTextServer, arxiv: FakeArxivServer
) -> None:
    """One ArxivHttp for the client and the fetcher: one throttle, whichever host each asks."""
    clock = SteppedClock()
    site.clock = arxiv.clock = clock.monotonic
    site.html["2601.00644v1"] = latexml_page()
    arxiv.papers["2601.00644"] = (200, atom_entry("2601.00644", PAPER.title, PAPER.abstract))
    http = ArxivHttp(min_interval_s=3.0, sleep=clock.sleep, monotonic=clock.monotonic, now=clock.wall)
    client = ArxivClient(http=http, rss_url=arxiv.rss_url, api_url=arxiv.api_url)
    fetcher = FullTextFetcher(http=http, base_url=site.base_url, max_tokens=2000)
    try:
        paper = await client.lookup("2601.00644")
        await asyncio.gather(
            fetcher.fetch(paper), client.fetch_listing({"cs.AI", "cs.CL", "cs.DC", "cs.LG"}), fetcher.fetch(PAPER)
        )
    finally:
        await client.aclose()
        await fetcher.aclose()  # the shared layer is already closed: closing again is harmless
    starts = sorted([(r.started, r.path) for r in arxiv.requests] + list(zip(site.starts, site.requests, strict=True)))
    assert starts == [(1000.0, "/api/query"), (1003.0, "/html/2601.00644v1"), (1006.0, "/rss/cs.AI+cs.CL+cs.DC+cs.LG")]
    assert clock.sleeps == [3.0, 3.0]


async def test_the_model_reads_the_full_text_and_falls_back_to_the_abstract(
    site: FakeFullTextServer,
    db_url: str,
    arxiv: FakeArxivServer,
    clock: FixedClock,
    publisher: FakePublisher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake-key-for-tests")
    site.html["2601.00644v1"] = latexml_page()
    arxiv.papers["2601.00644"] = (200, atom_entry("2601.00644", PAPER.title, PAPER.abstract))
    arxiv.papers["2601.00192"] = (200, atom_entry("2601.00192", "ECG", "We detect arrhythmia."))
    async with running_openai_server() as llm:
        services = build_services(make_settings(db_url, arxiv, **llm_env(llm, site.base_url)), clock=clock)
        services.router.add("test", publisher)
        try:
            await services.commands.execute(ctx(), "summarize 2601.00644")
            await services.commands.execute(ctx(), "summarize 2601.00192")
            chinese = ChannelRef("test", "w2", "zh")
            await services.commands.execute(ctx(channel=chinese), "set language zh")
            await services.commands.execute(ctx(channel=chinese), "summarize 2601.00644")
        finally:
            await services.aclose()
    with_text, without, in_chinese = llm.requests
    assert "language code zh" in in_chinese.system and "INTRO-TEXT" in in_chinese.user
    paper_part = with_text.user.split(">>>", 1)[1]
    assert "Abstract: Deploying LLMs at the edge is hard." in paper_part
    assert "INTRO-TEXT" in paper_part and "CONCLUSION-TEXT" in paper_part and "REFERENCE-TEXT" not in paper_part
    assert "Full text" not in without.user and "We detect arrhythmia." in without.user
    (_, first), (_, second), _ = publisher.threads
    assert first.note is not None and "of the full text" in first.note
    assert second.note is not None and "of the abstract" in second.note
    # Fetched once for both languages.
    assert site.requests == ["/html/2601.00644v1", "/html/2601.00192v1", "/pdf/2601.00192v1"]


async def test_the_composition_root_gives_full_texts_from_arxiv_the_clients_throttle(
    db_url: str, arxiv: FakeArxivServer, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Full texts from the host the client asks share its one-at-a-time turn: they never overlap a listing."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake-key-for-tests")
    arxiv.fulltext = FakeFullTextServer(html={"2601.00644v1": latexml_page()})
    arxiv.papers["2601.00644"] = (200, atom_entry("2601.00644", PAPER.title, PAPER.abstract))
    arxiv.latency_s = 0.2  # long enough that an unthrottled full-text request would land inside the listing's
    async with running_openai_server() as llm:
        services = build_services(make_settings(db_url, arxiv, **llm_env(llm, arxiv.base_url)), clock=clock)
        try:
            paper = await services.source.lookup("2601.00644")
            summary, listing = await asyncio.gather(
                services.summarizer.summarize(paper, language="en"),
                services.source.fetch_listing({"cs.AI", "cs.CL", "cs.DC", "cs.LG"}),
            )
        finally:
            await services.aclose()
    assert len(listing.papers) == 30
    assert summary.note is not None and "of the full text" in summary.note
    assert "INTRO-TEXT" in llm.requests[0].user
    paths = sorted(r.path for r in arxiv.requests)
    assert paths == ["/api/query", "/html/2601.00644v1", "/rss/cs.AI+cs.CL+cs.DC+cs.LG"]
    assert arxiv.max_in_flight == 1
