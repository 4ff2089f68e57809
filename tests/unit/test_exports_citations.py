"""BibTeX and RIS exports, checked by parsing them back with bibtexparser and rispy."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

import bibtexparser
import pytest
import rispy
from bibtexparser.middlewares import LatexDecodingMiddleware, SeparateCoAuthors

from bot.exports.bibtex import base_key, citation_keys, latex_text, render_bibtex
from bot.exports.ris import render_ris
from bot.models import Paper


def paper(arxiv_id: str, title: str, authors: tuple[str, ...], **extra: object) -> Paper:
    values: dict[str, object] = {
        "version": 2,
        "abstract": f"Abstract of {title}\nover two lines.",
        "categories": ("cs.LG", "stat.ML"),
        "primary_category": "cs.LG",
        "published": date(2026, 1, 5),
    }
    values.update(extra)
    return Paper(arxiv_id=arxiv_id, title=title, authors=authors, **values)  # type: ignore[arg-type]


CHANNEL = (
    paper(
        "2601.00644",
        "Schrödinger's Café: 50% of $x_1$ & {braces} #1 -- \\emph{not} a ~command~",
        ("Jürgen Müller", "Zoë Ångström", "张伟", "Łukasz O'Brien"),
        doi="10.1103/PhysRevD.1.2",
        journal_ref="Phys. Rev. D 1, 2 (2026)",
    ),
    paper("2601.00001", "0", ("Ada Lovelace",)),
    paper(
        "hep-th/9901001",
        "On the Old Style of Identifiers",
        ("Edward Witten",),
        primary_category="hep-th",
        categories=("hep-th",),
        published=date(1999, 1, 4),
    ),
    paper("2601.00002", "Zero-shot caching}\n@misc{evil, title={x}", ("Ada Lovelace",)),
)


def parsed_bibtex(text: str) -> dict[str, dict[str, object]]:
    library = bibtexparser.parse_string(  # type: ignore[attr-defined]
        text, append_middleware=[LatexDecodingMiddleware(), SeparateCoAuthors()]
    )
    assert not library.failed_blocks, [b.error for b in library.failed_blocks]
    assert all(e.entry_type == "misc" for e in library.entries)
    return {e.key: {f.key: f.value for f in e.fields} for e in library.entries}


def test_bibtex_parses_back_to_the_same_fields() -> None:
    entries = parsed_bibtex(render_bibtex(CHANNEL))
    assert list(entries) == ["muller2026schrodinger", "lovelace20260", "witten1999old", "lovelace2026zero"]
    first = entries["muller2026schrodinger"]
    assert first["title"] == CHANNEL[0].title
    assert first["author"] == list(CHANNEL[0].authors)
    assert first["year"] == "2026"
    assert first["eprint"] == "2601.00644"
    assert first["archivePrefix"] == "arXiv"
    assert first["primaryClass"] == "cs.LG"
    assert first["url"] == "https://arxiv.org/abs/2601.00644"
    assert first["doi"] == "10.48550/arXiv.2601.00644"
    assert first["note"] == "Published: Phys. Rev. D 1, 2 (2026); doi:10.1103/PhysRevD.1.2"
    assert entries["lovelace20260"]["title"] == "0"
    old = entries["witten1999old"]
    assert (old["eprint"], old["year"], old["primaryClass"]) == ("hep-th/9901001", "1999", "hep-th")
    assert old["url"] == "https://arxiv.org/abs/hep-th/9901001"
    assert old["doi"] == "10.48550/arXiv.hep-th/9901001"
    # A title that tries to close the entry and open another stays one title.
    assert entries["lovelace2026zero"]["title"] == "Zero-shot caching} @misc{evil, title={x}"


def test_latex_specials_are_escaped_and_unicode_kept() -> None:
    assert latex_text("a\\b{c}$d&e%f#g_h^i~j") == (
        r"a\textbackslash{}b\{c\}\$d\&e\%f\#g\_h\textasciicircum{}i\textasciitilde{}j"
    )
    assert latex_text("a -- b ``c'' Müller 张伟") == "a -{}- b `{}`c'{}' Müller 张伟"


def test_citation_keys_are_stable_and_deduplicated_in_id_order() -> None:
    same = [paper(f"2601.0000{n}", "Attention is all you need", ("A. Vaswani",)) for n in (3, 1, 2)]
    keys = citation_keys(same)
    assert keys == {
        "2601.00001": "vaswani2026attention",
        "2601.00002": "vaswani2026attentiona",
        "2601.00003": "vaswani2026attentionb",
    }
    assert citation_keys(reversed(same)) == keys
    assert base_key(paper("2601.1", "Deep nets", ("Smith, John",))) == "smith2026deep"
    assert base_key(paper("2601.1", "Deep nets", ("张伟",))) == "arxiv2026deep"


def test_ris_parses_back_to_the_same_fields() -> None:
    text = render_ris(CHANNEL)
    assert all(line[2:6] == "  - " for line in text.split("\r\n") if line)
    records = rispy.loads(text)
    assert [r["id"] for r in records] == ["muller2026schrodinger", "lovelace20260", "witten1999old", "lovelace2026zero"]
    first = records[0]
    assert first["type_of_reference"] == "UNPB"
    assert first["title"] == CHANNEL[0].title
    assert first["authors"] == list(CHANNEL[0].authors)
    assert first["year"] == "2026"
    assert first["date"] == "2026/01/05/"
    assert first["abstract"] == "Abstract of " + " ".join(CHANNEL[0].title.split()) + " over two lines."
    assert first["urls"] == ["https://arxiv.org/abs/2601.00644"]
    assert first["doi"] == "10.48550/arXiv.2601.00644"
    assert first["accession_number"] == "arXiv:2601.00644"
    assert first["keywords"] == ["cs.LG", "stat.ML"]
    assert first["notes"] == ["Published: Phys. Rev. D 1, 2 (2026); doi:10.1103/PhysRevD.1.2"]
    assert records[1]["title"] == "0"
    assert (records[2]["year"], records[2]["urls"]) == ("1999", ["https://arxiv.org/abs/hep-th/9901001"])
    assert records[3]["title"] == "Zero-shot caching} @misc{evil, title={x}"


@pytest.mark.parametrize("render", [render_bibtex, render_ris])
def test_each_paper_once_the_first_version_given(render: Callable[[Sequence[Paper]], str]) -> None:
    v1 = paper("2601.00001", "First title", ("A B",), version=1)
    v3 = paper("2601.00001", "New title", ("A B",), version=3)
    text = render([v3, v1])
    assert "New title" in text and "First title" not in text
