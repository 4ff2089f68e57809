"""Logging set-up: one line per event, text or JSON, with secrets masked."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Mapping
from typing import TextIO

SECRET_ENV_VARS = (
    "SLACK_BOT_TOKEN",
    "SLACK_APP_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_CLIENT_SECRET",
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
SECRET_SUFFIXES = ("_API_KEY", "_TOKEN", "_SECRET", "_PASSWORD")
MASK = "***"

# Credentials recognisable by their shape, masked even when they are not in our environment.
SECRET_PATTERNS = (
    re.compile(r"\bxox[abeoprs]-[A-Za-z0-9-]{8,}"),  # Slack bot/user/config tokens
    re.compile(r"\bxapp-[A-Za-z0-9-]{8,}"),  # Slack app-level tokens
    re.compile(r"\b[MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,}"),  # Discord bot tokens
    re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"),  # OpenAI-style API keys
    re.compile(r"(?i)(?<=bearer )[A-Za-z0-9._~+/=-]{8,}"),  # Authorization: Bearer ...
    re.compile(r"(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"),  # user:password@ in URLs
)


def secret_values(env: Mapping[str, str] | None = None) -> list[str]:
    """The values of every secret set in the environment (long enough to be worth masking), longest first."""
    env = os.environ if env is None else env
    names = set(SECRET_ENV_VARS) | {k for k in env if k.upper().endswith(SECRET_SUFFIXES)}
    return sorted({env[n] for n in names if len(env.get(n, "")) >= 6}, key=len, reverse=True)


def mask_secrets(text: str, secrets: list[str]) -> str:
    """``text`` with every known secret and every credential-shaped string replaced by ``***``."""
    for secret in secrets:
        text = text.replace(secret, MASK)
    for pattern in SECRET_PATTERNS:
        text = pattern.sub(MASK, text)
    return text


class SecretMasker(logging.Filter):
    """Replaces every known secret in a record's final message, traceback and stack with ``***``."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the message (formatting its arguments first), the traceback text and the stack."""
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the event (nor leak its arguments)
            message = f"{record.msg!s} (unformattable arguments)"
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = mask_secrets(message, self._secrets), None
        if record.exc_text:
            record.exc_text = mask_secrets(record.exc_text, self._secrets)
        if record.stack_info:
            record.stack_info = mask_secrets(record.stack_info, self._secrets)
        return True


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message``, with newlines (also of tracebacks) escaped so each event is one line."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """Render a record on one line."""
        line = super().format(record)
        return _one_line(line)


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
        if record.stack_info:
            data["stack"] = record.stack_info
        return json.dumps(data, ensure_ascii=False)


def configure_logging(
    *, level: str, fmt: str, stream: TextIO | None = None, env: Mapping[str, str] | None = None
) -> logging.Handler:
    """Send logs to stderr (or ``stream``), one line per event, secrets from ``env`` (default os.environ) masked."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(SecretMasker(secret_values(env)))
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "apscheduler", "aiosqlite", "alembic", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    return handler
