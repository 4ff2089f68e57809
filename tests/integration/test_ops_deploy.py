"""Dockerfile, .dockerignore and docker-compose.yml (no Docker engine here: read them, and run what can be run)."""

from __future__ import annotations

import asyncio
import fnmatch
import os
import re
import shlex
import socket
import sys
from pathlib import Path

import yaml

from adapters.composition import Services
from adapters.runtime import BotRuntime
from tests.conftest import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    logical = re.sub(r"\\\n", " ", "\n".join(s for s in DOCKERFILE.splitlines() if not s.lstrip().startswith("#")))
    found = []
    for line in logical.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for instruction in instructions():
        if instruction[0] == "FROM":
            result.append([])
        result[-1].append(instruction)
    return result


def healthcheck_command() -> str:
    args = next(rest for word, rest in instructions() if word == "HEALTHCHECK")
    return args.split(" CMD ", 1)[1]


def test_dockerfile_is_multi_stage_slim_non_root_with_data_volume() -> None:
    build, runtime = stages()
    assert build[0] == ("FROM", "python:3.11-slim AS build")
    assert runtime[0][1].startswith("python:3.11-slim")
    found = dict((w, r) for w, r in runtime if w not in ("COPY", "RUN", "ENV"))
    assert any(w == "COPY" and r.startswith("--from=build") for w, r in runtime)
    user = found["USER"]
    assert user not in ("root", "0") and f"useradd --system --uid 10001 --gid {user}" in DOCKERFILE.replace("\\\n", "")
    assert found["VOLUME"] == '["/data"]'
    env = " ".join(r for w, r in runtime if w == "ENV")
    assert "ARXIVBOT_DATABASE__URL=sqlite+aiosqlite:////data/arxiv-bot.db" in env
    assert "ARXIVBOT_HTTP__HOST=0.0.0.0" in env
    assert found["ENTRYPOINT"] == '["arxiv-bot"]' and found["CMD"] == '["run"]'  # `run` migrates first
    assert "/healthz" in healthcheck_command() and healthcheck_command().startswith("python -c ")
    assert not any("curl" in rest for _word, rest in instructions())


def ignored(path: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path.split("/")[0], p) for p in patterns)


def test_every_copied_path_exists_and_is_not_docker_ignored() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ".venv" in patterns and ".git" in patterns and "data" in patterns and ".env" in patterns
    copied = [
        part
        for word, rest in instructions()
        if word == "COPY" and not rest.startswith("--from")
        for part in shlex.split(rest)[:-1]
    ]
    assert {"pyproject.toml", "bot", "adapters", "alembic", "config.toml"} <= set(copied)
    for path in copied:
        assert (ROOT / path).exists(), path
        assert not ignored(path, patterns), path
    assert ignored("tests", patterns) and ignored("data/arxiv-bot.db", patterns)


def test_compose_has_the_bot_and_postgres_behind_a_profile() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    bot, postgres = compose["services"]["bot"], compose["services"]["postgres"]
    assert bot["build"] == "." and "profiles" not in bot
    assert postgres["profiles"] == ["postgres"] and postgres["image"].startswith("postgres:")
    assert bot["depends_on"]["postgres"]["required"] is False
    assert "arxiv-bot-data:/data" in bot["volumes"]
    assert bot["environment"]["ARXIVBOT_DATABASE__URL"].endswith(":-sqlite+aiosqlite:////data/arxiv-bot.db}")
    for secret in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "DISCORD_TOKEN", "OPENAI_API_KEY"):
        assert bot["environment"][secret] is None  # passed through from the shell or .env, never written here
    assert "postgresql+asyncpg://arxivbot:" in (ROOT / "docker-compose.yml").read_text()


async def run_healthcheck(port: int) -> int:
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh", "-c", healthcheck_command(),
        env={"PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
             "ARXIVBOT_HTTP__PORT": str(port)},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    return await asyncio.wait_for(proc.wait(), timeout=30)


async def test_the_healthcheck_command_passes_on_a_running_bot_and_fails_without_one(services: Services) -> None:
    read_fd, write_fd = os.pipe()
    stream = os.fdopen(read_fd, "r")
    runtime = BotRuntime(services.settings, force_console=True, env={}, services=services, console_stream=stream)
    await runtime.start()
    try:
        assert runtime.http is not None
        assert await run_healthcheck(runtime.http.port) == 0
    finally:
        os.close(write_fd)
        await asyncio.wait_for(runtime.wait(), timeout=5)
        await runtime.close()
        stream.close()
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    assert await run_healthcheck(port) != 0
