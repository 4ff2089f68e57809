"""The shipped arXiv category taxonomy."""

from __future__ import annotations

from importlib import resources

import pytest

from bot.arxiv import taxonomy
from bot.errors import UserInputError

STANDALONE = ("gr-qc", "hep-ex", "hep-lat", "hep-ph", "hep-th", "math-ph", "nucl-ex", "nucl-th", "quant-ph")


def data_lines() -> list[str]:
    """The data file's lines, without comments and blank lines."""
    text = resources.files("bot.arxiv").joinpath("data/arxiv_categories.txt").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_data_file_is_code_tab_name_without_duplicates() -> None:
    lines = data_lines()
    rows = [line.split("\t") for line in lines]

    assert all(len(row) == 2 and row[0] and row[1] for row in rows)
    assert all(row[0] == row[0].strip() and row[1] == row[1].strip() for row in rows)
    codes = [row[0] for row in rows]
    assert len(codes) == len(set(codes))
    assert len({c.lower() for c in codes}) == len(codes)


def test_all_current_groups_are_present() -> None:
    codes = taxonomy.all_categories()

    def count(prefix: str) -> int:
        return sum(c.startswith(prefix) for c in codes)

    assert len(codes) == 155
    assert count("cs.") == 40
    assert count("math.") == 32
    assert count("physics.") == 22
    assert count("astro-ph.") == 6
    assert count("cond-mat.") == 9
    assert count("q-bio.") == 10
    assert count("q-fin.") == 9
    assert count("stat.") == 6
    assert count("eess.") == 4
    assert count("econ.") == 3
    assert count("nlin.") == 5
    assert all(code in codes for code in STANDALONE)
    assert codes == tuple(sorted(codes))


@pytest.mark.parametrize("code", ["cs.DC", "cs.LG", "math.GT", "cond-mat.str-el", "hep-th", "quant-ph", "eess.SY"])
def test_is_category_accepts_canonical_codes(code: str) -> None:
    assert taxonomy.is_category(code)


@pytest.mark.parametrize("code", ["cs.dc", "CS.DC", "cs", "math", "cs.FAKE", "", "hep-th ", "astro-ph"])
def test_is_category_rejects_other_spellings_and_archives(code: str) -> None:
    assert not taxonomy.is_category(code)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("cs.DC", "cs.DC"),
        ("cs.dc", "cs.DC"),
        ("CS.Lg", "cs.LG"),
        ("  HEP-TH ", "hep-th"),
        ("COND-MAT.STR-EL", "cond-mat.str-el"),
        ("cs.FAKE", None),
        ("cs", None),
        ("", None),
    ],
)
def test_canonical_category(code: str, expected: str | None) -> None:
    assert taxonomy.canonical_category(code) == expected


def test_closest_categories_suggests_near_misses_case_insensitively() -> None:
    assert taxonomy.closest_categories("cs.DCC")[0] == "cs.DC"
    assert taxonomy.closest_categories("CS.lgg")[0] == "cs.LG"
    assert taxonomy.closest_categories("hep-tx")[0] == "hep-th"
    assert len(taxonomy.closest_categories("cs.D", n=2)) == 2
    assert all(taxonomy.is_category(c) for c in taxonomy.closest_categories("math.X"))
    assert taxonomy.closest_categories("zzzzzzzzzz") == []


def test_category_name() -> None:
    assert taxonomy.category_name("cs.DC") == "Distributed, Parallel, and Cluster Computing"
    assert taxonomy.category_name("cs.lg") == "Machine Learning"
    assert taxonomy.category_name("hep-th") == "High Energy Physics - Theory"
    assert taxonomy.category_name("cond-mat.str-el") == "Strongly Correlated Electrons"


def test_category_name_of_unknown_code_suggests_close_ones() -> None:
    with pytest.raises(UserInputError, match=r"unknown arXiv category 'cs\.DCX'; did you mean cs\.DC"):
        taxonomy.category_name("cs.DCX")
    with pytest.raises(UserInputError, match="category_taxonomy"):
        taxonomy.category_name("zzzzzzzzzz")


@pytest.mark.parametrize(
    ("code", "archive"),
    [
        ("cs.DC", "cs"),
        ("hep-th", "hep-th"),
        ("cond-mat.str-el", "cond-mat"),
        ("math-ph", "math-ph"),
        ("q-fin.TR", "q-fin"),
    ],
)
def test_archive_of(code: str, archive: str) -> None:
    assert taxonomy.archive_of(code) == archive


def test_archives_are_the_groups_of_dotted_categories() -> None:
    archives = taxonomy.all_archives()
    assert archives == (
        "astro-ph", "cond-mat", "cs", "econ", "eess", "math", "nlin", "physics", "q-bio", "q-fin", "stat"
    )  # fmt: skip
    assert all(taxonomy.is_archive(a) and not taxonomy.is_category(a) for a in archives)
    assert not any(taxonomy.is_archive(code) for code in ("cs.DC", "hep-th", "CS", "quant-ph", ""))
    assert taxonomy.archive_categories("cs")[:2] == ("cs.AI", "cs.AR") and len(taxonomy.archive_categories("cs")) == 40
    assert taxonomy.archive_categories("hep-th") == ()
    covered = {c for a in archives for c in taxonomy.archive_categories(a)}
    assert covered | set(STANDALONE) == set(taxonomy.all_categories())


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [("cs", "cs"), ("CS", "cs"), ("Astro-Ph", "astro-ph"), ("cs.dc", "cs.DC"), ("hep-th", "hep-th"),
     ("maths", None), ("cs.", None), ("", None)],
)  # fmt: skip
def test_a_subscription_is_a_category_or_an_archive(typed: str, canonical: str | None) -> None:
    assert taxonomy.subscription(typed) == canonical


def test_closest_subscriptions_include_archives() -> None:
    assert taxonomy.closest_subscriptions("maths")[0] == "math"
    assert taxonomy.closest_subscriptions("cs.FAKE") == taxonomy.closest_categories("cs.FAKE")
