"""``arxiv-bot export``: a channel's posted papers as the reference bot's README-style markdown (golden file)."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import rispy

from adapters.cli import _export, main
from adapters.composition import Services
from bot.exports.markdown import ChannelDigest, md_text, render_markdown
from bot.models import AnnounceType, ChannelRef, Paper, PostedPaper
from bot.store import schema as db
from tests.conftest import ROOT, ctx, make_settings
from tests.fakes.arxiv_server import FakeArxivServer
from tests.fakes.clock import FixedClock
from tests.unit.test_exports_citations import CHANNEL, paper, parsed_bibtex

GOLDEN = Path(__file__).parents[1] / "golden" / "export_test_c1.md"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def export_args(
    channel: str = "test:c1", since: str | None = None, fmt: str = "markdown", saved: bool = False
) -> argparse.Namespace:
    return argparse.Namespace(channel=channel, format=fmt, since=since, saved=saved)


async def posted_channel(services: Services) -> None:
    """The test channel after one digest of the recorded 2026-01-05 listing, one paper with a stored summary."""
    for line in ("subscribe cs.AI cs.CL cs.DC cs.LG", 'keywords add LLM, RL, "speculative decoding"', "set max 4"):
        await services.commands.execute(ctx(), line)
    reply = await services.commands.execute(ctx(), "digest now")
    assert reply.posted == 4, reply.text
    record = await services.channels.get(ctx().channel)
    assert record is not None
    top = (await services.ledger.posted_papers(record.id))[0].paper
    async with services.database.transaction() as conn:
        await conn.execute(
            db.summaries.insert().values(
                arxiv_id=top.arxiv_id,
                version=top.version,
                model="openai/fake",
                language="en",
                prompt_version="1",
                answered_by="openai/fake",
                source="abstract",
                tldr="A <b>bold</b> claim & more.",
                sections=[["Main contributions", "First.\n\nSecond: *not* emphasis."], ["Results", "+12% [x](y)"]],
                input_tokens=1,
                output_tokens=1,
                cost_usd=0.0,
                created_at=datetime(2026, 1, 5, 10, 0, tzinfo=UTC),
            )
        )


async def test_export_matches_the_golden_file(
    services: Services, db_url: str, arxiv: FakeArxivServer, capsys: pytest.CaptureFixture[str]
) -> None:
    await posted_channel(services)
    capsys.readouterr()
    assert await _export(make_settings(db_url, arxiv), export_args()) == 0
    out = capsys.readouterr().out
    if UPDATE:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(out, encoding="utf-8")
    assert out == GOLDEN.read_text(encoding="utf-8")
    assert out.count("<details>") == 1 and out.count("</details>") == 1
    assert out.count("\n### ") == 4


async def test_since_leaves_out_earlier_posts(
    services: Services, db_url: str, arxiv: FakeArxivServer, capsys: pytest.CaptureFixture[str]
) -> None:
    await posted_channel(services)
    capsys.readouterr()
    settings = make_settings(db_url, arxiv)
    assert await _export(settings, export_args(since="2026-01-05")) == 0
    assert "**Papers Posted**: 4 since 2026-01-05" in capsys.readouterr().out
    assert await _export(settings, export_args(since="2026-01-06")) == 0
    out = capsys.readouterr().out
    assert "**Papers Posted**: 0 since 2026-01-06" in out
    assert "No papers were posted to this channel since 2026-01-06." in out
    assert "\n### " not in out


async def saved_channel(services: Services, clock: FixedClock) -> None:
    """The test channel with four saved papers (Unicode authors, a title "0", an old-style id, a DOI) and one
    saved elsewhere."""
    record = await services.channels.get_or_create(ctx().channel)
    await services.papers.add_many(CHANNEL)
    for n, p in enumerate(CHANNEL):
        clock.current += timedelta(minutes=1)
        user = "U1" if n % 2 else "U2"
        await services.saves.save(
            channel=record.ref, channel_id=record.id, user_id=user, arxiv_id=p.arxiv_id, version=p.version
        )
    other = await services.channels.get_or_create(ChannelRef("test", "w1", "c2"))
    await services.papers.add_many([paper("2601.09999", "Elsewhere", ("X Y",))])
    await services.saves.save(channel=other.ref, channel_id=other.id, user_id="U1", arxiv_id="2601.09999", version=2)


@pytest.mark.parametrize("fmt", ["bibtex", "ris"])
async def test_export_saved_as_bibtex_and_ris_reads_back(
    services: Services,
    db_url: str,
    arxiv: FakeArxivServer,
    clock: FixedClock,
    capsys: pytest.CaptureFixture[str],
    fmt: str,
) -> None:
    await saved_channel(services, clock)
    capsys.readouterr()
    assert await _export(make_settings(db_url, arxiv), export_args(fmt=fmt, saved=True)) == 0
    out = capsys.readouterr().out
    newest_first = list(reversed(CHANNEL))
    if fmt == "bibtex":
        entries = parsed_bibtex(out)
        assert [e["eprint"] for e in entries.values()] == [p.arxiv_id for p in newest_first]
        assert [e["title"] for e in entries.values()] == [" ".join(p.title.split()) for p in newest_first]
        assert [e["author"] for e in entries.values()] == [list(p.authors) for p in newest_first]
    else:
        records = rispy.loads(out)
        assert [r["accession_number"] for r in records] == [f"arXiv:{p.arxiv_id}" for p in newest_first]
        assert [r["title"] for r in records] == [" ".join(p.title.split()) for p in newest_first]
        assert [r["authors"] for r in records] == [list(p.authors) for p in newest_first]
    assert "Elsewhere" not in out
    # --since counts from the save (UTC day).
    settings = make_settings(db_url, arxiv)
    assert await _export(settings, export_args(fmt=fmt, saved=True, since=clock.current.date().isoformat())) == 0
    assert capsys.readouterr().out.count("hep-th/9901001") >= 1
    tomorrow = (clock.current + timedelta(days=1)).date().isoformat()
    assert await _export(settings, export_args(fmt=fmt, saved=True, since=tomorrow)) == 0
    assert capsys.readouterr().out == ""


async def test_export_posted_papers_as_bibtex(
    services: Services, db_url: str, arxiv: FakeArxivServer, capsys: pytest.CaptureFixture[str]
) -> None:
    await posted_channel(services)
    capsys.readouterr()
    assert await _export(make_settings(db_url, arxiv), export_args(fmt="bibtex")) == 0
    entries = parsed_bibtex(capsys.readouterr().out)
    record = await services.channels.get(ctx().channel)
    assert record is not None
    posted = await services.ledger.posted_papers(record.id)
    assert sorted(str(e["eprint"]) for e in entries.values()) == sorted(p.paper.arxiv_id for p in posted)


def hostile_paper() -> PostedPaper:
    evil = "</details><script>x</script> *bold* [link](javascript:alert(1)) `code` & _u_"
    paper = Paper(
        arxiv_id="2601.00001",
        version=1,
        title=f"Title {evil}",
        abstract=f"# Not a heading {evil}",
        authors=(f"A {evil}",),
        categories=("cs.DC",),
        primary_category="cs.DC",
        announce_type=AnnounceType.CROSS,
        published=date(2026, 1, 5),
    )
    return PostedPaper(paper=paper, rank=0, score=1.0, matched=(evil,), posted_at=datetime(2026, 1, 5, tzinfo=UTC))


def test_hostile_text_cannot_break_out_of_the_markdown() -> None:
    digest = ChannelDigest(channel="slack:C1", categories=("cs.DC",), papers=[hostile_paper()], summaries={})
    out = render_markdown(digest)
    assert "<script>" not in out and "</details>" not in out
    assert "&lt;/details&gt;&lt;script&gt;" in out
    assert "\\*bold\\*" in out and "\\[link\\]" in out and "\\`code\\`" in out
    assert "\n\\# Not a heading" in out
    assert "**Type**: cross" in out


def test_md_text_escapes_line_starts() -> None:
    assert md_text("1. first\n- item\n+ plus", starts_line=True) == "1\\. first\n\\- item\n\\+ plus"
    assert md_text("2601.00644v1 - x") == "2601.00644v1 - x"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_cli_bad_arguments_get_one_line_and_exit_2(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    monkeypatch.setenv("ARXIVBOT_CONFIG", str(ROOT / "config.toml"))
    monkeypatch.setenv("ARXIVBOT_DATABASE__URL", db_url)
    cases = [
        (("--channel", "test:c1", "--since", "yesterday"), "use a date YYYY-MM-DD"),
        (("--channel", "nochannel"), "use PLATFORM:ID"),
        (("--channel", "test:unknown"), "no channel 'test:unknown' is known"),
        (("--channel", "test:c1", "--format", "html"), "invalid choice: 'html'"),
        (("--channel", "test:c1", "--saved"), "--saved exports BibTeX or RIS"),
    ]
    for args, expected in cases:
        code: int | str | None
        try:
            code = main(["export", *args])
        except SystemExit as exit_:
            code = exit_.code
        out, err = capsys.readouterr()
        assert code == 2, (args, err)
        assert out == ""
        assert expected in err and len(err.strip().splitlines()) == 1, err
        assert "Traceback" not in err
