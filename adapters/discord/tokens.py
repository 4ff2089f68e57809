"""Discord's token, dev guild and shards from the environment and settings, checked before Discord is called (no
discord.py).

``start_discord`` and ``arxiv-bot check-config`` both use these, so what ``check-config`` accepts ``run`` accepts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

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


SHARD_IDS_FORM = 'shard ids below [discord] shard_count: a comma list or a range, e.g. "0,1" or "2-3", or empty for all'


@dataclass(frozen=True, slots=True)
class Shards:
    """The shards this process runs: ``count`` None asks Discord (and runs them all); ``ids`` None runs all."""

    count: int | None
    ids: tuple[int, ...] | None


def _shard_ids(raw: str) -> list[int] | None:
    ids: list[int] = []
    for part in raw.replace(" ", "").split(","):
        low, dash, high = part.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            return None
        ids.extend(range(int(low), int(high) + 1) if dash else [int(low)])
    return ids


def discord_shards(settings: DiscordSettings) -> Shards:
    """``[discord] shard_count`` and ``shard_ids`` checked together; a one-line ConfigError for a bad pair."""
    count = settings.shard_count or None
    raw = settings.shard_ids.strip()
    if not raw:
        return Shards(count=count, ids=None)
    if count is None:
        raise ConfigError(
            f"[discord] shard_ids = {raw!r} needs [discord] shard_count: expected the total number of shards "
            "every process shares (e.g. shard_count = 4 with shard_ids = \"0-1\" here and \"2-3\" elsewhere)"
        )
    ids = _shard_ids(raw)
    if not ids or any(i >= count for i in ids) or len(set(ids)) != len(ids):
        raise ConfigError(f"[discord] shard_ids = {raw!r} is invalid: expected {SHARD_IDS_FORM}")
    return Shards(count=count, ids=tuple(sorted(ids)))
