"""Papers: stored once per version, read back exactly, the newest version when none is named."""

from __future__ import annotations

from bot.models import AnnounceType
from tests.integration.repository_contract.conftest import Repositories, paper


async def test_unknown_papers(repos: Repositories) -> None:
    assert await repos.papers.get("2601.00001") is None
    assert await repos.papers.get("2601.00001", 1) is None
    assert await repos.papers.get_many([("2601.00001", 1)]) == {}
    assert await repos.papers.get_many([]) == {}
    await repos.papers.add_many([])
    assert await repos.papers.get("2601.00001") is None


async def test_a_paper_comes_back_field_for_field(repos: Repositories) -> None:
    full = paper("2601.00001", 2, title="Über «KV-cache» <!channel> 🚀", authors=("Zoë Ä",), doi=None)
    bare = paper(
        "hep-th/9901001",
        1,
        authors=(),
        categories=("hep-th",),
        primary_category="hep-th",
        announce_type=AnnounceType.REPLACE_CROSS,
        published=None,
        doi=None,
        journal_ref=None,
    )
    await repos.papers.add_many([full, bare])
    assert await repos.papers.get("2601.00001", 2) == full
    assert await repos.papers.get("hep-th/9901001") == bare
    assert await repos.papers.get("2601.00001", 1) is None


async def test_without_a_version_the_newest_stored_one(repos: Repositories) -> None:
    v1, v2, v3 = (paper("2601.00001", v) for v in (1, 2, 3))
    await repos.papers.add_many([v1, v3])
    await repos.papers.add_many([v2])
    assert await repos.papers.get("2601.00001") == v3
    assert await repos.papers.get("2601.00001", 2) == v2
    assert await repos.papers.get("2601.0000") is None  # no prefix match


async def test_a_stored_version_is_kept_as_it_was_first_stored(repos: Repositories) -> None:
    first = paper("2601.00001", 1, title="First")
    await repos.papers.add_many([first, paper("2601.00001", 1, title="Same batch")])
    await repos.papers.add_many([paper("2601.00001", 1, title="Later")])
    assert await repos.papers.get("2601.00001", 1) == first


async def test_get_many_returns_what_is_stored_in_the_order_asked(repos: Repositories) -> None:
    a1, a2, b1 = paper("2601.00001", 1), paper("2601.00001", 2), paper("2601.00002", 1)
    await repos.papers.add_many([a1, a2, b1])
    keys = [("2601.00002", 1), ("2601.00009", 1), ("2601.00001", 2), ("2601.00001", 3), ("2601.00002", 1)]
    found = await repos.papers.get_many(keys)
    assert list(found.items()) == [(("2601.00002", 1), b1), (("2601.00001", 2), a2)]
    assert await repos.papers.get_many(iter([("2601.00001", 1)])) == {("2601.00001", 1): a1}


async def test_many_papers_in_one_batch(repos: Repositories) -> None:
    many = [paper(f"2601.{i:05d}") for i in range(1, 1201)]  # more than one insert chunk
    await repos.papers.add_many(many)
    found = await repos.papers.get_many((p.arxiv_id, p.version) for p in many)
    assert list(found.values()) == many


async def test_recent_gives_the_last_stored_papers_newest_first_each_once_at_its_newest_version(
    repos: Repositories,
) -> None:
    a1, b1, a2, c1 = paper("2601.00001", 1), paper("2601.00002", 1), paper("2601.00001", 2), paper("2601.00003", 1)
    assert await repos.papers.recent(10) == []
    await repos.papers.add_many([a1, b1])
    await repos.papers.add_many([a2])
    await repos.papers.add_many([c1])
    assert await repos.papers.recent(10) == [c1, a2, b1]
    assert await repos.papers.recent(2) == [c1, a2]  # the last two versions stored
    assert await repos.papers.recent(0) == []


async def test_newest_gives_each_stored_id_at_its_newest_version(repos: Repositories) -> None:
    a1, a3, b1 = paper("2601.00001", 1), paper("2601.00001", 3), paper("2601.00002", 1)
    await repos.papers.add_many([a3, b1])
    await repos.papers.add_many([a1])
    found = await repos.papers.newest(["2601.00002", "2601.00009", "2601.00001", "2601.00001"])
    assert found == {"2601.00001": a3, "2601.00002": b1}
    assert await repos.papers.newest([]) == {}
