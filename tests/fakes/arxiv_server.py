"""A real HTTP server on 127.0.0.1 that plays arXiv: RSS listings, the export API, and forced faults.

Use it as ``async with running_arxiv_server() as server:`` and point an ``ArxivClient`` at
``server.rss_url`` and ``server.api_url``. Each test configures it directly:

* ``server.feeds[frozenset({"cs.DC", "cs.LG"})] = body`` serves ``/rss/cs.DC+cs.LG`` (any order). Like arXiv, it
  also answers any other combination of categories (or archives: ``cs``) with the union of their listings, cut from
  the configured feeds: the items listed in one of the asked codes, each once. A request that no configured feed
  shares a code with is a 404.
* ``server.papers["2601.00644v1"] = (200, body)`` answers ``/api/query?id_list=2601.00644v1``; unknown ids
  get arXiv's zero-entry feed. An ``id_list`` of several ids gets one feed with the entries of those it knows.
* ``server.fail(503, (429, {"Retry-After": "7"}), DROP, HANG)`` queues faults that the next requests get,
  in order, before normal serving resumes. ``DROP`` closes the connection without an answer; ``HANG``
  never answers (until the server stops), so the client times out.
* ``server.latency_s`` delays every answer (to make overlapping requests observable).
* ``server.fulltext = FakeFullTextServer()`` also serves its ``/html/<id>`` and ``/pdf/<id>`` from this host, as
  arxiv.org does (without it they are 404).

Every request is recorded in ``server.requests`` (path, query, lower-cased headers, start and end on
``server.clock``, ``time.monotonic`` unless a test sets a controllable one); ``server.max_in_flight`` is the most
requests it ever handled at once.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from aiohttp import web

from tests.fakes.fulltext_server import FakeFullTextServer
from tests.fakes.loopback import serving

DROP: Final = "drop"
HANG: Final = "hang"
Fault = int | tuple[int, Mapping[str, str]] | Literal["drop", "hang"]

EMPTY_API_FEED = """<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" xmlns:arxiv="http://arxiv.org/schemas/atom"
 xmlns="http://www.w3.org/2005/Atom">
  <id>https://arxiv.org/api/fake</id>
  <title>arXiv Query: search_query=&amp;id_list={id_list}&amp;start=0&amp;max_results=10</title>
  <updated>2026-01-05T00:00:00Z</updated>
  <opensearch:itemsPerPage>10</opensearch:itemsPerPage>
  <opensearch:totalResults>0</opensearch:totalResults>
  <opensearch:startIndex>0</opensearch:startIndex>
</feed>
"""


@dataclass
class RecordedRequest:
    """One request the fake received."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    started: float
    finished: float | None = None


@dataclass
class FakeArxivServer:
    """State and behaviour of the fake; tests change its fields directly."""

    feeds: dict[frozenset[str], bytes | str] = field(default_factory=dict)
    papers: dict[str, tuple[int, bytes | str]] = field(default_factory=dict)
    faults: deque[Fault] = field(default_factory=deque)
    latency_s: float = 0.0
    requests: list[RecordedRequest] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    base_url: str = ""
    fulltext: FakeFullTextServer | None = None
    clock: Callable[[], float] = time.monotonic
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def rss_url(self) -> str:
        """Base of the RSS listings, like ``https://rss.arxiv.org/rss``."""
        return f"{self.base_url}/rss"

    @property
    def api_url(self) -> str:
        """The export API endpoint, like ``https://export.arxiv.org/api/query``."""
        return f"{self.base_url}/api/query"

    def fail(self, *faults: Fault) -> None:
        """Queue faults for the next requests, in order."""
        self.faults.extend(faults)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Record the request, apply latency and a queued fault, else serve it."""
        record = RecordedRequest(
            path=request.path,
            query=dict(request.query),
            headers={k.lower(): v for k, v in request.headers.items()},
            started=self.clock(),
        )
        self.requests.append(record)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency_s:
                await asyncio.sleep(self.latency_s)
            if self.faults:
                return await self._fault(request, self.faults.popleft())
            if request.path.startswith(("/html/", "/pdf/")):
                if self.fulltext is None:
                    return web.Response(status=404, text="not found")
                return await self.fulltext.handle(request)
            return self._serve(request)
        finally:
            self.in_flight -= 1
            record.finished = self.clock()

    async def _fault(self, request: web.Request, fault: Fault) -> web.StreamResponse:
        if fault == DROP:
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=500)
        if fault == HANG:
            await self._stopping.wait()
            return web.Response(status=503)
        status, headers = (fault, {}) if isinstance(fault, int) else fault
        return web.Response(status=status, headers=dict(headers), text=f"fake fault: HTTP {status}")

    def combined(self, codes: frozenset[str]) -> bytes | None:
        """The feed arXiv would answer for these codes, cut from the configured feeds (None: no feed shares one)."""
        return combined_feed(self.feeds, codes)

    def _serve(self, request: web.Request) -> web.Response:
        if request.path.startswith("/rss/"):
            categories = frozenset(request.match_info["cats"].split("+"))
            body = self.feeds.get(categories)
            if body is None:
                body = self.combined(categories)
            if body is None:
                return web.Response(status=404, text="no such feed")
            return _xml(200, body, "application/rss+xml")
        id_list = request.query.get("id_list", "")
        if id_list not in self.papers and "," in id_list:
            return self._serve_many(id_list.split(","))
        status, body = self.papers.get(id_list, (200, EMPTY_API_FEED.format(id_list=id_list)))
        return _xml(status, body, "application/atom+xml")

    def _serve_many(self, ids: list[str]) -> web.Response:
        """An ``id_list`` of many ids, as arXiv answers it: one feed with the entry of each paper it knows (an
        unversioned id finds its newest version), or the whole list refused when one id is (HTTP 400)."""
        entries: list[str] = []
        for arxiv_id in ids:
            keys = [arxiv_id] if arxiv_id in self.papers else sorted(k for k in self.papers if _is_version(k, arxiv_id))
            if not keys:
                continue
            status, body = self.papers[keys[-1]]
            text = body.decode("utf-8") if isinstance(body, bytes) else body
            if status == 400:
                return _xml(400, text, "application/atom+xml")
            entries += re.findall(r"<entry>.*?</entry>", text, flags=re.S)
        feed = EMPTY_API_FEED.format(id_list=",".join(ids)).replace("</feed>", "\n".join([*entries, "</feed>"]))
        return _xml(200, feed, "application/atom+xml")


def _is_version(key: str, arxiv_id: str) -> bool:
    return re.fullmatch(re.escape(arxiv_id) + r"v\d+", key) is not None


_ITEM = re.compile(rb"<item>.*?</item>", re.S)
_CATEGORY = re.compile(rb"<category>\s*([^<]+?)\s*</category>")
_GUID = re.compile(rb"<guid[^>]*>\s*([^<]+?)\s*</guid>")


def _listed(item: bytes, codes: frozenset[str]) -> bool:
    """Whether an RSS item is in the listing of one of ``codes`` (categories or archives)."""
    for raw in _CATEGORY.findall(item):
        category = raw.decode()
        if category in codes or category.split(".", 1)[0] in codes:
            return True
    return False


def combined_feed(feeds: Mapping[frozenset[str], bytes | str], codes: frozenset[str]) -> bytes | None:
    """arXiv's answer for ``codes`` cut from ``feeds``: their items listed in one of the codes, each once; None when
    no feed shares a code (or an archive) with them."""
    sources = [
        body.encode() if isinstance(body, str) else body
        for key, body in sorted(feeds.items(), key=lambda kv: sorted(kv[0]))
        if any(c in codes or c.split(".", 1)[0] in codes for c in key)
    ]
    if not sources:
        return None
    items: dict[bytes, bytes] = {}
    for body in sources:
        for item in _ITEM.findall(body):
            guid = _GUID.search(item)
            if _listed(item, codes):
                items.setdefault(guid[1] if guid else item, item)
    first = sources[0]
    start = first.find(b"<item>")
    end = first.rfind(b"</item>")
    if start < 0:
        return first
    return first[:start] + b"\n".join(items.values()) + first[end + len(b"</item>") :]


def _xml(status: int, body: bytes | str, content_type: str) -> web.Response:
    data = body.encode("utf-8") if isinstance(body, str) else body
    return web.Response(status=status, body=data, content_type=content_type, charset="utf-8")


@asynccontextmanager
async def running_arxiv_server() -> AsyncIterator[FakeArxivServer]:
    """Start a fake arXiv on an ephemeral loopback port; stop it on exit."""
    server = FakeArxivServer()
    app = web.Application()
    app.router.add_get("/rss/{cats}", server.handle)
    app.router.add_get("/api/query", server.handle)
    app.router.add_get("/{kind:html|pdf}/{id:.+}", server.handle)
    async with serving(app) as server.base_url:
        try:
            yield server
        finally:
            server._stopping.set()


_API_FIXTURE = Path(__file__).parents[1] / "fixtures" / "arxiv-api" / "id_2104.12255v1.json"


def atom_entry(arxiv_id: str, title: str, abstract: str) -> str:
    """The export API's answer for one paper (the recorded fixture with another id, title and abstract)."""
    body: str = json.loads(_API_FIXTURE.read_text())["body"]
    body = body.replace("2104.12255", arxiv_id).replace("<title>0</title>", f"<title>{title}</title>")
    return re.sub(r"<summary>.*?</summary>", f"<summary>{abstract}</summary>", body, flags=re.S)
