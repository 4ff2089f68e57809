"""Papers as BibTeX, in the form arXiv's own export writes them (``@misc`` with ``eprint``). Pure: data in, text out.

Every value is untrusted text: LaTeX's special characters are escaped so that a title cannot open a group, a
command or math, and cannot end the entry; Unicode is kept as it is (BibTeX files are UTF-8 today).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.models import Paper

_SPECIALS = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "%": r"\%",
    "#": r"\#",
    "_": r"\_",
    "^": r"\textasciicircum{}",
    "~": r"\textasciitilde{}",
}
_SPECIAL = re.compile(r"[\\{}$&%#_^~]")
# LaTeX ligatures: "--" is a dash, `` and '' are quotes; an empty group keeps the characters apart.
_LIGATURE = re.compile(r"(?<=-)(?=-)|(?<=`)(?=`)|(?<=')(?=')")
_OLD_STYLE_ID = re.compile(r"^[a-z-]+(?:\.[A-Z]{2})?/(\d{2})\d{5}$")
_NEW_STYLE_ID = re.compile(r"^(\d{2})\d{2}\.\d{4,5}$")
_KEY_WORD = re.compile(r"[a-z0-9]+")
_STOP_WORDS = frozenset({"a", "an", "the", "on", "of", "in", "for", "to", "and", "with", "towards", "toward"})
ARXIV_DOI_PREFIX = "10.48550/arXiv."
FALLBACK_KEY_PART = "arxiv"
"""The key's author part when the first author's name has no Latin letter (or there is no author)."""


def latex_text(value: str) -> str:
    """Untrusted text as a literal BibTeX value: specials escaped, ligatures broken, whitespace on one line."""
    flat = " ".join(value.split())
    escaped = _SPECIAL.sub(lambda m: _SPECIALS[m.group(0)], flat)
    return _LIGATURE.sub("{}", escaped)


def arxiv_doi(arxiv_id: str) -> str:
    """The DOI arXiv registers for every paper, e.g. ``10.48550/arXiv.2601.00644``."""
    return ARXIV_DOI_PREFIX + arxiv_id


def abs_url(arxiv_id: str) -> str:
    """The unversioned abstract page, as arXiv's export links it."""
    return f"https://arxiv.org/abs/{arxiv_id}"


def paper_year(paper: Paper) -> int | None:
    """The year of the paper's first version: from its id (``2601.x`` is 2026, ``hep-th/9901001`` 1999), else the
    date it was published."""
    match = _NEW_STYLE_ID.match(paper.arxiv_id) or _OLD_STYLE_ID.match(paper.arxiv_id)
    if match is not None:
        yy = int(match.group(1))
        return (1900 if yy >= 91 and _OLD_STYLE_ID.match(paper.arxiv_id) else 2000) + yy
    return paper.published.year if paper.published else None


def _ascii_words(value: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", value.lower()).encode("ascii", "ignore").decode("ascii")
    return _KEY_WORD.findall(folded)


def _surname(author: str) -> str:
    """The family name of "First Last", "Last, First" or "First van Last" (its last word, folded to ASCII)."""
    name = author.split(",", 1)[0] if "," in author else author
    words = _ascii_words(name)
    return words[-1] if words else FALLBACK_KEY_PART


def base_key(paper: Paper) -> str:
    """``<firstauthor><year><firstword>``, e.g. ``vaswani2017attention`` (ASCII, lower case)."""
    author = _surname(paper.authors[0]) if paper.authors else FALLBACK_KEY_PART
    words = _ascii_words(paper.title)
    word = next((w for w in words if w not in _STOP_WORDS), words[0] if words else "")
    year = paper_year(paper)
    return f"{author}{year if year is not None else ''}{word}"


def _suffix(n: int) -> str:
    """``a``, ``b``, ... ``z``, ``aa``, ``ab``, ...: the n-th (from 1) extra paper with the same key."""
    letters = ""
    while n > 0:
        n, rest = divmod(n - 1, 26)
        letters = chr(ord("a") + rest) + letters
    return letters


def citation_keys(papers: Iterable[Paper]) -> dict[str, str]:
    """Each paper's citation key by arXiv id: papers whose keys collide get ``a``, ``b``... in arXiv id order, so a
    paper keeps its key whatever order the papers come in (and the first one has no suffix)."""
    by_base: dict[str, list[str]] = {}
    for paper in {p.arxiv_id: p for p in papers}.values():
        by_base.setdefault(base_key(paper), []).append(paper.arxiv_id)
    keys: dict[str, str] = {}
    taken = set(by_base)
    for base, ids in by_base.items():
        n = 0
        for index, arxiv_id in enumerate(sorted(ids)):
            if index == 0:
                keys[arxiv_id] = base
                continue
            n += 1
            while base + _suffix(n) in taken:
                n += 1
            keys[arxiv_id] = base + _suffix(n)
            taken.add(keys[arxiv_id])
    return keys


@dataclass(frozen=True, slots=True, kw_only=True)
class BibEntry:
    """One ``@misc`` entry's fields, in the order they are written."""

    key: str
    fields: tuple[tuple[str, str], ...]


def bib_entry(paper: Paper, key: str) -> BibEntry:
    """The entry of one paper; values are escaped (``note`` carries the journal reference and published DOI)."""
    fields: list[tuple[str, str]] = [
        ("title", latex_text(paper.title)),
        ("author", " and ".join(latex_text(a) for a in paper.authors)),
    ]
    year = paper_year(paper)
    if year is not None:
        fields.append(("year", str(year)))
    fields += [
        ("eprint", latex_text(paper.arxiv_id)),
        ("archivePrefix", "arXiv"),
        ("primaryClass", latex_text(paper.primary_category)),
        ("url", abs_url(paper.arxiv_id)),
        ("doi", latex_text(arxiv_doi(paper.arxiv_id))),
    ]
    note = published_note(paper)
    if note:
        fields.append(("note", latex_text(note)))
    return BibEntry(key=key, fields=tuple(fields))


def published_note(paper: Paper) -> str | None:
    """Where the paper was published, if arXiv knows: its journal reference and DOI."""
    parts = [p for p in (paper.journal_ref, f"doi:{paper.doi}" if paper.doi else None) if p]
    return "Published: " + "; ".join(" ".join(p.split()) for p in parts) if parts else None


def render_entry(entry: BibEntry) -> str:
    """One entry as text, aligned like arXiv's export."""
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in entry.fields)
    return f"@misc{{{entry.key},\n{body}\n}}\n"


def render_bibtex(papers: Sequence[Paper]) -> str:
    """Papers as a BibTeX file (one entry per arXiv id, in the given order; the first version given wins)."""
    first: dict[str, Paper] = {}
    for paper in papers:
        first.setdefault(paper.arxiv_id, paper)
    unique = list(first.values())
    keys = citation_keys(unique)
    return "\n".join(render_entry(bib_entry(p, keys[p.arxiv_id])) for p in unique)
