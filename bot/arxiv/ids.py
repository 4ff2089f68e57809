"""arXiv paper ids: the id pattern the feeds and links use, and parsing of ids typed by users."""

from __future__ import annotations

import re

from bot.errors import UserInputError

ID_PATTERN = r"(?P<id>\d{4}\.\d{4,5}|[a-z]+(?:-[a-z]+)*(?:\.[A-Z]{2})?/\d{7})(?:v(?P<version>[1-9]\d*))?"
"""An id with an optional version, as named groups ``id`` and ``version``.

New-style ids (2007 on): YYMM.NNNN until 2014, YYMM.NNNNN from 2015. Old style: archive[.SC]/YYMMNNN.
"""

_PAPER_ID_RES = (
    re.compile(rf"(?i:arxiv:)?{ID_PATTERN}"),
    re.compile(
        rf"(?i:(?:https?://)?(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html)/){ID_PATTERN}(?i:\.pdf)?/?(?:[?#]\S*)?"
    ),
)

_ACCEPTED_FORMS = (
    "2601.00644, 2601.00644v2, hep-th/9901001, arXiv:2601.00644 or an arxiv.org/abs/ or arxiv.org/pdf/ link"
)


def parse_paper_id(text: str) -> tuple[str, int | None]:
    """Split an id or arXiv link a user typed into (unversioned id, version or None)."""
    stripped = text.strip()
    match = _PAPER_ID_RES[0].fullmatch(stripped) or _PAPER_ID_RES[1].fullmatch(stripped)
    if match is None or not plausible_id(match["id"]):
        shown = " ".join(text.split())
        if not shown:
            raise UserInputError(f"no arXiv id given; use e.g. {_ACCEPTED_FORMS}")
        if len(shown) > 60:
            shown = shown[:57] + "..."
        raise UserInputError(f"{shown!r} is not an arXiv id; use e.g. {_ACCEPTED_FORMS}")
    version = match["version"]
    return match["id"], int(version) if version else None


def plausible_id(arxiv_id: str) -> bool:
    """New-style ids have 4 digits after the dot until 1412 and 5 from 1501 on (arXiv accepts any month)."""
    if "/" in arxiv_id:
        return True
    yymm, number = arxiv_id.split(".")
    return len(number) == (5 if yymm >= "1501" else 4)
