"""Acceptance: ``arxiv-bot summarize 2601.00644`` with arXiv and the model on local fakes prints the TL;DR and
the four sections after exactly one model call; running it again makes no call."""

from __future__ import annotations

import os
from pathlib import Path

from bot.summarizers.llm import SECTIONS
from tests.cli_process import run_bot
from tests.conftest import ROOT
from tests.fakes.arxiv_server import FakeArxivServer, atom_entry
from tests.fakes.openai_server import running_openai_server

ABSTRACT = "We propose FlexSpec, speculative decoding with frozen drafts. It cuts latency by 2.1x."


async def test_cli_summarize_calls_the_model_once_then_serves_the_stored_summary(
    tmp_path: Path, arxiv: FakeArxivServer
) -> None:
    arxiv.papers["2601.00644"] = (200, atom_entry("2601.00644", "FlexSpec: Frozen Drafts", ABSTRACT))
    config = tmp_path / "config.toml"
    config.write_text("# empty: every setting comes from the environment\n")
    async with running_openai_server() as llm:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ARXIVBOT_", "SLACK_", "DISCORD_"))}
        env |= {
            "PYTHONPATH": str(ROOT),
            "OPENAI_API_KEY": "sk-fake-key-for-tests",
            "ARXIVBOT_CONFIG": str(config),
            "ARXIVBOT_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
            "ARXIVBOT_ARXIV__API_URL": arxiv.api_url,
            "ARXIVBOT_ARXIV__RSS_URL": arxiv.rss_url,
            "ARXIVBOT_ARXIV__MIN_INTERVAL_S": "0",
            "ARXIVBOT_LLM__MODEL": "openai/fake-model",
            "ARXIVBOT_LLM__API_BASE": llm.api_base,
            "ARXIVBOT_LLM__FULLTEXT": "false",
        }
        code, first, err = await run_bot("", env, "summarize", "2601.00644")
        assert code == 0, err
        assert len(llm.requests) == 1
        assert "FlexSpec: Frozen Drafts (2601.00644v1)" in first
        assert "TL;DR: A faster way to serve LLMs (by fake-model)." in first
        for _, title in SECTIONS:
            assert title in first, title
        assert "2.1x lower latency and 35% less bandwidth than EAGLE" in first

        code, second, err = await run_bot("", env, "summarize", "2601.00644")
    assert code == 0, err
    assert len(llm.requests) == 1
    assert second == first
