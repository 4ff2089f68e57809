"""ArxivClient (over the real ArxivHttp) against a real local HTTP server playing arXiv, on a controlled clock."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import socket
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from bot.arxiv.client import ArxivClient
from bot.arxiv.http import DEFAULT_USER_AGENT, ArxivHttp, RetryNotice
from bot.errors import PaperNotFound, SourceUnavailable, UserInputError
from bot.ports import PaperSource
from tests.fakes.arxiv_server import DROP, HANG, FakeArxivServer, running_arxiv_server
from tests.fakes.clock import SteppedClock

FIXTURES = Path(__file__).parents[1] / "fixtures"
BIG_FEED = (FIXTURES / "arxiv-rss" / "2026-01-05_cs.AI+cs.CL+cs.DC+cs.LG.xml").read_bytes()
WEEKEND_FEED = (FIXTURES / "arxiv-rss" / "2026-01-10_cs.DC_weekend_empty.xml").read_bytes()
FOUR = frozenset({"cs.AI", "cs.CL", "cs.DC", "cs.LG"})
DC = frozenset({"cs.DC"})


def api_body(name: str) -> str:
    """The raw body of a recorded export API answer."""
    body: str = json.loads((FIXTURES / "arxiv-api" / name).read_text(encoding="utf-8"))["body"]
    return body


MakeClient = Callable[..., ArxivClient]


@pytest.fixture
async def arxiv_server() -> AsyncIterator[FakeArxivServer]:
    async with running_arxiv_server() as server:
        server.feeds[FOUR] = BIG_FEED
        server.feeds[DC] = WEEKEND_FEED
        yield server


@pytest.fixture
async def make_client(arxiv_server: FakeArxivServer) -> AsyncIterator[MakeClient]:
    clients: list[ArxivClient] = []

    def make(**http_options: Any) -> ArxivClient:
        options: dict[str, Any] = {"min_interval_s": 0.0, "timeout_s": 2.0} | http_options
        client = ArxivClient(http=ArxivHttp(**options), rss_url=arxiv_server.rss_url, api_url=arxiv_server.api_url)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def clock(arxiv_server: FakeArxivServer) -> SteppedClock:
    """The clock the client sleeps on; the fake server stamps requests with it too."""
    stepped = SteppedClock()
    arxiv_server.clock = stepped.monotonic
    return stepped


def with_clock(make_client: MakeClient, clock: SteppedClock, **overrides: Any) -> ArxivClient:
    return make_client(sleep=clock.sleep, monotonic=clock.monotonic, now=clock.wall, **overrides)


# --- happy paths -------------------------------------------------------------------------------------


async def test_fetch_listing_asks_for_sorted_categories_and_parses(
    arxiv_server: FakeArxivServer, make_client: MakeClient
) -> None:
    client: PaperSource = make_client()

    listing = await client.fetch_listing(["cs.LG", "cs.DC", "cs.CL", "cs.AI"])

    assert len(listing.papers) == 30
    assert listing.papers[0].versioned_id == "2601.00644v1"
    assert listing.categories == FOUR
    [request] = arxiv_server.requests
    assert request.path == "/rss/cs.AI+cs.CL+cs.DC+cs.LG"
    assert request.headers["user-agent"] == DEFAULT_USER_AGENT


async def test_weekend_listing_is_empty_not_an_error(make_client: MakeClient) -> None:
    listing = await make_client().fetch_listing({"cs.DC"})

    assert listing.papers == ()
    assert listing.skipped_entries == 0


async def test_custom_user_agent_is_sent(arxiv_server: FakeArxivServer, make_client: MakeClient) -> None:
    await make_client(user_agent="arxiv-bot-test/9 (+mailto:ops@example.org)").fetch_listing(DC)

    assert arxiv_server.requests[0].headers["user-agent"] == "arxiv-bot-test/9 (+mailto:ops@example.org)"


async def test_lookup_asks_the_api_for_the_versioned_id(arxiv_server: FakeArxivServer, make_client: MakeClient) -> None:
    arxiv_server.papers["2104.12255v1"] = (200, api_body("id_2104.12255v1.json"))

    paper = await make_client().lookup("https://arxiv.org/abs/2104.12255v1")

    assert paper.title == "0"
    assert paper.versioned_id == "2104.12255v1"
    [request] = arxiv_server.requests
    assert request.path == "/api/query"
    assert request.query == {"id_list": "2104.12255v1"}


async def test_lookup_without_version_asks_for_the_bare_id(
    arxiv_server: FakeArxivServer, make_client: MakeClient
) -> None:
    arxiv_server.papers["1111.2011"] = (
        200,
        (FIXTURES / "arxiv-api" / "id_list_1111.2011v2_2016format.xml").read_text(encoding="utf-8"),
    )

    paper = await make_client().lookup("arXiv:1111.2011")

    assert paper.versioned_id == "1111.2011v2"
    assert paper.primary_category == "cond-mat.str-el"
    assert arxiv_server.requests[0].query == {"id_list": "1111.2011"}


# --- not found and bad input -------------------------------------------------------------------------


async def test_api_error_entry_is_paper_not_found_without_retry(
    arxiv_server: FakeArxivServer, make_client: MakeClient, clock: SteppedClock
) -> None:
    arxiv_server.papers["2601.99999"] = (400, api_body("id_abc_error.json"))

    with pytest.raises(PaperNotFound, match=r"^no such paper on arXiv: 2601\.99999"):
        await with_clock(make_client, clock).lookup("2601.99999")

    assert len(arxiv_server.requests) == 1
    assert clock.sleeps == []


async def test_unknown_id_is_paper_not_found(arxiv_server: FakeArxivServer, make_client: MakeClient) -> None:
    with pytest.raises(PaperNotFound, match=r"^no such paper on arXiv: 2601\.99998v2$"):
        await make_client().lookup("2601.99998v2")

    assert len(arxiv_server.requests) == 1


async def test_malformed_id_is_rejected_before_any_request(
    arxiv_server: FakeArxivServer, make_client: MakeClient
) -> None:
    with pytest.raises(UserInputError, match="'abc' is not an arXiv id"):
        await make_client().lookup("abc")

    assert arxiv_server.requests == []


async def test_html_page_with_200_is_source_unavailable_without_retry(
    arxiv_server: FakeArxivServer, make_client: MakeClient
) -> None:
    arxiv_server.feeds[frozenset({"cs.LG"})] = "<html><body><h1>Service Unavailable</h1></body></html>"

    with pytest.raises(SourceUnavailable, match="not a feed"):
        await make_client().fetch_listing({"cs.LG"})

    assert len(arxiv_server.requests) == 1


async def test_404_listing_is_source_unavailable_without_retry(
    arxiv_server: FakeArxivServer, make_client: MakeClient
) -> None:
    with pytest.raises(SourceUnavailable, match=r"HTTP 404 .*/rss/cs\.XX"):
        await make_client().fetch_listing({"cs.XX"})

    assert len(arxiv_server.requests) == 1


# --- retries -----------------------------------------------------------------------------------------


async def test_429_retry_after_seconds_is_honoured(
    arxiv_server: FakeArxivServer, make_client: MakeClient, clock: SteppedClock, caplog: pytest.LogCaptureFixture
) -> None:
    arxiv_server.fail((429, {"Retry-After": "7"}))
    client = with_clock(make_client, clock, min_interval_s=3.0)

    with caplog.at_level(logging.INFO, logger="bot.arxiv"):
        listing = await client.fetch_listing(FOUR)

    assert len(listing.papers) == 30
    assert clock.sleeps == [7.0]
    assert len(arxiv_server.requests) == 2
    assert any(r.levelno == logging.WARNING and "HTTP 429" in r.getMessage() for r in caplog.records)
    assert any(r.levelno == logging.INFO and "HTTP 200" in r.getMessage() for r in caplog.records)


async def test_a_retry_listener_hears_each_retry_and_the_log_keeps_them_at_info(
    arxiv_server: FakeArxivServer, make_client: MakeClient, clock: SteppedClock, caplog: pytest.LogCaptureFixture
) -> None:
    arxiv_server.fail(503, (429, {"Retry-After": "7"}))
    heard: list[RetryNotice] = []
    client = with_clock(make_client, clock, max_retries=4, on_retry=heard.append)

    with caplog.at_level(logging.INFO, logger="bot.arxiv"):
        listing = await client.fetch_listing(FOUR)

    assert len(listing.papers) == 30
    url = f"{arxiv_server.rss_url}/cs.AI+cs.CL+cs.DC+cs.LG"
    assert heard == [RetryNotice(url, "HTTP 503", 2, 5, 1.0), RetryNotice(url, "HTTP 429", 3, 5, 7.0)]
    retries = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert [r.levelno for r in retries] == [logging.INFO, logging.INFO]  # the listener shows them instead

    arxiv_server.fail(503, 503, 503, 503, 503)
    with caplog.at_level(logging.INFO, logger="bot.arxiv"), pytest.raises(SourceUnavailable):
        await client.fetch_listing(FOUR)
    assert [n.attempt for n in heard[2:]] == [2, 3, 4, 5]
    assert any(r.levelno == logging.WARNING and "giving up after 5 attempts" in r.getMessage() for r in caplog.records)


async def test_503_retry_after_http_date_is_honoured(
    arxiv_server: FakeArxivServer, make_client: MakeClient, clock: SteppedClock
) -> None:
    later = clock.wall() + timedelta(seconds=30)
    arxiv_server.fail((503, {"Retry-After": format_datetime(later, usegmt=True)}))

    await with_clock(make_client, clock).fetch_listing(DC)

    assert clock.sleeps == [30.0]
    assert [r.started for r in arxiv_server.requests] == [1000.0, 1030.0]


async def test_backoff_is_exponential_and_capped_over_every_retryable_fault(
    arxiv_server: FakeArxivServer, make_client: MakeClient, clock: SteppedClock
) -> None:
    arxiv_server.fail(503, 500, DROP, 502, 429)
    client = with_clock(make_client, clock, max_retries=5, backoff_s=1.0, max_backoff_s=5.0)

    listing = await client.fetch_listing(DC)

    assert listing.papers == ()
    assert clock.sleeps == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert len(arxiv_server.requests) == 6


async def test_gives_up_after_max_retries(
    arxiv_server: FakeArxivServer, make_client: MakeClient, clock: SteppedClock
) -> None:
    arxiv_server.fail(503, 503, 503, 503)
    client = with_clock(make_client, clock, max_retries=2)

    with pytest.raises(SourceUnavailable) as caught:
        await client.fetch_listing(DC)

    message = str(caught.value)
    assert "HTTP 503" in message
    assert f"{arxiv_server.rss_url}/cs.DC" in message
    assert "3 attempts" in message
    assert "\n" not in message
    assert len(arxiv_server.requests) == 3
    assert clock.sleeps == [1.0, 2.0]


async def test_default_max_retries_is_four(
    arxiv_server: FakeArxivServer, make_client: MakeClient, clock: SteppedClock
) -> None:
    arxiv_server.fail(*[502] * 6)

    with pytest.raises(SourceUnavailable, match="after 5 attempts"):
        await with_clock(make_client, clock).lookup("2601.00644")

    assert len(arxiv_server.requests) == 5


async def test_retry_after_too_long_gives_up_at_once(
    arxiv_server: FakeArxivServer, make_client: MakeClient, clock: SteppedClock
) -> None:
    arxiv_server.fail((429, {"Retry-After": "3600"}))

    with pytest.raises(SourceUnavailable, match="3600 s"):
        await with_clock(make_client, clock, max_retry_after_s=120.0).fetch_listing(DC)

    assert clock.sleeps == []
    assert len(arxiv_server.requests) == 1


async def test_timeout_becomes_source_unavailable(arxiv_server: FakeArxivServer, make_client: MakeClient) -> None:
    arxiv_server.fail(HANG)

    with pytest.raises(SourceUnavailable, match="ReadTimeout"):
        await make_client(timeout_s=0.2, max_retries=0).fetch_listing(DC)


async def test_connection_refused_becomes_source_unavailable() -> None:
    clock = SteppedClock()
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))  # bound but not listening: connections are refused
        port = unused.getsockname()[1]
        client = ArxivClient(
            http=ArxivHttp(max_retries=1, sleep=clock.sleep, monotonic=clock.monotonic),
            rss_url=f"http://127.0.0.1:{port}/rss",
            api_url=f"http://127.0.0.1:{port}/api/query",
        )
        async with client:
            with pytest.raises(SourceUnavailable, match=r"ConnectError.*after 2 attempts"):
                await client.lookup("2601.00644")

    assert clock.sleeps == [1.0, 2.0]  # one backoff, then the 3 s interval's remaining 2 s


@pytest.mark.parametrize(
    ("rss_url", "kind"),
    [("ftp://127.0.0.1/rss", "UnsupportedProtocol"), ("http://[::1/rss", "InvalidURL")],
)
async def test_a_request_that_cannot_be_made_fails_at_once(rss_url: str, kind: str) -> None:
    clock = SteppedClock()
    http = ArxivHttp(sleep=clock.sleep, monotonic=clock.monotonic)
    async with ArxivClient(http=http, rss_url=rss_url) as client:
        with pytest.raises(SourceUnavailable, match=rf"^arXiv request failed \({kind}.*\) for .*/rss/cs\.DC$"):
            await client.fetch_listing(DC)

    assert clock.sleeps == []


async def test_a_closed_client_answers_source_unavailable(
    arxiv_server: FakeArxivServer, make_client: MakeClient
) -> None:
    client = make_client()
    await client.aclose()
    await client.aclose()

    with pytest.raises(SourceUnavailable, match="closed"):
        await client.fetch_listing(DC)

    assert arxiv_server.requests == []


# --- politeness --------------------------------------------------------------------------------------


async def test_min_interval_between_request_starts(
    arxiv_server: FakeArxivServer, make_client: MakeClient, clock: SteppedClock
) -> None:
    arxiv_server.papers["2104.12255"] = (200, api_body("id_2104.12255v1.json"))
    client = with_clock(make_client, clock, min_interval_s=3.0)

    await client.fetch_listing(DC)
    await client.lookup("2104.12255")
    clock.advance(1.0)
    await client.fetch_listing(DC)
    clock.advance(10.0)
    await client.fetch_listing(DC)

    assert clock.sleeps == [3.0, 2.0]
    assert [r.started for r in arxiv_server.requests] == [1000.0, 1003.0, 1006.0, 1016.0]


async def test_concurrent_calls_never_overlap_at_the_server(
    arxiv_server: FakeArxivServer, make_client: MakeClient
) -> None:
    arxiv_server.latency_s = 0.03
    client = make_client()

    big, weekend, missing = await asyncio.gather(
        client.fetch_listing(FOUR),
        client.fetch_listing(DC),
        client.lookup("2601.00001"),
        return_exceptions=True,
    )

    assert not isinstance(big, BaseException) and len(big.papers) == 30
    assert not isinstance(weekend, BaseException) and weekend.papers == ()
    assert isinstance(missing, PaperNotFound)
    assert arxiv_server.max_in_flight == 1
    spans = sorted((r.started, r.finished or 0.0) for r in arxiv_server.requests)
    assert len(spans) == 3
    assert all(later[0] >= earlier[1] for earlier, later in itertools.pairwise(spans))


async def test_concurrent_calls_start_min_interval_apart(
    arxiv_server: FakeArxivServer, make_client: MakeClient, clock: SteppedClock
) -> None:
    client = with_clock(make_client, clock, min_interval_s=3.0)

    await asyncio.gather(
        client.fetch_listing(DC), client.fetch_listing(FOUR), client.lookup("2601.00001"), return_exceptions=True
    )

    assert [r.started for r in arxiv_server.requests] == [1000.0, 1003.0, 1006.0]
    assert clock.sleeps == [3.0, 3.0]


async def test_a_caller_keeps_its_turn_while_arxiv_asks_it_to_wait(
    arxiv_server: FakeArxivServer, make_client: MakeClient, clock: SteppedClock
) -> None:
    arxiv_server.fail((429, {"Retry-After": "7"}))
    client = with_clock(make_client, clock, min_interval_s=3.0)

    listing, missing = await asyncio.gather(
        client.fetch_listing(DC), client.lookup("2601.00001"), return_exceptions=True
    )

    assert not isinstance(listing, BaseException) and listing.papers == ()
    assert isinstance(missing, PaperNotFound)
    assert [(r.path, r.started) for r in arxiv_server.requests] == [
        ("/rss/cs.DC", 1000.0),
        ("/rss/cs.DC", 1007.0),
        ("/api/query", 1010.0),
    ]


# --- many papers at once (likes and imports) ---------------------------------------------------------


async def test_lookup_many_asks_for_many_ids_per_request_politely_and_leaves_unknown_ones_out(
    arxiv_server: FakeArxivServer, make_client: MakeClient, clock: SteppedClock
) -> None:
    from bot.arxiv.client import BATCH_SIZE
    from tests.fakes.arxiv_server import atom_entry

    known = [f"2601.{n:05d}" for n in range(1, 2 * BATCH_SIZE + 6, 2)]  # every other id of 2.1 batches
    for arxiv_id in known:
        arxiv_server.papers[f"{arxiv_id}v1"] = (200, atom_entry(arxiv_id, f"Paper {arxiv_id}", "Abstract."))
    wanted = [f"2601.{n:05d}" for n in range(1, 2 * BATCH_SIZE + 6)]

    papers = await with_clock(make_client, clock, min_interval_s=3.0).lookup_many([*wanted, wanted[0]])

    assert [p.arxiv_id for p in papers] == known
    assert papers[0].title == "Paper 2601.00001" and papers[0].version == 1
    requests = arxiv_server.requests
    assert [len(r.query["id_list"].split(",")) for r in requests] == [BATCH_SIZE, BATCH_SIZE, 5]
    assert [r.query["max_results"] for r in requests] == [str(BATCH_SIZE), str(BATCH_SIZE), "5"]
    assert [r.query["id_list"].split(",") for r in requests] == [
        wanted[:BATCH_SIZE],
        wanted[BATCH_SIZE : 2 * BATCH_SIZE],
        wanted[2 * BATCH_SIZE :],
    ]
    # One at a time, at least 3 s apart (the shared politeness of ArxivHttp).
    starts = [r.started for r in requests]
    assert all(b - a >= 3.0 for a, b in itertools.pairwise(starts))


async def test_lookup_many_retries_a_429_and_a_list_arxiv_refuses_is_asked_one_by_one(
    arxiv_server: FakeArxivServer, make_client: MakeClient, clock: SteppedClock
) -> None:
    from tests.fakes.arxiv_server import atom_entry

    arxiv_server.papers["2601.00001"] = (200, atom_entry("2601.00001", "One", "A."))
    arxiv_server.papers["2601.00002"] = (400, api_body("id_abc_error.json"))
    arxiv_server.fail((429, {"Retry-After": "5"}))

    papers = await with_clock(make_client, clock).lookup_many(["2601.00001", "2601.00002"])

    assert [p.versioned_id for p in papers] == ["2601.00001v1"]
    assert [r.query["id_list"] for r in arxiv_server.requests] == [
        "2601.00001,2601.00002",  # the 429
        "2601.00001,2601.00002",  # refused whole for one id
        "2601.00001",
        "2601.00002",
    ]
    assert clock.sleeps[0] == 5


async def test_lookup_many_of_nothing_asks_nothing(arxiv_server: FakeArxivServer, make_client: MakeClient) -> None:
    assert await make_client().lookup_many([]) == []
    assert arxiv_server.requests == []
