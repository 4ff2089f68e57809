"""Logs: one line per event, text or JSON, and no token or key ever written."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.logs import configure_logging, mask_secrets

SLACK = "xoxb-1234567890-0987654321-FaKeSlAcKtOkEnVaLuE"
DISCORD = "plain-discord-secret-without-a-shape"
OPENAI = "sk-fakeOpenAiKey0123456789abcdef"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def secrets_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", SLACK)
    monkeypatch.setenv("DISCORD_TOKEN", DISCORD)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI)


def emit_everything() -> None:
    log = logging.getLogger("arxivbot.test")
    log.info("connecting with %s", SLACK)
    log.warning(f"discord said no to {DISCORD}\nsecond line of the same event")
    log.error("provider %s failed", "openai", extra={"key": OPENAI})
    try:
        raise RuntimeError(f"auth failed for token {SLACK} and key {OPENAI}")
    except RuntimeError:
        log.exception("request to https://slack.com/api/auth.test failed")
    log.info("a token we were never told about: xoxp-99999999-88888888-unknown and Bearer abc.def.ghi123")
    log.info("database postgresql+asyncpg://arxivbot:hunter2secret@db:5432/arxivbot is up")


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_one_line_per_event_and_no_secret_written(fmt: str, secrets_in_env: None) -> None:
    stream = io.StringIO()
    configure_logging(level="INFO", fmt=fmt, stream=stream)
    emit_everything()
    output = stream.getvalue()
    for secret in (SLACK, DISCORD, OPENAI, "xoxp-99999999", "abc.def.ghi123", "hunter2secret"):
        assert secret not in output, secret
    lines = output.splitlines()
    assert len(lines) == 6  # six events, six lines (the traceback and the two-line message included)
    assert "***" in lines[0]
    if fmt == "json":
        records = [json.loads(line) for line in lines]
        assert [r["level"] for r in records] == ["INFO", "WARNING", "ERROR", "ERROR", "INFO", "INFO"]
        assert records[1]["message"] == "discord said no to ***\nsecond line of the same event"
        assert "RuntimeError: auth failed for token *** and key ***" in records[3]["exc"]
        assert records[5]["message"] == "database postgresql+asyncpg://***@db:5432/arxivbot is up"
    else:
        assert lines[1].endswith("discord said no to ***\\nsecond line of the same event")
        assert "Traceback (most recent call last):\\n" in lines[3]
        assert "arxivbot.test: database postgresql+asyncpg://***@db:5432/arxivbot is up" in lines[5]


def test_a_bad_format_string_still_logs_one_masked_line(secrets_in_env: None) -> None:
    stream = io.StringIO()
    configure_logging(level="INFO", fmt="text", stream=stream)
    logging.getLogger("x").info("two placeholders %s %s " + SLACK, "only one")
    assert SLACK not in stream.getvalue() and len(stream.getvalue().splitlines()) == 1


def test_level_filters_and_masking_is_pure() -> None:
    stream = io.StringIO()
    configure_logging(level="WARNING", fmt="json", stream=stream, env={})
    logging.getLogger("x").info("hidden")
    logging.getLogger("x").warning("shown")
    assert [json.loads(line)["message"] for line in stream.getvalue().splitlines()] == ["shown"]
    assert mask_secrets(f"a {SLACK} b", []) == "a *** b"
    assert mask_secrets("nothing secret here", ["longsecret"]) == "nothing secret here"
