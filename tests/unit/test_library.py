"""Reading libraries for ``arxiv-bot import``: BibTeX fields that name arXiv papers, plain lists, bad entries."""

from __future__ import annotations

import pytest

from bot.errors import UserInputError
from bot.signals.library import arxiv_id_in, scan_library


def test_every_field_form_of_an_arxiv_id_is_read_and_versions_are_dropped() -> None:
    scan = scan_library(
        """
@article{a, eprint = {2601.00644v2}, archivePrefix = {arXiv}}
@article{b, eprint = "hep-th/9901001"}
@misc{c, arxivId = {1706.03762}}
@misc{d, doi = {10.48550/ARXIV.2106.09685}}
@misc{e, url = {http://arxiv.org/pdf/1501.00001v1.pdf}}
@article{f, journal = {arXiv preprint arXiv:2310.06825}}
@article{g, eprinttype = {arxiv}, eprint = {2401.00001}}
"""
    )
    assert scan.format == "bibtex" and scan.entries == 7 and scan.problems == []
    assert scan.ids == ["2601.00644", "hep-th/9901001", "1706.03762", "2106.09685", "1501.00001", "2310.06825",
                        "2401.00001"]  # fmt: skip


def test_entries_of_other_archives_or_without_an_arxiv_id_are_counted_not_stored() -> None:
    scan = scan_library(
        """
@book{knuth, title = {TAOCP}}
@article{hal, eprint = {hal-01234567}, archivePrefix = {HAL}}
@article{journal, doi = {10.1145/3132747.3132765}, url = {https://dl.acm.org/doi/10.1145/3132747.3132765}}
"""
    )
    assert scan.ids == [] and scan.without_arxiv == ["knuth", "hal", "journal"] and scan.problems == []


def test_a_broken_entry_costs_only_itself_and_each_problem_is_one_line_in_file_order() -> None:
    scan = scan_library(
        "@misc{one, eprint = {2601.00001}}\n"
        "@misc{two, eprint = {garbage id}}\n"
        "@article{three, title = {unclosed\n"
        "@misc{four, eprint = {2601.00004}}\n"
        "@misc{one, eprint = {2601.00005}}\n"
        "@misc{five, eprint = {2601.00006}, eprint = {2601.00007}}\n"
    )
    assert scan.ids == ["2601.00001", "2601.00004", "2601.00005", "2601.00006"]
    assert scan.problems == [
        "line 2: entry 'two': eprint 'garbage id' is not an arXiv id",
        "line 3: cannot read '@article{three': Unexpected block start: `@misc`. Was still looking for field-value"
        " closing `}`",
    ]
    assert all("\n" not in p for p in scan.problems)


def test_a_plain_list_takes_ids_links_and_dois_one_a_line_and_names_the_rest() -> None:
    scan = scan_library(
        "# my reading list\n2601.00644\n\narXiv:2601.00645v3\nhttps://arxiv.org/abs/2601.00646\n"
        "10.48550/arXiv.2601.00647\nnot an id\n2601.0064\n"
    )
    assert scan.format == "text" and scan.entries == 6
    assert scan.ids == ["2601.00644", "2601.00645", "2601.00646", "2601.00647"]
    assert scan.problems == [
        "line 7: 'not an id' is not an arXiv id or arXiv URL",
        "line 8: '2601.0064' is not an arXiv id or arXiv URL",
    ]


def test_arxiv_id_in_refuses_what_is_no_arxiv_id() -> None:
    assert arxiv_id_in(" {2601.00644v1} ") == "2601.00644"
    assert arxiv_id_in("https://doi.org/10.48550/arXiv.2601.00644") == "2601.00644"
    with pytest.raises(UserInputError):
        arxiv_id_in("10.1145/123")
