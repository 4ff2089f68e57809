"""/healthz, /readyz, /metrics and channel feeds on a running BotRuntime (in-process, real HTTP on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import feedparser
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.composition import Services, build_services
from adapters.http_server import HttpServer
from adapters.ops_http import LOOP_LAG_LIMIT_S, LoopMonitor, mount_ops_routes
from adapters.runtime import BotRuntime
from bot.models import ChannelDefaults, ChannelRecord
from bot.store.channels import ChannelStore
from bot.store.database import Database, create_engine
from tests.conftest import ctx, make_settings
from tests.fakes.arxiv_server import FakeArxivServer
from tests.fakes.clock import FixedClock, ManualClock
from tests.fakes.publisher import FakePublisher


class Running:
    """A started BotRuntime and an HTTP client pointed at its server."""

    def __init__(self, runtime: BotRuntime, client: httpx.AsyncClient) -> None:
        self.runtime = runtime
        self.client = client


@pytest.fixture
async def running(services: Services) -> AsyncIterator[Running]:
    read_fd, write_fd = os.pipe()
    stream = os.fdopen(read_fd, "r")
    runtime = BotRuntime(services.settings, force_console=True, env={}, services=services, console_stream=stream)
    await runtime.start()
    assert runtime.http is not None and runtime.http.port != 0
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{runtime.http.port}", timeout=10) as client:
        yield Running(runtime, client)
    os.close(write_fd)  # end of console input: the chat task ends by itself
    await asyncio.wait_for(runtime.wait(), timeout=5)
    await runtime.close()
    stream.close()


async def posted_channel(services: Services, keywords: str = "LLM, RL") -> ChannelRecord:
    for line in ("subscribe cs.AI cs.CL cs.DC cs.LG", f"keywords add {keywords}", "digest now"):
        reply = await services.commands.execute(ctx(), line)
    assert reply.posted > 0, reply.text
    record = await services.channels.get(ctx().channel)
    assert record is not None
    return record


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus exposition, by name and labels."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def test_healthz_is_ok_on_a_running_bot(running: Running) -> None:
    response = await running.client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == {"ok": True}
    assert body["event_loop"]["ok"] is True


async def test_healthz_is_503_when_the_database_is_unreachable_and_no_detail_leaks(
    services: Services, tmp_path: os.PathLike[str]
) -> None:
    record = await posted_channel(services)
    broken = Database(
        engine=create_engine(f"sqlite+aiosqlite:///{tmp_path}/no/such/dir/bot.db"),
        clock=services.database.clock,
    )
    defaults = ChannelDefaults(
        post_time="09:00", timezone="UTC", max_papers=10, min_score=1.0, include_cross=False, language="en"
    )
    unreachable = ChannelStore(database=broken, defaults=defaults)
    http = HttpServer(host="127.0.0.1", port=0)
    mount_ops_routes(
        http,
        ping=broken.ping,
        channel_by_feed_token=unreachable.by_feed_token,
        posted_papers=services.ledger.posted_papers,
        stored_summaries=services.summaries.newest_for,
        public_url=services.settings.http.public_url,
        ready=lambda: True,
    )
    await http.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http.port}", timeout=10) as client:
            response = await client.get("/healthz")
            assert response.status_code == 503
            assert response.json()["status"] == "unhealthy" and response.json()["database"] == {"ok": False}
            assert "no/such/dir" not in response.text
            # A failing feed query answers a bare 500, never a traceback.
            response = await client.get(f"/feeds/{record.feed_token}.xml")
            assert response.status_code == 500
            assert response.text == "internal error\n"
    finally:
        await http.stop()
        await broken.dispose()


async def test_readyz_follows_the_adapters(running: Running) -> None:
    assert (await running.client.get("/readyz")).status_code == 200

    class Connecting:
        ready = False

        async def aclose(self) -> None:
            return None

    adapter = Connecting()
    running.runtime.adapters.append(adapter)
    try:
        response = await running.client.get("/readyz")
        assert response.status_code == 503 and response.json() == {"status": "not ready"}
        adapter.ready = True
        assert (await running.client.get("/readyz")).status_code == 200
    finally:
        running.runtime.adapters.remove(adapter)


async def test_metrics_parse_and_counters_move_after_a_digest(running: Running, services: Services) -> None:
    response = await running.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    before = samples(response.text)
    families = {f.name for f in text_string_to_metric_families(response.text)}
    assert {"arxivbot_posts", "arxivbot_arxiv_requests", "arxivbot_papers_fetched", "arxivbot_llm_calls",
            "arxivbot_llm_tokens", "arxivbot_llm_cost_usd", "arxivbot_command_duration_seconds"} <= families

    record = await posted_channel(services)
    posted = len(await services.ledger.posted_papers(record.id))

    after = samples((await running.client.get("/metrics")).text)
    sent = {"platform": "test", "kind": "card", "outcome": "sent"}
    assert value(after, "arxivbot_posts_total", **sent) - value(before, "arxivbot_posts_total", **sent) == posted
    threads = {"platform": "test", "kind": "thread", "outcome": "sent"}
    assert value(after, "arxivbot_posts_total", **threads) - value(before, "arxivbot_posts_total", **threads) == posted
    listing = {"kind": "listing", "outcome": "ok"}
    assert value(after, "arxivbot_arxiv_requests_total", **listing) == value(
        before, "arxivbot_arxiv_requests_total", **listing
    ) + 4  # one listing request per category of the channel
    assert value(after, "arxivbot_papers_fetched_total") > value(before, "arxivbot_papers_fetched_total")
    digest = {"command": "digest"}
    assert value(after, "arxivbot_command_duration_seconds_count", **digest) == value(
        before, "arxivbot_command_duration_seconds_count", **digest
    ) + 1


async def test_channel_feed_answers_with_rss_then_304_then_changes(
    running: Running, services: Services, clock: FixedClock
) -> None:
    record = await posted_channel(services, keywords="LLM")
    path = f"/feeds/{record.feed_token}.xml"
    response = await running.client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/rss+xml; charset=utf-8"
    parsed = feedparser.parse(response.content)
    assert parsed.bozo == 0 and parsed.version == "rss20"
    posted = await services.ledger.posted_papers(record.id)
    assert [e.id for e in parsed.entries] == [p.paper.abs_url for p in posted]
    assert all(e.get("ab_score") for e in parsed.entries)
    etag, last_modified = response.headers["etag"], response.headers["last-modified"]
    assert last_modified == "Mon, 05 Jan 2026 10:00:00 GMT"  # the fixed clock's time of the posts

    again = await running.client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert (await running.client.get(path, headers={"If-None-Match": f'W/{etag}, "other"'})).status_code == 304
    assert (await running.client.get(path, headers={"If-Modified-Since": last_modified})).status_code == 304
    earlier = format_datetime(datetime(2026, 1, 5, 9, 59, tzinfo=UTC), usegmt=True)
    assert (await running.client.get(path, headers={"If-Modified-Since": earlier})).status_code == 200
    assert (await running.client.get(path, headers={"If-Modified-Since": "not a date"})).status_code == 200

    # A later digest with more keywords posts more papers: the old validators no longer match.
    clock.current += timedelta(hours=1)
    await services.commands.execute(ctx(), "keywords add RL, agents")
    assert (await services.commands.execute(ctx(), "digest now")).posted > 0
    changed = await running.client.get(path, headers={"If-None-Match": etag, "If-Modified-Since": last_modified})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert changed.headers["last-modified"] == "Mon, 05 Jan 2026 11:00:00 GMT"
    assert len(feedparser.parse(changed.content).entries) > len(parsed.entries)


async def test_wrong_feed_tokens_get_a_bare_404(running: Running, services: Services) -> None:
    record = await posted_channel(services)
    for path in (
        "/feeds/AAAAAAAAAAAAAAAAAAAAAAAA.xml",
        f"/feeds/{record.feed_token[:-1]}.xml",
        "/feeds/x.xml",
        "/feeds/%2e%2e%2fetc.xml",
        f"/feeds/{record.feed_token}",
    ):
        response = await running.client.get(path)
        assert response.status_code == 404, path
        assert record.feed_token not in response.text and "Traceback" not in response.text
        assert len(response.content) < 40


async def test_feed_command_gives_a_url_that_serves_the_feed(running: Running, services: Services) -> None:
    record = await posted_channel(services)
    reply = await services.commands.execute(ctx(), "feed")
    expected = f"{services.settings.http.public_url}/feeds/{record.feed_token}.xml"
    assert reply.ephemeral and expected in reply.text
    path = expected.removeprefix(services.settings.http.public_url)
    assert (await running.client.get(path)).status_code == 200
    assert "takes no arguments" in (await services.commands.execute(ctx(), "feed now")).text


async def test_feed_command_says_so_when_http_is_off(db_url: str, arxiv: FakeArxivServer, clock: FixedClock) -> None:
    off = build_services(make_settings(db_url, arxiv, ARXIVBOT_HTTP__ENABLED="false"), clock=clock)
    off.router.add("test", FakePublisher())
    try:
        reply = await off.commands.execute(ctx(), "feed")
        assert "Feeds are off" in reply.text and "/feeds/" not in reply.text
    finally:
        await off.aclose()


async def test_loop_monitor_reports_a_late_heartbeat_and_the_lag_it_measured() -> None:
    clock = ManualClock()
    monitor = LoopMonitor(interval_s=0.5, clock=clock.time, sleep=clock.sleep)
    monitor.start()
    try:
        await clock.wait_for_sleepers(1)  # the heartbeat waits for its next beat
        assert monitor.current_lag_s() == 0.0
        # The loop is blocked for 2 s: the beat due at 0.5 s has not run, and the lag shows already.
        clock.advance(2.0)
        assert monitor.current_lag_s() == 1.5
        await clock.wait_for_sleepers(1)  # the late beat ran and measured its lag
        assert monitor.lag_s == 1.5 and monitor.current_lag_s() == 1.5
        clock.advance(0.5)
        await clock.wait_for_sleepers(1)
        assert monitor.lag_s == 0.0 and monitor.current_lag_s() == 0.0  # on time again
    finally:
        await monitor.stop()


async def test_healthz_is_503_while_the_event_loop_lags_and_200_when_it_recovers(services: Services) -> None:
    clock = ManualClock()
    http = HttpServer(host="127.0.0.1", port=0)
    routes = mount_ops_routes(
        http,
        ping=services.database.ping,
        channel_by_feed_token=services.channels.by_feed_token,
        posted_papers=services.ledger.posted_papers,
        stored_summaries=services.summaries.newest_for,
        public_url=services.settings.http.public_url,
        ready=lambda: True,
    )
    routes.monitor = LoopMonitor(interval_s=0.5, clock=clock.time, sleep=clock.sleep)
    await http.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http.port}", timeout=10) as client:
            await clock.wait_for_sleepers(1)
            assert (await client.get("/healthz")).status_code == 200
            clock.advance(LOOP_LAG_LIMIT_S + 0.5)  # the beat due at 0.5 s comes LOOP_LAG_LIMIT_S late
            await clock.wait_for_sleepers(1)
            response = await client.get("/healthz")
            assert response.status_code == 503
            assert response.json()["event_loop"] == {"ok": False, "lag_s": LOOP_LAG_LIMIT_S}
            assert response.json()["database"] == {"ok": True}
            clock.advance(0.5)
            await clock.wait_for_sleepers(1)
            assert (await client.get("/healthz")).status_code == 200
    finally:
        await http.stop()
