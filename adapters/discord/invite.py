"""The OAuth2 URL that adds the bot to a server with exactly the permissions it needs."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Mapping
from typing import TextIO

import discord

from adapters.startup import PlatformUnreachable
from bot.config import Settings
from bot.errors import ConfigError

SCOPES = ("bot", "applications.commands")
BOT_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    embed_links=True,
    create_public_threads=True,
    send_messages_in_threads=True,
    add_reactions=True,
    read_message_history=True,
)
"""See the channel (without it a private channel answers 50001 Missing Access), post cards (send, embed links), start
and fill summary threads, add the 🔖 reaction (which needs history)."""
EXIT_USAGE = 2


def invite_url(application_id: str | int) -> str:
    """The invite URL for an application id (a Discord snowflake)."""
    text = str(application_id).strip()
    if not text.isdigit():
        raise ValueError(f"application id {text!r} is invalid: expected digits, e.g. 1234567890123456789")
    return discord.utils.oauth_url(text, permissions=BOT_PERMISSIONS, scopes=SCOPES)


def run_invite(settings: Settings, env: Mapping[str, str] | None = None, *, out: TextIO | None = None) -> int:
    """``arxiv-bot discord-invite``: print the URL; the id comes from DISCORD_APPLICATION_ID, else DISCORD_TOKEN."""
    env = os.environ if env is None else env
    out = out or sys.stdout
    application_id = env.get("DISCORD_APPLICATION_ID", "").strip()
    try:
        if not application_id:
            if not env.get("DISCORD_TOKEN", "").strip():
                raise ConfigError(
                    "set DISCORD_APPLICATION_ID (Developer Portal -> your app -> General Information -> "
                    "Application ID) or DISCORD_TOKEN to look it up"
                )
            from adapters.discord.runtime import fetch_application_id
            from adapters.discord.tokens import discord_token

            quiet = logging.getLogger("discord")
            level = quiet.level
            quiet.setLevel(logging.WARNING)  # the terminal shows the URL, not discord.py's login chatter
            try:
                application_id = asyncio.run(
                    fetch_application_id(token=discord_token(env), api_url=settings.discord.api_url)
                )
            finally:
                quiet.setLevel(level)
        url = invite_url(application_id)
    except (ConfigError, ValueError) as err:
        print(f"arxiv-bot: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except PlatformUnreachable as err:
        print(f"arxiv-bot: {err}", file=sys.stderr)
        return 1
    print(url, file=out)
    return 0
