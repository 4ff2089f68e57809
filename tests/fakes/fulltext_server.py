"""A real HTTP server on 127.0.0.1 that plays arxiv.org's full texts: ``/html/<id>v<n>`` and ``/pdf/<id>v<n>``.

``server.html["2601.00644v1"] = "<html>..."`` and ``server.pdf["2601.00644v1"] = make_pdf([...])`` set what is
served; anything else gets 404. ``server.fail(503, (429, {"Retry-After": "5"}))`` queues statuses the next
requests get, in order. ``server.requests`` records each path, ``server.starts`` when each came in (on
``server.clock``: ``time.monotonic`` unless a test sets a controllable one). With ``server.chunked = True``
pages and PDFs go out in 1 KiB chunks without a Content-Length, as a streaming server sends them.

``make_pdf`` writes a small valid PDF whose pages hold the given lines as real text (Helvetica, one text
stream per page), built by hand.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

from tests.fakes.loopback import serving

LINES_PER_PAGE = 55


def _pdf_string(text: str) -> str:
    return "(" + text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def make_pdf(lines: Sequence[str]) -> bytes:
    """A minimal valid PDF showing ``lines`` (Latin-1 text), ``LINES_PER_PAGE`` lines a page."""
    pages = [list(lines[i : i + LINES_PER_PAGE]) for i in range(0, max(len(lines), 1), LINES_PER_PAGE)]
    n_pages = len(pages)
    font_id = 3 + 2 * n_pages
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        (
            "<< /Type /Pages /Kids ["
            + " ".join(f"{3 + 2 * i} 0 R" for i in range(n_pages))
            + f"] /Count {n_pages} >>"
        ).encode(),
    ]
    for i, page in enumerate(pages):
        content = "BT /F1 10 Tf 13 TL 50 760 Td " + " ".join(f"{_pdf_string(line)} Tj T*" for line in page) + " ET"
        data = content.encode("latin-1")
        objects.append(
            (
                f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 {font_id} 0 R >> >>"
                f" /Contents {4 + 2 * i} 0 R >>"
            ).encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


@dataclass
class FakeFullTextServer:
    """What the fake serves; tests change its fields directly."""

    html: dict[str, str] = field(default_factory=dict)
    pdf: dict[str, bytes] = field(default_factory=dict)
    faults: deque[int | tuple[int, Mapping[str, str]]] = field(default_factory=deque)
    requests: list[str] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)
    clock: Callable[[], float] = time.monotonic
    chunked: bool = False
    base_url: str = ""

    def fail(self, *faults: int | tuple[int, Mapping[str, str]]) -> None:
        """Queue statuses (with headers) for the next requests, in order."""
        self.faults.extend(faults)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Serve a queued fault, else a configured page or PDF, else 404."""
        self.requests.append(request.path)
        self.starts.append(self.clock())
        if self.faults:
            fault = self.faults.popleft()
            status, headers = (fault, {}) if isinstance(fault, int) else fault
            return web.Response(status=status, headers=dict(headers), text=f"fake fault: HTTP {status}")
        kind, paper_id = request.match_info["kind"], request.match_info["id"]
        if kind == "html" and paper_id in self.html:
            return await self._send(request, self.html[paper_id].encode("utf-8"), "text/html; charset=utf-8")
        if kind == "pdf" and paper_id in self.pdf:
            return await self._send(request, self.pdf[paper_id], "application/pdf")
        return web.Response(status=404, text="not found")

    async def _send(self, request: web.Request, body: bytes, content_type: str) -> web.StreamResponse:
        if not self.chunked:
            return web.Response(body=body, headers={"Content-Type": content_type})
        response = web.StreamResponse(headers={"Content-Type": content_type})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(body), 1024):
            await response.write(body[start : start + 1024])
        await response.write_eof()
        return response


@asynccontextmanager
async def running_fulltext_server() -> AsyncIterator[FakeFullTextServer]:
    """Start the fake on an ephemeral loopback port; stop it on exit."""
    server = FakeFullTextServer()
    app = web.Application()
    app.router.add_get("/{kind}/{id}", server.handle)
    async with serving(app) as server.base_url:
        yield server
