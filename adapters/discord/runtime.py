"""Start the Discord adapter inside our event loop: log in, sync commands when they changed, connect.

A token Discord refuses stops start-up with one ConfigError line; Discord not answering (a network outage, a 5xx)
is retried with backoff by a ``StartRetry``, each wait logged, before start-up gives up with ``PlatformUnreachable``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket

from adapters.discord.app import ArxivDiscordClient, save_view
from adapters.discord.publisher import DiscordPublisher
from adapters.discord.tokens import TOKEN_HELP, dev_guild_id, discord_shards, discord_token
from adapters.startup import StartRetry, describe
from bot.commands.service import CommandService
from bot.config import DiscordSettings
from bot.errors import ConfigError
from bot.store.channels import ChannelStore
from bot.store.database import sqlite_path

log = logging.getLogger(__name__)

LOGIN_TIMEOUT_S = 30.0
SYNC_TIMEOUT_S = 60.0


class DiscordUnavailable(Exception):
    """Discord did not answer one start-up request (network error, timeout, 429 or 5xx): worth retrying."""


def dev_guild(settings: DiscordSettings) -> discord.Object | None:
    """``[discord] dev_guild_id`` as a guild to sync commands to instantly, or None."""
    guild_id = dev_guild_id(settings)
    return None if guild_id is None else discord.Object(id=guild_id)


def point_at(api_url: str) -> None:
    """Send discord.py's REST requests (including webhooks and interaction callbacks) to ``api_url``."""
    discord.http.Route.BASE = api_url.rstrip("/")


def sync_state_path(database_url: str) -> Path:
    """Where the hash of the last synced command set is kept: beside the SQLite file, else under data/."""
    database = sqlite_path(database_url)
    if database is not None:
        return database.with_name(database.name + "-discord-sync.json")
    return Path("data") / "discord-sync.json"


def command_hash(tree: app_commands.CommandTree[ArxivDiscordClient], guild: discord.Object | None) -> str:
    """A hash of the command payloads a sync would send."""
    payload = [command.to_dict(tree) for command in tree.get_commands(guild=guild)]
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class SyncState:
    """The command hashes last synced, per application and scope, in a small JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def get(self, key: str) -> str | None:
        """The hash last synced for ``key``."""
        return self._load().get(key)

    def put(self, key: str, value: str) -> None:
        """Remember a synced hash (atomically)."""
        data = self._load() | {key: value}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        tmp.replace(self.path)


async def sync_commands(client: ArxivDiscordClient, *, guild: discord.Object | None, state: SyncState) -> bool:
    """Sync the command tree when it changed since the last sync; True if a sync was sent.

    Global commands are rate limited per day, so an unchanged set is never re-sent. With a dev guild the
    commands are copied to that guild and synced there (instantly visible) instead of globally.
    """
    if guild is not None:
        client.tree.copy_global_to(guild=guild)
    key = f"{client.application_id}:" + ("global" if guild is None else f"guild:{guild.id}")
    digest = command_hash(client.tree, guild)
    if state.get(key) == digest:
        log.info("Discord commands unchanged since the last sync (%s); not syncing", key)
        return False
    try:
        await asyncio.wait_for(client.tree.sync(guild=guild), SYNC_TIMEOUT_S)
    except (TimeoutError, discord.DiscordException, aiohttp.ClientError, OSError) as err:
        log.warning("Discord command sync failed (%s); will retry at the next start", err)
        return False
    state.put(key, digest)
    log.info("Discord commands synced (%s)", key)
    return True


class DiscordAdapter:
    """The running Discord adapter: the client's gateway task and the publisher posting through it."""

    def __init__(self, *, client: ArxivDiscordClient, publisher: DiscordPublisher, task: asyncio.Task[None]) -> None:
        self.client = client
        self.publisher = publisher
        self.task = task

    @property
    def ready(self) -> bool:
        """Whether the gateway's READY has arrived on the current connection."""
        return self.client.gateway_ready.is_set() and not self.client.is_closed()

    async def wait_ready(self, within_s: float = 30.0) -> None:
        """Wait until READY arrived; TimeoutError after ``within_s`` seconds."""
        await asyncio.wait_for(self.client.gateway_ready.wait(), within_s)

    async def aclose(self) -> None:
        """Close the gateway and the HTTP session."""
        await self.client.close()
        if not self.task.done():
            self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task


def _log_gateway_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the Discord gateway connection ended: %s", task.exception())


def _unavailable(err: BaseException) -> bool:
    """Whether a failure talking to Discord is Discord (or the network) not answering, rather than a refusal."""
    if isinstance(err, discord.HTTPException):
        return err.status == 429 or err.status >= 500
    return isinstance(err, (TimeoutError, aiohttp.ClientError, OSError, discord.GatewayNotFound))


async def login(client: discord.Client, token: str, api_url: str) -> None:
    """Log in once (``GET /users/@me`` and ``/oauth2/applications/@me``).

    A refused token is a one-line ConfigError; no answer is DiscordUnavailable (the caller retries).
    """
    try:
        await asyncio.wait_for(client.login(token), LOGIN_TIMEOUT_S)
    except discord.LoginFailure:
        await client.close()
        raise ConfigError(f"DISCORD_TOKEN was refused by Discord (401 Unauthorized): {TOKEN_HELP}") from None
    except (TimeoutError, discord.DiscordException, aiohttp.ClientError, OSError) as err:
        await client.close()
        if _unavailable(err):
            raise DiscordUnavailable(describe(err)) from None
        reason = str(err) or type(err).__name__
        raise ConfigError(
            f"[discord] api_url = {api_url!r}: could not log in to Discord ({reason}); check the URL and the token"
        ) from None


async def _logged_in(client: ArxivDiscordClient, token: str, api_url: str) -> str:
    """Log ``client`` in and ask where its gateway is; the gateway URL."""
    await login(client, token, api_url)
    try:
        # A plain Client would connect to wss://gateway.discord.gg; ask the API (ours, in tests) where to go.
        _shards, gateway_url, _limits = await client.http.get_bot_gateway()
    except (discord.DiscordException, aiohttp.ClientError, OSError, TimeoutError) as err:
        await client.close()
        if _unavailable(err):
            raise DiscordUnavailable(f"GET /gateway/bot: {describe(err)}") from None
        raise ConfigError(f"[discord] api_url = {api_url!r}: GET /gateway/bot failed ({err})") from None
    return str(gateway_url)


async def start_discord(
    *,
    commands: CommandService,
    channels: ChannelStore,
    settings: DiscordSettings,
    state_file: Path,
    env: Mapping[str, str],
    retry: StartRetry | None = None,
) -> DiscordAdapter:
    """Log in with DISCORD_TOKEN, sync commands if they changed since the sync recorded in ``state_file``, connect.

    Log-in is retried (each attempt with a fresh client) while Discord does not answer. The caller registers
    ``adapter.publisher`` (before the gateway task first runs, so no event comes earlier).
    """
    token = discord_token(env)
    guild = dev_guild(settings)
    shards = discord_shards(settings)
    api_url = settings.api_url
    point_at(api_url)
    clients: list[ArxivDiscordClient] = []

    async def attempt() -> str:
        clients.append(
            ArxivDiscordClient(
                service=commands,
                channels=channels,
                save_emoji=settings.save_emoji,
                shard_count=shards.count,
                shard_ids=shards.ids,
            )
        )
        return await _logged_in(clients[-1], token, api_url)

    gateway_url = await (retry or StartRetry()).run(f"Discord ({api_url})", attempt, transient=(DiscordUnavailable,))
    client = clients[-1]
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    publisher = DiscordPublisher(
        client=client, make_view=save_view, save_emoji=settings.save_emoji, post_timeout_s=settings.post_timeout_s
    )
    await sync_commands(client, guild=guild, state=SyncState(state_file))
    task = asyncio.create_task(client.connect(reconnect=True), name="discord-gateway")
    task.add_done_callback(_log_gateway_end)
    log.info(
        "Discord: logged in as %s (application %s), shards %s of %s",
        client.user,
        client.application_id,
        ",".join(map(str, shards.ids)) if shards.ids is not None else "all",
        shards.count or "Discord's recommended count",
    )
    return DiscordAdapter(client=client, publisher=publisher, task=task)


async def fetch_application_id(*, token: str, api_url: str, retry: StartRetry | None = None) -> str:
    """The application id of the bot behind ``token`` (``GET /oauth2/applications/@me``), for the invite URL."""
    point_at(api_url)
    clients: list[discord.Client] = []

    async def attempt() -> None:
        clients.append(discord.Client(intents=discord.Intents.none()))
        await login(clients[-1], token, api_url)

    await (retry or StartRetry(attempts=3)).run(f"Discord ({api_url})", attempt, transient=(DiscordUnavailable,))
    try:
        return str(clients[-1].application_id)
    finally:
        await clients[-1].close()
