"""Ranking signals: saves, likes and imports are positives, 👎 negatives; repeats kept once; reset and on/off."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.errors import StoreError
from bot.models import ChannelSignals, SignalSource
from tests.fakes.clock import FixedClock
from tests.integration.repository_contract.conftest import A, B, Repositories

REACTION, BUTTON, LIKE, IMPORT = SignalSource.REACTION, SignalSource.BUTTON, SignalSource.LIKE, SignalSource.IMPORT


async def test_a_channel_with_no_signals_and_an_unknown_channel(repos: Repositories) -> None:
    a = (await repos.channels.get_or_create(A)).id
    assert await repos.signals.channel_signals(a) == ChannelSignals(ranking_enabled=True)
    assert await repos.signals.channel_signals(999_999) == ChannelSignals()


async def test_positives_are_saves_likes_and_imports_once_each_oldest_first(
    repos: Repositories, clock: FixedClock
) -> None:
    a = (await repos.channels.get_or_create(A)).id
    b = (await repos.channels.get_or_create(B)).id
    start = clock.current
    await repos.saves.save(channel=A, channel_id=a, user_id="U1", arxiv_id="2601.00003", version=1)
    clock.current += timedelta(minutes=1)
    assert await repos.signals.record_likes(
        channel_id=a, arxiv_ids=["2601.00002", "2601.00001", "2601.00002"], user_id="U2", source=LIKE
    ) == 2
    clock.current += timedelta(minutes=1)
    # The same papers again: a repeat is kept once, the first time stays; a save in B and a like in B stay in B.
    assert await repos.signals.record_likes(
        channel_id=a, arxiv_ids=["2601.00001", "2601.00003"], user_id="U2", source=LIKE
    ) == 1
    assert await repos.signals.record_likes(channel_id=a, arxiv_ids=["2601.00001"], user_id="", source=IMPORT) == 1
    await repos.saves.save(channel=B, channel_id=b, user_id="U1", arxiv_id="2601.00009", version=1)
    await repos.signals.record_likes(channel_id=b, arxiv_ids=["2601.00008"], user_id="U1", source=LIKE)
    signals = await repos.signals.channel_signals(a)
    # Ties on the time (two likes in one call): by id.
    assert signals.positives == ("2601.00003", "2601.00001", "2601.00002")
    assert signals.negatives == ()
    assert signals.changed_at == start + timedelta(minutes=2)
    assert (await repos.signals.channel_signals(b)).positives == ("2601.00008", "2601.00009")  # one instant


async def test_a_down_is_kept_once_per_person_and_source_and_removing_it_is_a_change(
    repos: Repositories, clock: FixedClock
) -> None:
    a = (await repos.channels.get_or_create(A)).id
    assert await repos.signals.record_down(channel_id=a, arxiv_id="2601.00001", user_id="U1", source=REACTION)
    assert not await repos.signals.record_down(channel_id=a, arxiv_id="2601.00001", user_id="U1", source=REACTION)
    clock.current += timedelta(minutes=1)
    assert await repos.signals.record_down(channel_id=a, arxiv_id="2601.00001", user_id="U1", source=BUTTON)
    assert await repos.signals.record_down(channel_id=a, arxiv_id="2601.00002", user_id="U2", source=REACTION)
    assert (await repos.signals.channel_signals(a)).negatives == ("2601.00001", "2601.00002")
    clock.current += timedelta(minutes=1)
    # Taking back the reaction keeps the same person's button.
    assert await repos.signals.remove_down(channel_id=a, arxiv_id="2601.00001", user_id="U1", source=REACTION)
    assert not await repos.signals.remove_down(channel_id=a, arxiv_id="2601.00001", user_id="U1", source=REACTION)
    assert not await repos.signals.remove_down(channel_id=a, arxiv_id="2601.00002", user_id="U1", source=REACTION)
    signals = await repos.signals.channel_signals(a)
    assert signals.negatives == ("2601.00001", "2601.00002")
    assert signals.changed_at == clock.current
    clock.current += timedelta(minutes=1)
    assert await repos.signals.remove_down(channel_id=a, arxiv_id="2601.00001", user_id="U1", source=BUTTON)
    signals = await repos.signals.channel_signals(a)
    assert signals.negatives == ("2601.00002",)
    assert signals.changed_at == clock.current


async def test_a_paper_someone_keeps_is_a_positive_whatever_else_it_got(repos: Repositories) -> None:
    a = (await repos.channels.get_or_create(A)).id
    await repos.signals.record_down(channel_id=a, arxiv_id="2601.00001", user_id="U1", source=REACTION)
    await repos.signals.record_down(channel_id=a, arxiv_id="2601.00002", user_id="U1", source=REACTION)
    await repos.saves.save(channel=A, channel_id=a, user_id="U2", arxiv_id="2601.00001", version=1)
    await repos.signals.record_likes(channel_id=a, arxiv_ids=["2601.00002"], user_id="U3", source=LIKE)
    signals = await repos.signals.channel_signals(a)
    assert signals.positives == ("2601.00001", "2601.00002") and signals.negatives == ()


async def test_unsaving_is_a_change_of_the_channel_where_it_was_saved(repos: Repositories, clock: FixedClock) -> None:
    a = (await repos.channels.get_or_create(A)).id
    await repos.saves.save(channel=A, channel_id=a, user_id="U1", arxiv_id="2601.00001", version=1)
    clock.current += timedelta(minutes=5)
    assert await repos.saves.unsave(channel=B, user_id="U1", arxiv_id="2601.00001")  # same workspace
    assert await repos.signals.channel_signals(a) == ChannelSignals(changed_at=clock.current)


async def test_reset_forgets_likes_and_downs_and_earlier_saves_but_keeps_the_saves_and_keywords(
    repos: Repositories, clock: FixedClock
) -> None:
    from bot.models import Rule, RuleKind

    a = (await repos.channels.get_or_create(A)).id
    b = (await repos.channels.get_or_create(B)).id
    await repos.channels.replace_rules(a, RuleKind.INCLUDE, [Rule(kind=RuleKind.INCLUDE, term="LLM")])
    await repos.saves.save(channel=A, channel_id=a, user_id="U1", arxiv_id="2601.00001", version=1)
    await repos.signals.record_likes(channel_id=a, arxiv_ids=["2601.00002"], user_id="U1", source=IMPORT)
    await repos.signals.record_down(channel_id=a, arxiv_id="2601.00003", user_id="U1", source=BUTTON)
    await repos.signals.record_likes(channel_id=b, arxiv_ids=["2601.00002"], user_id="U1", source=IMPORT)
    clock.current += timedelta(minutes=1)
    await repos.signals.reset_signals(a)
    assert await repos.signals.channel_signals(a) == ChannelSignals(changed_at=clock.current)
    assert [s.arxiv_id for s in await repos.saves.list(channel=A, user_id="U1")] == ["2601.00001"]
    record = await repos.channels.by_id(a)
    assert record is not None and [r.term for r in record.rules] == ["LLM"]
    assert (await repos.signals.channel_signals(b)).positives == ("2601.00002",)
    # What comes after the reset counts again, and the same like may be given again.
    clock.current += timedelta(minutes=1)
    await repos.saves.save(channel=A, channel_id=a, user_id="U2", arxiv_id="2601.00004", version=1)
    assert await repos.signals.record_likes(channel_id=a, arxiv_ids=["2601.00002"], user_id="U1", source=IMPORT) == 1
    assert (await repos.signals.channel_signals(a)).positives == ("2601.00002", "2601.00004")


async def test_ranking_off_and_on(repos: Repositories) -> None:
    a = (await repos.channels.get_or_create(A)).id
    b = (await repos.channels.get_or_create(B)).id
    await repos.signals.record_likes(channel_id=a, arxiv_ids=["2601.00001"], user_id="U1", source=LIKE)
    await repos.signals.set_ranking_enabled(a, False)
    await repos.signals.set_ranking_enabled(999_999, False)
    off = await repos.signals.channel_signals(a)
    assert not off.ranking_enabled and off.positives == ("2601.00001",)
    assert (await repos.signals.channel_signals(b)).ranking_enabled
    await repos.signals.set_ranking_enabled(a, True)
    assert (await repos.signals.channel_signals(a)).ranking_enabled


async def test_a_signal_naming_an_unknown_channel_is_refused_and_stores_nothing(repos: Repositories) -> None:
    with pytest.raises(StoreError):
        await repos.signals.record_likes(
            channel_id=999_999, arxiv_ids=["2601.00001", "2601.00002"], user_id="U1", source=IMPORT
        )
    with pytest.raises(StoreError):
        await repos.signals.record_down(channel_id=999_999, arxiv_id="2601.00001", user_id="U1", source=REACTION)
    assert await repos.signals.record_likes(channel_id=999_999, arxiv_ids=[], user_id="U1", source=IMPORT) == 0
    a = (await repos.channels.get_or_create(A)).id
    assert await repos.signals.channel_signals(a) == ChannelSignals()


async def test_a_large_import_is_stored_whole(repos: Repositories) -> None:
    a = (await repos.channels.get_or_create(A)).id
    ids = [f"2601.{i:05d}" for i in range(1, 1_201)]
    assert await repos.signals.record_likes(channel_id=a, arxiv_ids=ids, user_id="", source=IMPORT) == 1_200
    assert await repos.signals.record_likes(channel_id=a, arxiv_ids=ids[::-1], user_id="", source=IMPORT) == 0
    assert (await repos.signals.channel_signals(a)).positives == tuple(ids)
