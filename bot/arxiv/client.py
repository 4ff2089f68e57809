"""``PaperSource`` over arXiv's RSS listing and export API, through the shared ``ArxivHttp``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from types import TracebackType
from urllib.parse import quote

from bot.arxiv.feed import parse_api_entries, parse_api_entry, parse_listing
from bot.arxiv.http import ArxivHttp, HttpAnswer
from bot.arxiv.ids import parse_paper_id
from bot.errors import PaperNotFound, SourceError, SourceUnavailable, UserInputError
from bot.metrics import ARXIV_REQUESTS, PAPERS_FETCHED
from bot.models import Listing, Paper

log = logging.getLogger(__name__)

BATCH_SIZE = 50
"""Ids per export API request in ``lookup_many`` (arXiv takes many in one ``id_list``; the URL stays short)."""


class ArxivClient:
    """Fetches listings and single papers from arXiv; politeness and retries are the ``ArxivHttp``'s."""

    def __init__(
        self,
        *,
        http: ArxivHttp,
        rss_url: str = "https://rss.arxiv.org/rss",
        api_url: str = "https://export.arxiv.org/api/query",
    ) -> None:
        self._http = http
        self._rss_url = rss_url.rstrip("/")
        self._api_url = api_url

    async def fetch_listing(self, categories: Collection[str]) -> Listing:
        """Return today's announcement for these categories (empty on weekends and holidays)."""
        try:
            listing = await self._fetch_listing(categories)
        except SourceError:
            ARXIV_REQUESTS.labels(kind="listing", outcome="error").inc()
            raise
        ARXIV_REQUESTS.labels(kind="listing", outcome="ok").inc()
        PAPERS_FETCHED.inc(len(listing.papers))
        return listing

    async def lookup(self, paper_id: str) -> Paper:
        """Return one paper by id or arXiv link; raise ``PaperNotFound`` if there is none."""
        try:
            paper = await self._lookup(paper_id)
        except PaperNotFound:
            ARXIV_REQUESTS.labels(kind="lookup", outcome="not_found").inc()
            raise
        except SourceError:
            ARXIV_REQUESTS.labels(kind="lookup", outcome="error").inc()
            raise
        ARXIV_REQUESTS.labels(kind="lookup", outcome="ok").inc()
        return paper

    async def lookup_many(self, arxiv_ids: Sequence[str]) -> list[Paper]:
        """The newest version of each paper arXiv has among these unversioned ids, in the order asked; unknown ids
        are left out. One request per ``BATCH_SIZE`` ids, each waiting its turn in the shared ``ArxivHttp``."""
        wanted = list(dict.fromkeys(arxiv_ids))
        found: dict[str, Paper] = {}
        for start in range(0, len(wanted), BATCH_SIZE):
            batch = wanted[start : start + BATCH_SIZE]
            try:
                papers = await self._lookup_batch(batch)
            except SourceError:
                ARXIV_REQUESTS.labels(kind="lookup", outcome="error").inc()
                raise
            ARXIV_REQUESTS.labels(kind="lookup", outcome="ok").inc()
            found.update((p.arxiv_id, p) for p in papers if p.arxiv_id in batch)
        return [found[i] for i in wanted if i in found]

    async def _lookup_batch(self, batch: list[str]) -> list[Paper]:
        params = {"id_list": ",".join(batch), "max_results": str(len(batch))}
        answer = await self._get(self._api_url, params=params)
        if answer.status == 400:
            # arXiv refuses the whole list for one id it cannot read: ask for each one alone, so the rest is found.
            log.warning("arXiv API refused a list of %d ids; looking them up one by one", len(batch))
            papers = []
            for arxiv_id in batch:
                try:
                    papers.append(await self._lookup(arxiv_id))
                except PaperNotFound:
                    continue
            return papers
        if answer.status != 200:
            raise SourceUnavailable(f"arXiv API answered HTTP {answer.status} for {len(batch)} ids")
        return parse_api_entries(answer.body)

    async def _fetch_listing(self, categories: Collection[str]) -> Listing:
        if not categories:
            raise UserInputError("no arXiv categories given")
        url = f"{self._rss_url}/{'+'.join(quote(c, safe='.-') for c in sorted(categories))}"
        answer = await self._get(url)
        if answer.status != 200:
            raise SourceUnavailable(f"arXiv RSS answered HTTP {answer.status} for {url}")
        # About 0.1 s for a 2,000-item feed (more when it goes to feedparser): off the event loop all the same.
        return await asyncio.to_thread(parse_listing, answer.body, categories=categories)

    async def _lookup(self, paper_id: str) -> Paper:
        arxiv_id, version = parse_paper_id(paper_id)
        wanted = arxiv_id if version is None else f"{arxiv_id}v{version}"
        answer = await self._get(self._api_url, params={"id_list": wanted})
        if answer.status == 400:
            # arXiv explains a rejected id in an Error entry, which parse_api_entry turns into PaperNotFound.
            parse_api_entry(answer.body, requested_id=wanted)
            raise PaperNotFound(f"no such paper on arXiv: {wanted}")
        if answer.status != 200:
            raise SourceUnavailable(f"arXiv API answered HTTP {answer.status} for {self._api_url}?id_list={wanted}")
        return parse_api_entry(answer.body, requested_id=wanted)

    async def _get(self, url: str, *, params: dict[str, str] | None = None) -> HttpAnswer:
        answer = await self._http.get(url, params=params)
        level = logging.INFO if answer.status < 400 else logging.WARNING
        log.log(level, "arXiv GET %s -> HTTP %d (%d bytes)", answer.url, answer.status, len(answer.body))
        return answer

    async def aclose(self) -> None:
        """Close the HTTP layer (shared with the full-text fetcher when the composition root made one)."""
        await self._http.aclose()

    async def __aenter__(self) -> ArxivClient:
        """Use the client as ``async with``; it closes on exit."""
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the client."""
        await self.aclose()
