"""Logging set-up: one line per event, text or JSON, with secrets masked."""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import TextIO

SECRET_ENV_VARS = (
    "SLACK_BOT_TOKEN",
    "SLACK_APP_TOKEN",
    "SLACK_SIGNING_SECRET",
    "DISCORD_TOKEN",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "DEEPSEEK_API_KEY",
    "DASHSCOPE_API_KEY",
    "OPENROUTER_API_KEY",
    "GROQ_API_KEY",
    "MISTRAL_API_KEY",
    "AZURE_API_KEY",
    "TOGETHERAI_API_KEY",
)


def secret_values(env: dict[str, str] | None = None) -> list[str]:
    """The values of every secret set in the environment (long enough to be worth masking)."""
    env = dict(os.environ) if env is None else env
    names = set(SECRET_ENV_VARS) | {k for k in env if k.endswith(("_API_KEY", "_TOKEN", "_SECRET"))}
    return sorted({env[n] for n in names if len(env.get(n, "")) >= 6}, key=len, reverse=True)


class SecretMasker(logging.Filter):
    """Replaces every known secret in a record's final message with ``***``."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the message (formatting its arguments first)."""
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        for secret in self._secrets:
            message = message.replace(secret, "***")
            if record.exc_text:
                record.exc_text = record.exc_text.replace(secret, "***")
        record.msg, record.args = message, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        """Render a record as JSON."""
        data = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text or record.exc_info:
            data["exc"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        return json.dumps(data, ensure_ascii=False)


def configure_logging(*, level: str, fmt: str, stream: TextIO | None = None) -> None:
    """Send logs to stderr, one line per event, secrets masked."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(SecretMasker(secret_values()))
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "apscheduler", "aiosqlite", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
