"""The arxiv-bot command line, run as a real subprocess against the local fake arXiv."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import FEED_0105
from tests.fakes.arxiv_server import FakeArxivServer
from tests.test_console import bot_env, run_bot


async def test_preview_json_lines(tmp_path: Path, arxiv: FakeArxivServer) -> None:
    arxiv.feeds[frozenset({"cs.DC"})] = FEED_0105.read_bytes()
    code, out, err = await run_bot(
        "",
        bot_env(tmp_path, arxiv),
        "preview",
        "cs.DC",
        "--keywords",
        'LLM, "speculative decoding"',
        "--exclude",
        "survey",
        "--limit",
        "3",
        "--json",
    )
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in rows] == ["2601.00644v1", "2601.00397v1"]
    assert rows[0]["matched"] == ["LLM", "speculative decoding"] and rows[0]["score"] == 3.0
    for row in rows:
        assert {"id", "title", "authors", "score", "matched", "announce_type", "categories", "primary_category"} <= set(
            row
        )
        assert row["primary_category"] == "cs.DC" and row["announce_type"] == "new"
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    assert not (tmp_path / "bot.db").exists()  # preview records nothing


async def test_preview_rejects_bad_category_with_one_line(tmp_path: Path, arxiv: FakeArxivServer) -> None:
    code, _, err = await run_bot("", bot_env(tmp_path, arxiv), "preview", "cs.FAKE")
    assert code == 2
    assert err.strip().splitlines() == [
        "arxiv-bot: error: 'cs.FAKE' is not an arXiv category; closest: cs.SE, cs.PF, cs.NE"
    ]


async def test_digest_for_one_channel_then_nothing_new(tmp_path: Path, arxiv: FakeArxivServer) -> None:
    arxiv.feeds[frozenset({"cs.DC"})] = FEED_0105.read_bytes()
    env = bot_env(tmp_path, arxiv)
    code, _, err = await run_bot("/arxiv subscribe cs.DC\n/arxiv keywords add LLM\n", env, "console")
    assert code == 0, err
    code, out, err = await run_bot("", env, "digest", "--channel", "console:console")
    assert code == 0, err
    assert out.count("[#") == 2 and out.strip().endswith("console:console: 2 posted, 0 failed, 30 listed")
    code, out, err = await run_bot("", env, "digest", "--channel", "console:console")
    assert "[#" not in out and out.strip().endswith("0 posted, 0 failed, 30 listed")
    code, out, err = await run_bot("", env, "digest", "--channel", "console:nowhere")
    assert code == 2 and err.strip() == (
        "arxiv-bot: error: no channel 'console:nowhere' is known: subscribe it to a category first"
    )


async def test_check_config_prints_settings_without_secrets(tmp_path: Path, arxiv: FakeArxivServer) -> None:
    env = bot_env(tmp_path, arxiv) | {"SLACK_BOT_TOKEN": "xoxb-secret-value-123"}
    code, out, err = await run_bot("", env, "check-config")
    assert code == 0, err
    assert f"[arxiv] rss_url = '{arxiv.rss_url}'" in out and out.strip().endswith("config OK")
    assert "xoxb-secret-value-123" not in out + err
