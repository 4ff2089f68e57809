"""``PaperSource`` over arXiv's RSS listing and export API, polite and retrying."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from urllib.parse import quote, urlencode

import httpx

from bot.arxiv.feed import parse_api_entry, parse_listing
from bot.arxiv.ids import parse_paper_id
from bot.errors import PaperNotFound, SourceError, SourceUnavailable, UserInputError
from bot.metrics import ARXIV_REQUESTS, PAPERS_FETCHED
from bot.models import Listing, Paper

log = logging.getLogger(__name__)

DEFAULT_USER_AGENT = "arxiv-bot/0.1 (+https://github.com/arxiv-bot/arxiv-bot)"
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_RETRY_AFTER_STATUSES = frozenset({429, 503})


class ArxivClient:
    """Fetches listings and single papers from arXiv: one request at a time, spaced, with retries."""

    def __init__(
        self,
        *,
        rss_url: str = "https://rss.arxiv.org/rss",
        api_url: str = "https://export.arxiv.org/api/query",
        min_interval_s: float = 3.0,
        timeout_s: float = 30.0,
        max_retries: int = 4,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        max_retry_after_s: float = 300.0,
        user_agent: str = DEFAULT_USER_AGENT,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        self._rss_url = rss_url.rstrip("/")
        self._api_url = api_url
        self._min_interval_s = min_interval_s
        self._max_retries = max_retries
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._max_retry_after_s = max_retry_after_s
        self._sleep = sleep
        self._monotonic = monotonic
        self._lock = asyncio.Lock()
        self._last_start: float | None = None
        self._client = httpx.AsyncClient(
            headers={"User-Agent": user_agent},
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=True,
        )

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

    async def _fetch_listing(self, categories: Collection[str]) -> Listing:
        if not categories:
            raise UserInputError("no arXiv categories given")
        url = f"{self._rss_url}/{'+'.join(quote(c, safe='.-') for c in sorted(categories))}"
        status, body = await self._get(url, params=None)
        if status != 200:
            raise SourceUnavailable(f"arXiv RSS answered HTTP {status} for {url}")
        # feedparser is pure Python and slow on a 2,000-item feed: keep the event loop free.
        return await asyncio.to_thread(parse_listing, body, categories=categories)

    async def _lookup(self, paper_id: str) -> Paper:
        arxiv_id, version = parse_paper_id(paper_id)
        wanted = arxiv_id if version is None else f"{arxiv_id}v{version}"
        status, body = await self._get(self._api_url, params={"id_list": wanted})
        if status == 400:
            # arXiv explains a rejected id in an Error entry, which parse_api_entry turns into PaperNotFound.
            parse_api_entry(body, requested_id=wanted)
            raise PaperNotFound(f"no such paper on arXiv: {wanted}")
        if status != 200:
            raise SourceUnavailable(f"arXiv API answered HTTP {status} for {self._api_url}?id_list={wanted}")
        return parse_api_entry(body, requested_id=wanted)

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.aclose()

    async def __aenter__(self) -> ArxivClient:
        """Use the client as ``async with``; it closes on exit."""
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the client."""
        await self.aclose()

    async def _get(self, url: str, *, params: dict[str, str] | None) -> tuple[int, bytes]:
        """GET with politeness and retries; return (status, body) of the first non-retryable answer."""
        shown = f"{url}?{urlencode(params)}" if params else url
        problem = ""
        async with self._lock:
            for attempt in range(self._max_retries + 1):
                await self._wait_for_turn()
                self._last_start = self._monotonic()
                try:
                    response = await self._client.get(url, params=params)
                except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                    problem = _kind(exc)
                    delay = self._backoff(attempt)
                except (httpx.HTTPError, httpx.InvalidURL) as exc:
                    log.warning("arXiv request GET %s failed: %s", shown, _kind(exc))
                    raise SourceUnavailable(f"arXiv request failed ({_kind(exc)}) for {shown}") from exc
                else:
                    status = response.status_code
                    if status not in _RETRY_STATUSES:
                        level = logging.INFO if status < 400 else logging.WARNING
                        log.log(level, "arXiv GET %s -> HTTP %d (%d bytes)", shown, status, len(response.content))
                        return status, response.content
                    problem = f"HTTP {status}"
                    delay = self._backoff(attempt)
                    if status in _RETRY_AFTER_STATUSES:
                        asked = retry_after_seconds(response.headers.get("Retry-After"), now=datetime.now(UTC))
                        if asked is not None and asked > self._max_retry_after_s:
                            log.warning("arXiv GET %s -> %s, Retry-After %.0f s: giving up", shown, problem, asked)
                            raise SourceUnavailable(
                                f"arXiv is busy ({problem}, asked to retry after {asked:.0f} s) for {shown}"
                            )
                        if asked is not None:
                            delay = asked
                if attempt == self._max_retries:
                    break
                log.warning(
                    "arXiv GET %s -> %s (attempt %d of %d), retrying in %.1f s",
                    shown,
                    problem,
                    attempt + 1,
                    self._max_retries + 1,
                    delay,
                )
                await self._sleep(delay)
        log.warning("arXiv GET %s -> %s, giving up after %d attempts", shown, problem, self._max_retries + 1)
        raise SourceUnavailable(f"arXiv unavailable ({problem}) for {shown} after {self._max_retries + 1} attempts")

    async def _wait_for_turn(self) -> None:
        """Sleep until ``min_interval_s`` has passed since the previous request started."""
        if self._last_start is None:
            return
        remaining = self._min_interval_s - (self._monotonic() - self._last_start)
        if remaining > 0:
            await self._sleep(remaining)

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff for the retry after ``attempt`` (0-based), capped."""
        return float(min(self._max_backoff_s, self._backoff_s * 2**attempt))


def retry_after_seconds(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or HTTP date), or None if absent/bad."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _kind(exc: Exception) -> str:
    """A one-line name for an httpx error: its class, and its message when it has one."""
    message = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
