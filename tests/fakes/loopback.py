"""Serve an aiohttp application on an ephemeral 127.0.0.1 port: the one start/stop shared by every fake; and a
loopback address where nothing listens (a platform that is down)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """Run ``app`` on loopback; yield its base URL (``http://127.0.0.1:PORT``); stop it on exit."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def closed_url(path: str = "/") -> str:
    """``http://127.0.0.1:PORT`` + ``path`` on a port just freed: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"
