"""Operations endpoints on the shared HTTP server: /healthz, /readyz, /metrics, each channel's RSS feed, and the
one-time download links of exported files (``/files/<token>/<name>``).

Handlers are thin: the feed body comes from ``bot.exports.rss.render_rss``, the metrics from ``bot.metrics.render``.
They get exactly the lookups they use (a database ping, the channel by feed token, its posted cards and stored
summaries), not the whole core.
No handler lets an exception (or a traceback) reach the client: failures are logged and answered with a bare 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Protocol

from aiohttp import web

from adapters.http_server import Handler, HttpServer
from bot import metrics
from bot.exports.rss import MAX_FEED_ITEMS, ChannelFeed, entity_tag, render_rss, rfc822
from bot.models import ChannelRecord, ExportFile, Paper, PostedPaper, ThreadSummary, as_utc

log = logging.getLogger(__name__)

RSS_CONTENT_TYPE = "application/rss+xml; charset=utf-8"
LOOP_LAG_LIMIT_S = 5.0
"""The event loop counts as unresponsive when a 0.5 s heartbeat comes this much late."""
DATABASE_TIMEOUT_S = 3.0
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")

Ping = Callable[[], Awaitable[None]]
"""Raise unless the database answers."""
ChannelByFeedToken = Callable[[str], Awaitable[ChannelRecord | None]]
"""The channel whose RSS feed has this token, or None."""
TakeFile = Callable[[str], Awaitable[ExportFile | None]]
"""The file of a one-time link's token, once (None: unknown, taken or expired)."""


class PostedHistory(Protocol):
    """The newest cards posted to a channel, newest first."""

    def __call__(self, channel_id: int, *, limit: int) -> Awaitable[Sequence[PostedPaper]]:
        """At most ``limit`` posted cards of the channel."""
        ...


class StoredSummaries(Protocol):
    """The newest stored summary in a language of each paper that has one, by versioned id."""

    def __call__(self, papers: Iterable[Paper], *, language: str) -> Awaitable[Mapping[str, ThreadSummary]]:
        """Stored summaries of ``papers`` in ``language``."""
        ...


class LoopMonitor:
    """A heartbeat task that measures how late the event loop runs its callbacks.

    ``clock`` (monotonic seconds; default: the running loop's clock) and ``sleep`` are what tests replace.
    """

    def __init__(
        self,
        *,
        interval_s: float = 0.5,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.interval_s = interval_s
        self.lag_s = 0.0
        self._clock = clock
        self._sleep = sleep
        self._last_beat = 0.0
        self._task: asyncio.Task[None] | None = None

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    def start(self) -> None:
        """Start beating in the running loop."""
        self._last_beat = self._now()
        self._task = asyncio.create_task(self._beat(), name="loop-monitor")

    async def stop(self) -> None:
        """Stop beating."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def current_lag_s(self) -> float:
        """The last measured lag, or how overdue the next beat already is if that is more."""
        overdue = self._now() - self._last_beat - self.interval_s
        return max(self.lag_s, overdue, 0.0)

    async def _beat(self) -> None:
        while True:
            before = self._now()
            await self._sleep(self.interval_s)
            self._last_beat = self._now()
            self.lag_s = max(0.0, self._last_beat - before - self.interval_s)


def _guarded(handler: Handler) -> Handler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            return web.Response(status=500, text="internal error\n")

    return guarded


def etag_matches(header: str, etag: str) -> bool:
    """Whether an If-None-Match header names ``etag`` (weak comparison, ``*`` matches anything)."""
    tags = [t.strip() for t in header.split(",")]
    return "*" in tags or any(t.removeprefix("W/") == etag for t in tags)


def not_modified_since(header: str, last_modified: datetime) -> bool:
    """Whether an If-Modified-Since header is at or after ``last_modified`` (HTTP dates have whole seconds)."""
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return False
    return as_utc(last_modified).replace(microsecond=0) <= as_utc(since)


def feed_url(public_url: str, token: str) -> str:
    """Where a channel's RSS feed is served."""
    return f"{public_url.rstrip('/')}/feeds/{token}.xml"


@dataclass(kw_only=True)
class OpsRoutes:
    """The handlers, bound to the lookups of one running bot."""

    ping: Ping
    channel_by_feed_token: ChannelByFeedToken
    posted_papers: PostedHistory
    stored_summaries: StoredSummaries
    public_url: str
    ready: Callable[[], bool]
    take_file: TakeFile | None = None
    monitor: LoopMonitor = field(default_factory=LoopMonitor)

    async def healthz(self, _request: web.Request) -> web.Response:
        """200 when the event loop is responsive and the database answers, else 503."""
        lag = self.monitor.current_lag_s()
        loop_ok = lag < LOOP_LAG_LIMIT_S
        try:
            await asyncio.wait_for(self.ping(), timeout=DATABASE_TIMEOUT_S)
            database_ok = True
        except Exception as err:  # whatever the driver raises (refused connection, timeout): unhealthy
            log.warning("health check: the database does not answer: %s", err or type(err).__name__)
            database_ok = False
        healthy = loop_ok and database_ok
        body = {
            "status": "ok" if healthy else "unhealthy",
            "event_loop": {"ok": loop_ok, "lag_s": round(lag, 3)},
            "database": {"ok": database_ok},
        }
        return web.json_response(body, status=200 if healthy else 503)

    async def readyz(self, _request: web.Request) -> web.Response:
        """200 when every platform adapter is connected, else 503."""
        ready = self.ready()
        return web.json_response({"status": "ready" if ready else "not ready"}, status=200 if ready else 503)

    async def metrics(self, _request: web.Request) -> web.Response:
        """Every metric in Prometheus text format 0.0.4."""
        return web.Response(body=metrics.render(), headers={"Content-Type": metrics.CONTENT_TYPE})

    async def feed(self, request: web.Request) -> web.Response:
        """A channel's RSS feed; an unknown token is a bare 404; conditional requests may get 304."""
        token = request.match_info.get("token", "")
        record = await self.channel_by_feed_token(token) if _TOKEN.match(token) else None
        if record is None:
            return web.Response(status=404, text="not found\n")
        body, updated = await self._render(record)
        etag = entity_tag(body)
        headers = {"ETag": etag, "Last-Modified": rfc822(updated), "Cache-Control": "max-age=300"}
        if_none_match = request.headers.get("If-None-Match")
        if if_none_match is not None:
            unchanged = etag_matches(if_none_match, etag)
        else:
            if_modified_since = request.headers.get("If-Modified-Since")
            unchanged = if_modified_since is not None and not_modified_since(if_modified_since, updated)
        if unchanged:
            return web.Response(status=304, headers=headers)
        return web.Response(body=body, headers={**headers, "Content-Type": RSS_CONTENT_TYPE})

    async def download(self, request: web.Request) -> web.Response:
        """An exported file, once per link; an unknown, used or expired token is a bare 404."""
        token = request.match_info.get("token", "")
        file = await self.take_file(token) if self.take_file is not None and _TOKEN.match(token) else None
        if file is None:
            return web.Response(status=404, text="not found (a download link works once, for a short time)\n")
        return web.Response(
            body=file.content,
            headers={
                "Content-Type": f"{file.media_type}; charset=utf-8",
                "Content-Disposition": f'attachment; filename="{file.name}"',
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    async def _render(self, record: ChannelRecord) -> tuple[bytes, datetime]:
        items = await self.posted_papers(record.id, limit=MAX_FEED_ITEMS)
        summaries = await self.stored_summaries((i.paper for i in items), language=record.language)
        updated = max((i.posted_at for i in items), default=as_utc(record.created_at))
        ref = record.ref
        feed = ChannelFeed(
            title=f"arxiv-bot: papers posted to {ref.platform} channel {ref.channel}",
            site_url=self.public_url,
            feed_url=feed_url(self.public_url, record.feed_token),
            description=(
                f"arXiv papers arxiv-bot posted to {ref}, newest first. "
                f"Categories: {', '.join(record.categories) or 'none'}."
            ),
            items=items,
            summaries=summaries,
            updated=updated,
        )
        return render_rss(feed), updated

    async def _on_startup(self, _app: web.Application) -> None:
        self.monitor.start()

    async def _on_cleanup(self, _app: web.Application) -> None:
        await self.monitor.stop()


def mount_ops_routes(
    http: HttpServer,
    *,
    ping: Ping,
    channel_by_feed_token: ChannelByFeedToken,
    posted_papers: PostedHistory,
    stored_summaries: StoredSummaries,
    public_url: str,
    ready: Callable[[], bool],
    take_file: TakeFile | None = None,
) -> OpsRoutes:
    """Add the operations routes to ``http`` (before it starts)."""
    routes = OpsRoutes(
        ping=ping,
        channel_by_feed_token=channel_by_feed_token,
        posted_papers=posted_papers,
        stored_summaries=stored_summaries,
        public_url=public_url,
        ready=ready,
        take_file=take_file,
    )
    http.add_route("GET", "/healthz", _guarded(routes.healthz))
    http.add_route("GET", "/readyz", _guarded(routes.readyz))
    http.add_route("GET", "/metrics", _guarded(routes.metrics))
    http.add_route("GET", "/feeds/{token}.xml", _guarded(routes.feed))
    http.add_route("GET", "/files/{token}/{name}", _guarded(routes.download))
    http.app.on_startup.append(routes._on_startup)
    http.app.on_cleanup.append(routes._on_cleanup)
    return routes
