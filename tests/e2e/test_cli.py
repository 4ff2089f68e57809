"""The arxiv-bot command line, run as a real subprocess against the local fake arXiv."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.cli_process import bot_env, run_bot
from tests.conftest import FEED_0105
from tests.fakes.arxiv_server import FakeArxivServer


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
    assert len(re.findall(r"^\[#\d+\] ", out, re.MULTILINE)) == 2  # two cards, then each reprinted with its TL;DR
    assert len(re.findall(r"^\[#\d+, updated\] ", out, re.MULTILINE)) == 2
    assert out.strip().endswith("console:console: 2 posted, 0 failed, 30 listed")
    code, out, err = await run_bot("", env, "digest", "--channel", "console:console")
    assert "[#" not in out and out.strip().endswith("0 posted, 0 failed, 30 listed")
    code, out, err = await run_bot("", env, "digest", "--channel", "console:nowhere")
    assert code == 2 and err.strip() == (
        "arxiv-bot: error: no channel 'console:nowhere' is known: subscribe it to a category first"
    )


async def test_check_config_prints_settings_without_secrets(tmp_path: Path, arxiv: FakeArxivServer) -> None:
    env = bot_env(tmp_path, arxiv) | {"SLACK_BOT_TOKEN": "xoxb-secret-value-123", "SLACK_APP_TOKEN": "xapp-secret-456"}
    code, out, err = await run_bot("", env, "check-config")
    assert code == 0, err
    assert f"[arxiv] rss_url = '{arxiv.rss_url}'" in out and out.strip().endswith("config OK")
    assert "run will start: Slack in Socket Mode, the HTTP server on 127.0.0.1:0" in out
    assert "xoxb-secret-value-123" not in out + err and "xapp-secret-456" not in out + err


async def test_digest_for_a_slack_channel_posts_through_the_slack_web_api(
    tmp_path: Path, arxiv: FakeArxivServer
) -> None:
    from adapters.composition import build_services
    from bot.models import ChannelRef, CommandContext
    from tests.conftest import make_settings
    from tests.fakes.slack_api import BOT_TOKEN, running_fake_slack

    arxiv.feeds[frozenset({"cs.DC"})] = FEED_0105.read_bytes()
    env = bot_env(tmp_path, arxiv)
    code, _, err = await run_bot("", env, "migrate")
    assert code == 0, err
    services = build_services(make_settings(env["ARXIVBOT_DATABASE__URL"], arxiv))
    try:
        channel = CommandContext(channel=ChannelRef("slack", "T1", "C1"), user_id="U1", user_name="ann")
        for line in ("subscribe cs.DC", "keywords add LLM"):
            await services.commands.execute(channel, line)
        await services.commands.execute(
            CommandContext(channel=ChannelRef("discord", "G1", "D1"), user_id="U1", user_name="ann"), "subscribe cs.DC"
        )
    finally:
        await services.aclose()
    async with running_fake_slack() as slack:
        slack_env = env | {"SLACK_BOT_TOKEN": BOT_TOKEN, "ARXIVBOT_SLACK__API_URL": slack.api_url,
                           "ARXIVBOT_SLACK__POST_INTERVAL_S": "0"}
        code, out, err = await run_bot("", slack_env, "digest", "--channel", "slack:C1")
        assert code == 0, err
        assert out.strip() == "slack:C1: 2 posted, 0 failed, 30 listed"
        cards = [c for c in slack.calls_to("chat.postMessage") if "thread_ts" not in c.args]
        assert [c.args["channel"] for c in cards] == ["C1", "C1"]
        assert BOT_TOKEN not in out + err

        code, _, err = await run_bot("", slack_env | {"SLACK_BOT_TOKEN": ""}, "digest", "--channel", "slack:C1")
        assert code == 2 and err.strip().startswith("arxiv-bot: config error: SLACK_BOT_TOKEN is not set")
    code, _, err = await run_bot("", env, "digest", "--channel", "discord:D1")
    assert code == 2 and err.strip().startswith("arxiv-bot: error: digest --channel cannot post to discord")
