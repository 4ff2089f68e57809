"""Posting to Discord through the fake: no pings, Discord's limits, 429s and failures lose and duplicate nothing."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.composition import Services, build_services
from adapters.discord.app import save_view
from adapters.discord.publisher import DiscordPublisher
from adapters.discord.runtime import DiscordAdapter
from adapters.runtime import attach_discord
from bot.errors import PublishError, PublishOutcomeUnknown, PublishRefused
from bot.models import ChannelRef, Paper, PaperCard, PostKey, Reply, SummarySection, ThreadSummary
from tests.conftest import FEED_0105, FIXTURES, make_settings
from tests.fakes.arxiv_server import FakeArxivServer
from tests.fakes.clock import FixedClock
from tests.fakes.discord_server import (
    CHANNEL_ID,
    GUILD_ID,
    MEMBER,
    OTHER_CHANNEL_ID,
    SAVE_EMOJI,
    FakeDiscord,
    Recorded,
    running_discord_server,
)
from tests.fakes.faults import HANG, LOST, RESET
from tests.fakes.journal import MemoryJournal

CHANNEL = ChannelRef("discord", str(GUILD_ID), str(CHANNEL_ID))
CARD_POSTS = rf"/channels/{CHANNEL_ID}/messages"
THREAD_POSTS = rf"/channels/(?!{CHANNEL_ID})\d+/messages"
PING = re.compile(r"@(everyone|here)|<[@#/]")


class LongSummarizer:
    """A summarizer whose summaries need several thread messages, with hostile text and links in them."""

    async def summarize(self, paper: Paper, *, language: str) -> ThreadSummary:
        """Three long sections, each with links that must not be cut."""
        sentence = "We serve LLM requests @everyone faster, see https://github.com/org_name/repo_x/blob/main/a.py. "
        sections = tuple(
            SummarySection(title=f"Part {n} <@123>", body=(sentence * 30).strip()) for n in range(1, 4)
        )
        return ThreadSummary(paper=paper, heading="Summary", sections=sections, tldr="Faster @here.")


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    """The local fake Discord."""
    async with running_discord_server() as server:
        yield server


async def connect(services: Services, discord_fake: FakeDiscord, db_url: str, arxiv: FakeArxivServer) -> DiscordAdapter:
    """Start the adapter on ``services`` against the fake and wait for READY."""
    arxiv.feeds[frozenset({"cs.DC"})] = FEED_0105.read_bytes()
    settings = make_settings(db_url, arxiv, ARXIVBOT_DISCORD__API_URL=discord_fake.api_url)
    adapter = await attach_discord(services, settings=settings, env={"DISCORD_TOKEN": discord_fake.token})
    await adapter.wait_ready(5)
    return adapter


@pytest.fixture
async def bot(
    services: Services, discord_fake: FakeDiscord, db_url: str, arxiv: FakeArxivServer
) -> AsyncIterator[DiscordAdapter]:
    """The adapter on the shared test services."""
    adapter = await connect(services, discord_fake, db_url, arxiv)
    yield adapter
    await adapter.aclose()


def texts_of(body: dict[str, Any]) -> list[str]:
    """Every text a message body shows: content, embed titles, descriptions, fields and footers."""
    out = [body.get("content") or ""]
    for embed in body.get("embeds") or []:
        out += [embed.get("title") or "", embed.get("description") or "", embed.get("footer", {}).get("text", "")]
        out += [f["name"] + "\n" + f["value"] for f in embed.get("fields", [])]
    return out


def assert_within_discord_limits(bodies: list[dict[str, Any]]) -> None:
    """2,000 chars of content; per embed title 256, description 4,096, field 1,024; 6,000 and 10 embeds a message."""
    for body in bodies:
        assert len(body.get("content") or "") <= 2000
        embeds = body.get("embeds") or []
        assert len(embeds) <= 10
        total = 0
        for e in embeds:
            assert len(e.get("title") or "") <= 256 and len(e.get("description") or "") <= 4096
            assert all(len(f["value"]) <= 1024 and f["value"] for f in e.get("fields", []))
            total += sum(len(e.get(k) or "") for k in ("title", "description"))
            total += sum(len(f["name"]) + len(f["value"]) for f in e.get("fields", []))
            total += len(e.get("footer", {}).get("text", ""))
        assert total <= 6000


async def setup_channel(discord_fake: FakeDiscord) -> None:
    """Subscribe the fake channel to cs.DC with the keyword LLM."""
    await discord_fake.run("subscribe", {"categories": "cs.DC"})
    await discord_fake.run("keywords", {"action": "add", "terms": "LLM"})


async def test_nothing_posted_can_ping_or_inject_markdown(
    bot: DiscordAdapter, discord_fake: FakeDiscord, arxiv: FakeArxivServer
) -> None:
    body = json.loads((FIXTURES / "arxiv-api" / "id_2104.12255v1.json").read_text())["body"]
    body = body.replace(
        "<title>0</title>",
        "<title>Zero @everyone &lt;@1300000000000000001&gt; **bold** [click](https://evil.example/x) ||x||</title>",
    ).replace("<name>Quan Thoi Minh Nguyen</name>", "<name>&lt;@&amp;42&gt; @here</name>")
    body = body.replace("What is the funniest", "@here &lt;#1200000000000000101&gt; # Heading What is the funniest")
    arxiv.papers["2104.12255"] = (200, body)
    await setup_channel(discord_fake)
    posted = await discord_fake.run("summarize", {"paper": "2104.12255"}, user=MEMBER)
    assert posted.text.startswith("Posted 2104.12255v1")
    await discord_fake.run("digest-now")
    await discord_fake.run("saved", user=MEMBER)

    bodies = discord_fake.message_bodies()
    assert len(bodies) >= 8
    for sent in bodies:
        assert sent["allowed_mentions"] == {"parse": []}, sent
        for text in texts_of(sent):
            assert not PING.search(text), text
    card = discord_fake.cards()[0]["embeds"][0]
    assert r"\*\*bold\*\*" in card["title"] and r"\[click\](https://evil.example/x)" in card["title"]
    assert "requested by bob @\u200beveryone <\u200b@1300000000000000001>" in card["description"]
    assert card["fields"][0]["value"] == "<\u200b@&42> @\u200bhere"
    thread = next(iter(discord_fake.threads.values()))
    assert not PING.search(thread["name"]) and len(thread["name"]) <= 100
    assert_within_discord_limits(bodies)


async def test_a_429_ends_with_each_card_posted_once_and_every_message_id_in_the_ledger(
    bot: DiscordAdapter, discord_fake: FakeDiscord, services: Services
) -> None:
    await setup_channel(discord_fake)
    discord_fake.rate_limit("POST", CARD_POSTS, times=2)
    discord_fake.rate_limit("POST", THREAD_POSTS, times=1)
    discord_fake.rate_limit("PUT", r"/channels/\d+/messages/\d+/reactions/.+", times=1)
    digest = await discord_fake.run("digest-now")
    posted = int(re.match(r"Posted (\d+) of", digest.text).group(1))  # type: ignore[union-attr]

    assert [r.status for r in discord_fake.requests if r.status == 429] == [429] * 4
    cards = discord_fake.cards()
    titles = [c["embeds"][0]["title"] for c in cards]
    assert len(titles) == posted >= 2 and len(set(titles)) == posted
    for card in cards:
        assert len(discord_fake.thread_of(card["id"])) == 1
        assert await services.ledger.card_paper(CHANNEL, card["id"]) is not None
    again = await discord_fake.run("digest-now")
    assert again.text.startswith("Nothing new to post") and len(discord_fake.cards()) == posted


async def test_a_refused_card_stays_pending_and_the_next_run_posts_it_once(
    bot: DiscordAdapter, discord_fake: FakeDiscord
) -> None:
    await setup_channel(discord_fake)
    discord_fake.fail("POST", CARD_POSTS, status=403, code=50013, message="Missing Permissions")
    first = await discord_fake.run("digest-now")
    assert "1 could not be posted and will be retried" in first.text
    assert len(discord_fake.cards()) == 1
    second = await discord_fake.run("digest-now")
    assert second.text.startswith("Posted 1 of 30")
    titles = [c["embeds"][0]["title"] for c in discord_fake.cards()]
    assert len(titles) == 2 and len(set(titles)) == 2
    assert all(len(discord_fake.thread_of(c["id"])) == 1 for c in discord_fake.cards())


async def test_a_long_summary_is_split_and_an_interrupted_thread_is_completed_without_duplicates(
    discord_fake: FakeDiscord, db_url: str, arxiv: FakeArxivServer, clock: FixedClock
) -> None:
    services = build_services(make_settings(db_url, arxiv), clock=clock, summarizer=LongSummarizer())
    adapter = await connect(services, discord_fake, db_url, arxiv)
    try:
        await setup_channel(discord_fake)
        discord_fake.fail("POST", THREAD_POSTS, status=403, code=50001, message="Missing Access", after=1)
        await discord_fake.run("digest-now")
        cards = discord_fake.cards()
        whole = len(discord_fake.thread_of(cards[1]["id"]))
        assert whole >= 2 and len(discord_fake.thread_of(cards[0]["id"])) == 1
        await discord_fake.run("digest-now")
        threads = [discord_fake.thread_of(c["id"]) for c in cards]
        assert [len(t) for t in threads] == [whole, whole]
        assert embed_texts(threads[0]) == embed_texts(threads[1])
        assert len(discord_fake.requests_to("POST", r"/channels/\d+/messages/\d+/threads")) == 3

        bodies = [m for t in threads for m in t]
        assert_within_discord_limits(bodies)
        words = " ".join(embed_texts(threads[1])).split()
        links = [w for w in words if "github.com" in w]
        link = "https://github.com/org_name/repo_x/blob/main/a.py"
        assert len(links) == 90 and all(w.startswith(link) for w in links)
        assert not any(PING.search(t) for t in embed_texts(threads[1]))
    finally:
        await adapter.aclose()
        await services.aclose()


def embed_texts(messages: list[dict[str, Any]]) -> list[str]:
    """Embed descriptions of thread messages, in order."""
    return [e.get("description", "") for m in messages for e in m["embeds"]]


async def test_replies_outside_an_interaction_go_to_the_channel_or_by_dm_without_pings(
    bot: DiscordAdapter, discord_fake: FakeDiscord
) -> None:
    await bot.publisher.send_reply(Reply(text="Hello @everyone <@1>"), channel=CHANNEL, user_id=None)
    await bot.publisher.send_reply(Reply(text="Just you @here"), channel=CHANNEL, user_id=str(MEMBER.id))
    (in_channel,) = discord_fake.cards()
    dm_posts = discord_fake.requests_to("POST", r"/channels/\d+/messages")[1:]
    assert in_channel["content"] == "Hello @\u200beveryone <\u200b@1>"
    assert [r.body["content"] for r in dm_posts] == ["Just you @\u200bhere"]
    assert all(b["allowed_mentions"] == {"parse": []} for b in discord_fake.message_bodies())
    with pytest.raises(PublishError, match="HTTP 404"):
        await bot.publisher.send_reply(Reply(text="x"), channel=CHANNEL, user_id="42")
    with pytest.raises(PublishError, match="not a Discord channel id"):
        await bot.publisher.post_card(
            PaperCard(paper=Paper(arxiv_id="1", version=1, title="t", abstract="a", authors=(), categories=(),
                                  primary_category="cs.DC"), score=0, matched=(), teaser="", is_cross_list=False),
            channel=ChannelRef("discord", str(GUILD_ID), "general"),
        )


KEY = "0123456789abcdef0123"
SENT_AT = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
PAPER = Paper(
    arxiv_id="2601.00644",
    version=1,
    title="Serving LLMs at the edge",
    abstract="We serve large language models on small devices.",
    authors=("Ada Lovelace",),
    categories=("cs.DC",),
    primary_category="cs.DC",
)
CARD = PaperCard(paper=PAPER, score=1.5, matched=("LLM",), teaser="We serve LLMs.", is_cross_list=False)


def card_creates(discord_fake: FakeDiscord) -> list[Recorded]:
    """Every POST of a card (answered or not)."""
    return discord_fake.requests_to("POST", CARD_POSTS)


def publisher_with_timeout(adapter: DiscordAdapter, timeout_s: float) -> DiscordPublisher:
    """The adapter's client behind a publisher with a short create timeout."""
    return DiscordPublisher(client=adapter.client, make_view=save_view, save_emoji=SAVE_EMOJI, post_timeout_s=timeout_s)


async def test_every_digest_message_carries_its_ledger_key_as_an_enforced_nonce(
    bot: DiscordAdapter, discord_fake: FakeDiscord, services: Services
) -> None:
    await setup_channel(discord_fake)
    await discord_fake.run("digest-now")
    record = await services.channels.get(CHANNEL)
    assert record is not None
    rows = await services.ledger.posted_since(record.id)
    keys = {row.message_id: row.key for row in rows}
    cards = card_creates(discord_fake)
    assert len(cards) == len(rows) > 0
    for request in cards:
        # Matched by footer (the paper's id): the card's embed has changed since, it now shows the TL;DR.
        footer = request.body["embeds"][0]["footer"]
        message = next(m for m in discord_fake.cards() if m["embeds"][0]["footer"] == footer)
        key = keys[message["id"]]
        assert key is not None and request.body["nonce"] == key and request.body["enforce_nonce"] is True
        save, down = request.body["components"][0]["components"]
        assert save["custom_id"].startswith("arxiv-save:") and save["custom_id"].endswith(f"/{key}")
        assert down["custom_id"].startswith("arxiv-down:") and down["custom_id"].endswith(f"/{key}")
        assert down["label"] == "Not for us"
        [part] = [r for r in discord_fake.requests_to("POST", rf"/channels/{message['id']}/messages")]
        assert part.body["nonce"] == f"{key}.0" and part.body["enforce_nonce"] is True


async def test_discord_py_retrying_a_5xx_after_a_long_hang_gets_the_first_message_back(
    bot: DiscordAdapter, discord_fake: FakeDiscord
) -> None:
    discord_fake.hang_s = 0.2  # shorter than our timeout: discord.py sees the 500 and retries the same payload
    discord_fake.network_fault(HANG, "POST", CARD_POSTS, then_status=500)
    ref = await bot.publisher.post_card(CARD, channel=CHANNEL, key=PostKey(KEY))
    first, retry = card_creates(discord_fake)
    assert first.body["nonce"] == retry.body["nonce"] == KEY and first.fault == HANG
    [card] = discord_fake.cards()  # Discord returned the message the nonce had made: no second card
    assert ref.message_id == card["id"]


@pytest.mark.parametrize("fault", [LOST, RESET, HANG])
@pytest.mark.parametrize("nonce_window_s", [300.0, 0.0])
async def test_a_card_whose_answer_never_came_is_found_or_posted_once(
    bot: DiscordAdapter, discord_fake: FakeDiscord, fault: str, nonce_window_s: float
) -> None:
    discord_fake.nonce_window_s = nonce_window_s  # 0: the resend comes after Discord forgot the nonce
    discord_fake.hang_s = 30.0
    discord_fake.network_fault(fault, "POST", CARD_POSTS)
    publisher = publisher_with_timeout(bot, 0.5)
    with pytest.raises(PublishOutcomeUnknown):
        await publisher.post_card(CARD, channel=CHANNEL, key=PostKey(KEY))
    assert len(card_creates(discord_fake)) == 1  # no library retry of the create
    created = len(discord_fake.cards())
    assert created == (0 if fault == RESET else 1)
    ref = await publisher.post_card(CARD, channel=CHANNEL, key=PostKey(KEY, sending_since=SENT_AT))
    [card] = discord_fake.cards()
    assert ref.message_id == card["id"]
    assert len(card_creates(discord_fake)) == (2 if fault == RESET else 1)  # found in the history: not sent again
    assert discord_fake.requests_to("GET", CARD_POSTS)[0].query["after"]  # the search starts at the intent


async def test_without_the_history_search_only_the_nonce_window_stops_a_duplicate(
    bot: DiscordAdapter, discord_fake: FakeDiscord
) -> None:
    # What the search is for: a resend without it is deduplicated by Discord within its window only.
    discord_fake.network_fault(LOST, "POST", CARD_POSTS, times=2)
    for _ in range(2):
        with pytest.raises(PublishOutcomeUnknown):
            await bot.publisher.post_card(CARD, channel=CHANNEL, key=PostKey(KEY))
    assert len(discord_fake.cards()) == 1
    discord_fake.nonce_window_s = 0.0
    await bot.publisher.post_card(CARD, channel=CHANNEL, key=PostKey(KEY))
    assert len(discord_fake.cards()) == 2


async def test_a_split_thread_part_whose_answer_was_lost_is_found_after_the_nonce_window(
    bot: DiscordAdapter, discord_fake: FakeDiscord
) -> None:
    parent = await bot.publisher.post_card(CARD, channel=CHANNEL, key=PostKey(KEY))
    summary = await LongSummarizer().summarize(PAPER, language="en")
    discord_fake.nonce_window_s = 0.0
    discord_fake.network_fault(LOST, "POST", THREAD_POSTS, after=1)
    journal = MemoryJournal(KEY, sent_at=SENT_AT)
    with pytest.raises(PublishOutcomeUnknown):
        await bot.publisher.post_thread(summary, parent=parent, journal=journal)
    assert len(journal.posted) == 1 and journal.sending_part == 1
    await bot.publisher.post_thread(summary, parent=parent, journal=journal)
    thread = discord_fake.thread_of(parent.message_id)
    assert len(thread) >= 2 and journal.done
    assert journal.posted == [m["id"] for m in thread]  # each part once, part 1 found by its place and text
    nonces = [r.body["nonce"] for r in discord_fake.requests_to("POST", THREAD_POSTS)]
    assert nonces == [f"{KEY}.{n}" for n in range(len(thread))]  # part 1 was not sent a second time


async def test_each_digest_card_is_edited_once_to_show_its_tldr_and_keeps_its_save_button(
    bot: DiscordAdapter, discord_fake: FakeDiscord, services: Services
) -> None:
    await setup_channel(discord_fake)
    digest = await discord_fake.run("digest-now")
    posted = int(re.match(r"Posted (\d+) of", digest.text).group(1))  # type: ignore[union-attr]
    cards = discord_fake.cards()
    assert len(cards) == posted >= 2 and len(card_creates(discord_fake)) == posted  # no card posted again
    assert sorted(e["message_id"] for e in discord_fake.edits) == sorted(c["id"] for c in cards)  # once each
    for card in cards:
        [embed] = card["embeds"]
        assert "**TL;DR** " in embed["description"] and card["edited_timestamp"] is not None
        assert embed["footer"]["text"].startswith("arXiv:")
    record = await services.channels.get(CHANNEL)
    assert record is not None and await services.ledger.unfinished(record.id) == []
    keys = {row.message_id: row.key for row in await services.ledger.posted_since(record.id)}
    for card in cards:
        save, down = card["components"][0]["components"]  # the edit left the buttons as they were
        assert save["custom_id"].startswith("arxiv-save:") and down["custom_id"].startswith("arxiv-down:")
        assert save["custom_id"].endswith(f"/{keys[card['id']]}") and down["custom_id"].endswith(f"/{keys[card['id']]}")
    again = await discord_fake.run("digest-now")
    assert again.text.startswith("Nothing new to post") and len(discord_fake.edits) == posted


async def test_a_card_update_cannot_ping_or_inject_markdown_and_a_deleted_card_is_refused(
    bot: DiscordAdapter, discord_fake: FakeDiscord
) -> None:
    ref = await bot.publisher.post_card(CARD, channel=CHANNEL, key=PostKey(KEY))
    hostile = "Faster @everyone <@1300000000000000001> **bold** [x](https://evil.example) \u202egnp.exe"
    await bot.publisher.update_card(replace(CARD, tldr=hostile), message=ref, key=PostKey(KEY))
    [edit] = discord_fake.requests_to("PATCH", rf"/channels/{CHANNEL_ID}/messages/{ref.message_id}")
    assert edit.body["allowed_mentions"] == {"parse": []}
    [card] = discord_fake.cards()
    description = card["embeds"][0]["description"]
    assert not PING.search(description) and "\u202e" not in description
    assert r"\*\*bold\*\*" in description and r"\[x\](https://evil.example)" in description
    assert card["id"] == ref.message_id and len(discord_fake.cards()) == 1
    with pytest.raises(PublishRefused, match="Unknown Message"):
        await bot.publisher.update_card(CARD, message=replace(ref, message_id="1200000000000000999"))
    discord_fake.fail("PATCH", r"/channels/\d+/messages/\d+", status=503, code=0, message="Service Unavailable")
    with pytest.raises(PublishError) as failed:  # worth retrying: not refused for good
        await bot.publisher.update_card(CARD, message=ref)
    assert not isinstance(failed.value, PublishRefused)


async def test_a_429_on_one_channels_bucket_does_not_hold_up_another_channel(
    bot: DiscordAdapter, discord_fake: FakeDiscord
) -> None:
    discord_fake.rate_limit("POST", CARD_POSTS, times=1, retry_after=3.0)  # this channel's bucket only
    other = ChannelRef("discord", str(GUILD_ID), str(OTHER_CHANNEL_ID))
    waiting = asyncio.ensure_future(bot.publisher.post_card(CARD, channel=CHANNEL, key=PostKey(KEY)))
    await discord_fake.wait_for(lambda: any(r.status == 429 for r in discord_fake.requests))
    await bot.publisher.post_card(CARD, channel=other, key=PostKey("another-key-00000000"))
    assert not waiting.done()  # discord.py still waits out the first channel's bucket; the other one went ahead
    await waiting
    creates = [(r.path, r.status) for r in discord_fake.requests if r.method == "POST" and r.path.endswith("/messages")]
    assert creates == [
        (f"/channels/{CHANNEL_ID}/messages", 429),
        (f"/channels/{OTHER_CHANNEL_ID}/messages", 200),
        (f"/channels/{CHANNEL_ID}/messages", 200),
    ]
