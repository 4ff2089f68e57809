"""Starting the Discord adapter: login errors, command sync only when changed, dev guild, the invite command."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from adapters.cli import main
from adapters.composition import Services
from adapters.discord.invite import invite_url, run_invite
from adapters.discord.runtime import sync_state_path
from adapters.discord.translate import reply_chunks
from adapters.runtime import attach_discord
from adapters.startup import PlatformUnreachable, StartRetry
from bot.commands.table import help_text
from bot.errors import ConfigError
from tests.conftest import make_settings
from tests.fakes.arxiv_server import FakeArxivServer
from tests.fakes.clock import SteppedClock
from tests.fakes.discord_server import APP_ID, GUILD_ID, FakeDiscord, running_discord_server
from tests.fakes.loopback import closed_url

INVITE_PERMISSIONS = 1024 | 2048 | 16384 | 34359738368 | 274877906944 | 64 | 65536
"""View channel, send messages, embed links, create public threads, send messages in threads, add reactions, read
history. Without View Channel a private channel answers every post with 50001 Missing Access."""


async def start_and_close(services: Services, settings_env: dict[str, str], db_url: str, arxiv: FakeArxivServer,
                          fake: FakeDiscord) -> None:
    """Start the adapter, wait for READY, answer one command, close."""
    settings = make_settings(db_url, arxiv, ARXIVBOT_DISCORD__API_URL=fake.api_url, **settings_env)
    adapter = await attach_discord(services, settings=settings, env={"DISCORD_TOKEN": fake.token})
    try:
        await adapter.wait_ready(5)
        assert adapter.ready
        # The help page is two messages on Discord: wait for both before closing.
        pages = len(reply_chunks(help_text("discord"), code=True))
        answer = await fake.answered(await fake.slash("help"), count=pages)
        assert "arxiv-bot commands" in answer.text
    finally:
        await adapter.aclose()
    assert not adapter.ready


async def test_commands_are_synced_once_for_an_unchanged_set_across_two_starts(
    services: Services, db_url: str, arxiv: FakeArxivServer
) -> None:
    async with running_discord_server() as fake:
        await start_and_close(services, {}, db_url, arxiv, fake)
        await start_and_close(services, {}, db_url, arxiv, fake)
        assert [scope for scope, _ in fake.command_syncs] == ["global"]
        assert len(fake.identifies) == 2
        (command,) = fake.command_syncs[0][1]
        # Visible to everyone (reading is open); settings changes are refused at run time without Manage Channels.
        assert command["name"] == "arxiv" and command["default_member_permissions"] is None
        assert command["contexts"] == [0]
        assert [o["name"] for o in command["options"]] == [
            "subscribe", "unsubscribe", "keywords", "exclude", "authors", "settings", "set", "digest-now",
            "preview", "summarize", "saved", "channel-saves", "alerts", "unsave", "stats", "feed", "like", "why",
            "ranking", "help",
        ]

        state = sync_state_path(db_url)
        if db_url.startswith("sqlite"):
            assert state.parent == Path(db_url.split(":///", 1)[1]).parent
        state.write_text(json.dumps({f"{APP_ID}:global": "an older command set"}))
        await start_and_close(services, {}, db_url, arxiv, fake)
        assert [scope for scope, _ in fake.command_syncs] == ["global", "global"]


async def test_a_dev_guild_gets_the_commands_instantly_instead_of_a_global_sync(
    services: Services, db_url: str, arxiv: FakeArxivServer
) -> None:
    async with running_discord_server() as fake:
        await start_and_close(services, {"ARXIVBOT_DISCORD__DEV_GUILD_ID": str(GUILD_ID)}, db_url, arxiv, fake)
        assert [scope for scope, _ in fake.command_syncs] == [str(GUILD_ID)]
        last = fake.interactions[list(fake.interactions)[-1]]
        assert last.payload["data"]["guild_id"] == str(GUILD_ID)


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("", "DISCORD_TOKEN is not set"),
        ("Bot abc", "DISCORD_TOKEN starts with 'Bot '"),
        ("two words", "DISCORD_TOKEN is malformed"),
        ("not-the-token", "DISCORD_TOKEN was refused by Discord (401 Unauthorized)"),
    ],
)
async def test_a_missing_or_invalid_token_is_one_config_error_line(
    services: Services, db_url: str, arxiv: FakeArxivServer, token: str, expected: str
) -> None:
    async with running_discord_server() as fake:
        settings = make_settings(db_url, arxiv, ARXIVBOT_DISCORD__API_URL=fake.api_url)
        with pytest.raises(ConfigError) as caught:
            await attach_discord(services, settings=settings, env={"DISCORD_TOKEN": token})
        message = str(caught.value)
        assert message.startswith(expected) and "\n" not in message
        assert token not in message or not token
        assert fake.command_syncs == [] and fake.identifies == []


async def test_discord_not_answering_at_start_is_retried_with_backoff_then_starts(
    services: Services, db_url: str, arxiv: FakeArxivServer, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_discord_server() as fake:
        fake.fail("GET", "/users/@me", status=503, code=0, message="upstream connect error", times=2)
        settings = make_settings(db_url, arxiv, ARXIVBOT_DISCORD__API_URL=fake.api_url)
        clock = SteppedClock()
        with caplog.at_level(logging.WARNING, logger="adapters.startup"):
            adapter = await attach_discord(services, settings=settings, env={"DISCORD_TOKEN": fake.token},
                                           retry=StartRetry(sleep=clock.sleep))  # fmt: skip
        try:
            await adapter.wait_ready(5)
            assert clock.sleeps == [2.0, 4.0]
            said = [r.getMessage() for r in caplog.records if r.name == "adapters.startup"]
            assert [m.rsplit("; ", 1)[1] for m in said] == ["retrying 2/8 in 2 s", "retrying 3/8 in 4 s"]
            assert all(m.startswith(f"Discord ({fake.api_url}) did not answer (") for m in said)
            assert "ConfigError" not in caplog.text and fake.token not in caplog.text
            assert [r.path for r in fake.requests[:3]] == ["/users/@me"] * 3
        finally:
            await adapter.aclose()


async def test_discord_unreachable_for_every_attempt_stops_start_up_with_one_line_that_is_no_config_error(
    services: Services, db_url: str, arxiv: FakeArxivServer
) -> None:
    closed = closed_url("/api/v10")
    settings = make_settings(db_url, arxiv, ARXIVBOT_DISCORD__API_URL=closed)
    clock = SteppedClock()
    with pytest.raises(PlatformUnreachable) as caught:
        await attach_discord(services, settings=settings, env={"DISCORD_TOKEN": "t"},
                             retry=StartRetry(attempts=3, sleep=clock.sleep))  # fmt: skip
    message = str(caught.value)
    assert message.startswith(f"Discord ({closed}) could not be reached after 3 attempts")
    assert "\n" not in message and not isinstance(caught.value, ConfigError)
    assert clock.sleeps == [2.0, 4.0]


async def test_a_refused_token_or_a_bad_dev_guild_is_not_retried(
    services: Services, db_url: str, arxiv: FakeArxivServer
) -> None:
    async with running_discord_server() as fake:
        settings = make_settings(db_url, arxiv, ARXIVBOT_DISCORD__API_URL=fake.api_url)
        clock = SteppedClock()
        with pytest.raises(ConfigError, match=r"^DISCORD_TOKEN was refused by Discord \(401 Unauthorized\)"):
            await attach_discord(services, settings=settings, env={"DISCORD_TOKEN": "wrong"},
                                 retry=StartRetry(sleep=clock.sleep))  # fmt: skip
        assert clock.sleeps == [] and len(fake.requests) == 1
    bad_guild = make_settings(db_url, arxiv, ARXIVBOT_DISCORD__DEV_GUILD_ID="my-server")
    with pytest.raises(ConfigError, match=r"^\[discord\] dev_guild_id = 'my-server' is invalid"):
        await attach_discord(services, settings=bad_guild, env={"DISCORD_TOKEN": "t"})


def test_the_invite_url_asks_for_exactly_the_needed_permissions() -> None:
    url = invite_url("1100000000000000001")
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "discord.com", "/oauth2/authorize")
    assert query == {
        "client_id": ["1100000000000000001"],
        "scope": ["bot applications.commands"],
        "permissions": [str(INVITE_PERMISSIONS)],
    }
    with pytest.raises(ValueError, match="expected digits"):
        invite_url("my-bot")


def run_main(*args: str) -> int:
    """``arxiv-bot`` in-process, restoring the logging set-up it replaces."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        return main(list(args))
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def test_discord_invite_prints_the_url_for_the_application_id(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DISCORD_APPLICATION_ID", "123456789012345678")
    assert run_main("discord-invite") == 0
    out, err = capsys.readouterr()
    assert out == invite_url("123456789012345678") + "\n" and err == ""


def test_discord_invite_without_an_id_or_a_token_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main("discord-invite") == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("arxiv-bot: error: set DISCORD_APPLICATION_ID") and err.count("\n") == 1


async def test_discord_invite_looks_the_id_up_with_the_token(db_url: str, arxiv: FakeArxivServer) -> None:
    async with running_discord_server() as fake:
        settings = make_settings(db_url, arxiv, ARXIVBOT_DISCORD__API_URL=fake.api_url)
        out = io.StringIO()
        # run_invite owns its event loop (asyncio.run), so it runs in a thread while this loop serves the fake.
        code = await asyncio.to_thread(run_invite, settings, {"DISCORD_TOKEN": fake.token}, out=out)
        assert code == 0
        assert out.getvalue() == invite_url(APP_ID) + "\n"
        assert [r.path for r in fake.requests] == ["/users/@me", "/oauth2/applications/@me"]
        assert fake.token not in out.getvalue()
