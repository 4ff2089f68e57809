"""Signals and the ranking controls through the command service: 👎 reactions and "Not for us", saves telling the
ranking, ``like``, ``why``, ``ranking`` on/off/reset, over fakes (the fake ranking answers from a table)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.errors import SourceUnavailable, StoreError
from bot.models import ChannelRef, MessageRef, PickExplanation, RankingStatus, SignalKind, SignalSource
from tests.fakes.core import CHANNEL, TODAY, FakeCore, ctx, fake_core, paper


async def digest(core: FakeCore) -> list[MessageRef]:
    """Subscribe, set keywords, post today's digest; the cards' references, in posting order."""
    core.source.listings[frozenset({"cs.DC"})] = TODAY
    for line in ("subscribe cs.DC", "keywords add LLM, RL, MoE", "digest now"):
        await core.commands.execute(ctx(), line)
    return [parent for parent, _ in core.publisher.threads]


def channel_id(core: FakeCore) -> int:
    [record] = core.repos.channels.records
    return record.id


async def test_a_thumbs_down_reaction_marks_the_paper_and_removing_it_takes_that_back() -> None:
    core = fake_core()
    first, second, _ = await digest(core)
    cid = channel_id(core)
    down = await core.commands.react(message=second, user_id="U7", added=True, kind=SignalKind.DOWN)
    assert down is not None and down.text == "Marked as not for this channel: 2601.00002v1 LLM training with RL"
    again = await core.commands.react(message=second, user_id="U7", added=True, kind=SignalKind.DOWN)
    assert again is not None and again.text.startswith("Already marked as not for this channel: 2601.00002v1")
    assert (await core.repos.signals.channel_signals(cid)).negatives == ("2601.00002",)
    assert [(r.user_id, r.source) for r in core.repos.signals.rows] == [("U7", SignalSource.REACTION)]
    assert core.ranking.changed == [cid]  # the repeat changed nothing
    removed = await core.commands.react(message=second, user_id="U7", added=False, kind=SignalKind.DOWN)
    assert removed is not None and removed.text.startswith("No longer marked as not for this channel: 2601.00002v1")
    gone = await core.commands.react(message=second, user_id="U7", added=False, kind=SignalKind.DOWN)
    assert gone is not None and gone.text.startswith("It was not marked as not for this channel")
    assert (await core.repos.signals.channel_signals(cid)).negatives == ()
    assert core.ranking.changed == [cid, cid]
    # Saves stay as they are, and tell the ranking too.
    saved = await core.commands.react(message=first, user_id="U7", added=True)
    assert saved is not None and saved.text == "Saved 2601.00001v1 LLM serving with RL and MoE"
    assert (await core.repos.signals.channel_signals(cid)).positives == ("2601.00001",)
    assert core.ranking.changed == [cid, cid, cid]
    not_ours = MessageRef(CHANNEL, "not-ours")
    assert await core.commands.react(message=not_ours, user_id="U7", added=True, kind=SignalKind.DOWN) is None
    assert await core.commands.not_for_us(message=not_ours, user_id="U7") is None


async def test_not_for_us_toggles_per_person_and_is_apart_from_the_reaction() -> None:
    core = fake_core()
    _, second, _ = await digest(core)
    cid = channel_id(core)
    pressed = await core.commands.not_for_us(message=second, user_id="U7")
    assert pressed is not None and pressed.text == (
        "Marked as not for this channel: 2601.00002v1 LLM training with RL (press Not for us again to undo)"
    )
    await core.commands.react(message=second, user_id="U7", added=True, kind=SignalKind.DOWN)
    await core.commands.not_for_us(message=second, user_id="U8")
    assert len(core.repos.signals.rows) == 3
    again = await core.commands.not_for_us(message=second, user_id="U7")
    assert again is not None and again.text.startswith("No longer marked as not for this channel: 2601.00002v1")
    # The reaction and U8's press still say so.
    assert (await core.repos.signals.channel_signals(cid)).negatives == ("2601.00002",)
    assert {(r.user_id, r.source) for r in core.repos.signals.rows} == {
        ("U7", SignalSource.REACTION),
        ("U8", SignalSource.BUTTON),
    }
    assert core.ranking.changed == [cid] * 4


async def test_a_store_failure_on_a_thumbs_down_is_one_line_and_changes_nothing() -> None:
    core = fake_core()
    _, second, _ = await digest(core)

    async def broken(**_: object) -> bool:
        raise StoreError("database error: OperationalError: disk I/O error")

    core.repos.signals.record_down = broken  # type: ignore[method-assign]
    reply = await core.commands.react(message=second, user_id="U7", added=True, kind=SignalKind.DOWN)
    assert reply is not None and reply.text == "Could not record that; nothing was changed, try again later"
    assert core.ranking.changed == []


async def test_like_stores_known_papers_fetches_the_rest_in_one_batch_and_names_the_unknown() -> None:
    core = fake_core()
    await digest(core)
    cid = channel_id(core)
    await core.commands.react(message=core.publisher.threads[0][0], user_id="U1", added=True)  # 2601.00001 saved
    core.source.papers += [paper(7, "Sparse attention"), paper(8, "MoE routing", version=2)]
    reply = await core.commands.execute(
        ctx(), "like 2601.00002 https://arxiv.org/abs/2601.00007v1, arXiv:2601.00008 2601.00001 2601.99999 2601.00002"
    )
    assert reply.text.splitlines() == [
        "Added 3 papers to this channel's taste (the ranking learns from them):",
        "• 2601.00002 LLM training with RL",
        "• 2601.00007 Sparse attention",
        "• 2601.00008 MoE routing",
        "Already counted (saved, liked or imported before, or given twice): 2601.00001",
        "Not on arXiv, nothing stored: 2601.99999",
    ]
    # 2601.00002 was stored from the listing: only the others were asked for, in one batch.
    assert core.source.batches == [("2601.00007", "2601.00008", "2601.99999")]
    assert {p.versioned_id for p in core.repos.papers.stored} >= {"2601.00007v1", "2601.00008v2"}
    signals = await core.repos.signals.channel_signals(cid)
    assert signals.positives == ("2601.00001", "2601.00002", "2601.00007", "2601.00008")
    assert [(r.user_id, r.source) for r in core.repos.signals.rows][:1] == [("U1", SignalSource.LIKE)]
    assert core.ranking.changed[-1] == cid
    again = await core.commands.execute(ctx(), "like 2601.00007")
    assert again.text.splitlines() == [
        "No paper added to this channel's taste",
        "Already counted (saved, liked or imported before, or given twice): 2601.00007",
    ]


async def test_like_refuses_bad_ids_and_stores_nothing_when_arxiv_fails() -> None:
    core = fake_core()
    await digest(core)
    bad = await core.commands.execute(ctx(), "like 2601.00002 not-an-id")
    assert bad.text.startswith("'not-an-id' is not an arXiv id; use e.g. 2601.00644")
    missing = await core.commands.execute(ctx(), "like")
    assert missing.text.startswith("Like needs arXiv ids or URLs, e.g. like 2601.00644 2601.00645\n  like <id or URL>")
    core.source.fail = SourceUnavailable("arXiv API answered HTTP 503")
    failed = await core.commands.execute(ctx(), "like 2601.00002 2601.00007")
    assert failed.text.startswith("arXiv did not answer properly (arXiv API answered HTTP 503); nothing was changed")
    assert core.repos.signals.rows == [] and core.ranking.changed == []


async def test_why_explains_any_paper_stored_or_fetched() -> None:
    core = fake_core()
    await digest(core)
    core.ranking.explanations["2601.00004"] = PickExplanation(
        arxiv_id="2601.00004",
        mode="learned",
        score=0.8123,
        matched_keywords=(),
        top_terms=("erasure", "codes"),
        nearest_liked_title="Storage systems\nat scale",
    )
    picked = await core.commands.execute(ctx(), "why 2601.00001")
    assert picked.text.splitlines() == [
        "2601.00001v1 LLM serving with RL and MoE",
        "Ranked by keyword ranking, score 0",
        "Matched keywords: none",
    ]
    # Not picked today (it matches no keyword), explained all the same.
    skipped = await core.commands.execute(ctx(), "why https://arxiv.org/abs/2601.00004")
    assert skipped.text.splitlines() == [
        "2601.00004v1 Erasure codes for storage",
        "Ranked by learned ranking, score 0.812",
        "Matched keywords: none",
        "Top terms: erasure, codes",
        "Like: Storage systems at scale",
    ]
    assert core.source.looked_up == []
    core.source.papers.append(paper(9, "Gossip"))
    fetched = await core.commands.execute(ctx(), "why 2601.00009")
    assert fetched.text.startswith("2601.00009v1 Gossip\n") and core.source.looked_up == ["2601.00009"]
    assert (await core.commands.execute(ctx(), "why 2601.99999")).text == "No such paper on arXiv: 2601.99999"


async def test_ranking_shows_the_status_and_only_managers_switch_or_reset_it() -> None:
    core = fake_core()
    await digest(core)
    cid = channel_id(core)
    core.ranking.status_of[cid] = RankingStatus(
        mode="learned",
        positives=7,
        negatives=2,
        min_positives=5,
        last_fit_at=datetime(2026, 1, 5, 9, 30, tzinfo=UTC),
        quality_ap=0.6234,
    )
    shown = await core.commands.execute(ctx("U2", can_manage=False), "ranking")
    assert shown.text.splitlines() == [
        "Ranking: learned from this channel's signals, with its keywords",
        "Signals: 7 positive (saves, likes, imports), 2 negative (👎, Not for us)",
        "Last fit: 2026-01-05 09:30 UTC",
        "Quality: AP 0.62 on a time split of this channel's own signals",
    ]
    for line in ("ranking off", "ranking on", "ranking reset", "ranking reset confirm"):
        refused = await core.commands.execute(ctx("U2", can_manage=False), line)
        assert refused.text == "Only people who may manage this channel can change its settings", line
    assert (await core.repos.signals.channel_signals(cid)).ranking_enabled
    del core.ranking.status_of[cid]
    off = await core.commands.execute(ctx(), "ranking OFF")
    assert off.text.splitlines()[0] == (
        "Learned ranking switched off: papers are ranked by keywords only; the signals are kept"
    )
    assert not (await core.repos.signals.channel_signals(cid)).ranking_enabled
    on = await core.commands.execute(ctx(), "ranking on")
    assert on.text.splitlines()[:2] == [
        "Learned ranking switched on",
        "Ranking: by keywords until the channel has 5 positive signals (0 so far)",
    ]
    assert (await core.repos.signals.channel_signals(cid)).ranking_enabled
    assert core.ranking.changed == [cid, cid]
    bad = await core.commands.execute(ctx(), "ranking sideways")
    assert bad.text == (
        "Unknown ranking action 'sideways': use ranking, ranking on, ranking off, ranking reset or ranking reset"
        " confirm"
    )


async def test_reset_asks_for_the_exact_confirmation_then_forgets_the_signals_but_not_keywords_or_saves() -> None:
    core = fake_core()
    first, second, _ = await digest(core)
    cid = channel_id(core)
    nothing = await core.commands.execute(ctx(), "ranking reset")
    assert nothing.text == "Nothing to forget: the ranking has learned nothing in this channel yet"
    await core.commands.react(message=first, user_id="U1", added=True)
    await core.commands.not_for_us(message=second, user_id="U1")
    core.clock.current += timedelta(minutes=1)
    asked = await core.commands.execute(ctx(), "ranking reset")
    assert asked.text.splitlines() == [
        "This forgets what the ranking learned in this channel: 1 positive and 1 negative signals. Likes, imports"
        " and 👎 are deleted; saves stay saved but stop counting; keywords and settings stay.",
        "To go ahead, type: /arxiv ranking reset confirm",
    ]
    assert (await core.repos.signals.channel_signals(cid)).negatives == ("2601.00002",)  # nothing changed yet
    changes = len(core.ranking.changed)
    done = await core.commands.execute(ctx(), "ranking reset confirm")
    assert done.text.splitlines()[0] == (
        "Forgot what the ranking learned in this channel (1 positive, 1 negative); keywords and saves stay"
    )
    signals = await core.repos.signals.channel_signals(cid)
    assert signals.positives == () and signals.negatives == ()
    assert [s.arxiv_id for s in await core.repos.saves.list(channel=CHANNEL, user_id="U1")] == ["2601.00001"]
    record = await core.repos.channels.by_id(cid)
    assert record is not None and [r.term for r in record.rules] == ["LLM", "RL", "MoE"]
    assert core.ranking.changed[changes:] == [cid]


async def test_the_confirmation_is_typed_as_the_platform_types_it() -> None:
    core = fake_core()
    discord = ChannelRef("discord", "g1", "c1")
    core.source.papers.append(paper(1, "LLM serving"))
    for line in ("subscribe cs.DC", "keywords add LLM", "like 2601.00001"):
        await core.commands.execute(ctx(channel=discord), line)
    asked = await core.commands.execute(ctx(channel=discord), "ranking reset")
    assert asked.text.endswith("To go ahead, type: /arxiv ranking action:reset-confirm")


async def test_unsave_tells_the_ranking() -> None:
    core = fake_core()
    first, _, _ = await digest(core)
    await core.commands.react(message=first, user_id="U1", added=True)
    await core.commands.execute(ctx(), "unsave 2601.00001")
    assert core.ranking.changed == [channel_id(core), channel_id(core)]
    assert (await core.repos.signals.channel_signals(channel_id(core))).positives == ()
