"""The Discord adapter end to end: real discord.py against the local fake Discord, real payload shapes."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import discord
import pytest

from adapters.composition import Services, build_services
from adapters.discord.app import REACTION_EVENT, REFUSAL
from adapters.discord.runtime import DiscordAdapter
from adapters.discord.translate import reply_chunks
from adapters.runtime import BotRuntime, attach_discord
from bot.commands.table import help_text
from bot.models import ChannelRef, Reply
from tests.conftest import FEED_0105, ZONE_MISTAKES, make_settings
from tests.fakes.arxiv_server import FakeArxivServer
from tests.fakes.clock import FixedClock
from tests.fakes.discord_server import (
    ADMIN,
    CHANNEL_ID,
    EPHEMERAL,
    GUILD_ID,
    MEMBER,
    FakeDiscord,
    running_discord_server,
)
from tests.parse_count import count_parses

REF_CHANNEL = ("discord", str(GUILD_ID), str(CHANNEL_ID))
SUPPRESS_EMBEDS = 1 << 2


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    """The local fake Discord."""
    async with running_discord_server() as server:
        yield server


@pytest.fixture
async def bot(
    services: Services, discord_fake: FakeDiscord, db_url: str, arxiv: FakeArxivServer
) -> AsyncIterator[DiscordAdapter]:
    """The Discord adapter on the shared test services, connected to the fake gateway."""
    arxiv.feeds[frozenset({"cs.DC"})] = FEED_0105.read_bytes()
    settings = make_settings(db_url, arxiv, ARXIVBOT_DISCORD__API_URL=discord_fake.api_url)
    adapter = await attach_discord(services, settings=settings, env={"DISCORD_TOKEN": discord_fake.token})
    await adapter.wait_ready(5)
    yield adapter
    await adapter.aclose()


async def reaction_handled(adapter: DiscordAdapter, fire: Any) -> Reply | None:
    """Run ``fire()`` (dispatching a reaction) and wait until the bot has handled it; the core's Reply or None."""
    waiter = asyncio.ensure_future(adapter.client.wait_for(REACTION_EVENT, timeout=5))
    await fire()
    _payload, reply = await waiter
    return reply  # type: ignore[no-any-return]


async def llm_digest(discord_fake: FakeDiscord) -> None:
    """The channel follows cs.DC with keyword LLM and gets today's digest."""
    await discord_fake.run("subscribe", {"categories": "cs.DC"})
    await discord_fake.run("keywords", {"action": "add", "terms": "LLM"})
    await discord_fake.run("digest-now")


def embed_text(message: dict[str, Any]) -> str:
    """All embed descriptions of a message."""
    return "\n".join(e.get("description", "") for e in message["embeds"])


async def test_subscribe_keywords_digest_post_cards_with_threads_and_a_reaction_saves(
    tmp_path: Path, db_url: str, arxiv: FakeArxivServer, clock: FixedClock, discord_fake: FakeDiscord
) -> None:
    arxiv.feeds[frozenset({"cs.DC"})] = FEED_0105.read_bytes()
    env = {"DISCORD_TOKEN": discord_fake.token}
    settings = make_settings(db_url, arxiv, ARXIVBOT_DISCORD__API_URL=discord_fake.api_url)
    runtime = BotRuntime(settings, env=env, services=build_services(settings, clock=clock))
    await runtime.start()
    try:
        assert runtime.http is not None and runtime.http.port != 0
        adapter = runtime.adapters[0]
        assert isinstance(adapter, DiscordAdapter)
        await adapter.wait_ready(5)
        assert runtime.ready
        intents = discord.Intents._from_value(discord_fake.identifies[0]["intents"])
        assert intents.guild_reactions and not (intents.members or intents.presences or intents.message_content)

        subscribed = await discord_fake.run("subscribe", {"categories": "cs.DC"})
        assert subscribed.text.startswith("Subscribed to cs.DC") and subscribed.ephemeral
        keywords = await discord_fake.run("keywords", {"action": "add", "terms": "LLM"})
        assert keywords.text.startswith("Added to keywords: LLM\n")

        digest = await discord_fake.run("digest-now")
        assert digest.deferred and digest.ephemeral
        posted = int(re.match(r"Posted (\d+) of 30 papers", digest.text).group(1))  # type: ignore[union-attr]
        cards = discord_fake.cards()
        assert posted >= 2 and len(cards) == posted
        titles = [c["embeds"][0]["title"] for c in cards]
        assert len(set(titles)) == posted and all("LLM" in t for t in titles)
        ledger = runtime.services.ledger
        for card in cards:
            embed = card["embeds"][0]
            assert embed["url"].startswith("https://arxiv.org/abs/")
            assert [f["name"] for f in embed["fields"]] == ["Authors", "Categories", "Score", "Matched"]
            assert embed["fields"][3]["value"] == "LLM"
            assert card["components"][0]["components"][0]["custom_id"].startswith("arxiv-save:")
            thread = discord_fake.threads[int(card["id"])]
            assert thread["parent_id"] == str(CHANNEL_ID) and thread["type"] == 11
            replies = discord_fake.thread_of(card["id"])
            assert len(replies) == 1 and replies[0]["embeds"][0]["description"]
            assert await ledger.card_paper(ChannelRef(*REF_CHANNEL), card["id"]) is not None
        first = cards[0]
        versioned = first["embeds"][0]["url"].rsplit("/", 1)[1]

        reply = await reaction_handled(adapter, lambda: discord_fake.react(first["id"], user=MEMBER))
        assert reply is not None and reply.text.startswith(f"Saved {versioned}")
        saved = await discord_fake.run("saved", user=MEMBER)
        assert saved.ephemeral and saved.answers[0]["flags"] & SUPPRESS_EMBEDS  # no link preview per saved paper
        assert f"{versioned} " in saved.text and f"https://arxiv.org/abs/{versioned}" in saved.text
        nobody = await discord_fake.run("saved", user=ADMIN)
        assert "no saved papers" in nobody.text
    finally:
        await runtime.close()


async def test_a_member_without_manage_channels_cannot_change_settings_but_can_read_them(
    bot: DiscordAdapter, discord_fake: FakeDiscord, services: Services
) -> None:
    cases: list[tuple[str, dict[str, Any]]] = [
        ("subscribe", {"categories": "cs.DC"}),
        ("keywords", {"action": "add", "terms": "LLM"}),
        ("set", {"max": 3}),
        ("authors", {"action": "follow", "name": "Ada Lovelace"}),
    ]
    for sub, options in cases:
        refused = await discord_fake.run(sub, options, user=MEMBER)
        assert refused.text == REFUSAL
        assert refused.ephemeral and not refused.deferred
    assert await services.channels.get(ChannelRef(*REF_CHANNEL)) is None  # nothing stored

    shown = await discord_fake.run("settings", user=MEMBER)
    assert shown.ephemeral and "Categories: none" in shown.text
    allowed = await discord_fake.run("subscribe", {"categories": "cs.dc cs.LG"}, user=ADMIN)
    assert allowed.text.startswith("Subscribed to cs.DC, cs.LG")


async def test_set_takes_typed_options_together_and_refuses_an_empty_set(
    bot: DiscordAdapter, discord_fake: FakeDiscord
) -> None:
    answer = await discord_fake.run("set", {"max": 5, "min-score": 2.5, "cross": True})
    lines = answer.text.splitlines()
    assert lines[:3] == ["Up to 5 papers a day", "Minimum score set to 2.5", "Cross-listed papers included"]
    assert "up to 5 papers with score >= 2.5; cross-lists on" in answer.text
    empty = await discord_fake.run("set", {})
    assert empty.text.startswith("Choose what to set") and empty.ephemeral
    zone_alone = await discord_fake.run("set", {"timezone": "Europe/Berlin"})
    assert zone_alone.text.startswith("Give the time with the time zone")
    bad_time = await discord_fake.run("set", {"time": "25:00", "max": 4})
    assert "Bad time" in bad_time.text
    settings = await discord_fake.run("settings")
    assert "up to 5 papers" in settings.text  # the bad time stopped the whole set: max stayed 5


async def test_a_slash_command_is_parsed_exactly_once(
    bot: DiscordAdapter, discord_fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    parses = count_parses(monkeypatch)
    answer = await discord_fake.run("set", {"max": 5, "min-score": 0.0, "cross": True})
    assert answer.text.startswith("Up to 5 papers a day\nMinimum score set to 0\nCross-listed papers included")
    assert parses == ["set max 5", "set min-score 0", "set cross on"]  # each text of the set once

    refused = await discord_fake.run("subscribe", {"categories": "cs.DC"}, user=MEMBER)
    assert refused.text == REFUSAL
    assert parses[3:] == ["subscribe cs.DC"]

    await discord_fake.run("subscribe", {"categories": "cs.DC"})
    await discord_fake.run("keywords", {"action": "add", "terms": "LLM"})
    digest = await discord_fake.run("digest-now")
    assert digest.deferred and digest.text.startswith("Posted")
    assert parses[4:] == ["subscribe cs.DC", "keywords add LLM", "digest now"]


async def test_bad_input_gets_one_ephemeral_line(bot: DiscordAdapter, discord_fake: FakeDiscord) -> None:
    answer = await discord_fake.run("subscribe", {"categories": "cs.XX"})
    assert answer.ephemeral and "\n" not in answer.text and "is not an arXiv category" in answer.text
    summarize = await discord_fake.run("summarize", {"paper": "not-an-id"})
    assert summarize.ephemeral and "Traceback" not in summarize.text


async def test_a_reaction_removed_unsaves_and_other_reactions_are_ignored(
    bot: DiscordAdapter, discord_fake: FakeDiscord, services: Services
) -> None:
    await llm_digest(discord_fake)
    card = discord_fake.cards()[0]
    thread_message = discord_fake.thread_of(card["id"])[0]

    assert await reaction_handled(bot, lambda: discord_fake.react(card["id"], emoji="👍")) is None
    assert await reaction_handled(bot, lambda: discord_fake.react(thread_message["id"])) is None
    saved = await reaction_handled(bot, lambda: discord_fake.react(card["id"]))
    assert saved is not None and saved.text.startswith("Saved")
    removed = await reaction_handled(bot, lambda: discord_fake.react(card["id"], added=False))
    assert removed is not None and removed.text.startswith("Removed from your saved papers")
    listing = await discord_fake.run("saved", user=MEMBER)
    assert "no saved papers" in listing.text


@asynccontextmanager
async def after_a_restart(
    services: Services, discord_fake: FakeDiscord, db_url: str, arxiv: FakeArxivServer
) -> AsyncIterator[DiscordAdapter]:
    """A digest posted by one Discord adapter, then a second adapter (a restart) on the same services, ready."""
    arxiv.feeds[frozenset({"cs.DC"})] = FEED_0105.read_bytes()
    settings = make_settings(db_url, arxiv, ARXIVBOT_DISCORD__API_URL=discord_fake.api_url)
    env = {"DISCORD_TOKEN": discord_fake.token}
    first = await attach_discord(services, settings=settings, env=env)
    await first.wait_ready(5)
    await llm_digest(discord_fake)
    await first.aclose()
    second = await attach_discord(services, settings=settings, env=env)
    try:
        await second.wait_ready(5)
        yield second
    finally:
        await second.aclose()


async def test_the_save_button_works_after_a_restart(
    services: Services, discord_fake: FakeDiscord, db_url: str, arxiv: FakeArxivServer
) -> None:
    async with after_a_restart(services, discord_fake, db_url, arxiv):
        card = discord_fake.cards()[1]
        button = card["components"][0]["components"][0]
        pressed = await discord_fake.click(card, button["custom_id"], user=MEMBER)
        versioned = card["embeds"][0]["url"].rsplit("/", 1)[1]
        assert pressed.ephemeral and pressed.text.startswith(f"Saved {versioned}")
        again = await discord_fake.click(card, button["custom_id"], user=MEMBER)
        assert again.text.startswith(f"Already saved {versioned}")
        listing = await discord_fake.run("saved", user=MEMBER)
        assert versioned in listing.text


async def negatives(services: Services) -> tuple[str, ...]:
    """The Discord channel's 👎 signals as the ranker reads them."""
    record = await services.channels.get(ChannelRef(*REF_CHANNEL))
    assert record is not None
    return (await services.signals.channel_signals(record.id)).negatives


async def test_a_thumbs_down_reaction_records_a_negative_and_removing_it_takes_it_back(
    bot: DiscordAdapter, discord_fake: FakeDiscord, services: Services
) -> None:
    await llm_digest(discord_fake)
    card = discord_fake.cards()[0]
    versioned = card["embeds"][0]["url"].rsplit("/", 1)[1]
    marked = await reaction_handled(bot, lambda: discord_fake.react(card["id"], emoji="👎"))
    assert marked is not None and marked.text.startswith(f"Marked as not for this channel: {versioned}")
    assert await negatives(services) == (versioned.rsplit("v", 1)[0],)
    toned = await reaction_handled(bot, lambda: discord_fake.react(card["id"], emoji="👎🏿"))
    assert toned is not None and toned.text.startswith("Already marked as not for this channel")
    removed = await reaction_handled(bot, lambda: discord_fake.react(card["id"], emoji="👎", added=False))
    assert removed is not None and removed.text.startswith(f"No longer marked as not for this channel: {versioned}")
    assert await negatives(services) == ()
    assert "no saved papers" in (await discord_fake.run("saved", user=MEMBER)).text


async def test_the_not_for_us_button_records_a_negative_after_a_restart_and_toggles(
    services: Services, discord_fake: FakeDiscord, db_url: str, arxiv: FakeArxivServer
) -> None:
    async with after_a_restart(services, discord_fake, db_url, arxiv):
        card = discord_fake.cards()[1]
        save, down = card["components"][0]["components"]
        assert save["label"] == "Save" and down["label"] == "Not for us" and down["emoji"]["name"] == "👎"
        assert down["custom_id"].startswith("arxiv-down:")
        versioned = card["embeds"][0]["url"].rsplit("/", 1)[1]
        pressed = await discord_fake.click(card, down["custom_id"], user=MEMBER)
        assert pressed.ephemeral and pressed.text.startswith(f"Marked as not for this channel: {versioned}")
        assert pressed.text.endswith("(press Not for us again to undo)")
        assert await negatives(services) == (versioned.rsplit("v", 1)[0],)
        again = await discord_fake.click(card, down["custom_id"], user=MEMBER)
        assert again.text.startswith(f"No longer marked as not for this channel: {versioned}")
        assert await negatives(services) == ()
        assert "no saved papers" in (await discord_fake.run("saved", user=MEMBER)).text


async def test_like_why_and_ranking_run_as_discord_subcommands(
    bot: DiscordAdapter, discord_fake: FakeDiscord, services: Services
) -> None:
    await llm_digest(discord_fake)
    card = discord_fake.cards()[0]
    arxiv_id = card["embeds"][0]["url"].rsplit("/", 1)[1].rsplit("v", 1)[0]
    liked = await discord_fake.run("like", {"papers": arxiv_id}, user=MEMBER)
    assert liked.text.startswith("Added 1 paper to this channel's taste")
    assert liked.text.endswith("The ranking learns once the channel has 5 positive signals (1 so far)")
    why = await discord_fake.run("why", {"paper": arxiv_id}, user=MEMBER)
    # Discord's escaping keeps "2601.00397v1" at the start of a line from reading as a numbered list item.
    assert why.text.replace("\\", "").startswith(f"{arxiv_id}v") and "Matched keywords: LLM" in why.text
    status = await discord_fake.run("ranking", user=MEMBER)
    assert status.text.startswith("Ranking: by keywords until the channel has 5 positive signals (1 so far)")
    refused = await discord_fake.run("ranking", {"action": "off"}, user=MEMBER)
    assert refused.text == REFUSAL
    asked = await discord_fake.run("ranking", {"action": "reset"}, user=ADMIN)
    assert asked.text.endswith("To go ahead, type: /arxiv ranking action:reset-confirm")
    done = await discord_fake.run("ranking", {"action": "reset-confirm"}, user=ADMIN)
    assert done.text.startswith("Forgot what the ranking learned in this channel (1 positive, 0 negatives)")


async def test_autocomplete_offers_categories(bot: DiscordAdapter, discord_fake: FakeDiscord) -> None:
    choices = await discord_fake.autocomplete("subscribe", "categories", "cs.D")
    values = [c["value"] for c in choices]
    assert values[:4] == ["cs.DB", "cs.DC", "cs.DL", "cs.DM"] and len(values) <= 25
    assert all(len(c["name"]) <= 100 for c in choices)
    more = await discord_fake.autocomplete("subscribe", "categories", "cs.DC cs.L")
    assert [c["value"] for c in more][:2] == ["cs.DC cs.LG", "cs.DC cs.LO"]
    await discord_fake.run("subscribe", {"categories": "cs.DC math.OC"})
    subscribed = await discord_fake.autocomplete("unsubscribe", "categories", "")
    assert sorted(c["value"] for c in subscribed) == ["cs.DC", "math.OC"]
    zones = await discord_fake.autocomplete("set", "timezone", "Europe/Ber", others={"time": "09:30"})
    assert [c["value"] for c in zones] == ["Europe/Berlin"]


async def test_preview_is_ephemeral_with_embeds_and_posts_nothing(
    bot: DiscordAdapter, discord_fake: FakeDiscord
) -> None:
    await discord_fake.run("subscribe", {"categories": "cs.DC"})
    await discord_fake.run("keywords", {"action": "add", "terms": "LLM"})
    preview = await discord_fake.run("preview")
    await discord_fake.answered(preview, count=2)
    assert preview.deferred and preview.ephemeral
    assert all(a["flags"] & EPHEMERAL for a in preview.answers[1:])
    embeds = [e for a in preview.answers for e in a.get("embeds") or []]
    assert preview.text.startswith("Today's digest would post") and len(embeds) >= 2
    assert all(not a.get("components") for a in preview.answers)
    assert discord_fake.cards() == []


async def test_help_is_an_ephemeral_code_block(bot: DiscordAdapter, discord_fake: FakeDiscord) -> None:
    pages = reply_chunks(help_text("discord"), code=True)
    answer = await discord_fake.answered(await discord_fake.slash("help", user=MEMBER), count=len(pages))
    assert len(pages) == 2 and [a["content"] for a in answer.answers] == pages
    assert answer.ephemeral and answer.text.startswith("```\narxiv-bot commands")
    assert all(len(a["content"]) <= 2000 for a in answer.answers)


async def test_every_zone_mistake_in_set_time_is_one_ephemeral_line_with_the_right_form(
    bot: DiscordAdapter, discord_fake: FakeDiscord, services: Services
) -> None:
    for zone in ZONE_MISTAKES:
        answer = await discord_fake.run("set", {"time": "09:30", "timezone": zone[:64]})  # Discord caps it at 64
        assert answer.ephemeral and "\n" not in answer.text and "time zone" in answer.text, answer.text
        assert "set time 09:30 Europe/Berlin" in answer.text and "went wrong" not in answer.text
    assert "did you mean Europe/Berlin?" in answer.text
    assert await services.channels.get(ChannelRef(*REF_CHANNEL)) is None
    fixed = await discord_fake.run("set", {"time": "9:30", "timezone": "europe/berlin"})
    assert "Posts at 09:30 Europe/Berlin" in fixed.text


async def test_a_card_refused_with_50001_missing_access_tells_the_person_who_asked(
    bot: DiscordAdapter, discord_fake: FakeDiscord
) -> None:
    await discord_fake.run("subscribe", {"categories": "cs.DC"})
    await discord_fake.run("keywords", {"action": "add", "terms": "LLM"})
    discord_fake.fail("POST", rf"/channels/{CHANNEL_ID}/messages", status=403, code=50001, message="Missing Access",
                      times=10)  # fmt: skip
    digest = await discord_fake.run("digest-now")
    assert digest.text.startswith("Posted 0 of 30 papers listed today;") and "could not be posted" in digest.text
    assert "50001" in digest.text and "permissions in this channel" in digest.text, digest.text
    assert "went wrong" not in digest.text and discord_fake.cards() == [], digest.text
