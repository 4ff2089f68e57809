"""LearnedRanking over fakes: the digest's rerank step, explanations and status, refits off the caller's time."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from datetime import timedelta

import pytest

from bot.delivery.runner import DigestRunner
from bot.models import ChannelRecord, ChannelRef, ChannelSignals, Paper, ScoredPaper
from bot.ranking.service import LearnedRanking
from tests.fakes.core import CHANNEL, FakeCore, ctx, fake_core, paper
from tests.fakes.ranking import FakeSignalReader
from tests.fakes.ranking_data import gui_agents

CATEGORIES = ("cs.AI", "cs.CL", "cs.CV", "cs.HC", "cs.LG")


async def a_channel(core: FakeCore, *lines: str, categories: Sequence[str] = ("cs.DC",)) -> ChannelRecord:
    for line in (f"subscribe {' '.join(categories)}", *lines):
        await core.commands.execute(ctx(), line)
    record = await core.repos.channels.get(CHANNEL)
    assert record is not None
    return record


def ranking_of(core: FakeCore, reader: FakeSignalReader, **changes: object) -> LearnedRanking:
    values: dict[str, object] = {
        "signals": reader,
        "corpus": core.repos.papers,
        "clock": core.clock,
        "min_positives": 5,
        "author_bonus": 2.0,
    } | changes
    return LearnedRanking(**values)  # type: ignore[arg-type]


def runner_of(core: FakeCore, ranking: object) -> DigestRunner:
    return DigestRunner(
        source=core.source,
        channels=core.repos.channels,
        papers=core.repos.papers,
        ledger=core.repos.ledger,
        publisher=core.publisher,
        summarizer=core.summarizer,
        clock=core.clock,
        author_bonus=2.0,
        reranker=ranking,  # type: ignore[arg-type]
    )


async def learned_setup(
    *, liked: int = 30, keywords: str = "benchmark, reasoning"
) -> tuple[FakeCore, ChannelRecord, FakeSignalReader, LearnedRanking]:
    """A channel of the GUI-agents fixture with broad keywords, its liked papers and the background stored."""
    data = gui_agents()
    core = fake_core()
    record = await a_channel(core, f"keywords add {keywords}", categories=CATEGORIES)
    await core.repos.papers.add_many([*data.background, *data.liked])
    for code in CATEGORIES:  # one listing per category, as arXiv lists them (cross-lists included)
        core.source.listings[frozenset({code})] = tuple(p for p in data.candidates if code in p.categories)
    reader = FakeSignalReader()
    reader.like(record.id, *(p.arxiv_id for p in data.liked[:liked]), at=core.clock.now())
    return core, record, reader, ranking_of(core, reader)


async def test_status_counts_distinct_signals_and_says_keywords_below_the_minimum() -> None:
    core = fake_core()
    record = await a_channel(core)
    reader = FakeSignalReader()
    reader.like(record.id, "2601.00001", "2601.00002", "2601.00002")
    reader.down(record.id, "2601.00003")
    ranking = ranking_of(core, reader, min_positives=3)
    status = await ranking.status(record)
    assert (status.mode, status.positives, status.negatives, status.min_positives) == ("keywords", 2, 1, 3)
    assert (status.last_fit_at, status.quality_ap) == (None, None)
    reader.like(record.id, "2601.00004")
    assert (await ranking.status(record)).mode == "learned"
    await ranking.aclose()


async def test_status_is_off_when_the_channel_turned_ranking_off() -> None:
    core = fake_core()
    record = await a_channel(core)
    reader = FakeSignalReader()
    reader.like(record.id, *(f"2601.{n:05d}" for n in range(1, 9)))
    reader.signals[record.id] = dataclasses.replace(reader.signals[record.id], ranking_enabled=False)
    assert (await ranking_of(core, reader).status(record)).mode == "off"


async def test_explain_gives_the_matched_keywords_even_for_an_excluded_paper_of_another_category() -> None:
    core = fake_core()
    record = await a_channel(core, "keywords add LLM, RL", "exclude add serving")
    ranking = ranking_of(core, FakeSignalReader())
    why = await ranking.explain(record, paper(1, "LLM serving with RL", primary="cs.LG"))
    assert (why.mode, why.score, why.matched_keywords) == ("keywords", 3.0, ("LLM", "RL"))
    nothing = await ranking.explain(record, paper(2, "Erasure codes"))
    assert (nothing.score, nothing.matched_keywords) == (0.0, ())


async def test_below_the_minimum_the_digest_is_exactly_the_keyword_one() -> None:
    core, record, _reader, ranking = await learned_setup(liked=4)
    learned = await runner_of(core, ranking).select([record])
    plain = await runner_of(core, None).select([record])
    assert learned.picks == plain.picks and learned.picks[record.ref]
    assert ranking.model_of(record.id) is None


async def test_with_enough_positives_the_digest_ranks_by_the_model_and_says_why() -> None:
    core, record, _reader, ranking = await learned_setup()
    data = gui_agents()
    plain = (await runner_of(core, None).select([record])).picks[record.ref]
    picks = (await runner_of(core, ranking).select([record])).picks[record.ref]
    assert [p.paper.arxiv_id for p in picks] != [p.paper.arxiv_id for p in plain]
    assert len(picks) == record.max_papers
    liked_share = sum(p.paper.arxiv_id in data.positives for p in picks) / len(picks)
    plain_share = sum(p.paper.arxiv_id in data.positives for p in plain) / len(plain)
    assert liked_share >= 0.8 > 0.2 >= plain_share  # broad keywords find few of them; the model most
    assert all(any(m.startswith("like: ") for m in p.matched) for p in picks)
    # The ledger keeps the why with the row: a card posted after a restart still says it.
    await core.repos.ledger.plan(record.id, picks)
    assert [r.matched for r in await core.repos.ledger.unfinished(record.id)] == [p.matched for p in picks]
    status = await ranking.status(record)
    assert status.mode == "learned" and status.last_fit_at == core.clock.now()
    # The digest fits only what ranks; its own quality is measured by a refit in the background, now scheduled.
    assert status.quality_ap is None and ranking.refits_pending() == {record.id}
    await ranking.aclose()


async def test_a_listing_day_later_the_vocabulary_and_the_models_are_refit() -> None:
    core, record, _reader, ranking = await learned_setup()
    await runner_of(core, ranking).select([record])
    first = ranking.model_of(record.id)
    core.clock.current += timedelta(hours=1)
    await runner_of(core, ranking).select([record])
    assert ranking.model_of(record.id) is first  # nothing changed: no refit
    core.clock.current += timedelta(hours=20)
    await runner_of(core, ranking).select([record])
    again = ranking.model_of(record.id)
    assert again is not None and again is not first and again.fitted_at == core.clock.current
    assert first is not None and again.space is not first.space


async def test_ranking_off_gives_the_keyword_digest_again() -> None:
    core, record, reader, ranking = await learned_setup()
    reader.signals[record.id] = dataclasses.replace(reader.signals[record.id], ranking_enabled=False)
    learned = await runner_of(core, ranking).select([record])
    assert learned.picks == (await runner_of(core, None).select([record])).picks


async def test_excludes_still_drop_a_paper_in_learned_mode() -> None:
    core, _record, _reader, ranking = await learned_setup()
    await core.commands.execute(ctx(), "exclude add web")
    record = await core.repos.channels.get(CHANNEL)
    assert record is not None
    picks = (await runner_of(core, ranking).select([record])).picks[record.ref]
    assert picks and not any("web" in (p.paper.title + " " + p.paper.abstract).lower().split() for p in picks)


async def test_explain_in_learned_mode_names_terms_and_the_nearest_liked_paper() -> None:
    core, record, _reader, ranking = await learned_setup()
    data = gui_agents()
    target = next(p for p in data.candidates if p.arxiv_id in data.positives)
    before = await ranking.explain(record, target)
    assert before.mode == "keywords"  # not fitted yet: it says so, and a refit is scheduled, not run now
    assert ranking.model_of(record.id) is None
    await runner_of(core, ranking).select([record])
    why = await ranking.explain(record, target)
    assert why.mode == "learned" and why.top_terms and why.nearest_liked_title in {p.title for p in data.liked}
    await ranking.aclose()


@pytest.mark.looptime
async def test_signal_changes_refit_once_after_the_delay_never_on_the_callers_time() -> None:
    core, record, reader, ranking = await learned_setup()
    await ranking.status(record)  # learns the channel's categories
    ranking.signals_changed(record.id)
    await asyncio.sleep(10)
    reader.like(record.id, gui_agents().background[0].arxiv_id, at=core.clock.now())
    ranking.signals_changed(record.id)
    assert ranking.model_of(record.id) is None
    await asyncio.sleep(29)
    await ranking.idle()
    assert ranking.model_of(record.id) is None  # 29 s after the last change: still waiting
    await asyncio.sleep(2)
    await ranking.idle()
    model = ranking.model_of(record.id)
    assert model is not None and model.positives == 31
    status = await ranking.status(record)
    assert status.quality_ap is not None and 0.0 < status.quality_ap <= 1.0
    assert ranking.refits_pending() == set()  # fitted and measured: nothing more to do
    await ranking.aclose()


class FailingRanker:
    """A reranker that always fails."""

    async def rerank(
        self, records: Sequence[ChannelRecord], papers: Sequence[Paper], picks: dict[ChannelRef, list[ScoredPaper]]
    ) -> dict[ChannelRef, list[ScoredPaper]]:
        raise RuntimeError("boom")


async def test_a_failing_ranker_leaves_the_keyword_digest() -> None:
    core, record, _reader, _ranking = await learned_setup()
    picks = (await runner_of(core, FailingRanker()).select([record])).picks
    assert picks == (await runner_of(core, None).select([record])).picks


async def test_signals_of_a_channel_with_no_stored_papers_keep_keyword_mode() -> None:
    core = fake_core()
    record = await a_channel(core, "keywords add LLM")
    reader = FakeSignalReader(signals={record.id: ChannelSignals(positives=tuple(f"2601.{n:05d}" for n in range(9)))})
    ranking = ranking_of(core, reader)
    core.source.listings[frozenset({"cs.DC"})] = (paper(1, "LLM serving"), paper(2, "Storage"))
    picks = (await runner_of(core, ranking).select([record])).picks
    assert picks == (await runner_of(core, None).select([record])).picks


async def test_a_channel_following_a_whole_archive_gets_learned_picks_from_its_categories() -> None:
    data = gui_agents()
    core = fake_core()
    record = await a_channel(core, "keywords add benchmark, reasoning", categories=("cs",))
    await core.repos.papers.add_many([*data.background, *data.liked])
    core.source.listings[frozenset({"cs"})] = data.candidates  # arXiv's cs feed: every cs.* paper of the day
    reader = FakeSignalReader()
    reader.like(record.id, *(p.arxiv_id for p in data.liked), at=core.clock.now())
    ranking = ranking_of(core, reader)
    picks = (await runner_of(core, ranking).select([record])).picks[record.ref]
    assert len(picks) == record.max_papers
    assert all(any(m.startswith("like: ") for m in p.matched) for p in picks)  # learned, not the keyword picks
    assert all(any(c.startswith("cs.") for c in p.paper.categories) for p in picks)
    await ranking.aclose()


async def test_channels_fit_side_by_side_get_the_model_each_would_get_alone() -> None:
    data = gui_agents()
    core = fake_core()
    await core.repos.papers.add_many([*data.background, *data.liked])
    reader = FakeSignalReader()
    records = []
    for n in range(3):
        ref = ChannelRef("test", "w1", f"c{n}")
        for line in (f"subscribe {' '.join(CATEGORIES)}", "keywords add reasoning"):
            await core.commands.execute(ctx(channel=ref), line)
        record = await core.repos.channels.get(ref)
        assert record is not None
        records.append(record)
        reader.like(record.id, *(p.arxiv_id for p in data.liked[n * 8 : n * 8 + 12]), at=core.clock.now())
    keyword_picks = (await runner_of(core, None).select(records)).picks
    together, alone = ranking_of(core, reader), ranking_of(core, reader)
    await together.rerank(records, data.candidates, keyword_picks)
    await alone.rerank(records[1:2], data.candidates, keyword_picks)
    fitted = [together.model_of(r.id) for r in records]
    assert all(m is not None for m in fitted) and len({m.liked.titles for m in fitted if m}) == 3
    single = alone.model_of(records[1].id)
    assert single is not None and fitted[1] is not None
    assert single.liked.titles == fitted[1].liked.titles and (single.weights == fitted[1].weights).all()
    await together.aclose()
    await alone.aclose()
