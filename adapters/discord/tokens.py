"""Discord's token and dev guild from the environment and settings, checked before Discord is called (no discord.py).

``start_discord`` and ``arxiv-bot check-config`` both use these, so what ``check-config`` accepts ``run`` accepts.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.config import DiscordSettings
from bot.errors import ConfigError

TOKEN_HELP = "expected the bot token from https://discord.com/developers/applications -> your app -> Bot -> Reset Token"


def discord_token(env: Mapping[str, str]) -> str:
    """DISCORD_TOKEN from the environment, checked for the usual mistakes (never logged)."""
    token = env.get("DISCORD_TOKEN", "").strip()
    if not token:
        raise ConfigError(f"DISCORD_TOKEN is not set: {TOKEN_HELP}")
    if token.lower().startswith("bot "):
        raise ConfigError("DISCORD_TOKEN starts with 'Bot ': set only the token itself, without the prefix")
    if any(ch.isspace() for ch in token) or not token.isascii():
        raise ConfigError(f"DISCORD_TOKEN is malformed (spaces or non-ASCII characters): {TOKEN_HELP}")
    return token


def dev_guild_id(settings: DiscordSettings) -> int | None:
    """``[discord] dev_guild_id`` as a server id to sync commands to instantly, or None."""
    raw = settings.dev_guild_id.strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise ConfigError(
            f"[discord] dev_guild_id = {raw!r} is invalid: expected a server id (digits; Developer Mode -> "
            "right-click the server -> Copy Server ID) or empty"
        )
    return int(raw)
