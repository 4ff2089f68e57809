"""The command set and the daily run, over a real SQLite file and a real local arXiv server."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import feedparser

from adapters.composition import Services, build_services
from bot.commands.table import COMMAND_NAMES, OTHER, help_text
from bot.metrics import REGISTRY
from bot.models import MessageRef
from tests.conftest import FEED_0105, FEED_WEEKEND, TEST_CHANNEL, ctx, make_settings
from tests.fakes.arxiv_server import FakeArxivServer
from tests.fakes.clock import FixedClock
from tests.fakes.publisher import FakePublisher, SimulatedCrash

FIXTURES_API = FEED_0105.parent.parent / "arxiv-api"


def expected_ids(categories: set[str], pattern: str) -> set[str]:
    """An independent oracle: papers of the recorded feed whose primary category is subscribed and that match."""
    feed = feedparser.parse(FEED_0105.read_bytes())
    out = set()
    for entry in feed.entries:
        primary = entry.tags[0]["term"]
        text = entry.title + " " + entry.description.split("Abstract:", 1)[1]
        if primary in categories and re.search(pattern, text, re.IGNORECASE):
            out.add(entry.guid.rsplit(":", 1)[1])
    return out


async def subscribe_llm(services: Services, *, max_papers: int = 10) -> None:
    for line in ("subscribe cs.AI cs.CL cs.DC cs.LG", "keywords add RL, LLM", f"set max {max_papers}"):
        reply = await services.commands.execute(ctx(), line)
        assert "error" not in reply.text.lower(), reply.text


async def test_digest_posts_each_matching_paper_once_with_its_thread(
    services: Services, publisher: FakePublisher
) -> None:
    await subscribe_llm(services, max_papers=50)
    reply = await services.commands.execute(ctx(), "/arxiv digest now")
    posted = [c.paper.versioned_id for c in publisher.cards]
    assert set(posted) == expected_ids({"cs.AI", "cs.CL", "cs.DC", "cs.LG"}, r"\b(RL|LLMs?)\b")
    assert len(posted) == len(set(posted))
    assert reply.posted == len(posted) and f"Posted {len(posted)}" in reply.text
    scores = [c.score for c in publisher.cards]
    assert scores == sorted(scores, reverse=True)
    assert all(c.matched and set(c.matched) <= {"RL", "LLM"} for c in publisher.cards)
    parents = [parent.message_id for parent, _ in publisher.threads]
    assert parents == [f"m{i + 1}-{pid}" for i, pid in enumerate(posted)]
    assert all(summary.sections[0].body == summary.paper.abstract for _, summary in publisher.threads)


async def test_same_announcement_twice_posts_nothing_new(services: Services, publisher: FakePublisher) -> None:
    await subscribe_llm(services)
    await services.commands.execute(ctx(), "digest now")
    first = len(publisher.sent)
    assert len(publisher.cards) == 10
    reply = await services.commands.execute(ctx(), "digest now")
    assert len(publisher.sent) == first
    assert reply.posted == 0 and "Nothing new" in reply.text


async def test_crash_mid_run_then_restart_posts_the_rest_exactly_once(
    db_url: str, arxiv: FakeArxivServer, clock: FixedClock
) -> None:
    crashing = FakePublisher(crash_after_cards=3)
    first = build_services(make_settings(db_url, arxiv), clock=clock)
    first.router.add("test", crashing)
    await subscribe_llm(first)
    try:
        await first.commands.execute(ctx(), "digest now")
    except SimulatedCrash:
        pass
    else:
        raise AssertionError("the simulated crash did not happen")
    await first.aclose()
    assert len(crashing.cards) == 3 and crashing.threads == []

    after = FakePublisher()
    second = build_services(make_settings(db_url, arxiv), clock=clock)
    second.router.add("test", after)
    try:
        reply = await second.commands.execute(ctx(), "digest now")
    finally:
        await second.aclose()
    all_ids = [c.paper.versioned_id for c in crashing.cards + after.cards]
    assert len(all_ids) == 10 == len(set(all_ids))
    assert reply.posted == 7
    # The three cards posted before the crash get their threads now, under their original messages.
    threaded = {summary.paper.versioned_id: parent.message_id for parent, summary in after.threads}
    assert set(threaded) == set(all_ids)
    for i, card in enumerate(crashing.cards):
        assert threaded[card.paper.versioned_id] == f"m{i + 1}-{card.paper.versioned_id}"


async def test_failed_post_stays_pending_and_is_retried_once(services: Services, publisher: FakePublisher) -> None:
    await subscribe_llm(services)
    publisher.fail_cards.add("2601.00644v1")
    reply = await services.commands.execute(ctx(), "digest now")
    assert "1 could not be posted" in reply.text
    assert "2601.00644v1" not in [c.paper.versioned_id for c in publisher.cards]
    publisher.fail_cards.clear()
    reply = await services.commands.execute(ctx(), "digest now")
    ids = [c.paper.versioned_id for c in publisher.cards]
    assert ids.count("2601.00644v1") == 1 and len(ids) == 10 == len(set(ids))


async def test_arxiv_down_records_nothing_and_a_later_run_works(
    services: Services, publisher: FakePublisher, arxiv: FakeArxivServer
) -> None:
    await subscribe_llm(services)
    arxiv.fail(503, 503)
    reply = await services.commands.execute(ctx(), "digest now")
    assert "arXiv did not answer" in reply.text and "\n" not in reply.text
    assert publisher.cards == []
    reply = await services.commands.execute(ctx(), "digest now")
    assert len(publisher.cards) == 10


async def test_weekend_feed_means_no_announcement(services: Services, arxiv: FakeArxivServer) -> None:
    arxiv.feeds[frozenset({"cs.DC"})] = FEED_WEEKEND.read_bytes()
    await services.commands.execute(ctx(), "subscribe cs.DC")
    reply = await services.commands.execute(ctx(), "digest now")
    assert reply.text.startswith("No new papers today")


async def test_a_whole_archive_is_stored_as_its_code_and_shown_in_the_settings(services: Services) -> None:
    reply = await services.commands.execute(ctx(), "subscribe cs,math")
    assert reply.text.startswith("Subscribed to cs, math (all of cs.*, math.*)\nCategories: cs, math\n")
    record = await services.channels.get(TEST_CHANNEL)
    assert record is not None and record.categories == ("cs", "math")
    assert (await services.commands.execute(ctx(), "settings")).text.startswith("Categories: cs, math\n")
    again = await services.commands.execute(ctx(), "subscribe math")
    assert again.text == "Already subscribed to math; subscribed: cs, math"


async def test_bad_input_changes_nothing(services: Services) -> None:
    await subscribe_llm(services)
    before = (await services.commands.execute(ctx(), "settings")).text
    for bad, expected in [
        ("set max 0", "Max must be from 1 to 50"),
        ("set max ten", "Max must be a whole number"),
        ("set time 25:00", "Bad time '25:00'"),
        ("set time 09:00 Mars/Olympus", "Unknown time zone 'Mars/Olympus'"),
        ("set min-score -1", "Min-score must be from 0 to 100"),
        ("set cross maybe", "use set cross on|off"),
        ("set language english!", "Bad language code"),
        ("subscribe cs.DC cs.FAKE", "'cs.FAKE' is not an arXiv category; did you mean"),
        ('keywords add "unclosed', "Unclosed quote"),
        ("keywords add " + "x" * 61, "too long"),
        ("keywords add " + ", ".join(f"t{i}" for i in range(31)), "Too many terms"),
        ("keywords remove nothere", "Not in keywords: nothere"),
        ("unsubscribe cs.CV", "Not subscribed to cs.CV"),
        ("summarize abc", "abc"),
    ]:
        reply = await services.commands.execute(ctx(), bad)
        assert expected in reply.text, (bad, reply.text)
        assert "\n" not in reply.text and "Traceback" not in reply.text
    assert (await services.commands.execute(ctx(), "settings")).text == before


async def test_unknown_subcommand_shows_help(services: Services) -> None:
    reply = await services.commands.execute(ctx(), "frobnicate now")
    assert reply.text.startswith("Unknown command 'frobnicate'")
    assert "subscribe <cat>" in reply.text
    assert reply.text == "Unknown command 'frobnicate'\n" + help_text(TEST_CHANNEL.platform)
    typo = await services.commands.execute(ctx(), "subscrbe cs.DC")
    assert typo.text.startswith("Unknown command 'subscrbe' (did you mean subscribe?)\narxiv-bot commands")
    assert (await services.commands.execute(ctx(), "?")).text == help_text(TEST_CHANNEL.platform)


async def test_only_managers_change_settings_but_everyone_reads(services: Services) -> None:
    guest = ctx("U2", can_manage=False)
    reply = await services.commands.execute(guest, "subscribe cs.DC")
    assert "Only people who may manage this channel" in reply.text
    assert "Categories: none" in (await services.commands.execute(guest, "settings")).text
    assert "arxiv-bot commands" in (await services.commands.execute(guest, "help")).text


async def test_the_core_refuses_in_the_platforms_words_and_runs_nothing_of_a_refused_batch(
    services: Services,
) -> None:
    guest = replace(ctx("U2", can_manage=False), refusal="Ask a channel manager")
    prepared = [services.commands.prepare(t) for t in ("set max 5", "set cross on")]
    assert (await services.commands.execute_many(guest, prepared)).text == "Ask a channel manager"
    assert (await services.commands.execute(guest, "keywords add LLM")).text == "Ask a channel manager"
    assert "You have no saved papers" in (await services.commands.execute(guest, "saved")).text
    assert await services.channels.get(TEST_CHANNEL) is None  # nothing stored, not even the channel


async def test_a_batch_runs_in_order_with_one_combined_answer_or_not_at_all(services: Services) -> None:
    bad = [services.commands.prepare(t) for t in ("set max 5", "set time 25:00", "set cross on")]
    assert (await services.commands.execute_many(ctx(), bad)).text.startswith("Bad time '25:00'")
    assert await services.channels.get(TEST_CHANNEL) is None

    good = [services.commands.prepare(t) for t in ("set max 5", "set cross on")]
    lines = (await services.commands.execute_many(ctx(), good)).text.splitlines()
    assert lines[:2] == ["Up to 5 papers a day", "Cross-listed papers included"]
    assert lines[2:] == (await services.commands.execute(ctx(), "settings")).text.splitlines()


async def test_durations_are_labelled_by_the_canonical_command_name(services: Services) -> None:
    def count(command: str) -> float:
        return REGISTRY.get_sample_value("arxivbot_command_duration_seconds_count", {"command": command}) or 0.0

    assert all(REGISTRY.get_sample_value("arxivbot_command_duration_seconds_count", {"command": name}) is not None
               for name in (*COMMAND_NAMES, OTHER))  # every label exists before its first use
    before = {name: count(name) for name in ("keywords", "digest", "other")}
    for text in ("keyword add LLM", "keywords clear", "digest-now", "frobnicate <@U1>"):
        await services.commands.execute(ctx(), text)
    assert {name: count(name) - before[name] for name in before} == {"keywords": 2, "digest": 1, "other": 1}


async def test_keywords_set_remove_clear_and_weights(services: Services) -> None:
    r = await services.commands.execute(ctx(), 'keywords add "speculative decoding", LLM^2, llm')
    assert "Keywords: speculative decoding, llm" in r.text
    r = await services.commands.execute(ctx(), "keywords add LLM^3")
    assert "Keywords: speculative decoding, LLM^3" in r.text
    r = await services.commands.execute(ctx(), "keywords remove Speculative  Decoding")
    assert "Keywords: LLM^3" in r.text
    r = await services.commands.execute(ctx(), "keywords set RL, MoE")
    assert "Keywords: RL, MoE" in r.text
    r = await services.commands.execute(ctx(), "exclude add survey, review")
    assert r.text.startswith("Added to exclude terms: survey, review\n") and "\nExclude: survey, review\n" in r.text
    r = await services.commands.execute(ctx(), "authors follow Yann  LeCun")
    assert r.text.startswith("Now following Yann LeCun\n") and "\nFollowed authors: Yann LeCun\n" in r.text
    r = await services.commands.execute(ctx(), "authors unfollow yann lecun")
    assert r.text.startswith("No longer following yann lecun\n") and "\nFollowed authors: none\n" in r.text
    r = await services.commands.execute(ctx(), "keywords clear")
    assert "Keywords: none" in r.text


async def test_preview_shows_the_digest_without_posting_or_recording(
    services: Services, publisher: FakePublisher
) -> None:
    await subscribe_llm(services)
    preview = await services.commands.execute(ctx(), "preview")
    assert preview.ephemeral and len(preview.cards) == 10
    assert publisher.sent == []
    await services.commands.execute(ctx(), "digest now")
    assert [c.paper.versioned_id for c in publisher.cards] == [c.paper.versioned_id for c in preview.cards]
    again = await services.commands.execute(ctx(), "preview")
    assert again.cards == () and "would post nothing" in again.text


async def test_cross_lists_only_when_opted_in(
    services: Services, arxiv: FakeArxivServer, publisher: FakePublisher
) -> None:
    # Make 2601.00088 (primary cs.LG, about LLMs) a real cross-list into cs.DC.
    body = FEED_0105.read_text().replace(
        '<guid isPermaLink="false">oai:arXiv.org:2601.00088v1</guid>\n      <category>cs.LG</category>',
        '<guid isPermaLink="false">oai:arXiv.org:2601.00088v1</guid>\n      <category>cs.LG</category>'
        "<category>cs.DC</category>",
    )
    assert "<category>cs.DC</category>" in body.split("2601.00088v1</guid>")[1][:80]
    arxiv.feeds[frozenset({"cs.DC"})] = body
    await services.commands.execute(ctx(), "subscribe cs.DC")
    await services.commands.execute(ctx(), "keywords add LLM")
    await services.commands.execute(ctx(), "digest now")
    assert publisher.cards and all(c.paper.primary_category == "cs.DC" for c in publisher.cards)
    assert not any(c.is_cross_list for c in publisher.cards)
    await services.commands.execute(ctx(), "set cross on")
    await services.commands.execute(ctx(), "digest now")
    cross = [c for c in publisher.cards if c.is_cross_list]
    assert [c.paper.versioned_id for c in cross] == ["2601.00088v1"]


async def test_summarize_posts_card_and_thread_and_reaction_saves(
    services: Services, publisher: FakePublisher, arxiv: FakeArxivServer, clock: FixedClock
) -> None:
    import json

    fixture = json.loads((FIXTURES_API / "id_2104.12255v1.json").read_text())
    arxiv.papers["2104.12255"] = (fixture["status_code"], fixture["body"])
    reply = await services.commands.execute(ctx(), "summarize https://arxiv.org/abs/2104.12255")
    assert reply.posted == 1 and "2104.12255v1" in reply.text
    card = publisher.cards[0]
    assert card.paper.title == "0" and card.requested_by == "user-U1"
    parent, summary = publisher.threads[0]
    assert summary.paper.versioned_id == "2104.12255v1"

    saved = await services.commands.react(message=parent, user_id="U7", added=True)
    assert saved is not None and saved.text.startswith("Saved 2104.12255v1")
    clock.current += timedelta(minutes=1)
    again = await services.commands.react(message=parent, user_id="U7", added=True)
    assert again is not None and again.text.startswith("Already saved")
    listing = await services.commands.execute(ctx("U7"), "saved")
    assert listing.text.count("2104.12255v1 0") == 1
    removed = await services.commands.react(message=parent, user_id="U7", added=False)
    assert removed is not None and removed.text.startswith("Removed")
    assert "no saved papers" in (await services.commands.execute(ctx("U7"), "saved")).text
    assert await services.commands.react(message=MessageRef(TEST_CHANNEL, "not-ours"), user_id="U7", added=True) is None


async def test_summarize_of_a_paper_already_stored_makes_no_export_api_call(
    services: Services, publisher: FakePublisher, arxiv: FakeArxivServer
) -> None:
    await subscribe_llm(services)
    await services.commands.execute(ctx(), "preview")  # today's listing is stored, nothing posted
    asked = len(arxiv.requests)
    arxiv.latency_s = 30.0  # a slow arXiv: any request would outlast the test's patience
    reply = await services.commands.execute(ctx(), "summarize arxiv.org/abs/2601.00644")
    assert reply.posted == 1 and reply.text.startswith("Posted 2601.00644v1:")
    assert len(arxiv.requests) == asked  # no export API call
    assert [c.paper.versioned_id for c in publisher.cards] == ["2601.00644v1"]


async def test_summarize_unknown_paper_is_a_clear_answer(services: Services, publisher: FakePublisher) -> None:
    reply = await services.commands.execute(ctx(), "summarize 2601.99999")
    assert "no such paper" in reply.text.lower() and "\n" not in reply.text
    assert publisher.sent == []


async def test_saved_lists_newest_first_and_unsave(
    services: Services, publisher: FakePublisher, clock: FixedClock
) -> None:
    await subscribe_llm(services, max_papers=3)
    await services.commands.execute(ctx(), "digest now")
    cards = [parent for parent, _ in publisher.threads]
    for parent in cards:
        clock.current += timedelta(seconds=5)
        await services.commands.react(message=parent, user_id="U1", added=True)
    text = (await services.commands.execute(ctx(), "saved")).text
    order = [publisher.cards[i].paper.versioned_id for i in (2, 1, 0)]
    positions = [text.index(pid) for pid in order]
    assert positions == sorted(positions)
    target = publisher.cards[0].paper.arxiv_id
    assert "Removed" in (await services.commands.execute(ctx(), f"unsave {target}")).text
    assert target not in (await services.commands.execute(ctx(), "saved")).text


async def test_one_request_per_category_shared_by_channels(
    services: Services, arxiv: FakeArxivServer, publisher: FakePublisher
) -> None:
    from bot.models import ChannelRef
    from tests.conftest import TEST_CHANNEL as A

    b, c = ChannelRef("test", "w2", "c2"), ChannelRef("test", "w1", "c3")
    arxiv.feeds[frozenset({"cs.DC"})] = FEED_0105.read_bytes()
    for channel, cats in ((A, "cs.AI cs.CL cs.DC cs.LG"), (b, "cs.LG cs.DC cs.CL cs.AI"), (c, "cs.DC")):
        await services.commands.execute(ctx(channel=channel), f"subscribe {cats}")
        await services.commands.execute(ctx(channel=channel), "keywords add LLM")
    records = await services.channels.all_active()
    assert len(records) == 3
    outcomes = await services.runner.run(records)
    rss_paths = sorted(r.path for r in arxiv.requests if r.path.startswith("/rss/"))
    assert rss_paths == ["/rss/cs.AI", "/rss/cs.CL", "/rss/cs.DC", "/rss/cs.LG"]
    assert outcomes[A].posted == outcomes[b].posted == 10
    assert 0 < outcomes[c].posted < 10
    assert all(r.headers.get("user-agent", "").startswith("arxiv-bot/") for r in arxiv.requests)


async def test_the_settings_shown_after_a_rules_change_are_the_stored_ones(services: Services) -> None:
    for line in ("subscribe cs.DC", "keywords add LLM^2, RL", "exclude add survey", "authors follow Ada Lovelace"):
        await services.commands.execute(ctx(), line)
    changes = ["keywords add KV cache^0.5, llm", "exclude remove survey", "keywords remove RL"]
    changes.append("authors unfollow Ada Lovelace")
    for line in changes:
        changed = (await services.commands.execute(ctx(), line)).text.split("\n")
        stored = (await services.commands.execute(ctx(), "settings")).text.split("\n")
        assert changed[1:] == [s for s in stored if s != changed[0]], line
