"""Our one small HTTP server (aiohttp), shared by health/metrics/feeds and Slack's HTTP mode."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.errors import ConfigError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class HttpServer:
    """Routes are added before ``start()``; ``port`` is the bound port after it (useful with port 0)."""

    def __init__(self, *, host: str, port: int) -> None:
        self.app = web.Application()
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.port = port

    def add_route(self, method: str, path: str, handler: Handler) -> None:
        """Serve ``handler`` at ``method path``."""
        self.app.router.add_route(method, path, handler)

    async def start(self) -> None:
        """Bind and serve; a taken port is a one-line ConfigError."""
        # A short shutdown_timeout keeps SIGTERM-to-exit under 10 s even with a request still being handled.
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        try:
            await site.start()
        except OSError as err:
            await self._runner.cleanup()
            self._runner = None
            raise ConfigError(
                f"[http] port = {self._port} is invalid: cannot listen on {self._host}:{self._port} ({err.strerror}); "
                "expected a free port (set ARXIVBOT_HTTP__PORT, 0 picks one)"
            ) from None
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        log.info("HTTP server listening on %s:%s", self._host, self.port)

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
