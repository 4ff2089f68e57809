"""One-time download links: each works once, not after it expires, and the oldest go when too many wait."""

from __future__ import annotations

from datetime import timedelta

from bot.exports.links import OneTimeLinks
from bot.models import ExportFile
from tests.fakes.clock import FixedClock

FILE = ExportFile(name="arxiv saved.bib", content=b"@misc{x,}", media_type="application/x-bibtex", title="1 paper")


def token(link: str) -> str:
    return link.split("/files/", 1)[1].split("/", 1)[0]


def test_a_link_works_once_and_names_the_file() -> None:
    links = OneTimeLinks(base_url="https://bot.example.org/", clock=FixedClock())
    link = links.issue(FILE)
    assert link.startswith("https://bot.example.org/files/") and link.endswith("/arxiv%20saved.bib")
    assert len(token(link)) >= 32
    assert links.take(token(link)) == FILE
    assert links.take(token(link)) is None
    assert links.take("not-a-token") is None


def test_a_link_expires() -> None:
    clock = FixedClock()
    links = OneTimeLinks(base_url="http://h", clock=clock, ttl=timedelta(minutes=15))
    early, late = links.issue(FILE), links.issue(FILE)
    clock.current += timedelta(minutes=14, seconds=59)
    assert links.take(token(early)) == FILE
    clock.current += timedelta(seconds=1)
    assert links.take(token(late)) is None


def test_the_oldest_waiting_file_goes_first_when_too_many_wait() -> None:
    links = OneTimeLinks(base_url="http://h", clock=FixedClock(), max_files=2)
    first, second, third = (links.issue(FILE) for _ in range(3))
    assert links.take(token(first)) is None
    assert links.take(token(second)) == FILE and links.take(token(third)) == FILE
