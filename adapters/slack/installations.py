"""Many workspaces through OAuth v2: slack_sdk's SQLAlchemy installation and state stores on our database.

One installation per team (and enterprise): a new install replaces the team's older rows. Installing makes the
team's channels active again; ``app_uninstalled`` and ``tokens_revoked`` (the bot token) delete the installation
and pause its channels, keeping their settings and unposted rows for when it comes back. A post looks its token up
by the channel's team (``InstalledTokens``); Bolt looks up each request's token through the same store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.slack.app import InFlight
from bot.errors import PublishError
from bot.store.workspaces import WorkspaceStore

log = logging.getLogger(__name__)

PLATFORM = "slack"
BOT_SCOPES = (
    "commands",
    "chat:write",
    "reactions:read",
    "users:read",
    "channels:history",
    "groups:history",
    "files:write",
    "im:history",
    "im:write",
)
"""What the app asks for when a workspace installs it: the bot scopes of manifest.yml."""
STATE_EXPIRATION_S = 600
TOKEN_TTL_S = 10.0
"""How long a workspace's bot token is used without reading it again."""
CREATE_TABLES_LOCK = 0x61727869760001
"""The PostgreSQL advisory lock key under which one replica at a time creates slack_sdk's tables."""


class NotInstalled(PublishError):
    """The channel's workspace has no installation (it uninstalled the app or revoked its token): nothing posted."""


def authorize_url(api_url: str) -> str:
    """Slack's authorize page beside its Web API: ``https://slack.com/api/`` -> ``https://slack.com/oauth/v2/authorize``."""
    base = api_url.rstrip("/")
    base = base.removesuffix("/api")
    return f"{base}/oauth/v2/authorize"


class InstallationStore(AsyncSQLAlchemyInstallationStore):
    """slack_sdk's installation store keeping one installation per team (and enterprise), which tells our
    workspace store when a team installs the app (its channels resume) or leaves (they pause)."""

    def __init__(
        self, *, client_id: str, engine: AsyncEngine, workspaces: WorkspaceStore, on_resumed: Callable[[], None]
    ) -> None:
        super().__init__(client_id=client_id, engine=engine, logger=logging.getLogger("adapters.slack.oauth"))
        self._workspaces = workspaces
        self._on_resumed = on_resumed
        self.on_change: list[Callable[[], None]] = []
        """Called when an installation is saved or deleted here (a cache of tokens forgets them)."""

    async def async_save(self, installation: Installation) -> None:
        """Save the installation, drop the team's older ones, and resume the team's paused channels."""
        await super().async_save(installation)
        await self._drop_older(installation)
        for changed in self.on_change:
            changed()
        org_wide = bool(installation.is_enterprise_install)
        resumed = await self._workspaces.installed(
            PLATFORM,
            workspace=None if org_wide else installation.team_id,
            organization=installation.enterprise_id,
            org_install=org_wide,
        )
        where = f"org {installation.enterprise_id}" if org_wide else f"workspace {installation.team_id}"
        log.info("arxiv-bot was installed in Slack %s; %d paused channel(s) resume", where, resumed)
        if resumed:
            self._on_resumed()

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        """Delete the team's (or org's, ``team_id`` None) bot token and pause its channels."""
        await super().async_delete_bot(enterprise_id=enterprise_id, team_id=team_id)
        for changed in self.on_change:
            changed()
        paused = await self._workspaces.uninstalled(PLATFORM, workspace=team_id, organization=enterprise_id)
        where = f"workspace {team_id}" if team_id else f"org {enterprise_id}"
        log.info("arxiv-bot was removed from Slack %s; %d channel(s) paused until it is installed again", where, paused)

    async def _drop_older(self, installation: Installation) -> None:
        for table in (self.installations, self.bots):
            c = table.c
            async with self.engine.begin() as conn:
                newest = (
                    await conn.execute(
                        sa.select(sa.func.max(c.id)).where(
                            c.client_id == self.client_id,
                            c.enterprise_id == installation.enterprise_id,
                            c.team_id == installation.team_id,
                        )
                    )
                ).scalar()
                if newest is not None:
                    await conn.execute(
                        table.delete().where(
                            c.client_id == self.client_id,
                            c.enterprise_id == installation.enterprise_id,
                            c.team_id == installation.team_id,
                            c.id != newest,
                        )
                    )


class InstalledTokens:
    """The bot token of a channel's team, read from the installations and kept for ``ttl_s`` (a digest makes many
    calls per workspace: without it each one would cost two queries). A change of installations through this
    process forgets them at once; one through another replica within ``ttl_s``, and a token Slack revoked is refused
    by Slack meanwhile, so nothing is posted there either way."""

    def __init__(
        self,
        *,
        store: InstallationStore,
        workspaces: WorkspaceStore,
        install_url: str,
        ttl_s: float = TOKEN_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._workspaces = workspaces
        self._install_url = install_url
        self._ttl_s = ttl_s
        self._clock = clock
        self._known: dict[str, tuple[str, float]] = {}
        store.on_change.append(self._known.clear)

    async def token_for(self, workspace: str) -> str:
        """The bot token that posts in ``workspace``; ``NotInstalled`` when it has none."""
        cached = self._known.get(workspace)
        if cached is not None and cached[1] > self._clock():
            return cached[0]
        token = await self._look_up(workspace)
        self._known[workspace] = (token, self._clock() + self._ttl_s)
        return token

    async def _look_up(self, workspace: str) -> str:
        known = await self._workspaces.get(PLATFORM, workspace)
        org_wide = known is not None and known.org_install
        bot = await self._store.async_find_bot(
            enterprise_id=known.organization if known is not None else None,
            team_id=None if org_wide else workspace,
            is_enterprise_install=org_wide,
        )
        if bot is None or not bot.bot_token:
            raise NotInstalled(
                f"arxiv-bot is not installed in Slack workspace {workspace} (uninstalled, or its token revoked); "
                f"it posts there again once installed at {self._install_url}"
            )
        return bot.bot_token


class SlackInstallations:
    """What OAuth mode adds to the Bolt app: the stores, Bolt's OAuth settings, the token lookup for posts, and the
    listeners that pause a workspace that leaves."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        workspaces: WorkspaceStore,
        client_id: str,
        client_secret: str,
        api_url: str,
        public_url: str,
        install_path: str,
        redirect_path: str,
        on_resumed: Callable[[], None],
    ) -> None:
        self.store = InstallationStore(
            client_id=client_id, engine=engine, workspaces=workspaces, on_resumed=on_resumed
        )
        self.states = AsyncSQLAlchemyOAuthStateStore(
            expiration_seconds=STATE_EXPIRATION_S, engine=engine, logger=logging.getLogger("adapters.slack.oauth")
        )
        self._workspaces = workspaces
        self._seen: set[str] = set()
        self._in_flight = InFlight()
        root = public_url.rstrip("/")
        self.install_url = root + install_path
        self.settings = AsyncOAuthSettings(
            client_id=client_id,
            client_secret=client_secret,
            scopes=list(BOT_SCOPES),
            redirect_uri=root + redirect_path,
            install_path=install_path,
            redirect_uri_path=redirect_path,
            authorization_url=authorize_url(api_url),
            installation_store=self.store,
            installation_store_bot_only=True,
            state_store=self.states,
            state_expiration_seconds=STATE_EXPIRATION_S,
            logger=logging.getLogger("adapters.slack.oauth"),
        )
        self.tokens = InstalledTokens(store=self.store, workspaces=workspaces, install_url=self.install_url)

    async def create_tables(self) -> None:
        """Create slack_sdk's tables if they are missing (they are the library's, outside our migrations); on
        PostgreSQL under a lock, as replicas starting together would otherwise race to create them."""
        async with self.store.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": CREATE_TABLES_LOCK})
            await conn.run_sync(self.store.metadata.create_all)
            await conn.run_sync(self.states.metadata.create_all)

    def register(self, app: AsyncApp, *, in_flight: InFlight) -> None:
        """Add the uninstall and revocation listeners (tracked in ``in_flight``), and the middleware that learns
        each team's org."""
        self._in_flight = in_flight
        app.middleware(self._learn_org)
        app.event("app_uninstalled")(self.on_uninstalled)
        app.event("tokens_revoked")(self.on_tokens_revoked)

    async def _learn_org(self, context: AsyncBoltContext, next: Callable[[], Awaitable[Any]]) -> Any:
        """Remember the org of each team of an org-wide install a request comes from: its posts need that token."""
        team = context.team_id
        if context.is_enterprise_install and team and team not in self._seen:
            await self._workspaces.seen(PLATFORM, team, organization=context.enterprise_id, org_install=True)
            self._seen.add(team)
        return await next()

    @staticmethod
    def _installed_team(context: AsyncBoltContext) -> str | None:
        return None if context.is_enterprise_install else context.team_id

    async def on_uninstalled(self, context: AsyncBoltContext) -> None:
        """``app_uninstalled``: forget the installation, pause the team's channels."""
        self._in_flight.track()
        await self.store.async_delete_all(enterprise_id=context.enterprise_id, team_id=self._installed_team(context))

    async def on_tokens_revoked(self, event: dict[str, Any], context: AsyncBoltContext) -> None:
        """``tokens_revoked``: a revoked bot token is an uninstall for posting (user tokens are not ours to use)."""
        self._in_flight.track()
        if (event.get("tokens") or {}).get("bot"):
            await self.store.async_delete_bot(
                enterprise_id=context.enterprise_id, team_id=self._installed_team(context)
            )
