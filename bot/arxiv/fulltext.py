"""A paper's full text from arXiv's HTML (else its PDF), reduced to a token budget for the summarizer.

The reduction keeps the introduction, method, results and conclusion before the rest: those sections get the
budget first (each a fair share, then what others leave), related work and appendices get what remains, and
references are dropped. Sections are emitted in document order. Tokens are estimated as characters / 4.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass
from enum import IntEnum
from html.parser import HTMLParser

from bot.arxiv.http import ArxivHttp
from bot.errors import SourceError
from bot.models import Paper

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 4
MIN_USEFUL_CHARS = 500
"""Less text than this from a page means it was not the paper (an error or placeholder page)."""


class SectionKind(IntEnum):
    """How much a section matters to a summary; lower is kept first."""

    INTRODUCTION = 0
    METHOD = 1
    RESULTS = 2
    CONCLUSION = 3
    OTHER = 4
    APPENDIX = 5
    ABSTRACT = 6
    """Dropped: the prompt carries the abstract already."""
    REFERENCES = 7
    """Dropped."""


KEY_KINDS = (SectionKind.INTRODUCTION, SectionKind.METHOD, SectionKind.RESULTS, SectionKind.CONCLUSION)

_KIND_PATTERNS: tuple[tuple[SectionKind, re.Pattern[str]], ...] = (
    (SectionKind.REFERENCES, re.compile(r"\b(references|bibliography|acknowledge?ments?)\b", re.I)),
    (SectionKind.ABSTRACT, re.compile(r"^\W*abstract\b", re.I)),
    (SectionKind.APPENDIX, re.compile(r"^\W*(appendix|appendices|supplementary)\b", re.I)),
    (SectionKind.OTHER, re.compile(r"\b(related work|prior work|background|preliminar|literature)", re.I)),
    (SectionKind.INTRODUCTION, re.compile(r"\b(introduction|motivation|overview)\b", re.I)),
    (SectionKind.CONCLUSION, re.compile(r"\b(conclusions?|concluding|limitations?|future work|discussion)\b", re.I)),
    (
        SectionKind.RESULTS,
        re.compile(r"\b(experiments?|experimental|evaluation|results?|empirical|benchmarks?|ablations?)\b", re.I),
    ),
    (
        SectionKind.METHOD,
        re.compile(
            r"\b(method|methods|methodology|approach|model|framework|design|architecture|algorithms?|"
            r"system|proposed|formulation|training|implementation)\b",
            re.I,
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class Section:
    """One titled part of a paper's text."""

    title: str
    body: str


@dataclass(frozen=True, slots=True)
class FullText:
    """A paper's reduced text and where it came from (``html`` or ``pdf``)."""

    text: str
    origin: str


def section_kind(title: str) -> SectionKind:
    """Classify a section by its title (numbering such as ``3.`` or ``IV.`` is ignored)."""
    bare = re.sub(r"^\s*((\d+(\.\d+)*|[IVX]{1,6})\.?\s+)", "", title)
    for kind, pattern in _KIND_PATTERNS:
        if pattern.search(bare):
            return kind
    return SectionKind.OTHER


def reduce_sections(sections: list[Section], max_tokens: int) -> str:
    """The sections' text within ``max_tokens``: key sections first, the rest with what is left, in order."""
    budget = max_tokens * CHARS_PER_TOKEN
    kinds = [section_kind(s.title) for s in sections]
    kept = [i for i, k in enumerate(kinds) if k < SectionKind.ABSTRACT and sections[i].body.strip()]
    heads = {i: len(sections[i].title) + 6 for i in kept}
    allotted = dict.fromkeys(kept, 0)
    key = [i for i in kept if kinds[i] in KEY_KINDS]
    key.sort(key=lambda i: (kinds[i], i))
    rest = sorted((i for i in kept if kinds[i] not in KEY_KINDS), key=lambda i: (kinds[i], i))

    def grant(order: list[int], share: int | None) -> None:
        nonlocal budget
        for i in order:
            if budget <= 0:
                return
            if allotted[i] == 0:
                budget -= heads[i]
            wanted = len(sections[i].body) - allotted[i]
            give = max(0, min(wanted, budget, share if share is not None else wanted))
            allotted[i] += give
            budget -= give

    if key:
        grant(key, max(1, budget // len(key) - max(heads.values(), default=0)))
        grant(key, None)
    grant(rest, None)
    parts = []
    for i in kept:
        if allotted[i] <= 0:
            continue
        body = sections[i].body
        text = body if allotted[i] >= len(body) else body[: allotted[i]].rsplit(" ", 1)[0] + " …"
        parts.append(f"## {sections[i].title}\n{text}")
    return "\n\n".join(parts)


class _PaperHtmlParser(HTMLParser):
    """Collects the text of an arXiv (LaTeXML) HTML paper, split at headings; math becomes its TeX."""

    _SKIP = frozenset({"head", "script", "style", "nav", "header", "footer", "noscript", "svg", "button", "form"})
    _HEADINGS = frozenset({"h1", "h2", "h6"})
    """Document title, sections and appendices, and the abstract's title in LaTeXML; subsections stay inside."""
    _BLOCKS = frozenset({"p", "div", "li", "tr", "br", "figcaption", "table", "h3", "h4", "h5", "section"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: list[Section] = []
        self._title = ""
        self._chunks: list[str] = []
        self._heading: list[str] | None = None
        self._heading_tag = ""
        self._skip_depth = 0
        self._skip_tag = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip_depth:
            if tag == self._skip_tag:
                self._skip_depth += 1
            return
        if tag in self._SKIP or tag == "math":
            if tag == "math":
                alt = dict(attrs).get("alttext")
                if alt:
                    self._text(f" {alt} ")
            self._skip_tag, self._skip_depth = tag, 1
            return
        if tag in self._HEADINGS:
            self._heading, self._heading_tag = [], tag
        elif tag in self._BLOCKS:
            self._text("\n")

    def handle_endtag(self, tag: str) -> None:
        if self._skip_depth:
            if tag == self._skip_tag:
                self._skip_depth -= 1
            return
        if self._heading is not None and tag == self._heading_tag:
            title = " ".join("".join(self._heading).split())
            self._heading = None
            if title:
                self._flush()
                self._title = title
        elif tag in self._BLOCKS:
            self._text("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self._text(data)

    def _text(self, data: str) -> None:
        (self._heading if self._heading is not None else self._chunks).append(data)

    def _flush(self) -> None:
        body = _tidy("".join(self._chunks))
        if body:
            self.sections.append(Section(self._title or "Front matter", body))
        self._chunks = []

    def close(self) -> None:
        super().close()
        self._flush()


def _tidy(text: str) -> str:
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def html_sections(html: str) -> list[Section]:
    """The titled sections of an arXiv HTML paper."""
    parser = _PaperHtmlParser()
    parser.feed(html)
    parser.close()
    return parser.sections


_PDF_HEADING = re.compile(
    r"^(?:(?P<num>\d{1,2}|[IVX]{1,6})\.?\s+(?P<title>[A-Z][A-Za-z0-9 ,:&\-–/()']{2,70})"
    r"|(?P<bare>Abstract|Introduction|Related Work|Background|Conclusions?|References|Bibliography|"
    r"Acknowledge?ments?|Appendix(?: [A-Z])?))$",
    re.I,
)


def _looks_like_heading(line: str) -> bool:
    match = _PDF_HEADING.match(line)
    if match is None or len(line.split()) > 8 or line.endswith("."):
        return False
    if match["bare"]:
        return True
    words = match["title"].split()
    if all(w[0].isupper() for w in words if len(w) > 3):
        return True
    return len(words) <= 4 and section_kind(line) is not SectionKind.OTHER


def text_sections(text: str) -> list[Section]:
    """Split plain text (from a PDF) into sections at lines that look like top-level headings."""
    sections: list[Section] = []
    title, lines = "Front matter", list[str]()
    for raw in text.splitlines():
        line = " ".join(raw.split())
        if _looks_like_heading(line):
            body = _tidy("\n".join(lines))
            if body:
                sections.append(Section(title, body))
            title, lines = line, []
        else:
            lines.append(line)
    body = _tidy("\n".join(lines))
    if body:
        sections.append(Section(title, body))
    return sections


def pdf_text(data: bytes, *, max_pages: int = 60) -> str:
    """The text of a PDF's first ``max_pages`` pages (needs pypdf); raises ValueError when it cannot be read."""
    try:
        from pypdf import PdfReader
    except ImportError as err:
        raise ValueError("PDF text extraction needs the pypdf package") from err
    try:
        reader = PdfReader(io.BytesIO(data))
        return "\n".join(page.extract_text() or "" for page in reader.pages[:max_pages])
    except Exception as err:  # pypdf raises many kinds of errors on a damaged file
        raise ValueError(f"unreadable PDF: {type(err).__name__}: {err}") from err


class FullTextFetcher:
    """Fetches and reduces full texts: one paper at a time, each request through the ``ArxivHttp`` (its turn, its
    retries), and the last ``remember`` papers' texts kept, so a paper summarised in several languages is fetched
    once."""

    def __init__(
        self,
        *,
        http: ArxivHttp,
        base_url: str,
        max_tokens: int,
        max_bytes: int = 30_000_000,
        remember: int = 64,
    ) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._max_tokens = max_tokens
        self._max_bytes = max_bytes
        self._lock = asyncio.Lock()
        self._remember = remember
        self._recent: OrderedDict[str, FullText | None] = OrderedDict()

    async def fetch(self, paper: Paper) -> FullText | None:
        """The paper's reduced text from its HTML, else its PDF; None when neither can be read."""
        async with self._lock:
            if paper.versioned_id in self._recent:
                self._recent.move_to_end(paper.versioned_id)
                return self._recent[paper.versioned_id]
            found = await self._fetch(paper)
            self._recent[paper.versioned_id] = found
            while len(self._recent) > self._remember:
                self._recent.popitem(last=False)
            return found

    async def _fetch(self, paper: Paper) -> FullText | None:
        problems = []
        for origin in ("html", "pdf"):
            try:
                sections = await self._sections(paper, origin)
            except (SourceError, ValueError) as err:
                problems.append(f"{origin}: {type(err).__name__}: {err}")
                continue
            text = reduce_sections(sections, self._max_tokens)
            if len(text) >= MIN_USEFUL_CHARS:
                return FullText(text=text, origin=origin)
            problems.append(f"{origin}: only {len(text)} characters of text")
        log.info("full text of %s unavailable, using the abstract (%s)", paper.versioned_id, "; ".join(problems))
        return None

    async def _sections(self, paper: Paper, origin: str) -> list[Section]:
        answer = await self._http.get(f"{self._base_url}/{origin}/{paper.versioned_id}", max_bytes=self._max_bytes)
        if answer.status != 200:
            raise ValueError(f"HTTP {answer.status}")
        data, content_type = answer.body, answer.content_type
        if origin == "html":
            if "html" not in content_type:
                raise ValueError(f"not an HTML page ({content_type or 'no content type'})")
            return await asyncio.to_thread(html_sections, data.decode("utf-8", errors="replace"))
        if not data.startswith(b"%PDF"):
            raise ValueError(f"not a PDF ({content_type or 'no content type'})")
        return text_sections(await asyncio.to_thread(pdf_text, data))

    async def aclose(self) -> None:
        """Close the HTTP layer (shared with the arXiv client when the composition root made one)."""
        await self._http.aclose()
