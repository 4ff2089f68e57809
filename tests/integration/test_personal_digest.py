"""The personal digest on the platforms: ``/arxiv me ...`` typed in a channel, the digest sent to the caller by
direct message (real discord.py against the fake Discord: DM channel create, then the cards and their summaries as
replies; real slack_sdk against the fake Slack: conversations.open, then the cards with their threads in the DM)."""

from __future__ import annotations

import re

from adapters.composition import Services
from adapters.discord.runtime import DiscordAdapter
from bot.models import ChannelRef
from tests.fakes.discord_server import CHANNEL_ID, GUILD_ID, MEMBER, FakeDiscord
from tests.integration.test_discord_app import bot, discord_fake

__all__ = ["bot", "discord_fake"]  # the fixtures, imported to be used here


async def test_discord_me_subscribe_then_the_digest_is_a_direct_message_to_the_caller(
    bot: DiscordAdapter, discord_fake: FakeDiscord, services: Services
) -> None:
    dm_channel = MEMBER.id + 7  # the fake's DM channel with MEMBER, who may not manage the channel
    subscribed = await discord_fake.run("me subscribe", {"categories": "cs.DC"}, user=MEMBER)
    assert subscribed.ephemeral and subscribed.text.startswith("Subscribed to cs.DC\nYour own digest")
    keywords = await discord_fake.run("me keywords", {"action": "add", "terms": "LLM"}, user=MEMBER)
    assert keywords.text.startswith("Added to keywords: LLM\n")
    timed = await discord_fake.run("me set", {"time": "08:30", "timezone": "Europe/Berlin"}, user=MEMBER)
    assert timed.text.startswith("Daily post time set to 08:30 Europe/Berlin")
    shown = await discord_fake.run("me settings", user=MEMBER)
    assert "Comes at 08:30 Europe/Berlin" in shown.text and "Keywords: LLM" in shown.text
    assert discord_fake.cards() == []  # nothing in the channel

    digest = await discord_fake.run("me digest-now", user=MEMBER)
    sent = int(re.match(r"Sent you (\d+) of 30 papers listed today by direct message", digest.text).group(1))  # type: ignore[union-attr]
    opened = discord_fake.requests_to("POST", r"/users/@me/channels")
    assert [str(r.body["recipient_id"]) for r in opened] == [str(MEMBER.id)]  # opened once, then kept
    in_dm = discord_fake.messages[dm_channel]
    cards = [m for m in in_dm if m["components"]]
    assert sent >= 2 and len(cards) == sent
    assert all("LLM" in c["embeds"][0]["title"] for c in cards)
    assert discord_fake.cards() == [] and discord_fake.threads == {}  # no thread in a DM
    for card in cards:
        replies = [m for m in in_dm if (m.get("message_reference") or {}).get("message_id") == card["id"]]
        assert len(replies) == 1 and replies[0]["embeds"][0]["description"]
    creates = discord_fake.requests_to("POST", rf"/channels/{dm_channel}/messages")
    assert all(r.body["allowed_mentions"] == {"parse": []} and r.body["nonce"] for r in creates)

    again = await discord_fake.run("me digest-now", user=MEMBER)
    assert again.text.startswith("Nothing new to post")  # the ledger: exactly once
    assert len([m for m in discord_fake.messages[dm_channel] if m["components"]]) == sent
    record = await services.channels.get(ChannelRef("discord", str(GUILD_ID), f"@{MEMBER.id}"))
    assert record is not None and record.personal
    assert await services.channels.get(ChannelRef("discord", str(GUILD_ID), str(CHANNEL_ID))) is None


async def test_discord_me_off_stops_it_and_bad_input_stores_nothing(
    bot: DiscordAdapter, discord_fake: FakeDiscord, services: Services
) -> None:
    bad = await discord_fake.run("me subscribe", {"categories": "cs.XX"}, user=MEMBER)
    assert bad.text.startswith("'cs.XX' is not an arXiv category") and "\n" not in bad.text
    assert await services.channels.all_active() == []
    await discord_fake.run("me subscribe", {"categories": "cs.DC"}, user=MEMBER)
    assert len(await services.channels.all_active()) == 1
    off = await discord_fake.run("me off", user=MEMBER)
    assert off.text.startswith("Your digest is off")
    assert await services.channels.all_active() == []
    on = await discord_fake.run("me on", user=MEMBER)
    assert on.text.startswith("Your digest is on again")
    assert len(await services.channels.all_active()) == 1

