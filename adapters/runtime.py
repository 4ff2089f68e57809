"""Running the bot: signals, the HTTP server, the platform adapters or the console, the scheduler, shutdown.

``adapters.composition`` builds the core; this module runs it. Each platform's ``start_*`` gets exactly what it
uses and returns its adapter with the publisher on it; the runtime registers that publisher in the core's
PublisherRouter. Platform modules are imported only when their token is set (a console run loads neither).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol, TextIO

from adapters.composition import Services, build_services
from adapters.console.adapter import ConsoleChat, ConsoleProgress, ConsolePublisher
from adapters.http_server import HttpServer
from adapters.ops_http import OpsRoutes, mount_ops_routes
from adapters.startup import StartRetry, platform_tokens_set, uses_discord, uses_slack
from bot.config import Settings
from bot.store.database import is_sqlite
from bot.store.run_lock import RunLock

if TYPE_CHECKING:
    from adapters.discord.runtime import DiscordAdapter
    from adapters.slack.installations import SlackInstallations
    from adapters.slack.runtime import SlackAdapter

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_S = 1.5
"""For a running digest to stop, and for each adapter to disconnect."""
DRAIN_S = 3.0
"""For posts in flight to be answered and recorded. With the HTTP server's 1 s, SIGTERM to exit stays under 10 s."""


class RunningAdapter(Protocol):
    """A connected platform adapter."""

    @property
    def ready(self) -> bool:
        """Whether it is connected and taking events."""
        ...

    async def aclose(self) -> None:
        """Disconnect."""
        ...


async def stop_work(services: Services, *, grace_s: float = SHUTDOWN_GRACE_S, drain_s: float = DRAIN_S) -> None:
    """Start no new post, stop the scheduler (cancelling a digest still running after ``grace_s``), then wait up to
    ``drain_s`` for the posts in flight to be recorded; whatever was not posted stays pending in the ledger."""
    services.runner.stop()
    try:
        await asyncio.wait_for(services.scheduler.stop(), timeout=grace_s)
    except TimeoutError:
        log.warning("a digest was still running at shutdown; its unposted papers stay pending for the next run")
    await services.runner.drain(timeout_s=drain_s)


async def close_services(services: Services) -> None:
    """``stop_work``, then close the core's network and database connections."""
    await stop_work(services)
    await services.aclose()


def slack_installations(
    services: Services, settings: Settings, *, client_id: str, client_secret: str
) -> SlackInstallations:
    """The OAuth installations of the Slack app, kept in the core's database (``run`` serves their install pages,
    ``digest --channel`` only looks tokens up)."""
    from adapters.slack.installations import SlackInstallations
    from bot.store.workspaces import WorkspaceStore

    resumed = services.scheduler.channels_resumed if settings.scheduler.enabled else (lambda: None)
    return SlackInstallations(
        engine=services.database.engine,
        workspaces=WorkspaceStore(database=services.database),
        client_id=client_id,
        client_secret=client_secret,
        api_url=settings.slack.api_url,
        public_url=settings.http.public_url,
        install_path=settings.slack.install_path,
        redirect_path=settings.slack.redirect_path,
        on_resumed=resumed,
    )


async def attach_slack(
    services: Services,
    *,
    settings: Settings,
    http: HttpServer | None,
    env: Mapping[str, str],
    retry: StartRetry | None = None,
) -> SlackAdapter:
    """Start Slack on the core's commands and register its publisher; with SLACK_CLIENT_ID, workspaces install it
    through OAuth, their installations kept in the core's database."""
    from adapters.slack.runtime import start_slack
    from bot.store.http_state import SeenKeys

    def oauth(client_id: str, client_secret: str) -> SlackInstallations:
        return slack_installations(services, settings, client_id=client_id, client_secret=client_secret)

    adapter = await start_slack(
        commands=services.commands,
        settings=settings.slack,
        http=http,
        env=env,
        retry=retry,
        oauth=oauth,
        seen=SeenKeys(database=services.command_database),  # shared: a retry may reach another replica
    )
    services.router.add("slack", adapter.publisher)
    return adapter


async def attach_discord(
    services: Services, *, settings: Settings, env: Mapping[str, str], retry: StartRetry | None = None
) -> DiscordAdapter:
    """Start Discord on the core's commands and channels and register its publisher."""
    from adapters.discord.runtime import start_discord, sync_state_path

    adapter = await start_discord(
        commands=services.commands,
        channels=services.channels,
        settings=settings.discord,
        state_file=sync_state_path(settings.database.url),
        env=env,
        retry=retry,
    )
    services.router.add("discord", adapter.publisher)
    return adapter


def attach_ops_routes(http: HttpServer, services: Services, *, ready: Callable[[], bool]) -> OpsRoutes:
    """Serve /healthz, /readyz, /metrics and the channel feeds of ``services`` on ``http``."""
    return mount_ops_routes(
        http,
        ping=services.database.ping,
        channel_by_feed_token=services.channels.by_feed_token,
        posted_papers=services.ledger.posted_papers,
        stored_summaries=services.summaries.newest_for,
        public_url=services.settings.http.public_url,
        ready=ready,
        take_file=services.links.take if services.links is not None else None,
    )


class BotRuntime:
    """Everything of one running bot in one event loop: HTTP server, platform adapters or console, scheduler.

    ``await start()``, then ``await wait()`` until the console input ends or ``stop`` is set (SIGTERM/SIGINT
    set it in ``run_bot``), then ``await close()``. Tests use the same object in-process.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        force_console: bool = False,
        env: Mapping[str, str] | None = None,
        services: Services | None = None,
        console_stream: TextIO | None = None,
        start_retry: StartRetry | None = None,
    ) -> None:
        self.settings = settings
        self.start_retry = start_retry or StartRetry()
        """How long to keep trying Slack or Discord when it does not answer at start (a network outage)."""
        self.env = os.environ if env is None else env
        self.console = force_console or not platform_tokens_set(self.env)
        self.progress = ConsoleProgress(out=sys.stdout) if self.console else None
        """The console's progress line (arXiv retries): instead of WARNING log lines in the chat."""
        retrying = self.progress.arxiv_retrying if self.progress is not None else None
        self.services = services or build_services(settings, on_arxiv_retry=retrying)
        self.stop = asyncio.Event()
        self.http = HttpServer(host=settings.http.host, port=settings.http.port) if settings.http.enabled else None
        self.adapters: list[RunningAdapter] = []
        self._console_stream = console_stream
        self._chat_task: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        """Whether every platform adapter is connected."""
        return all(adapter.ready for adapter in self.adapters)

    async def start(self) -> None:
        """Connect the adapters, open the HTTP server and start the scheduler."""
        retry = self.start_retry
        if not self.console and uses_slack(self.env):
            self.adapters.append(
                await attach_slack(self.services, settings=self.settings, http=self.http, env=self.env, retry=retry)
            )
        if not self.console and uses_discord(self.env):
            self.adapters.append(
                await attach_discord(self.services, settings=self.settings, env=self.env, retry=retry)
            )
        if self.http is not None:
            attach_ops_routes(self.http, self.services, ready=lambda: self.ready)
            await self.http.start()
        if self.services.leases is not None:
            self.services.leases.start_heartbeat()
        if self.settings.scheduler.enabled:
            await self.services.scheduler.start()
        if self.console:
            publisher = ConsolePublisher(out=sys.stdout, progress=self.progress)
            self.services.router.add("console", publisher)
            chat = ConsoleChat(commands=self.services.commands, publisher=publisher, stream=self._console_stream)
            self._chat_task = asyncio.create_task(chat.run())
            self._chat_task.add_done_callback(lambda _task: self.stop.set())
        log.info("arxiv-bot is running (%s)", "console" if self.console else f"{len(self.adapters)} adapter(s)")

    async def wait(self) -> None:
        """Return when the console input has ended or ``stop`` is set."""
        await self.stop.wait()

    async def close(self) -> None:
        """Disconnect everything; unfinished posts stay pending in the ledger for the next start."""
        self.services.runner.stop()
        if self._chat_task is not None and not self._chat_task.done():
            self._chat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._chat_task
        await stop_work(self.services)
        for adapter in self.adapters:
            try:
                await asyncio.wait_for(adapter.aclose(), timeout=SHUTDOWN_GRACE_S)
            except Exception:
                log.exception("closing an adapter failed")
        if self.http is not None:
            await self.http.stop()
        await self.services.aclose()


async def run_bot(settings: Settings, *, force_console: bool = False) -> None:
    """Run the bot until the console input ends or SIGTERM/SIGINT arrives; on PostgreSQL it holds the ``RunLock``
    (refused beside a bot that runs alone; alone itself, it frees the leases of bots that died)."""
    lock: RunLock | None = None
    if not is_sqlite(settings.database.url):  # SQLite: the file lock of the CLI already holds it
        lock = RunLock(url=settings.database.url, replicas=settings.database.replicas)
        await lock.acquire()
    try:
        await _run(settings, force_console=force_console)
    finally:
        if lock is not None:
            await lock.release()


async def _run(settings: Settings, *, force_console: bool) -> None:
    runtime = BotRuntime(settings, force_console=force_console)
    loop = asyncio.get_running_loop()

    def on_signal(name: str) -> None:
        log.info("%s received: shutting down", name)
        runtime.stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal, sig.name)
    try:
        await runtime.start()
        await runtime.wait()
    finally:
        await runtime.close()
