"""Papers as RIS (the Research Information Systems tagged format). Pure: data in, text out.

Each reference is lines of ``TAG  - value`` (two upper-case characters, two spaces, a hyphen, a space), from ``TY``
to ``ER``, lines ending in CR LF, one author per ``AU`` line. RIS has no escaping: a value is kept on its one line
(line breaks and control characters become spaces), which is all it takes for untrusted text to stay one value.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.exports.bibtex import abs_url, arxiv_doi, citation_keys, paper_year, published_note
from bot.models import Paper

REFERENCE_TYPE = "UNPB"
"""RIS's "unpublished work": what reference managers import an arXiv preprint as."""
EOL = "\r\n"
MAX_VALUE_CHARS = 65_000
"""Longer values are cut: some readers refuse longer lines."""
_NOT_ON_A_LINE = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")


def ris_value(value: str) -> str:
    """Untrusted text as one RIS value: on one line, whitespace collapsed."""
    return " ".join(_NOT_ON_A_LINE.sub(" ", value).split())[:MAX_VALUE_CHARS]


def _line(tag: str, value: str) -> str:
    return f"{tag}  - {ris_value(value)}{EOL}"


def ris_record(paper: Paper, key: str) -> str:
    """One reference, ``TY`` to ``ER``."""
    lines = [_line("TY", REFERENCE_TYPE), _line("ID", key), _line("TI", paper.title)]
    lines += [_line("AU", author) for author in paper.authors]
    year = paper_year(paper)
    if year is not None:
        lines.append(_line("PY", str(year)))
    if paper.published is not None:
        lines.append(_line("DA", paper.published.strftime("%Y/%m/%d/")))
    lines += [
        _line("AB", paper.abstract),
        _line("UR", abs_url(paper.arxiv_id)),
        _line("DO", arxiv_doi(paper.arxiv_id)),
        _line("AN", f"arXiv:{paper.arxiv_id}"),
        _line("DB", "arXiv"),
        _line("PB", "arXiv"),
    ]
    others = [c for c in paper.categories if c != paper.primary_category]
    lines += [_line("KW", c) for c in [paper.primary_category, *others]]
    note = published_note(paper)
    if note:
        lines.append(_line("N1", note))
    lines.append(f"ER  - {EOL}")
    return "".join(lines)


def render_ris(papers: Sequence[Paper]) -> str:
    """Papers as an RIS file (one reference per arXiv id, in the given order; the first version given wins), with
    the BibTeX export's citation keys as ``ID``."""
    first: dict[str, Paper] = {}
    for paper in papers:
        first.setdefault(paper.arxiv_id, paper)
    keys = citation_keys(first.values())
    return EOL.join(ris_record(p, keys[p.arxiv_id]) for p in first.values())
