"""Shared listings and selection: each code fetched once per announcement, archives, single flight, errors."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from bot.delivery.selection import SharedListings, listed_in, request_codes
from bot.errors import SourceUnavailable
from bot.models import ChannelRef
from tests.fakes.clock import FixedClock
from tests.fakes.core import TODAY, FakeCore, ctx, fake_core, paper
from tests.fakes.source import FakeSource

A, B, C = ChannelRef("test", "w1", "a"), ChannelRef("test", "w1", "b"), ChannelRef("test", "w2", "c")
LG = (paper(11, "LLM agents", primary="cs.LG"), paper(12, "RL for MoE routing", primary="cs.LG"))
MATH = (paper(21, "LLM proofs of lemmas", primary="math.CO"),)


async def channel(core: FakeCore, ref: ChannelRef, categories: str, *lines: str) -> None:
    for line in (f"subscribe {categories}", "keywords add LLM, RL, MoE", *lines):
        await core.commands.execute(ctx(channel=ref), line)


def test_a_category_of_an_archive_asked_for_comes_with_the_archive() -> None:
    assert request_codes(["cs.LG", "cs", "math.CO", "hep-th", "cs.DC"]) == ["cs", "hep-th", "math.CO"]
    assert listed_in(LG[0], "cs") and listed_in(LG[0], "cs.LG") and not listed_in(LG[0], "cs.DC")
    cross = replace(MATH[0], categories=("math.CO", "cs.DS"))
    assert listed_in(cross, "cs") and listed_in(cross, "cs.DS") and not listed_in(MATH[0], "cs")


async def test_every_category_is_fetched_once_for_all_channels_and_runs() -> None:
    core = fake_core()
    core.source.listings[frozenset({"cs.DC"})] = TODAY
    core.source.listings[frozenset({"cs.LG"})] = LG
    await channel(core, A, "cs.DC")
    await channel(core, B, "cs.DC cs.LG")
    await channel(core, C, "cs.LG")
    outcomes = await core.runner.run(await core.repos.channels.all_active())
    assert sorted(core.source.fetched) == [("cs.DC",), ("cs.LG",)]
    assert {ref: (o.posted, o.listed) for ref, o in outcomes.items()} == {A: (3, 4), B: (5, 6), C: (2, 2)}
    # Later runs the same day (another slot, `digest now`, `preview`) use what was fetched.
    for ref in (A, B, C):
        await core.commands.execute(ctx(channel=ref), "digest now")
        await core.commands.execute(ctx(channel=ref), "preview")
    assert sorted(core.source.fetched) == [("cs.DC",), ("cs.LG",)]
    assert len(core.repos.papers.stored) == len(TODAY) + len(LG)  # each paper stored once


async def test_an_archive_selects_the_papers_of_its_categories() -> None:
    core = fake_core()
    core.source.listings[frozenset({"cs"})] = TODAY + LG
    core.source.listings[frozenset({"math"})] = MATH
    await channel(core, A, "cs")
    await channel(core, B, "cs.LG")
    await channel(core, C, "cs math")
    outcomes = await core.runner.run(await core.repos.channels.all_active())
    assert core.source.fetched in ([("cs",), ("math",)], [("math",), ("cs",)])  # cs.LG is cut from cs
    picked = {ref: sorted(s.paper.arxiv_id for s in o.selected) for ref, o in outcomes.items()}
    assert picked[A] == ["2601.00001", "2601.00002", "2601.00003", "2601.00011", "2601.00012"]
    assert picked[B] == ["2601.00011", "2601.00012"]
    assert picked[C] == [*picked[A], "2601.00021"]
    assert (outcomes[A].listed, outcomes[B].listed, outcomes[C].listed) == (6, 2, 7)


async def test_concurrent_runs_share_one_fetch_per_category() -> None:
    core = fake_core()
    core.source.listings[frozenset({"cs.DC"})] = TODAY
    core.source.listings[frozenset({"cs.LG"})] = LG
    for ref, cats in ((A, "cs.DC"), (B, "cs.DC cs.LG"), (C, "cs.LG")):
        await channel(core, ref, cats)
    core.source.gate = gate = asyncio.Event()
    runs = [asyncio.create_task(core.commands.execute(ctx(channel=ref), "digest now")) for ref in (A, B, C)]
    await core.source.wait_held(2)  # both requests in flight, held by the gate
    assert sorted(core.source.fetched) == [("cs.DC",), ("cs.LG",)]
    gate.set()
    replies = await asyncio.gather(*runs)
    assert [r.posted for r in replies] == [3, 5, 2]
    assert sorted(core.source.fetched) == [("cs.DC",), ("cs.LG",)]


async def test_a_failed_fetch_is_not_kept_and_fails_only_its_channels() -> None:
    core = fake_core()
    core.source.listings[frozenset({"cs.DC"})] = TODAY
    core.source.listings[frozenset({"cs.LG"})] = LG
    await channel(core, A, "cs.DC")
    await channel(core, B, "cs.DC cs.LG")
    core.source.failing[frozenset({"cs.LG"})] = SourceUnavailable("arXiv RSS answered HTTP 503")
    outcomes = await core.runner.run(await core.repos.channels.all_active())
    assert (outcomes[A].posted, outcomes[A].error) == (3, None)
    assert (outcomes[B].posted, outcomes[B].error) == (0, "arXiv RSS answered HTTP 503")
    del core.source.failing[frozenset({"cs.LG"})]
    reply = await core.commands.execute(ctx(channel=B), "digest now")
    assert reply.posted == 5
    assert sorted(core.source.fetched) == [("cs.DC",), ("cs.LG",), ("cs.LG",)]


async def test_a_listing_is_kept_until_the_next_announcement() -> None:
    clock = FixedClock()  # Monday 10:00 UTC, 05:00 in New York
    source = FakeSource(listings={frozenset({"cs.DC"}): TODAY})
    listings = SharedListings(source=source, clock=clock, stale_max_age_s=600)
    await listings.get(["cs.DC"])
    clock.current += timedelta(hours=18)  # 23:00 in New York: the same announcement
    await listings.get(["cs.DC"])
    assert source.fetched == [("cs.DC",)]
    clock.current += timedelta(hours=2)  # past midnight in New York: arXiv's next listing
    await listings.get(["cs.DC"])
    assert source.fetched == [("cs.DC",), ("cs.DC",)]


async def test_a_listing_that_is_not_todays_is_kept_briefly() -> None:
    clock = FixedClock()
    source = FakeSource(listings={frozenset({"cs.DC"}): TODAY})
    source.announced = source.announced - timedelta(days=3)  # arXiv has not rebuilt its listing yet
    listings = SharedListings(source=source, clock=clock, stale_max_age_s=600)
    await listings.get(["cs.DC"])
    clock.current += timedelta(seconds=599)
    await listings.get(["cs.DC"])
    assert len(source.fetched) == 1
    clock.current += timedelta(seconds=2)
    entries = await listings.get(["cs.DC"])
    assert len(source.fetched) == 2
    assert not isinstance(entries["cs.DC"], Exception) and len(entries["cs.DC"].listing.papers) == 4


async def test_codes_may_share_one_request_and_are_cut_apart() -> None:
    source = FakeSource(listings={frozenset({"cs.DC", "cs.LG"}): TODAY + LG})
    listings = SharedListings(source=source, clock=FixedClock(), max_codes_per_request=10)
    entries = await listings.get(["cs.LG", "cs.DC"])
    assert source.fetched == [("cs.DC", "cs.LG")]
    ids = {code: entry.ids for code, entry in entries.items() if not isinstance(entry, Exception)}
    assert ids == {"cs.DC": {p.versioned_id for p in TODAY}, "cs.LG": {p.versioned_id for p in LG}}
