"""Channels: creation with defaults, the reads and lookups, settings, categories and rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.errors import StoreError
from bot.models import ChannelRef, Rule, RuleKind
from tests.fakes.clock import FixedClock
from tests.integration.repository_contract.conftest import DEFAULTS, OTHER_WORKSPACE, A, B, Repositories

UNKNOWN_ID = 999_999


async def test_nothing_is_known_at_first(repos: Repositories) -> None:
    ch = repos.channels
    assert await ch.get(A) is None
    assert await ch.by_id(1) is None
    assert await ch.find("slack", "C1") is None
    assert await ch.by_feed_token("no-such-token") is None
    assert await ch.all_active() == []


async def test_a_new_channel_gets_the_defaults_a_feed_token_and_the_clock_time(
    repos: Repositories, clock: FixedClock
) -> None:
    clock.current = datetime(2026, 1, 5, 10, 0, 0, 123456, tzinfo=UTC)
    record = await repos.channels.get_or_create(A)
    assert record.ref == A
    assert (record.post_time, record.timezone, record.max_papers) == ("08:30", "Europe/Berlin", 7)
    assert (record.min_score, record.include_cross, record.language) == (1.5, False, "de")
    assert record.categories == () and record.rules == ()
    assert record.last_digest_at is None
    assert record.created_at == clock.current and record.created_at.utcoffset() == timedelta(0)
    assert len(record.feed_token) == 24 and record.feed_token.replace("-", "").replace("_", "").isalnum()


async def test_get_or_create_returns_the_same_channel_later(repos: Repositories, clock: FixedClock) -> None:
    first = await repos.channels.get_or_create(A)
    clock.current += timedelta(days=3)
    assert await repos.channels.get_or_create(A) == first
    assert await repos.channels.get(A) == first
    assert await repos.channels.by_id(first.id) == first
    assert await repos.channels.by_feed_token(first.feed_token) == first


async def test_channels_are_distinct_per_platform_workspace_and_channel(repos: Repositories) -> None:
    a = await repos.channels.get_or_create(A)
    b = await repos.channels.get_or_create(B)
    other = await repos.channels.get_or_create(OTHER_WORKSPACE)
    discord = await repos.channels.get_or_create(ChannelRef("discord", "T1", "C1"))
    assert a.id < b.id < other.id < discord.id
    assert len({a.feed_token, b.feed_token, other.feed_token, discord.feed_token}) == 4
    assert await repos.channels.by_feed_token(b.feed_token) == b
    assert await repos.channels.get(ChannelRef("slack", "T3", "C1")) is None


async def test_find_ignores_the_workspace_and_takes_the_oldest(repos: Repositories) -> None:
    other = await repos.channels.get_or_create(OTHER_WORKSPACE)  # slack T2 C1, created first
    await repos.channels.get_or_create(A)  # slack T1 C1
    assert await repos.channels.find("slack", "C1") == other
    assert await repos.channels.find("discord", "C1") is None
    assert await repos.channels.find("slack", "C9") is None


async def test_all_active_lists_subscribed_channels_by_id(repos: Repositories) -> None:
    a = await repos.channels.get_or_create(A)
    await repos.channels.get_or_create(B)
    c = await repos.channels.get_or_create(OTHER_WORKSPACE)
    await repos.channels.add_categories(c.id, ["cs.LG"])
    await repos.channels.add_categories(a.id, ["cs.DC"])
    active = await repos.channels.all_active()
    assert [r.id for r in active] == [a.id, c.id]
    assert active[0] == await repos.channels.by_id(a.id)
    await repos.channels.remove_categories(a.id, ["cs.DC"])
    assert [r.id for r in await repos.channels.all_active()] == [c.id]


async def test_categories_are_kept_once_and_sorted(repos: Repositories) -> None:
    a = await repos.channels.get_or_create(A)
    await repos.channels.add_categories(a.id, ["cs.LG", "cs.AI", "cs.AI"])
    await repos.channels.add_categories(a.id, ["cs.AI", "astro-ph.CO"])
    record = await repos.channels.by_id(a.id)
    assert record is not None and record.categories == ("astro-ph.CO", "cs.AI", "cs.LG")
    await repos.channels.remove_categories(a.id, ["cs.AI", "cs.CV"])  # cs.CV was never subscribed
    record = await repos.channels.by_id(a.id)
    assert record is not None and record.categories == ("astro-ph.CO", "cs.LG")
    await repos.channels.remove_categories(a.id, [])
    assert await repos.channels.by_id(a.id) == record


async def test_categories_of_an_unknown_channel(repos: Repositories) -> None:
    await repos.channels.add_categories(UNKNOWN_ID, [])  # nothing to write: no error
    await repos.channels.remove_categories(UNKNOWN_ID, ["cs.DC"])
    with pytest.raises(StoreError):
        await repos.channels.add_categories(UNKNOWN_ID, ["cs.DC"])
    assert await repos.channels.all_active() == []


async def test_update_changes_only_the_given_settings(repos: Repositories) -> None:
    a = await repos.channels.get_or_create(A)
    b = await repos.channels.get_or_create(B)
    await repos.channels.update(a.id, post_time="07:15", timezone="Asia/Tokyo")
    await repos.channels.update(a.id, max_papers=3)
    await repos.channels.update(a.id, min_score=2.5)
    await repos.channels.update(a.id, include_cross=True)
    await repos.channels.update(a.id, language="pt-BR")
    record = await repos.channels.by_id(a.id)
    assert record is not None
    assert (record.post_time, record.timezone, record.max_papers) == ("07:15", "Asia/Tokyo", 3)
    assert (record.min_score, record.include_cross, record.language) == (2.5, True, "pt-BR")
    assert (record.feed_token, record.created_at, record.categories) == (a.feed_token, a.created_at, ())
    assert await repos.channels.by_id(b.id) == b


async def test_update_refuses_what_is_not_a_setting_and_ignores_unknown_channels(repos: Repositories) -> None:
    a = await repos.channels.get_or_create(A)
    with pytest.raises(ValueError, match="not channel settings: feed_token"):
        await repos.channels.update(a.id, max_papers=3, feed_token="mine")
    assert await repos.channels.by_id(a.id) == a
    await repos.channels.update(UNKNOWN_ID, max_papers=3)
    assert await repos.channels.by_id(a.id) == a and await repos.channels.by_id(UNKNOWN_ID) is None


async def test_last_digest_is_remembered_in_utc(repos: Repositories) -> None:
    a = await repos.channels.get_or_create(A)
    at = datetime(2026, 1, 5, 9, 0, 1, 500, tzinfo=UTC)
    await repos.channels.set_last_digest(a.id, at)
    await repos.channels.set_last_digest(UNKNOWN_ID, at)
    record = await repos.channels.get(A)
    assert record is not None and record.last_digest_at == at and record.last_digest_at.utcoffset() == timedelta(0)
    later = at + timedelta(days=1)
    await repos.channels.set_last_digest(a.id, later)
    record = await repos.channels.get(A)
    assert record is not None and record.last_digest_at == later
    assert record.post_time == DEFAULTS.post_time


async def test_rules_keep_their_order_per_kind_and_the_order_they_were_written(repos: Repositories) -> None:
    a = await repos.channels.get_or_create(A)
    include = [
        Rule(kind=RuleKind.INCLUDE, term="LLM", weight=2.0),
        Rule(kind=RuleKind.INCLUDE, term="speculative decoding"),
    ]
    exclude = [Rule(kind=RuleKind.EXCLUDE, term="survey")]
    authors = [Rule(kind=RuleKind.AUTHOR, term="Yann LeCun")]
    await repos.channels.replace_rules(a.id, RuleKind.INCLUDE, include)
    await repos.channels.replace_rules(a.id, RuleKind.EXCLUDE, exclude)
    await repos.channels.replace_rules(a.id, RuleKind.AUTHOR, authors)
    record = await repos.channels.by_id(a.id)
    assert record is not None and record.rules == (*include, *exclude, *authors)
    # Rewriting one kind puts its rules after the others (rules come back in the order they were written).
    newer = [Rule(kind=RuleKind.INCLUDE, term="RL", weight=0.5), Rule(kind=RuleKind.INCLUDE, term="LLM", weight=3.0)]
    await repos.channels.replace_rules(a.id, RuleKind.INCLUDE, newer)
    record = await repos.channels.by_id(a.id)
    assert record is not None and record.rules == (*exclude, *authors, *newer)
    assert record.terms(RuleKind.INCLUDE) == tuple(newer)
    await repos.channels.replace_rules(a.id, RuleKind.EXCLUDE, [])
    record = await repos.channels.by_id(a.id)
    assert record is not None and record.rules == (*authors, *newer)


async def test_rules_are_per_channel(repos: Repositories) -> None:
    a = await repos.channels.get_or_create(A)
    b = await repos.channels.get_or_create(B)
    await repos.channels.replace_rules(a.id, RuleKind.INCLUDE, [Rule(kind=RuleKind.INCLUDE, term="LLM")])
    await repos.channels.replace_rules(b.id, RuleKind.INCLUDE, [Rule(kind=RuleKind.INCLUDE, term="llm")])
    await repos.channels.replace_rules(a.id, RuleKind.INCLUDE, [])
    assert (await repos.channels.get(A)) == a
    record_b = await repos.channels.get(B)
    assert record_b is not None and [r.term for r in record_b.rules] == ["llm"]


async def test_two_rules_with_one_term_key_change_nothing(repos: Repositories) -> None:
    a = await repos.channels.get_or_create(A)
    kept = [Rule(kind=RuleKind.INCLUDE, term="RL")]
    await repos.channels.replace_rules(a.id, RuleKind.INCLUDE, kept)
    clash = [Rule(kind=RuleKind.INCLUDE, term="KV-cache"), Rule(kind=RuleKind.INCLUDE, term="kv cache")]
    with pytest.raises(StoreError):
        await repos.channels.replace_rules(a.id, RuleKind.INCLUDE, clash)
    record = await repos.channels.by_id(a.id)
    assert record is not None and record.rules == tuple(kept)
    # One term key per kind: the same term may be a keyword and an exclude term.
    await repos.channels.replace_rules(a.id, RuleKind.EXCLUDE, [Rule(kind=RuleKind.EXCLUDE, term="rl")])
    record = await repos.channels.by_id(a.id)
    assert record is not None and [r.term for r in record.rules] == ["RL", "rl"]


async def test_rules_of_an_unknown_channel(repos: Repositories) -> None:
    await repos.channels.replace_rules(UNKNOWN_ID, RuleKind.INCLUDE, [])
    with pytest.raises(StoreError):
        await repos.channels.replace_rules(UNKNOWN_ID, RuleKind.INCLUDE, [Rule(kind=RuleKind.INCLUDE, term="LLM")])
    assert await repos.channels.by_id(UNKNOWN_ID) is None


async def test_every_read_returns_the_same_record(repos: Repositories) -> None:
    a = await repos.channels.get_or_create(A)
    await repos.channels.add_categories(a.id, ["cs.DC"])
    await repos.channels.replace_rules(a.id, RuleKind.AUTHOR, [Rule(kind=RuleKind.AUTHOR, term="Ada Lovelace")])
    record = await repos.channels.get(A)
    assert record is not None
    assert await repos.channels.by_id(a.id) == record
    assert await repos.channels.find("slack", "C1") == record
    assert await repos.channels.by_feed_token(a.feed_token) == record
    assert await repos.channels.all_active() == [record]
    assert await repos.channels.get_or_create(A) == record
