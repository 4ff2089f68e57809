"""Saved papers: one save per user, workspace and paper; newest first; titles from the stored version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.errors import StoreError
from bot.models import ChannelRef, SavedPaper
from tests.fakes.clock import FixedClock
from tests.integration.repository_contract.conftest import OTHER_WORKSPACE, A, B, Repositories, paper


async def test_a_save_is_kept_once_per_user_workspace_and_paper(repos: Repositories, clock: FixedClock) -> None:
    a = (await repos.channels.get_or_create(A)).id
    b = (await repos.channels.get_or_create(B)).id
    first_at = clock.current
    assert await repos.saves.save(channel=A, channel_id=a, user_id="U1", arxiv_id="2601.00001", version=1)
    clock.current += timedelta(minutes=1)
    # Same workspace, another channel and version: already saved, the first save is kept.
    assert not await repos.saves.save(channel=B, channel_id=b, user_id="U1", arxiv_id="2601.00001", version=2)
    assert await repos.saves.list(channel=B, user_id="U1") == [
        SavedPaper(arxiv_id="2601.00001", version=1, title=None, saved_at=first_at)
    ]
    # Another user, another workspace or another platform save separately.
    assert await repos.saves.save(channel=A, channel_id=a, user_id="U2", arxiv_id="2601.00001", version=1)
    assert await repos.saves.save(
        channel=OTHER_WORKSPACE, channel_id=None, user_id="U1", arxiv_id="2601.00001", version=2
    )
    discord = ChannelRef("discord", "T1", "C1")
    assert await repos.saves.save(channel=discord, channel_id=None, user_id="U1", arxiv_id="2601.00001", version=1)
    assert [s.version for s in await repos.saves.list(channel=OTHER_WORKSPACE, user_id="U1")] == [2]
    assert len(await repos.saves.list(channel=A, user_id="U2")) == 1
    assert len(await repos.saves.list(channel=discord, user_id="U1")) == 1


async def test_saved_list_newest_first_with_titles_and_a_limit(repos: Repositories, clock: FixedClock) -> None:
    a = (await repos.channels.get_or_create(A)).id
    await repos.papers.add_many([paper("2601.00001", 1, title="One"), paper("2601.00003", 2, title="Three v2")])
    clock.current = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    for arxiv_id, version in (("2601.00001", 1), ("2601.00002", 1), ("2601.00003", 1)):
        clock.current += timedelta(seconds=5)
        await repos.saves.save(channel=A, channel_id=a, user_id="U1", arxiv_id=arxiv_id, version=version)
    await repos.saves.save(channel=A, channel_id=a, user_id="U1", arxiv_id="2601.00004", version=1)  # same instant
    saved = await repos.saves.list(channel=A, user_id="U1")
    # Ties on the time: the later save first. Titles only where that version is stored (2601.00003 is v2).
    assert [(s.arxiv_id, s.title) for s in saved] == [
        ("2601.00004", None),
        ("2601.00003", None),
        ("2601.00002", None),
        ("2601.00001", "One"),
    ]
    assert saved[-1].saved_at == datetime(2026, 1, 5, 10, 0, 5, tzinfo=UTC)
    assert all(s.saved_at.utcoffset() == timedelta(0) for s in saved)
    assert [s.arxiv_id for s in await repos.saves.list(channel=A, user_id="U1", limit=2)] == [
        "2601.00004",
        "2601.00003",
    ]
    assert await repos.saves.list(channel=A, user_id="U9") == []


async def test_default_limit_is_fifty(repos: Repositories, clock: FixedClock) -> None:
    for i in range(55):
        clock.current += timedelta(seconds=1)
        await repos.saves.save(channel=A, channel_id=None, user_id="U1", arxiv_id=f"2601.{i:05d}", version=1)
    saved = await repos.saves.list(channel=A, user_id="U1")
    assert len(saved) == 50 and saved[0].arxiv_id == "2601.00054" and saved[-1].arxiv_id == "2601.00005"


async def test_unsave(repos: Repositories) -> None:
    await repos.saves.save(channel=A, channel_id=None, user_id="U1", arxiv_id="2601.00001", version=1)
    await repos.saves.save(channel=OTHER_WORKSPACE, channel_id=None, user_id="U1", arxiv_id="2601.00001", version=1)
    assert not await repos.saves.unsave(channel=A, user_id="U2", arxiv_id="2601.00001")
    assert not await repos.saves.unsave(channel=A, user_id="U1", arxiv_id="2601.00002")
    assert await repos.saves.unsave(channel=B, user_id="U1", arxiv_id="2601.00001")  # same workspace as A
    assert not await repos.saves.unsave(channel=A, user_id="U1", arxiv_id="2601.00001")
    assert await repos.saves.list(channel=A, user_id="U1") == []
    assert len(await repos.saves.list(channel=OTHER_WORKSPACE, user_id="U1")) == 1
    assert await repos.saves.save(channel=A, channel_id=None, user_id="U1", arxiv_id="2601.00001", version=3)
    assert [s.version for s in await repos.saves.list(channel=A, user_id="U1")] == [3]


async def test_a_save_naming_an_unknown_channel_is_refused(repos: Repositories) -> None:
    with pytest.raises(StoreError):
        await repos.saves.save(channel=A, channel_id=999_999, user_id="U1", arxiv_id="2601.00001", version=1)
    assert await repos.saves.list(channel=A, user_id="U1") == []


async def test_saved_papers_whole_newest_version_newest_save_first(repos: Repositories, clock: FixedClock) -> None:
    a = (await repos.channels.get_or_create(A)).id
    b = (await repos.channels.get_or_create(B)).id
    await repos.papers.add_many(
        [paper("2601.00001", 1, title="One v1"), paper("2601.00001", 3, title="One v3"), paper("2601.00002", 1)]
    )
    start = clock.current
    for user, arxiv_id, channel_id in (
        ("U1", "2601.00001", a),
        ("U1", "2601.00002", b),
        ("U1", "2601.00009", a),  # not stored: left out
        ("U2", "2601.00001", a),
        ("U2", "2601.00002", a),
    ):
        clock.current += timedelta(seconds=1)
        await repos.saves.save(channel=A, channel_id=channel_id, user_id=user, arxiv_id=arxiv_id, version=1)
    mine = await repos.saves.user_saved_papers(channel=B, user_id="U1")
    assert [(p.arxiv_id, p.version, p.title) for p in mine] == [
        ("2601.00002", 1, "Title of 2601.00002v1"),
        ("2601.00001", 3, "One v3"),
    ]
    assert await repos.saves.user_saved_papers(channel=OTHER_WORKSPACE, user_id="U1") == []
    in_a = await repos.saves.channel_saved_papers(a)
    assert [(p.arxiv_id, p.version) for p in in_a] == [("2601.00002", 1), ("2601.00001", 3)]  # each paper once
    assert [p.arxiv_id for p in await repos.saves.channel_saved_papers(b)] == ["2601.00002"]
    late = await repos.saves.channel_saved_papers(a, since=start + timedelta(seconds=5))
    assert [p.arxiv_id for p in late] == ["2601.00002"]
