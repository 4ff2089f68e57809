"""The command handlers and reactions, through ``execute`` and ``react`` only, over fakes (no database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bot.commands.table import find_command, usage_text
from bot.errors import SourceUnavailable, StoreError
from bot.models import ChannelRecord, ChannelRef, MessageRef, RuleKind
from tests.fakes.clock import FixedClock
from tests.fakes.core import CHANNEL, TODAY, FakeCore, ctx, fake_core, paper
from tests.fakes.repositories import FakeChannels, fake_repositories


async def subscribed(core: FakeCore, *, keywords: str = "LLM, RL, MoE") -> None:
    core.source.listings[frozenset({"cs.DC"})] = TODAY
    for line in ("subscribe cs.DC", f"keywords add {keywords}"):
        reply = await core.commands.execute(ctx(), line)
        assert not reply.text.startswith(("not ", "unknown", "something")), reply.text


async def test_subscribe_stores_the_categories_and_reschedules() -> None:
    core = fake_core()
    reply = await core.commands.execute(ctx(), "/arxiv subscribe cs.LG cs.DC")
    assert reply.text.startswith("Subscribed to cs.LG, cs.DC\nCategories: cs.DC, cs.LG\n")
    [record] = core.repos.channels.records
    assert record.ref == CHANNEL and record.categories == ("cs.DC", "cs.LG")
    assert core.schedule_changes == [record]


async def test_subscribe_follows_whole_archives_and_comma_lists_and_says_what_was_already_followed() -> None:
    core = fake_core()
    reply = await core.commands.execute(ctx(), "subscribe CS, astro-ph")
    assert reply.text.startswith("Subscribed to cs, astro-ph (all of cs.*, astro-ph.*)\nCategories: astro-ph, cs\n")
    reply = await core.commands.execute(ctx(), "subscribe cs.DC,cs.LG math")
    assert reply.text.startswith("Subscribed to cs.DC, cs.LG, math (all of math.*)\n")
    reply = await core.commands.execute(ctx(), "subscribe cs.LG,hep-th cs")
    assert reply.text.startswith("Subscribed to hep-th; already subscribed to cs.LG, cs\n")
    updates = len(core.schedule_changes)
    reply = await core.commands.execute(ctx(), "subscribe cs.DC cs")
    assert reply.text == "Already subscribed to cs.DC, cs; subscribed: astro-ph, cs, cs.DC, cs.LG, hep-th, math"
    assert len(core.schedule_changes) == updates  # nothing changed, nothing rescheduled
    [record] = core.repos.channels.records
    assert record.categories == ("astro-ph", "cs", "cs.DC", "cs.LG", "hep-th", "math")
    settings = await core.commands.execute(ctx(), "settings")
    assert settings.text.startswith("Categories: astro-ph, cs, cs.DC, cs.LG, hep-th, math\n")
    reply = await core.commands.execute(ctx(), "unsubscribe cs,math")
    assert reply.text.startswith("Unsubscribed from cs, math\nCategories: astro-ph, cs.DC, cs.LG, hep-th\n")


async def test_unsubscribe_from_a_category_not_subscribed_changes_nothing() -> None:
    core = fake_core()
    await core.commands.execute(ctx(), "subscribe cs.DC")
    reply = await core.commands.execute(ctx(), "unsubscribe cs.DC cs.CV")
    assert reply.text == "Not subscribed to cs.CV; subscribed: cs.DC"
    assert core.repos.channels.records[0].categories == ("cs.DC",)
    reply = await core.commands.execute(ctx(), "unsubscribe cs.DC")
    assert reply.text.startswith("Unsubscribed from cs.DC\nCategories: none")
    assert await core.repos.channels.all_active() == []


async def test_only_managers_change_settings_and_nothing_is_stored_for_a_refusal() -> None:
    core = fake_core()
    guest = ctx("U2", can_manage=False)
    for line in ("subscribe cs.DC", "keywords add LLM", "exclude add survey", "set max 3", "set language de"):
        reply = await core.commands.execute(guest, line)
        assert reply.text == "Only people who may manage this channel can change its settings", line
    assert core.repos.channels.records == [] and core.repos.channels.updates == []
    assert (await core.commands.execute(guest, "settings")).text.startswith("Categories: none")
    assert (await core.commands.execute(guest, "digest now")).text.startswith("Subscribe to a category first")


async def test_keywords_merge_by_term_key_and_keep_their_order() -> None:
    core = fake_core()
    r = await core.commands.execute(ctx(), 'keywords add "speculative decoding", LLM^2, llm')
    assert r.text.startswith("Added to keywords: speculative decoding, llm\n")
    assert "\nKeywords: speculative decoding, llm\n" in r.text
    r = await core.commands.execute(ctx(), "keywords add LLM^3, KV-cache")
    assert r.text.startswith("Added to keywords: LLM^3, KV-cache\n")
    assert "\nKeywords: speculative decoding, LLM^3, KV-cache\n" in r.text
    rules = core.repos.channels.records[0].terms(RuleKind.INCLUDE)
    assert [(x.term, x.weight) for x in rules] == [("speculative decoding", 1.0), ("LLM", 3.0), ("KV-cache", 1.0)]
    r = await core.commands.execute(ctx(), "keywords remove kv cache, nothere")
    assert r.text == "Not in keywords: nothere; current: speculative decoding, LLM^3, KV-cache"
    r = await core.commands.execute(ctx(), "keywords remove kv cache")
    assert r.text.startswith("Removed from keywords: kv cache\n")
    assert "\nKeywords: speculative decoding, LLM^3\n" in r.text
    await core.commands.execute(ctx(), "exclude add survey")
    await core.commands.execute(ctx(), "authors follow Yann  LeCun")
    r = await core.commands.execute(ctx(), "keywords set RL, MoE")
    assert r.text.startswith("Replaced the keywords\n")
    assert "\nKeywords: RL, MoE\nExclude: survey\nFollowed authors: Yann LeCun\n" in r.text
    assert [x.term for x in core.repos.channels.records[0].rules] == ["survey", "Yann LeCun", "RL", "MoE"]
    r = await core.commands.execute(ctx(), "keywords clear")
    assert r.text.startswith("Cleared the keywords\n") and "\nKeywords: none\n" in r.text


async def test_a_channel_has_at_most_a_hundred_keywords() -> None:
    core = fake_core()
    for batch in range(3):
        terms = ", ".join(f"k{batch}x{i}" for i in range(30))
        assert (await core.commands.execute(ctx(), f"keywords add {terms}")).text.startswith("Added to keywords: ")
    r = await core.commands.execute(ctx(), "keywords add " + ", ".join(f"k9x{i}" for i in range(11)))
    assert r.text == "Too many keywords: a channel can have at most 100; remove some first"
    assert len(core.repos.channels.records[0].terms(RuleKind.INCLUDE)) == 90


async def test_settings_commands_store_one_change_each() -> None:
    core = fake_core()
    replies = [
        (await core.commands.execute(ctx(), line)).text.split("\n")[0]
        for line in (
            "set time 07:30 Asia/Tokyo",
            "set time 08:00",
            "set max 3",
            "set min-score 2.5",
            "set cross on",
            "set language pt-BR",
        )
    ]
    assert replies == [
        "Daily post time set to 07:30 Asia/Tokyo",
        "Daily post time set to 08:00 Asia/Tokyo",
        "Up to 3 papers a day",
        "Minimum score set to 2.5",
        "Cross-listed papers included",
        "Summaries will be written in pt-BR",
    ]
    channel_id = core.repos.channels.records[0].id
    assert core.repos.channels.updates == [
        (channel_id, {"post_time": "07:30", "timezone": "Asia/Tokyo"}),
        (channel_id, {"post_time": "08:00"}),
        (channel_id, {"max_papers": 3}),
        (channel_id, {"min_score": 2.5}),
        (channel_id, {"include_cross": True}),
        (channel_id, {"language": "pt-BR"}),
    ]
    assert [r.post_time for r in core.schedule_changes] == ["07:30", "08:00", "08:00", "08:00", "08:00", "08:00"]
    settings = (await core.commands.execute(ctx(), "settings")).text
    assert settings.endswith(
        "Posts at 08:00 Asia/Tokyo, Monday to Friday; up to 3 papers with score >= 2.5; cross-lists on; language pt-BR"
    )


async def test_bad_input_is_one_line_and_stores_nothing() -> None:
    core = fake_core()
    for bad in ("set max 0", "set time 25:00", "subscribe cs.FAKE", 'keywords add "unclosed', "frobnicate"):
        reply = await core.commands.execute(ctx(), bad)
        assert reply.text and "Traceback" not in reply.text, bad
        assert bad == "frobnicate" or "\n" not in reply.text, bad
    assert core.repos.channels.records == [] and core.repos.channels.updates == []


async def test_digest_now_posts_the_best_papers_with_their_threads() -> None:
    core = fake_core()
    await subscribed(core)
    reply = await core.commands.execute(ctx(), "digest now")
    assert (reply.text, reply.posted) == ("Posted 3 of 4 papers listed today", 3)
    assert [c.paper.arxiv_id for c in core.publisher.cards] == ["2601.00001", "2601.00002", "2601.00003"]
    assert [(p.message_id, s.paper.arxiv_id) for p, s in core.publisher.threads] == [
        ("m1-2601.00001v1", "2601.00001"),
        ("m2-2601.00002v1", "2601.00002"),
        ("m3-2601.00003v1", "2601.00003"),
    ]
    assert core.source.fetched == [("cs.DC",)]
    assert core.repos.channels.records[0].last_digest_at == core.clock.current
    again = await core.commands.execute(ctx(), "digest now")
    assert (again.text, again.posted) == (
        "Nothing new to post: 3 matching papers were already posted (4 papers listed today)",
        0,
    )
    assert len(core.publisher.cards) == 3


async def test_digest_now_without_a_category_or_announcement() -> None:
    core = fake_core()
    reply = await core.commands.execute(ctx(), "digest now")
    assert reply.text == "Subscribe to a category first, e.g. /arxiv subscribe cs.DC"
    await core.commands.execute(ctx(), "subscribe cs.DC")
    reply = await core.commands.execute(ctx(), "digest now")
    assert reply.text.startswith("No new papers today: arXiv announces Monday to Friday")
    assert core.publisher.sent == [] and core.repos.ledger.rows == []


async def test_digest_now_when_arxiv_is_down_records_nothing() -> None:
    core = fake_core()
    await subscribed(core)
    core.source.fail = SourceUnavailable("arXiv RSS answered HTTP 503")
    reply = await core.commands.execute(ctx(), "digest now")
    assert reply.text == "arXiv did not answer (arXiv RSS answered HTTP 503); will try again at the next run"
    assert core.repos.ledger.rows == [] and core.publisher.sent == []
    assert core.repos.channels.records[0].last_digest_at is None


async def test_a_refused_card_is_reported_and_posted_by_the_next_digest() -> None:
    core = fake_core()
    await subscribed(core)
    core.publisher.fail_cards.add("2601.00002v1")
    reply = await core.commands.execute(ctx(), "digest now")
    assert reply.text == (
        "Posted 2 of 4 papers listed today; 1 could not be posted and will be retried (refused 2601.00002v1)"
    )
    [refused] = [r for r in core.repos.ledger.rows if r.arxiv_id == "2601.00002"]
    assert (refused.attempts, refused.last_error) == (1, "refused 2601.00002v1")
    core.publisher.fail_cards.clear()
    reply = await core.commands.execute(ctx(), "digest now")
    assert reply.posted == 1
    assert [c.paper.arxiv_id for c in core.publisher.cards] == ["2601.00001", "2601.00003", "2601.00002"]


async def test_preview_shows_the_digest_without_posting_or_planning() -> None:
    core = fake_core()
    await subscribed(core)
    preview = await core.commands.execute(ctx(), "preview")
    assert preview.ephemeral and preview.text == "Today's digest would post 3 papers:"
    assert [c.paper.arxiv_id for c in preview.cards] == ["2601.00001", "2601.00002", "2601.00003"]
    assert preview.cards[0].matched == ("LLM", "RL", "MoE")
    assert core.publisher.sent == [] and core.repos.ledger.rows == []
    await core.commands.execute(ctx(), "digest now")
    again = await core.commands.execute(ctx(), "preview")
    assert (
        again.cards == ()
        and again.text == "Today's digest would post nothing: none of the 4 papers listed today is new and matches"
    )


async def test_summarize_looks_the_paper_up_posts_it_and_indexes_the_card() -> None:
    core = fake_core()
    await core.commands.execute(ctx(), "set language de")
    await core.commands.execute(ctx(), "keywords add LLM")
    wanted = paper(7, "LLM agents", version=2)
    core.source.papers += [paper(7, "LLM agents"), wanted]
    reply = await core.commands.execute(ctx("U5"), "summarize 2601.00007")
    assert (reply.text, reply.posted) == ("Posted 2601.00007v2: LLM agents", 1)
    assert core.source.looked_up == ["2601.00007"]
    assert core.repos.papers.stored == [wanted]
    [card] = core.publisher.cards
    assert (card.paper, card.requested_by, card.matched, card.score) == (wanted, "user-U5", ("LLM",), 0.0)
    assert core.summarizer.asked == [("2601.00007v2", "de")]
    [(parent, summary)] = core.publisher.threads
    assert parent.message_id == "m1-2601.00007v2" and summary.paper == wanted
    assert await core.repos.ledger.card_paper(CHANNEL, parent.message_id) == (
        core.repos.channels.records[0].id,
        "2601.00007",
        2,
    )
    assert core.repos.ledger.rows == []  # a requested card is no digest delivery
    # A stored version is not looked up again, asked for with or without its version.
    await core.commands.execute(ctx(), "summarize 2601.00007v2")
    await core.commands.execute(ctx(), "summarize https://arxiv.org/abs/2601.00007")
    assert core.source.looked_up == ["2601.00007"]


async def test_summarize_of_a_paper_from_todays_listing_asks_arxiv_nothing() -> None:
    core = fake_core()
    core.source.listings[frozenset({"cs.DC"})] = TODAY
    await core.commands.execute(ctx(), "subscribe cs.DC")
    await core.commands.execute(ctx(), "preview")  # stores today's papers, posts nothing
    core.source.fail = SourceUnavailable("arXiv is slow today")  # any lookup would fail
    reply = await core.commands.execute(ctx(), "summarize 2601.00002")
    assert reply.text == "Posted 2601.00002v1: LLM training with RL"
    assert core.source.looked_up == []
    assert [c.paper.versioned_id for c in core.publisher.cards] == ["2601.00002v1"]


async def test_summarize_an_unknown_paper() -> None:
    core = fake_core()
    reply = await core.commands.execute(ctx(), "summarize 2601.99999")
    assert reply.text == "No such paper on arXiv: 2601.99999"
    assert core.publisher.sent == [] and core.repos.papers.stored == []


async def test_reactions_save_and_unsave_the_paper_of_our_card() -> None:
    core = fake_core()
    core.source.papers.append(paper(7, "LLM agents"))
    await core.commands.execute(ctx(), "summarize 2601.00007")
    [card_ref] = [parent for parent, _ in core.publisher.threads]
    saved = await core.commands.react(message=card_ref, user_id="U7", added=True)
    assert saved is not None and saved.text == "Saved 2601.00007v1 LLM agents"
    again = await core.commands.react(message=card_ref, user_id="U7", added=True)
    assert again is not None and again.text == "Already saved 2601.00007v1 LLM agents"
    [row] = core.repos.saves.rows
    assert (row.user_id, row.channel_id, row.workspace, row.version) == (
        "U7",
        core.repos.channels.records[0].id,
        "w1",
        1,
    )
    removed = await core.commands.react(message=card_ref, user_id="U7", added=False)
    assert removed is not None and removed.text == "Removed from your saved papers: 2601.00007v1 LLM agents"
    gone = await core.commands.react(message=card_ref, user_id="U7", added=False)
    assert gone is not None and gone.text == "It was not saved: 2601.00007v1 LLM agents"
    assert core.repos.saves.rows == []
    assert await core.commands.react(message=MessageRef(CHANNEL, "not-ours"), user_id="U7", added=True) is None
    elsewhere = MessageRef(ChannelRef("test", "w1", "other"), card_ref.message_id)
    assert await core.commands.react(message=elsewhere, user_id="U7", added=True) is None


async def test_saved_lists_newest_first_and_unsave_removes() -> None:
    core = fake_core()
    await subscribed(core)
    await core.commands.execute(ctx(), "digest now")
    for parent, _ in core.publisher.threads:
        core.clock.current += timedelta(seconds=5)
        await core.commands.react(message=parent, user_id="U1", added=True)
    text = (await core.commands.execute(ctx(), "saved")).text
    assert text.splitlines() == [
        "Your saved papers (3), newest first:",
        "• 2601.00003v1 Consensus protocols https://arxiv.org/abs/2601.00003v1",
        "• 2601.00002v1 LLM training with RL https://arxiv.org/abs/2601.00002v1",
        "• 2601.00001v1 LLM serving with RL and MoE https://arxiv.org/abs/2601.00001v1",
    ]
    assert (await core.commands.execute(ctx(), "unsave 2601.00002")).text == "Removed 2601.00002 from your saved papers"
    assert (await core.commands.execute(ctx(), "unsave 2601.00002")).text == "You have not saved 2601.00002"
    assert "2601.00002" not in (await core.commands.execute(ctx(), "saved")).text
    assert (await core.commands.execute(ctx("U9"), "saved")).text == (
        "You have no saved papers: react with the bookmark emoji on a paper to save it"
    )


async def test_stats_reports_todays_and_this_months_usage() -> None:
    core = fake_core()
    usage = core.repos.usage
    await usage.record_call(
        model="openai/test-model", input_tokens=1200, output_tokens=300, cost_usd=0.5, cache_miss=True
    )
    await usage.record_failure(model="openai/test-model")
    await usage.record_lookup(hit=True)
    text = (await core.commands.execute(ctx(), "stats")).text
    assert text.splitlines() == [
        "LLM summaries with openai/test-model; daily budget $0.50 of $2.00 spent (UTC day)",
        "Today (2026-01-05): 2 LLM calls (1 failed), 1,500 tokens (1,200 in, 300 out), $0.5000; "
        "summary cache hit rate 50% (1 of 2 lookups)",
        "This month (2026-01): 2 LLM calls (1 failed), 1,500 tokens (1,200 in, 300 out), $0.5000; "
        "summary cache hit rate 50% (1 of 2 lookups)",
    ]
    assert (
        await fake_core(with_usage=False).commands.execute(ctx(), "stats")
    ).text == "LLM usage is not recorded by this bot"
    no_model = (await fake_core(model="").commands.execute(ctx(), "stats")).text
    assert no_model.startswith("No language model is configured: threads get extractive summaries (no LLM calls)\n")


async def test_feed_gives_the_channels_url_or_says_feeds_are_off() -> None:
    core = fake_core()
    reply = await core.commands.execute(ctx(), "feed")
    token = core.repos.channels.records[0].feed_token
    assert reply.text == f"RSS feed of the papers posted in this channel: https://bot.example.org/feeds/{token}.xml"
    off = await fake_core(feed_base_url=None).commands.execute(ctx(), "feed")
    assert off.text == "Feeds are off: the bot's HTTP server is disabled ([http] enabled = false)"


class BrokenChannels(FakeChannels):
    """Channels whose database is down."""

    async def get_or_create(self, ref: ChannelRef) -> ChannelRecord:
        """Fail as a lost database connection does."""
        raise StoreError("database error: OperationalError: disk I/O error")


async def test_a_store_failure_is_one_line_and_no_traceback() -> None:
    clock = FixedClock()
    repos = fake_repositories(clock=clock)
    core = fake_core(clock=clock, repos=replace(repos, channels=BrokenChannels(clock=clock)))
    reply = await core.commands.execute(ctx(), "subscribe cs.DC")
    assert reply.text == "Something went wrong on our side; nothing was changed, try again later"
    assert repos.channels.records == []


async def test_a_command_typed_without_its_arguments_answers_with_that_commands_usage_on_each_platform() -> None:
    core = fake_core()
    keywords = find_command("keywords")
    assert keywords is not None
    for platform in ("slack", "discord", "console"):
        where = ctx(channel=ChannelRef(platform, "w1", "c1"))
        reply = await core.commands.execute(where, "/arxiv keywords")
        assert reply.text == "Keywords needs what to do: add, remove, set or clear\n" + usage_text(keywords, platform)
    discord = await core.commands.execute(ctx(channel=ChannelRef("discord", "w1", "c1")), "keywords")
    assert "keywords action:add|remove|set terms:<terms>" in discord.text
    for line, first in [("subscribe", "Subscribe needs at least one category"), ("set", "Set needs a setting"),
                        ("summarize", "Summarize needs an arXiv id"), ("authors", "Authors needs follow or unfollow")]:
        reply = await core.commands.execute(ctx(), line)
        head, *usage = reply.text.splitlines()
        assert head.startswith(first) and usage and all(u.startswith(f"  {line} ") for u in usage), reply.text
    assert core.repos.channels.records == []


async def test_every_reply_has_one_style_and_counts_agree_with_their_nouns() -> None:
    core = fake_core()
    core.source.listings[frozenset({"cs.DC"})] = TODAY
    lines = [
        "subscribe cs.DC", "keywords add Erasure", "set max 1", "digest now", "digest now", "preview",
        "saved", "unsave 2601.00009", "stats x", "set max 0", "set time 25:00", "keywords add foo^x",
        "unsubscribe cs.CV", "frobnicate", "keywords remove nothere", "feed", "summarize 2601.99999",
    ]  # fmt: skip
    replies = [(await core.commands.execute(ctx(), line)).text for line in lines]
    for line, text in zip(lines, replies, strict=True):
        first = text.split()[0]
        assert first[0].isupper() or first.startswith(("'", "cs.", "arXiv")), (line, text)
        assert "\n" in text or not text.endswith("."), (line, text)
    assert replies[2].startswith("Up to 1 paper a day\n") and "up to 1 paper with score" in replies[2]
    assert replies[3] == "Posted 1 of 4 papers listed today"
    assert replies[4] == "Nothing new to post: 1 matching paper was already posted (4 papers listed today)"
    assert replies[5] == "Today's digest would post nothing: none of the 4 papers listed today is new and matches"


async def test_a_settings_change_never_prints_the_same_line_twice() -> None:
    core = fake_core()
    lines = [
        "subscribe cs.DC", "subscribe cs", "unsubscribe cs", "keywords add LLM, RL^2", "keywords set MoE",
        "keywords remove MoE", "keywords clear", "exclude add survey", "exclude clear", "authors follow Ada Lovelace",
        "authors unfollow Ada Lovelace", "set time 9:30 Asia/Tokyo", "set max 3", "set min-score 2", "set cross on",
        "set language de",
    ]  # fmt: skip
    for line in lines:
        text = (await core.commands.execute(ctx(), line)).text
        shown = text.splitlines()
        assert len(shown) == len(set(shown)) == 6, (line, text)  # what changed, then the five lines of settings
        assert shown[1].startswith("Categories: ") and shown[-1].startswith("Posts at "), (line, text)
