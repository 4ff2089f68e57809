"""Paper ids: what a user may type, what is refused and how the refusal reads."""

from __future__ import annotations

import pytest

from bot.arxiv.ids import parse_paper_id, plausible_id
from bot.errors import UserInputError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2601.00644", ("2601.00644", None)),
        ("2601.00644v2", ("2601.00644", 2)),
        ("  2601.00644v12 ", ("2601.00644", 12)),
        ("1111.2011", ("1111.2011", None)),
        ("0000.0000", ("0000.0000", None)),
        ("hep-th/9901001", ("hep-th/9901001", None)),
        ("hep-th/9901001v3", ("hep-th/9901001", 3)),
        ("math.GT/0309136", ("math.GT/0309136", None)),
        ("https://arxiv.org/abs/2601.00644v2", ("2601.00644", 2)),
        ("arxiv.org/pdf/2601.00644", ("2601.00644", None)),
        ("http://arxiv.org/pdf/2601.00644v1.pdf", ("2601.00644", 1)),
        ("https://arxiv.org/abs/hep-th/9901001v1", ("hep-th/9901001", 1)),
        ("arXiv:2601.00644", ("2601.00644", None)),
        ("ARXIV:2601.00644v3", ("2601.00644", 3)),
    ],
)
def test_parse_paper_id_accepts(text: str, expected: tuple[str, int | None]) -> None:
    assert parse_paper_id(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "abc",
        "2601.0064",
        "1401.00001",
        "cs.FAKE/123",
        "hep-th/990100",
        "2601.00644v0",
        "https://example.com/abs/2601.00644",
        "2601.00644 2601.00645",
    ],
)
def test_parse_paper_id_rejects_naming_input_and_forms(text: str) -> None:
    with pytest.raises(UserInputError) as caught:
        parse_paper_id(text)

    message = str(caught.value)
    assert repr(text) in message
    assert "2601.00644" in message and "hep-th/9901001" in message
    assert "\n" not in message


@pytest.mark.parametrize("text", ["", "   "])
def test_parse_paper_id_rejects_empty(text: str) -> None:
    with pytest.raises(UserInputError, match="no arXiv id given"):
        parse_paper_id(text)


@pytest.mark.parametrize(
    ("arxiv_id", "expected"),
    [
        ("1412.1234", True),
        ("1412.12345", False),
        ("1501.12345", True),
        ("1501.1234", False),
        ("hep-th/9901001", True),
    ],
)
def test_new_style_ids_have_four_digits_until_1412_and_five_from_1501(arxiv_id: str, expected: bool) -> None:
    assert plausible_id(arxiv_id) is expected
