"""The personal digest on the platforms: ``/arxiv me ...`` typed in a channel, the digest sent to the caller by
direct message (real discord.py against the fake Discord: DM channel create, then the cards and their summaries as
replies; real slack_sdk against the fake Slack: conversations.open, then the cards with their threads in the DM)."""

from __future__ import annotations

import re
from pathlib import Path

from adapters.composition import Services
from adapters.discord.runtime import DiscordAdapter
from bot.models import ChannelRef
from tests.fakes.arxiv_server import FakeArxivServer
from tests.fakes.clock import FixedClock
from tests.fakes.discord_server import CHANNEL_ID, GUILD_ID, MEMBER, FakeDiscord
from tests.fakes.slack_api import TEAM, FakeSlack, reaction_event
from tests.integration.test_discord_app import bot, discord_fake, reaction_handled
from tests.integration.test_slack_app import (
    button_click,
    cards,
    cs_dc,
    http_client,
    message_text,
    paper_id,
    slack,
    slack_bot,
    threads,
)

__all__ = ["bot", "cs_dc", "discord_fake", "slack"]  # the fixtures, imported to be used here
REPLACEMENTS = Path(__file__).parents[1] / "fixtures" / "arxiv-rss" / "2026-01-06_cs.DC_replacements.xml"
SAVED = "2601.00644"


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
    assert {e["channel_id"] for e in discord_fake.edits} == {dm_channel}  # each card then shows its TL;DR
    assert len(discord_fake.edits) == sent
    creates = discord_fake.requests_to("POST", rf"/channels/{dm_channel}/messages")
    assert all(r.body["allowed_mentions"] == {"parse": []} and r.body["nonce"] for r in creates)

    # A card in the DM saves like one in the channel: by its button and by the save reaction.
    first, second = cards[0], cards[1]
    pressed = await discord_fake.click(first, first["components"][0]["components"][0]["custom_id"], dm=True)
    assert pressed.text.startswith("Saved 2601.") and pressed.ephemeral
    reply = await reaction_handled(bot, lambda: discord_fake.react(second["id"], channel_id=dm_channel, dm=True))
    assert reply is not None and reply.text.startswith("Saved 2601.")
    saved = await discord_fake.run("saved", user=MEMBER)
    assert saved.text.startswith("Your saved papers (2)")

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



async def test_slack_me_subscribe_then_the_digest_opens_a_dm_and_posts_there_with_threads(
    db_url: str, cs_dc: FakeArxivServer, clock: FixedClock, slack: FakeSlack
) -> None:
    async with slack_bot(db_url, cs_dc, clock, slack) as runtime, http_client(runtime, slack) as client:
        assert (await client.run("me subscribe cs.DC", "sub", user="U2")).startswith("Subscribed to cs.DC\n")
        assert "Added to keywords: LLM\n" in await client.run("me keywords add LLM", "kw", user="U2")
        assert "Daily post time set to 08:30 Europe/Berlin" in await client.run(
            "me time 08:30 Europe/Berlin", "time", user="U2"
        )
        shown = await client.run("me", "show", user="U2")
        assert "Your own digest, sent to you by direct message: on" in shown and "Comes at 08:30" in shown
        assert cards(slack) == []

        answer = await client.run("me digest now", "digest", user="U2")
        assert [c.args["users"] for c in slack.calls_to("conversations.open")] == ["U2"]
        posted = cards(slack)
        assert posted and f"Sent you {len(posted)} of" in answer and "by direct message" in answer
        assert {c.args["channel"] for c in posted} == {"DU2"}  # nothing in the channel
        assert sorted(t.args["thread_ts"] for t in threads(slack)) == sorted(c.answer["ts"] for c in posted)
        assert {t.args["channel"] for t in threads(slack)} == {"DU2"}
        assert all(c.args["metadata"]["event_payload"]["key"] for c in posted)  # through the ledger
        updates = slack.calls_to("chat.update")
        assert len(updates) == len(posted) and {u.args["channel"] for u in updates} == {"DU2"}  # TL;DR on each

        # Cards in the DM save like any other: the save reaction and the Save button there.
        assert await client.event(reaction_event(ts=posted[0].answer["ts"], channel="DU2", user="U2")) == 200
        await slack.wait_for(lambda: len(slack.calls_to("chat.postEphemeral")) == 1)
        confirmation = slack.calls_to("chat.postEphemeral")[0]
        assert confirmation.args["channel"] == "DU2" and confirmation.args["user"] == "U2"
        assert f"Saved {paper_id(posted[0])}" in message_text(confirmation.args)
        click = button_click(slack, posted[1], "arxiv_save", trigger_id="t1")
        click["channel"], click["container"]["channel_id"] = {"id": "DU2", "name": "directmessage"}, "DU2"
        assert await client.click(click) == 200
        await slack.wait_for(lambda: len(slack.calls_to("chat.postEphemeral")) == 2)
        assert f"Saved {paper_id(posted[1])}" in message_text(slack.calls_to("chat.postEphemeral")[1].args)
        assert "Your saved papers (2)" in await client.run("saved", "saved", user="U2")

        again = await client.run("me digest now", "again", user="U2")
        assert again.startswith("Nothing new to post") and len(cards(slack)) == len(posted)
        assert len(slack.calls_to("conversations.open")) == 1  # the DM is kept

        # The channel's own digest and the personal one in one run: one listing request between them.
        assert "Subscribed to cs.DC" in await client.run("subscribe cs.DC", "chan")
        clock.current = clock.current.replace(day=6)  # the next announcement: fetched afresh, once
        before = len(cs_dc.requests)
        outcomes = await runtime.services.runner.run(await runtime.services.channels.all_active())
        assert {ref.channel for ref in outcomes} == {"C1", "@U2"}
        assert len([r for r in cs_dc.requests[before:] if r.path.startswith("/rss")]) == 1


async def test_slack_bad_me_input_is_one_line_and_stores_nothing(
    db_url: str, cs_dc: FakeArxivServer, clock: FixedClock, slack: FakeSlack
) -> None:
    async with slack_bot(db_url, cs_dc, clock, slack) as runtime, http_client(runtime, slack) as client:
        for n, line in enumerate(("me subscribe cs.XX", "me time 8:75", "me saved", "me off please")):
            answer = await client.run(line, f"bad{n}", user="U2")
            assert "\n" not in answer and "Traceback" not in answer, answer
        assert await runtime.services.channels.all_active() == []
        assert await runtime.services.channels.get(ChannelRef("slack", TEAM, "@U2")) is None
        assert slack.calls_to("conversations.open") == []


async def test_slack_a_paper_saved_from_the_dm_gets_its_version_alert_there_once(
    db_url: str, cs_dc: FakeArxivServer, clock: FixedClock, slack: FakeSlack
) -> None:
    async with slack_bot(db_url, cs_dc, clock, slack) as runtime, http_client(runtime, slack) as client:
        for n, line in enumerate(("me subscribe cs.DC", "me keywords add LLM", "me digest now")):
            await client.run(line, f"setup{n}", user="U2")
        card = next(c for c in cards(slack) if paper_id(c) == f"{SAVED}v1")
        assert card.args["channel"] == "DU2"
        assert await client.event(reaction_event(ts=card.answer["ts"], channel="DU2", user="U2")) == 200
        await slack.wait_for(lambda: len(slack.calls_to("chat.postEphemeral")) == 1)

        cs_dc.feeds[frozenset({"cs.DC"})] = REPLACEMENTS.read_bytes()
        clock.current = clock.current.replace(day=6)
        for n in range(2):
            await client.run("me digest now", f"day2-{n}", user="U2")
    note = [m["text"] for m in slack.messages.get("DU2", []) if " is out: " in m["text"]]
    in_thread = [m["text"] for m in slack.replies.get(("DU2", card.answer["ts"]), []) if " is out: " in m["text"]]
    assert len(note) == 1 and note == in_thread  # a note to the saver, a reply under the card: both in the DM, once
    assert note[0].startswith("v3 of FlexSpec")
