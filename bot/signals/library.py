"""Reading a paper library for ``arxiv-bot import``: arXiv ids from a BibTeX file (``eprint``, ``arxiv``, ``url``,
``doi`` 10.48550 fields) or from plain text (one id or URL a line), and one line for each entry that is bad.

BibTeX is read with bibtexparser 2: it copes with nested braces, quoted values, ``@string`` macros and comments,
and reports each entry it cannot read (with its line) while reading on, so one broken entry costs only itself.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bot.arxiv.ids import ID_PATTERN, parse_paper_id, plausible_id
from bot.errors import UserInputError

MAX_PROBLEMS_SHOWN = 50
"""Bad entries named one by one; the rest are counted."""
_SHOWN_CHARS = 60

_ARXIV_DOI = re.compile(rf"(?i)^(?:https?://(?:dx\.)?doi\.org/)?10\.48550/arxiv\.{ID_PATTERN}$")
_ARXIV_URL = re.compile(rf"(?i)arxiv\.org/(?:abs|pdf|html)/{ID_PATTERN}")
_ARXIV_MENTION = re.compile(rf"(?i)\barxiv:\s*{ID_PATTERN}")
_BIBTEX_START = re.compile(r"(?m)^\s*@\s*[A-Za-z]+\s*[{(]")
_ID_FIELDS = ("eprint", "arxiv", "arxivid", "arxiv_id")
_MENTION_FIELDS = ("journal", "note", "howpublished", "booktitle", "publisher")
_NOT_ARXIV_ARCHIVES = re.compile(r"(?i)^(?!arxiv$).+")


@dataclass(slots=True)
class LibraryScan:
    """What a library file holds: arXiv ids in file order (repeats kept), and what could not be read."""

    format: str
    """"bibtex" or "text"."""
    ids: list[str] = field(default_factory=list)
    entries: int = 0
    """Entries (BibTeX) or non-blank lines (text) read."""
    without_arxiv: list[str] = field(default_factory=list)
    """Keys of BibTeX entries that name no arXiv paper (a book, a journal paper without a preprint)."""
    problems: list[str] = field(default_factory=list)
    """One line per bad entry or line: where it is and what is wrong."""


def scan_library(text: str) -> LibraryScan:
    """The arXiv ids of a library: BibTeX when it has ``@type{`` entries, else one id or arXiv URL a line."""
    if _BIBTEX_START.search(text):
        return _scan_bibtex(text)
    return _scan_text(text)


def arxiv_id_in(value: str) -> str | None:
    """The unversioned arXiv id a field value names (an id, ``arXiv:<id>``, an arxiv.org link, an arXiv DOI), or
    None; a value that is none of these raises ``UserInputError``."""
    text = " ".join(value.split()).strip("{}\"' ")
    doi = _ARXIV_DOI.match(text)
    if doi is not None:
        return doi["id"] if plausible_id(doi["id"]) else None
    return parse_paper_id(text)[0]


def _scan_text(text: str) -> LibraryScan:
    scan = LibraryScan(format="text")
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", "%")):
            continue
        scan.entries += 1
        try:
            found = arxiv_id_in(line)
        except UserInputError:
            found = None
        if found is None:
            scan.problems.append(f"line {number}: {_shown(line)!r} is not an arXiv id or arXiv URL")
        else:
            scan.ids.append(found)
    return scan


@contextmanager
def _quiet(name: str) -> Iterator[None]:
    """bibtexparser logs each block it cannot read; we report those ourselves, one line each."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _scan_bibtex(text: str) -> LibraryScan:
    from bibtexparser import model
    from bibtexparser.entrypoint import parse_string

    scan = LibraryScan(format="bibtex")
    with _quiet("bibtexparser"):
        library = parse_string(text)
    entries: list[tuple[int, model.Entry]] = [(e.start_line or 0, e) for e in library.entries]
    problems: list[tuple[int, str]] = []
    for block in library.failed_blocks:
        # A duplicate entry key or field key leaves the entry readable; anything else is a block that is not one.
        duplicate = isinstance(block, (model.DuplicateBlockKeyBlock, model.DuplicateFieldKeyBlock))
        kept = getattr(block, "ignore_error_block", None)
        if not duplicate or not isinstance(kept, model.Entry):
            scan.entries += 1
            problems.append((block.start_line or 0, _bad_block(block)))
        else:
            entries.append((block.start_line or 0, kept))
    for outside in library.blocks:
        # Text outside any entry is a comment to BibTeX; one that looks like a broken entry is worth a line.
        if isinstance(outside, model.ImplicitComment) and re.search(r"[{}=@]", str(outside.comment)):
            shown = _shown(str(outside.comment))
            problems.append((outside.start_line or 0, f"text outside any entry, ignored: {shown!r}"))
    for start, entry in sorted(entries, key=lambda e: e[0]):
        scan.entries += 1
        fields: dict[str, str] = {}
        for f in entry.fields:
            fields.setdefault(f.key.lower(), str(f.value))  # a field given twice: the first one counts
        try:
            found = _entry_id(fields)
        except UserInputError as err:
            problems.append((start, f"entry {_shown(entry.key)!r}: {err}"))
            continue
        if found is None:
            scan.without_arxiv.append(entry.key)
        else:
            scan.ids.append(found)
    scan.problems = [f"line {start + 1}: {text}" for start, text in sorted(problems, key=lambda p: p[0])]
    return scan


def _entry_id(fields: Mapping[str, str]) -> str | None:
    """The arXiv id of one BibTeX entry, from its id fields first, then its DOI and URL, then a mention such as
    ``journal = {arXiv preprint arXiv:2106.09685}``; None when it names no arXiv paper."""
    archive = fields.get("archiveprefix") or fields.get("eprinttype") or ""
    for name in _ID_FIELDS:
        value = fields.get(name, "").strip("{}\" ")
        if not value or (name == "eprint" and _NOT_ARXIV_ARCHIVES.match(archive.strip("{}\" "))):
            continue
        try:
            return arxiv_id_in(value)
        except UserInputError:
            raise UserInputError(f"{name} {_shown(value)!r} is not an arXiv id") from None
    doi = fields.get("doi", "").strip("{}\" ")
    if doi and (found := _ARXIV_DOI.match(doi)) is not None:
        return found["id"]
    for name in ("url", *_MENTION_FIELDS):
        value = fields.get(name, "")
        found = _ARXIV_URL.search(value) if name == "url" else _ARXIV_MENTION.search(value)
        if found is not None and plausible_id(found["id"]):
            return found["id"]
    return None


def _bad_block(block: Any) -> str:
    raw = " ".join(str(block.raw or "").split())
    head = raw.split(",", 1)[0] if raw.startswith("@") else raw
    error = getattr(block, "error", None)
    reason = " ".join(str(getattr(error, "abort_reason", "") or error or "").split())
    detail = f": {_shown(reason, 90)}" if reason else ""
    return f"cannot read {_shown(head)!r}{detail}"


def _shown(text: str, limit: int = _SHOWN_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
