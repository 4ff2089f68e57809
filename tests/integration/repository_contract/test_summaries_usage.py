"""Summaries stored once per key, the newest per paper for feeds, and LLM usage per UTC day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from bot.models import StoredSummary, SummaryKey, SummarySection, ThreadSummary, UsageReport, UsageTotals
from tests.fakes.clock import FixedClock
from tests.integration.repository_contract.conftest import BUDGET_USD, MODEL, Repositories, paper


def summary(tldr: str = "Short.", body: str = "Body", **overrides: object) -> StoredSummary:
    values: dict[str, object] = {
        "tldr": tldr,
        "sections": (SummarySection(title="Key results", body=body), SummarySection(title="Method", body="Ünïcode ✓")),
        "answered_by": "openai/fallback",
        "source": "fulltext",
        "input_tokens": 1200,
        "output_tokens": 300,
        "cost_usd": 0.25,
    } | overrides
    return StoredSummary(**values)  # type: ignore[arg-type]


def key(
    arxiv_id: str = "2601.00001", version: int = 1, model: str = MODEL, language: str = "en", prompt: str = "1"
) -> SummaryKey:
    return SummaryKey(arxiv_id, version, model, language, prompt)


async def test_a_summary_is_stored_once_per_key(repos: Repositories) -> None:
    assert await repos.summaries.get(key()) is None
    first = summary("First.")
    await repos.summaries.put(key(), first)
    await repos.summaries.put(key(), summary("Second."))
    assert await repos.summaries.get(key()) == first
    for other in (key(version=2), key(model="other/model"), key(language="de"), key(prompt="2"), key("2601.00002")):
        assert await repos.summaries.get(other) is None
    await repos.summaries.put(key(language="de"), summary("Kurz.", source="abstract", cost_usd=0.0))
    assert await repos.summaries.get(key(language="de")) == summary("Kurz.", source="abstract", cost_usd=0.0)
    assert await repos.summaries.get(key()) == first


async def test_newest_for_takes_the_newest_summary_of_each_paper_version(
    repos: Repositories, clock: FixedClock
) -> None:
    p1, p1v2, p2, p3 = paper("2601.00001"), paper("2601.00001", 2), paper("2601.00002"), paper("2601.00003")
    await repos.summaries.put(key(model="old/model"), summary("Old model."))
    clock.current += timedelta(minutes=1)
    await repos.summaries.put(key(prompt="2"), summary("Newer prompt.", body="New body"))
    await repos.summaries.put(key(version=2), summary("Version two."))
    await repos.summaries.put(key("2601.00002", language="de"), summary("Nur Deutsch."))
    await repos.summaries.put(key("2601.00003"), summary(""))
    found = await repos.summaries.newest_for([p1, p2, p3], language="en")
    assert list(found) == ["2601.00001v1", "2601.00003v1"]
    assert found["2601.00001v1"] == ThreadSummary(
        paper=p1, heading="Summary", sections=summary(body="New body").sections, tldr="Newer prompt."
    )
    assert found["2601.00003v1"].tldr is None  # an empty TL;DR is none
    assert (await repos.summaries.newest_for([p1v2], language="en"))["2601.00001v2"].tldr == "Version two."
    assert (await repos.summaries.newest_for([p2], language="de"))["2601.00002v1"].tldr == "Nur Deutsch."
    assert await repos.summaries.newest_for([], language="en") == {}
    assert await repos.summaries.newest_for([paper("2601.00009")], language="en") == {}


async def test_newest_for_ties_go_to_the_later_summary(repos: Repositories) -> None:
    p = paper("2601.00001")
    await repos.summaries.put(key(model="a/model"), summary("A."))
    await repos.summaries.put(key(model="b/model"), summary("B."))
    assert (await repos.summaries.newest_for(iter([p]), language="en"))[p.versioned_id].tldr == "B."


async def test_usage_today_and_this_month(repos: Repositories, clock: FixedClock) -> None:
    clock.current = datetime(2025, 12, 31, 23, 0, tzinfo=UTC)
    await repos.usage.record_call(model=MODEL, input_tokens=1, output_tokens=1, cost_usd=0.5)  # last month
    clock.current = datetime(2026, 1, 4, 12, 0, tzinfo=UTC)
    await repos.usage.record_call(model=MODEL, input_tokens=100, output_tokens=10, cost_usd=0.125, cache_miss=True)
    clock.current = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
    await repos.usage.record_call(model=MODEL, input_tokens=200, output_tokens=20, cost_usd=0.25, cache_miss=True)
    await repos.usage.record_call(model="other/fallback", input_tokens=50, output_tokens=5, cost_usd=0.0625)
    await repos.usage.record_failure(model=MODEL, cache_miss=True)
    await repos.usage.record_failure(model="other/fallback")
    await repos.usage.record_lookup(hit=True)
    await repos.usage.record_lookup(hit=True)
    await repos.usage.record_lookup(hit=False)
    report = await repos.usage.report()
    today = UsageTotals(
        calls=4,
        failures=2,
        input_tokens=250,
        output_tokens=25,
        cost_usd=0.3125,
        cache_hits=2,
        cache_misses=3,
    )
    month = UsageTotals(
        calls=5,
        failures=2,
        input_tokens=350,
        output_tokens=35,
        cost_usd=0.4375,
        cache_hits=2,
        cache_misses=4,
    )
    assert report == UsageReport(
        day=date(2026, 1, 5), today=today, month=month, model=MODEL, daily_budget_usd=BUDGET_USD
    )
    assert report.today.hit_rate == 0.4


async def test_nothing_recorded_reports_zeros(repos: Repositories) -> None:
    report = await repos.usage.report()
    assert report.today == report.month == UsageTotals()
    assert report.today.cost_usd == 0.0 and isinstance(report.today.cost_usd, float)
    assert await repos.usage.within_budget()


async def test_the_budget_is_for_the_utc_day(repos: Repositories, clock: FixedClock) -> None:
    clock.current = datetime(2026, 1, 5, 23, 59, tzinfo=UTC)
    await repos.usage.record_call(model=MODEL, input_tokens=1, output_tokens=1, cost_usd=0.75)
    assert await repos.usage.within_budget()
    await repos.usage.record_call(model="other/fallback", input_tokens=1, output_tokens=1, cost_usd=0.25)
    assert not await repos.usage.within_budget()  # spent == budget: no more calls today
    clock.current = datetime(2026, 1, 6, 0, 0, tzinfo=UTC)
    assert await repos.usage.within_budget()
    assert (await repos.usage.report()).month.cost_usd == 1.0
