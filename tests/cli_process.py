"""Run the real ``arxiv-bot`` command as a subprocess while the test's loop keeps serving the local fakes."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.conftest import ROOT
from tests.fakes.arxiv_server import FakeArxivServer


async def run_bot(stdin: str, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """``arxiv-bot ARGS`` (default ``run``) with ``stdin`` piped in; returns (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adapters.cli", *(args or ("run",)),
        cwd=ROOT, env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def bot_env(tmp_path: Path, arxiv: FakeArxivServer) -> dict[str, str]:
    """An environment pointing the bot at the fake arXiv and a SQLite file in ``tmp_path``."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "ARXIVBOT_CONFIG": str(ROOT / "config.toml"),
        "ARXIVBOT_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        "ARXIVBOT_ARXIV__RSS_URL": arxiv.rss_url,
        "ARXIVBOT_ARXIV__API_URL": arxiv.api_url,
        "ARXIVBOT_ARXIV__MIN_INTERVAL_S": "0",
        "ARXIVBOT_HTTP__PORT": "0",
    }
