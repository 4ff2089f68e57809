"""A real HTTP server on 127.0.0.1 that plays arxiv.org's full texts: ``/html/<id>v<n>`` and ``/pdf/<id>v<n>``.

``server.html["2601.00644v1"] = "<html>..."`` and ``server.pdf["2601.00644v1"] = make_pdf([...])`` set what is
served; anything else gets 404. ``server.requests`` records each path. ``make_pdf`` writes a small valid PDF
whose pages hold the given lines as real text (Helvetica, one text stream per page), built by hand.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
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
    requests: list[str] = field(default_factory=list)
    base_url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        """Serve a configured page or PDF, else 404."""
        self.requests.append(request.path)
        kind, paper_id = request.match_info["kind"], request.match_info["id"]
        if kind == "html" and paper_id in self.html:
            return web.Response(text=self.html[paper_id], content_type="text/html", charset="utf-8")
        if kind == "pdf" and paper_id in self.pdf:
            return web.Response(body=self.pdf[paper_id], content_type="application/pdf")
        return web.Response(status=404, text="not found")


@asynccontextmanager
async def running_fulltext_server() -> AsyncIterator[FakeFullTextServer]:
    """Start the fake on an ephemeral loopback port; stop it on exit."""
    server = FakeFullTextServer()
    app = web.Application()
    app.router.add_get("/{kind}/{id}", server.handle)
    async with serving(app) as server.base_url:
        yield server
