"""The one HTTP layer for arXiv: listing, lookup and full-text requests all go through an ``ArxivHttp``.

* Politeness (``Throttle``): one request at a time, at least ``min_interval_s`` between request starts, for
  everyone holding the same ``ArxivHttp``. A caller keeps its turn through its retries, so while arXiv asks us
  to wait, nobody else asks it anything.
* Retries on timeouts, refused or lost connections and HTTP 429/500/502/503/504, with exponential backoff
  (capped). The ``Retry-After`` of a 429 or 503 (delta seconds or an HTTP date) replaces the backoff; one longer
  than ``max_retry_after_s`` ends the request at once.
* A timeout, a User-Agent, redirects followed, and an optional body size cap checked while streaming.
* Time comes in through ``monotonic``, ``sleep`` and ``now``, so tests control it.
* Each retry is logged at WARNING, or, when someone listens (``on_retry``: the console's progress line), reported
  to the listener as a ``RetryNotice`` and logged at INFO only. Giving up is always a WARNING.

No httpx exception leaves this module. ``map_httpx_exceptions``, around the one place a request is made,
converts every httpx error root::

    httpx.HTTPError
    ├── TimeoutException, NetworkError (ConnectError,     -> TransientSourceError: retried; SourceUnavailable
    │   ReadError, ...), RemoteProtocolError                 "after N attempts" when the retries run out
    └── every other one (TooManyRedirects, DecodingError, -> SourceUnavailable, not retried
        UnsupportedProtocol, LocalProtocolError, ...)
    httpx.InvalidURL                                      -> SourceUnavailable, not retried
    httpx.StreamError (StreamConsumed, StreamClosed, ...) -> SourceUnavailable, not retried
    httpx.CookieConflict                                  -> SourceUnavailable, not retried

so ``ArxivHttp.get`` raises only these::

    SourceError
    ├── SourceUnavailable     a transport failure that is not worth retrying; 429/5xx or a TransientSourceError
    │                         after the last attempt; a Retry-After over the cap; a closed client
    └── ResponseTooLarge      the body passed the caller's ``max_bytes``

Any other status (200, 400, 404, ...) is an answer: ``get`` returns it and the caller decides.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from urllib.parse import urlencode, urlsplit

import httpx

from bot.errors import ResponseTooLarge, SourceUnavailable, TransientSourceError

log = logging.getLogger(__name__)

DEFAULT_USER_AGENT = "arxiv-bot/0.1 (+https://github.com/arxiv-bot/arxiv-bot)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_AFTER_STATUSES = frozenset({429, 503})

_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_HTTPX_ROOTS = (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, httpx.CookieConflict)


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """A final answer from arXiv: any status that is not retried, with its whole body."""

    url: str
    """What was asked for, query included (for log lines and error messages)."""
    status: int
    body: bytes
    content_type: str
    """The ``Content-Type`` header, lower-cased; empty when there is none."""


@dataclass(frozen=True, slots=True)
class RetryNotice:
    """arXiv did not answer one attempt, and the request is tried again after ``delay_s``."""

    url: str
    problem: str
    """What went wrong (``HTTP 503``, ``ConnectTimeout``)."""
    attempt: int
    """The attempt about to be made, counting from 1 (the first retry is attempt 2)."""
    attempts: int
    """How many attempts there are in all."""
    delay_s: float


RetryListener = Callable[[RetryNotice], None]


@contextmanager
def map_httpx_exceptions(shown: str) -> Iterator[None]:
    """Convert every httpx exception raised inside into ours (the module docstring draws which into which)."""
    try:
        yield
    except _TRANSIENT as exc:
        raise TransientSourceError(_describe(exc)) from exc
    except _HTTPX_ROOTS as exc:
        log.warning("arXiv request GET %s failed: %s", shown, _describe(exc))
        raise SourceUnavailable(f"arXiv request failed ({_describe(exc)}) for {shown}") from exc


class Throttle:
    """One request at a time, the starts at least ``min_interval_s`` apart.

    ``async with throttle:`` takes the turn (waiting for other holders); inside, ``await throttle.start()``
    before each request sleeps out what remains of the interval since the previous start.
    """

    def __init__(
        self,
        *,
        min_interval_s: float,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._min_interval_s = min_interval_s
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._last_start: float | None = None

    async def __aenter__(self) -> Throttle:
        """Wait for the turn."""
        await self._lock.acquire()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Give the turn to the next waiter."""
        self._lock.release()

    async def start(self) -> None:
        """Sleep until ``min_interval_s`` has passed since the previous start, then count a new start."""
        if not self._lock.locked():
            raise RuntimeError("Throttle.start() outside 'async with throttle'")
        if self._last_start is not None:
            remaining = self._min_interval_s - (self._monotonic() - self._last_start)
            if remaining > 0:
                await self._sleep(remaining)
        self._last_start = self._monotonic()


class ArxivHttp:
    """GETs from arXiv, polite and retrying; share one instance among everything that talks to arXiv."""

    def __init__(
        self,
        *,
        min_interval_s: float = 3.0,
        timeout_s: float = 30.0,
        max_retries: int = 4,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        max_retry_after_s: float = 300.0,
        user_agent: str = DEFAULT_USER_AGENT,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_retry: RetryListener | None = None,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        self._on_retry = on_retry
        self._throttle = Throttle(min_interval_s=min_interval_s, monotonic=monotonic, sleep=sleep)
        self._max_retries = max_retries
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._max_retry_after_s = max_retry_after_s
        self._sleep = sleep
        self._now = now
        self._client = httpx.AsyncClient(
            headers={"User-Agent": user_agent}, timeout=httpx.Timeout(timeout_s), follow_redirects=True
        )

    async def get(
        self, url: str, *, params: Mapping[str, str] | None = None, max_bytes: int | None = None
    ) -> HttpAnswer:
        """GET ``url`` in turn, retrying what is worth it; the first answer that is not retried.

        Raises ``SourceUnavailable`` when arXiv cannot be reached or stays busy, ``ResponseTooLarge`` when the
        body passes ``max_bytes``.
        """
        shown = f"{url}?{urlencode(params)}" if params else url
        attempts = self._max_retries + 1
        problem = ""
        async with self._throttle:
            for attempt in range(attempts):
                await self._throttle.start()
                try:
                    answer = await self._attempt(url, params=params, shown=shown, max_bytes=max_bytes)
                except TransientSourceError as err:
                    problem = str(err)
                    delay = self._backoff(attempt)
                else:
                    if isinstance(answer, HttpAnswer):
                        return answer
                    status, retry_after = answer
                    problem = f"HTTP {status}"
                    delay = self._backoff(attempt)
                    if status in RETRY_AFTER_STATUSES:
                        asked = retry_after_seconds(retry_after, now=self._now())
                        if asked is not None and asked > self._max_retry_after_s:
                            log.warning("arXiv GET %s -> %s, Retry-After %.0f s: giving up", shown, problem, asked)
                            raise SourceUnavailable(
                                f"arXiv is busy ({problem}, asked to retry after {asked:.0f} s) for {shown}"
                            )
                        if asked is not None:
                            delay = asked
                if attempt + 1 == attempts:
                    break
                self._retrying(RetryNotice(shown, problem, attempt + 2, attempts, delay))
                await self._sleep(delay)
        log.warning("arXiv GET %s -> %s, giving up after %d attempts", shown, problem, attempts)
        raise SourceUnavailable(f"arXiv unavailable ({problem}) for {shown} after {attempts} attempts")

    def _retrying(self, notice: RetryNotice) -> None:
        """Say that a request is retried: to the listener (and at INFO) when there is one, else at WARNING."""
        level = logging.WARNING
        if self._on_retry is not None:
            level = logging.INFO
            try:
                self._on_retry(notice)
            except Exception:  # a listener's fault must not stop the request
                log.exception("the arXiv retry listener failed")
        log.log(
            level,
            "arXiv GET %s -> %s (attempt %d of %d), retrying in %.1f s",
            notice.url,
            notice.problem,
            notice.attempt - 1,
            notice.attempts,
            notice.delay_s,
        )

    async def _attempt(
        self, url: str, *, params: Mapping[str, str] | None, shown: str, max_bytes: int | None
    ) -> HttpAnswer | tuple[int, str | None]:
        """One request: its answer, or (status, Retry-After) when the status is worth retrying."""
        if self._client.is_closed:
            raise SourceUnavailable(f"arXiv request failed (the HTTP client is closed) for {shown}")
        with map_httpx_exceptions(shown):
            async with self._client.stream("GET", url, params=params) as response:
                if response.status_code in RETRY_STATUSES:
                    return response.status_code, response.headers.get("Retry-After")
                body = await _read_body(response, max_bytes=max_bytes, shown=shown)
                return HttpAnswer(
                    url=shown,
                    status=response.status_code,
                    body=body,
                    content_type=response.headers.get("content-type", "").lower(),
                )

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff for the retry after ``attempt`` (0-based), capped."""
        return float(min(self._max_backoff_s, self._backoff_s * 2**attempt))

    async def aclose(self) -> None:
        """Close the connection pool; closing again does nothing (the client and the fetcher may share it)."""
        await self._client.aclose()


async def _read_body(response: httpx.Response, *, max_bytes: int | None, shown: str) -> bytes:
    """The whole body, stopping as soon as it passes ``max_bytes``."""
    if max_bytes is None:
        return await response.aread()
    too_large = f"arXiv answer larger than {max_bytes} bytes for {shown}"
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ResponseTooLarge(too_large)
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise ResponseTooLarge(too_large)
        chunks.append(chunk)
    return b"".join(chunks)


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


def same_site(url: str, other: str) -> bool:
    """Whether two URLs are one site to be polite to: arxiv.org with its subdomains, else the same host and port."""
    return _site(url) == _site(other)


def _site(url: str) -> str:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host == "arxiv.org" or host.endswith(".arxiv.org"):
        return "arxiv.org"
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: compare what was written
        return parts.netloc.lower()
    return f"{host}:{port or parts.scheme}"


def _describe(exc: Exception) -> str:
    """A one-line name for an exception: its class, and its message when it has one."""
    message = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
