"""LearnedRanking as commands see it: the mode, the counts, and keyword explanations for any paper."""

from __future__ import annotations

from bot.models import ChannelRecord
from bot.ranking.service import LearnedRanking
from tests.fakes.core import CHANNEL, ctx, fake_core, paper
from tests.fakes.ranking import FakeSignalReader


async def a_channel(*lines: str) -> ChannelRecord:
    core = fake_core()
    for line in ("subscribe cs.DC", *lines):
        await core.commands.execute(ctx(), line)
    record = await core.repos.channels.get(CHANNEL)
    assert record is not None
    return record


async def test_status_counts_distinct_signals_and_says_keywords_below_the_minimum() -> None:
    record = await a_channel()
    reader = FakeSignalReader()
    reader.like(record.id, "2601.00001", "2601.00002", "2601.00002")
    reader.down(record.id, "2601.00003")
    ranking = LearnedRanking(signals=reader, min_positives=3, author_bonus=2.0)
    status = await ranking.status(record)
    assert (status.mode, status.positives, status.negatives, status.min_positives) == ("keywords", 2, 1, 3)
    reader.like(record.id, "2601.00004")
    assert (await ranking.status(record)).mode == "learned"


async def test_status_is_off_when_the_channel_turned_ranking_off() -> None:
    record = await a_channel()
    reader = FakeSignalReader()
    reader.like(record.id, *(f"2601.{n:05d}" for n in range(1, 9)))
    reader.signals[record.id] = reader.signals[record.id].__class__(
        positives=reader.signals[record.id].positives, ranking_enabled=False
    )
    assert (await LearnedRanking(signals=reader, min_positives=5, author_bonus=2.0).status(record)).mode == "off"


async def test_explain_gives_the_matched_keywords_even_for_an_excluded_paper_of_another_category() -> None:
    record = await a_channel("keywords add LLM, RL", "exclude serving")
    ranking = LearnedRanking(signals=FakeSignalReader(), min_positives=5, author_bonus=2.0)
    why = await ranking.explain(record, paper(1, "LLM serving with RL", primary="cs.LG"))
    assert (why.mode, why.score, why.matched_keywords) == ("keywords", 3.0, ("LLM", "RL"))
    nothing = await ranking.explain(record, paper(2, "Erasure codes"))
    assert (nothing.score, nothing.matched_keywords) == (0.0, ())
