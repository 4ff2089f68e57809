"""Pure parsing of arXiv's RSS listing and its export API's Atom answers (paper ids typed by users: ``ids``).

A listing in arXiv's own RSS 2.0 form is read by a streaming ``xml.etree`` parser (expat, in C: about twenty times
faster than feedparser on a 2,000-item feed); anything it does not know exactly how feedparser would read (another
format, a feed that is not well-formed, an element or namespace prefix arXiv does not use, markup inside an element,
an e-mail address in an author) goes to feedparser, so both give the same papers.
"""

from __future__ import annotations

import html
import io
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Collection, Mapping
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any, Final

import feedparser

from bot.arxiv.ids import ID_PATTERN, plausible_id
from bot.arxiv.taxonomy import archive_of
from bot.errors import PaperNotFound, SourceUnavailable
from bot.models import AnnounceType, Listing, Paper

log = logging.getLogger(__name__)

_GUID_RE = re.compile(rf"(?i:oai:arxiv\.org:){ID_PATTERN}")
_API_ID_RE = re.compile(rf"(?i:https?://(?:www\.)?arxiv\.org/abs/){ID_PATTERN}")
_ANNOUNCE_RE = re.compile(r"Announce Type:\s*([\w-]+)")
_ABSTRACT_RE = re.compile(r"Abstract:(.*)", re.DOTALL)
_AUTHOR_SPLIT_RE = re.compile(r"\s*,\s*(?:and\s+)?|\s+and\s+")
_ID_LIST_RE = re.compile(r"id_list=([^&\s]+)")
_CLOSING_TAG_RE = re.compile(rb"</(?:\w+:)?(?:rss|feed|RDF)>\s*\Z")


class _BadEntry(ValueError):
    """An item the parser cannot turn into a Paper; the message says why."""


def parse_listing(xml: bytes | str, *, categories: Collection[str]) -> Listing:
    """Parse one RSS listing (``rss.arxiv.org/rss/<cats>``); malformed items are skipped and counted."""
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    read = _read_arxiv_rss(data)
    if read is None:
        parsed = _parse_feed(data)
        feed, entries = parsed.feed, parsed.entries
    else:
        feed, entries = read
    return _listing(feed, entries, categories=categories)


def parse_listing_with_feedparser(xml: bytes | str, *, categories: Collection[str]) -> Listing:
    """``parse_listing`` through feedparser only (the reference the fast reader is tested against)."""
    parsed = _parse_feed(xml)
    return _listing(parsed.feed, parsed.entries, categories=categories)


def _listing(feed: Mapping[str, Any], entries: Any, *, categories: Collection[str]) -> Listing:
    requested = frozenset(categories)
    channel_date = _date_of(feed.get("published") or feed.get("updated"))
    papers: list[Paper] = []
    skipped = 0
    for index, entry in enumerate(entries):
        try:
            papers.append(_paper_from_item(entry, requested=requested, channel_date=channel_date))
        except Exception as exc:  # one bad item must never cost the whole day's listing
            skipped += 1
            label = entry.get("id") or entry.get("title") or f"#{index + 1}"
            log.warning("skipping malformed arXiv feed item %r: %s", _clean(str(label))[:80], exc)
    return Listing(categories=requested, announced=channel_date, papers=tuple(papers), skipped_entries=skipped)


def parse_api_entry(xml: bytes | str, *, requested_id: str | None = None) -> Paper:
    """Parse the export API's Atom answer for one id; raise ``PaperNotFound`` if it holds no paper."""
    parsed = _parse_feed(xml)
    wanted = requested_id or _requested_from_feed(parsed.feed) or "the requested id"
    if not parsed.entries:
        raise PaperNotFound(f"no such paper on arXiv: {wanted}")
    return _paper_from_api_entry(parsed.entries[0], wanted=wanted)


def parse_api_entries(xml: bytes | str) -> list[Paper]:
    """Parse the export API's Atom answer for many ids: every paper in it, in its order. Entries that are no paper
    (arXiv's Error entry, or one without a title or categories) are left out and logged."""
    papers: list[Paper] = []
    for entry in _parse_feed(xml).entries:
        try:
            papers.append(_paper_from_api_entry(entry, wanted=str(entry.get("id", "")).strip() or "an entry"))
        except PaperNotFound as err:
            log.warning("arXiv API answer: left out an entry: %s", err)
    return papers


def _paper_from_api_entry(entry: Mapping[str, Any], *, wanted: str) -> Paper:
    """One export API entry as a Paper; ``PaperNotFound`` (naming ``wanted``) when it is none."""
    match = _API_ID_RE.fullmatch(str(entry.get("id", "")).strip())
    if match is None:
        # arXiv's Error entry (id under /api/errors, title "Error") explains itself in its summary.
        reason = _clean(entry.get("summary")) or _clean(entry.get("title"))
        detail = f" ({reason})" if reason else ""
        raise PaperNotFound(f"no such paper on arXiv: {wanted}{detail}")
    title = _clean(entry.get("title"))
    if not title:
        raise PaperNotFound(f"no such paper on arXiv: {wanted} (arXiv sent an entry without a title)")
    categories = _unique(tag.get("term") for tag in entry.get("tags", []))
    primary = _clean((entry.get("arxiv_primary_category") or {}).get("term")) or (categories[0] if categories else "")
    if not primary:
        raise PaperNotFound(f"no such paper on arXiv: {wanted} (arXiv sent an entry without categories)")
    if primary not in categories:
        categories = (primary, *categories)
    return Paper(
        arxiv_id=match["id"],
        version=int(match["version"] or 1),
        title=title,
        abstract=_clean(entry.get("summary")),
        authors=tuple(name for author in entry.get("authors", []) if (name := _clean(author.get("name")))),
        categories=categories,
        primary_category=primary,
        published=_date_of(entry.get("published")),
        doi=_clean(entry.get("arxiv_doi")) or None,
        journal_ref=_clean(entry.get("arxiv_journal_ref")) or None,
        comments=_clean(entry.get("arxiv_comment")) or None,
    )


_RSS_NS: Final = ""
_ARXIV_NS: Final = "http://arxiv.org/schemas/atom"
_DC_NS: Final = "http://purl.org/dc/elements/1.1/"
_ATOM_NS: Final = "http://www.w3.org/2005/Atom"
# Item children read into feedparser's keys; a child outside this table sends the feed to feedparser.
_ITEM_FIELDS: Final = {
    "title": "title",
    "description": "summary",
    "guid": "id",
    "pubDate": "published",
    f"{{{_ARXIV_NS}}}announce_type": "arxiv_announce_type",
    f"{{{_ARXIV_NS}}}DOI": "arxiv_doi",
    f"{{{_ARXIV_NS}}}journal_reference": "arxiv_journal_reference",
}
_ITEM_LISTS: Final = {"category": "tags", f"{{{_DC_NS}}}creator": "authors"}
_ITEM_IGNORED: Final = frozenset({"link", f"{{{_DC_NS}}}rights", "comments", "source", "enclosure"})
_CHANNEL_FIELDS: Final = {"pubDate": "published", "lastBuildDate": "updated"}
_CHANNEL_IGNORED: Final = frozenset(
    {
        "title", "link", "description", "docs", "language", "managingEditor", "webMaster", "skipDays", "skipHours",
        "generator", "ttl", "image", "copyright", "category", "cloud", "rating", "textInput", f"{{{_ATOM_NS}}}link",
    }
)  # fmt: skip
_DECLARATION = re.compile(rb"<\?xml[^>]*>")
_UTF8 = re.compile(rb"""encoding\s*=\s*["'](?i:utf-?8)["']""")


class _Unusual(Exception):
    """Something in a feed that only feedparser may read (the message says what, for debugging)."""


def _read_arxiv_rss(data: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """The feed and items of a listing in arXiv's RSS 2.0 form, as feedparser's keys; None for anything else."""
    declaration = _DECLARATION.match(data[:400].lstrip(b"\xef\xbb\xbf \t\r\n"))
    if declaration is not None and b"encoding" in declaration[0] and not _UTF8.search(declaration[0]):
        return None  # another encoding: feedparser's to guess about
    try:
        return _stream_items(data)
    except (_Unusual, ET.ParseError) as why:
        log.debug("arXiv feed read by feedparser: %s", why)
        return None


def _stream_items(data: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    entries: list[dict[str, Any]] = []
    events = ET.iterparse(io.BytesIO(data), events=("end", "start-ns"))
    for event, node in events:
        if event == "start-ns":
            prefix, uri = node
            if uri == _ARXIV_NS and prefix != "arxiv":
                raise _Unusual(f"the arXiv namespace as {prefix!r}")
        elif node.tag == "item":
            entries.append(_item(node))
            node.clear()  # keep memory flat: only the (empty) item elements stay in the tree
    root = events.root  # type: ignore[attr-defined]
    if root.tag != "rss" or root.get("version") != "2.0" or len(root) != 1 or root[0].tag != "channel":
        raise _Unusual(f"root {root.tag!r}")
    feed: dict[str, Any] = {}
    items = 0
    for child in root[0]:
        if child.tag == "item":
            items += 1
        elif child.tag in _CHANNEL_FIELDS:
            feed[_CHANNEL_FIELDS[child.tag]] = _text(child)
        elif child.tag not in _CHANNEL_IGNORED:
            raise _Unusual(f"channel child {child.tag!r}")
    if items != len(entries):
        raise _Unusual("an item outside the channel")
    return feed, entries


def _item(node: ET.Element) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    for child in node:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        if tag in _ITEM_FIELDS:
            key = _ITEM_FIELDS[tag]
            if key in entry:
                raise _Unusual(f"two {tag!r}")
            entry[key] = _text(child)
        elif tag in _ITEM_LISTS:
            text = _text(child)
            if _ITEM_LISTS[tag] == "tags":
                if text:
                    entry.setdefault("tags", []).append({"term": text})
            else:
                if "@" in text:
                    raise _Unusual("an e-mail address in an author")
                entry.setdefault("authors", []).append({"name": text} if text else {})
        elif tag not in _ITEM_IGNORED:
            raise _Unusual(f"item child {tag!r}")
    return entry


def _text(node: ET.Element) -> str:
    """An element's text, stripped as feedparser does; markup inside it is feedparser's to read."""
    if len(node):
        raise _Unusual(f"markup inside {node.tag!r}")
    return (node.text or "").strip()


def _parse_feed(xml: bytes | str) -> Any:
    """Run feedparser on a body; raise ``SourceUnavailable`` if it is not a (complete) feed."""
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    # A stream, so feedparser never takes the body for a URL or a file name; descriptions are
    # plain text in arXiv's feeds, so nothing is stripped as HTML.
    parsed = feedparser.parse(io.BytesIO(data), sanitize_html=False, resolve_relative_uris=False)
    if not parsed.get("version"):
        raise SourceUnavailable(f"arXiv answered with something that is not a feed: {_snippet(data)}")
    if parsed.get("bozo"):
        if not _CLOSING_TAG_RE.search(data[-200:]):
            raise SourceUnavailable(f"arXiv sent a truncated feed ({len(data)} bytes)")
        log.warning("arXiv feed is not well-formed, parsed leniently: %s", parsed.get("bozo_exception"))
    return parsed


def _paper_from_item(entry: Mapping[str, Any], *, requested: frozenset[str], channel_date: date | None) -> Paper:
    """Turn one RSS item into a Paper, or raise ``_BadEntry``."""
    guid = str(entry.get("id") or "").strip()
    if not guid:
        raise _BadEntry("no guid")
    match = _GUID_RE.fullmatch(guid)
    if match is None or not plausible_id(match["id"]) or not match["version"]:
        raise _BadEntry(f"guid {guid[:80]!r} is not oai:arXiv.org:<id>v<n>")
    title = _clean(entry.get("title"))
    if not title:
        raise _BadEntry("no title")
    categories = _unique(tag.get("term") for tag in entry.get("tags", []))
    if not categories:
        raise _BadEntry("no category")
    description = str(entry.get("summary") or "")
    version = int(match["version"])
    abstract = _ABSTRACT_RE.search(description)
    return Paper(
        arxiv_id=match["id"],
        version=version,
        title=title,
        abstract=_clean(abstract[1] if abstract else description),
        authors=_split_authors(entry.get("authors", [])),
        categories=categories,
        primary_category=categories[0],
        announce_type=_announce_type(entry, description, version, categories[0], requested),
        published=_date_of(entry.get("published")) or channel_date,
        doi=_clean(entry.get("arxiv_doi")) or None,
        journal_ref=_clean(entry.get("arxiv_journal_reference")) or None,
        comments=_clean(entry.get("arxiv_comments") or entry.get("arxiv_comment")) or None,
    )


def _announce_type(
    entry: Mapping[str, Any], description: str, version: int, primary: str, requested: frozenset[str]
) -> AnnounceType:
    """The item's announce type: its own element, else the description's, else inferred."""
    in_description = _ANNOUNCE_RE.search(description)
    for raw in (entry.get("arxiv_announce_type"), in_description[1] if in_description else None):
        try:
            return AnnounceType(str(raw).strip().lower())
        except ValueError:
            continue
    # arXiv lists a paper as cross when its primary category is not among the requested ones.
    listed_here = primary in requested or archive_of(primary) in requested
    if version > 1:
        return AnnounceType.REPLACE if listed_here else AnnounceType.REPLACE_CROSS
    return AnnounceType.NEW if listed_here else AnnounceType.CROSS


def _split_authors(creators: Any) -> tuple[str, ...]:
    """Split dc:creator strings like "A, B, and C" into names."""
    names: list[str] = []
    for creator in creators:
        names.extend(name for name in _AUTHOR_SPLIT_RE.split(_clean(creator.get("name"))) if name)
    return tuple(names)


def _clean(text: Any) -> str:
    """Unescape HTML entities and collapse every whitespace run to one space."""
    if text is None:
        return ""
    return " ".join(html.unescape(str(text)).split())


def _unique(items: Any) -> tuple[str, ...]:
    """Cleaned, non-empty, first-seen-order unique strings."""
    seen: dict[str, None] = {}
    for item in items:
        cleaned = _clean(item)
        if cleaned:
            seen.setdefault(cleaned, None)
    return tuple(seen)


def _date_of(raw: Any) -> date | None:
    """The calendar date of an RFC 822 (RSS) or ISO 8601 (Atom) timestamp, in its own time zone."""
    if not raw:
        return None
    return _date_of_text(str(raw).strip())


@lru_cache(maxsize=256)
def _date_of_text(text: str) -> date | None:
    """``_date_of`` of a stripped text (every item of a listing has the same few timestamps)."""
    try:
        return parsedate_to_datetime(text).date()
    except (TypeError, ValueError):
        pass
    try:
        return datetime.fromisoformat(text).date()
    except ValueError:
        return None


def _requested_from_feed(feed: Mapping[str, Any]) -> str | None:
    """The id_list the API echoes in its feed title or self link."""
    candidates = [str(feed.get("title", ""))] + [str(link.get("href", "")) for link in feed.get("links", [])]
    for candidate in candidates:
        match = _ID_LIST_RE.search(candidate)
        if match:
            return match[1]
    return None


def _snippet(data: bytes) -> str:
    """A short one-line view of a body, for error messages."""
    text = " ".join(data[:200].decode("utf-8", errors="replace").split())
    return repr(text[:80]) if text else "an empty body"
