"""SQLite serves one bot: a second ``arxiv-bot run`` on the same file is refused with one line while the first runs,
and starts once the first is gone (the lock dies with its process, SIGKILL included)."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest

from bot.store.process_lock import SqliteInUse, lock_path, single_process_lock
from tests.cli_process import bot_env, run_bot
from tests.conftest import ROOT
from tests.fakes.arxiv_server import FakeArxivServer


async def _first_bot(env: dict[str, str]) -> asyncio.subprocess.Process:
    """``arxiv-bot run`` (the console chat) that has answered one command: it is running and holds the database."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adapters.cli", "run",
        cwd=ROOT, env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(b"/arxiv help\n")
    await proc.stdin.drain()
    seen = b""
    while b"arxiv-bot commands" not in seen:
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
        assert line, "the first bot ended before answering"
        seen += line
    return proc


async def test_a_second_bot_on_the_same_sqlite_file_is_refused_with_one_line(
    tmp_path: Path, arxiv: FakeArxivServer
) -> None:
    env = bot_env(tmp_path, arxiv)
    first = await _first_bot(env)
    try:
        code, out, err = await run_bot("/arxiv help\n", env)
        assert code == 2, (out, err)
        [line] = err.strip().splitlines()
        assert line == (
            f"arxiv-bot: config error: another arxiv-bot is already running on {tmp_path / 'bot.db'} "
            f"(pid {first.pid}): SQLite serves one process; stop it, or set [database] url = "
            "postgresql+asyncpg://... to run several replicas"
        )
        assert "arxiv-bot commands" not in out
    finally:
        assert first.stdin is not None
        first.stdin.close()
        assert await asyncio.wait_for(first.wait(), timeout=60) == 0
    code, out, err = await run_bot("/arxiv help\n", env)  # the first one is gone: this one starts
    assert code == 0 and "arxiv-bot commands" in out, err


async def test_the_lock_dies_with_a_killed_bot(tmp_path: Path, arxiv: FakeArxivServer) -> None:
    env = bot_env(tmp_path, arxiv)
    first = await _first_bot(env)
    first.send_signal(signal.SIGKILL)
    await asyncio.wait_for(first.wait(), timeout=60)
    assert lock_path(tmp_path / "bot.db").exists()  # left behind, but no longer held
    code, out, err = await run_bot("/arxiv help\n", env)
    assert code == 0 and "arxiv-bot commands" in out, err


def test_postgresql_and_in_memory_databases_take_no_lock(tmp_path: Path) -> None:
    assert single_process_lock("postgresql+asyncpg://postgres@127.0.0.1:5432/test") is None
    assert single_process_lock("sqlite+aiosqlite:///:memory:") is None
    lock = single_process_lock(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    assert lock is not None
    with pytest.raises(SqliteInUse, match=r"^another arxiv-bot is already running on .*a\.db \(pid \d+\): "):
        single_process_lock(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    lock.release()
    again = single_process_lock(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")  # released: free to take
    assert again is not None
    again.release()


async def test_on_postgresql_replicas_share_and_a_bot_set_to_run_alone_is_refused_with_one_line(
    tmp_path: Path, arxiv: FakeArxivServer, pg_url: str
) -> None:
    env = bot_env(tmp_path, arxiv) | {"ARXIVBOT_DATABASE__URL": pg_url}  # replicas: the default on PostgreSQL
    first = await _first_bot(env)
    try:
        code, out, err = await run_bot("/arxiv help\n", env)  # a second replica runs beside it
        assert code == 0 and "arxiv-bot commands" in out, err
        code, out, err = await run_bot("/arxiv help\n", env | {"ARXIVBOT_DATABASE__REPLICAS": "false"})
        assert code == 2, (out, err)
        [line] = err.strip().splitlines()
        assert line == (
            "arxiv-bot: config error: another arxiv-bot is already running on this PostgreSQL database and this one "
            "has [database] replicas = false: stop the other, or set replicas = true (ARXIVBOT_DATABASE__REPLICAS=true)"
            " on every bot sharing the database"
        )
        assert "arxiv-bot commands" not in out
    finally:
        assert first.stdin is not None
        first.stdin.close()
        assert await asyncio.wait_for(first.wait(), timeout=60) == 0
