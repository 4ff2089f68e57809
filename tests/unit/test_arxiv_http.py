"""The arXiv HTTP layer's pure parts: the throttle on a stepped clock, error conversion, Retry-After, sites."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import grimp
import httpx
import pytest

from bot.arxiv.http import Throttle, map_httpx_exceptions, retry_after_seconds, same_site
from bot.errors import ArxivBotError, SourceError, SourceUnavailable, TransientSourceError
from tests.fakes.clock import SteppedClock

URL = "https://export.arxiv.org/api/query?id_list=2601.00644"

# --- the throttle ------------------------------------------------------------------------------------


def throttle_on(clock: SteppedClock, min_interval_s: float = 3.0) -> Throttle:
    return Throttle(min_interval_s=min_interval_s, monotonic=clock.monotonic, sleep=clock.sleep)


async def test_starts_are_spaced_by_the_interval_counting_time_already_passed() -> None:
    clock = SteppedClock()
    throttle = throttle_on(clock)
    starts = []

    for pause in (0.0, 0.0, 1.0, 10.0):
        clock.advance(pause)
        async with throttle:
            await throttle.start()
            starts.append(clock.monotonic())

    assert starts == [1000.0, 1003.0, 1006.0, 1016.0]
    assert clock.sleeps == [3.0, 2.0]


async def test_one_holder_at_a_time_in_arrival_order_and_its_retries_keep_the_turn() -> None:
    clock = SteppedClock()
    throttle = throttle_on(clock)
    events: list[tuple[str, float]] = []

    async def caller(name: str, attempts: int) -> None:
        async with throttle:
            for attempt in range(attempts):
                await throttle.start()
                events.append((f"{name}{attempt}", clock.monotonic()))
                await clock.sleep(1.0)  # a request that takes a second, or a backoff

    await asyncio.gather(caller("a", 2), caller("b", 1), caller("c", 1))

    assert events == [("a0", 1000.0), ("a1", 1003.0), ("b0", 1006.0), ("c0", 1009.0)]


async def test_no_interval_means_no_sleep() -> None:
    clock = SteppedClock()
    throttle = throttle_on(clock, min_interval_s=0.0)
    for _ in range(3):
        async with throttle:
            await throttle.start()
    assert clock.sleeps == []


async def test_start_outside_the_turn_is_a_bug() -> None:
    with pytest.raises(RuntimeError, match="outside"):
        await throttle_on(SteppedClock()).start()


# --- converting httpx's exceptions -------------------------------------------------------------------


def httpx_exception_classes() -> list[type[Exception]]:
    """Every exception class httpx exports."""
    return [
        obj
        for name in httpx.__all__
        if isinstance(obj := getattr(httpx, name), type) and issubclass(obj, Exception)
    ]


def make_httpx_exception(cls: type[Exception]) -> Exception:
    request = httpx.Request("GET", URL)
    if issubclass(cls, httpx.HTTPStatusError):
        return cls("boom", request=request, response=httpx.Response(500, request=request))
    if issubclass(cls, httpx.RequestError):
        return cls("boom\nover two lines", request=request)
    if cls in (httpx.StreamConsumed, httpx.StreamClosed, httpx.ResponseNotRead, httpx.RequestNotRead):
        return cls()
    return cls("boom")


TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def test_the_list_holds_every_httpx_error_root() -> None:
    """The parametrized case below runs over this list: a new httpx exception class joins it by itself."""
    classes = httpx_exception_classes()
    assert {httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, httpx.CookieConflict} <= set(classes)
    assert {httpx.ReadTimeout, httpx.ConnectError, httpx.TooManyRedirects, httpx.StreamConsumed} <= set(classes)


@pytest.mark.parametrize("cls", httpx_exception_classes(), ids=lambda c: c.__name__)
def test_every_httpx_exception_becomes_ours(cls: type[Exception]) -> None:
    original = make_httpx_exception(cls)

    with pytest.raises(ArxivBotError) as caught:
        with map_httpx_exceptions(URL):
            raise original

    err = caught.value
    assert isinstance(err, SourceUnavailable)
    assert isinstance(err, TransientSourceError) is issubclass(cls, TRANSIENT)
    assert err.__cause__ is original
    assert cls.__name__ in str(err) and "\n" not in str(err)
    if not issubclass(cls, TRANSIENT):
        assert str(err).startswith(f"arXiv request failed ({cls.__name__}") and str(err).endswith(f"for {URL}")


def test_our_errors_and_others_pass_through_unchanged() -> None:
    ours = SourceError("already ours")
    with pytest.raises(SourceError) as caught, map_httpx_exceptions(URL):
        raise ours
    assert caught.value is ours
    with pytest.raises(KeyError), map_httpx_exceptions(URL):
        raise KeyError("a bug stays a bug")


def test_httpx_lives_in_the_http_layer_only() -> None:
    """Nothing in bot/ above bot/arxiv/http.py imports httpx, so nothing above it can catch httpx's errors."""
    graph = grimp.build_graph("bot", include_external_packages=True, cache_dir=None)
    importers = {
        module
        for package in ("httpx", "httpcore")
        if package in graph.modules
        for module in graph.find_modules_that_directly_import(package)
    }
    assert importers == {"bot.arxiv.http"}


# --- Retry-After -------------------------------------------------------------------------------------


NOW = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("Mon, 05 Jan 2026 12:00:30 GMT", 30.0),
        ("Mon, 05 Jan 2026 11:59:00 GMT", 0.0),
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_seconds(value: str | None, expected: float | None) -> None:
    assert retry_after_seconds(value, now=NOW) == expected


# --- which URLs are one site -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "other", "expected"),
    [
        ("https://arxiv.org", "https://export.arxiv.org/api/query", True),
        ("https://arxiv.org", "https://rss.arxiv.org/rss", True),
        ("https://www.arxiv.org/html", "http://ARXIV.org", True),
        ("http://127.0.0.1:8001", "http://127.0.0.1:8001/api/query", True),
        ("http://127.0.0.1:8001", "http://127.0.0.1:8002/api/query", False),
        ("https://mirror.example.org", "https://export.arxiv.org/api/query", False),
        ("https://notarxiv.org", "https://arxiv.org", False),
        ("http://localhost", "http://localhost:80/x", False),
    ],
)
def test_same_site(url: str, other: str, expected: bool) -> None:
    assert same_site(url, other) is expected
