"""New versions of saved papers: a replacement in the next day's listing gives each saver one private note and the
card's thread one reply, exactly once across a lost answer and a restart (real slack_sdk against the fake Slack)."""

from __future__ import annotations

from pathlib import Path

from adapters.discord.runtime import DiscordAdapter
from tests.conftest import FEED_0105
from tests.fakes.arxiv_server import FakeArxivServer, atom_entry
from tests.fakes.clock import FixedClock
from tests.fakes.discord_server import MEMBER, FakeDiscord
from tests.fakes.faults import LOST
from tests.fakes.slack_api import FakeSlack, reaction_event
from tests.integration.test_discord_app import bot, discord_fake, reaction_handled
from tests.integration.test_slack_app import cards, cs_dc, http_client, paper_id, slack, slack_bot, subscribe_dc_llm

__all__ = ["bot", "cs_dc", "discord_fake", "slack"]  # the fixtures, imported to be used here
REPLACEMENTS = Path(__file__).parents[1] / "fixtures" / "arxiv-rss" / "2026-01-06_cs.DC_replacements.xml"
SAVED = "2601.00644"


def alert_posts(slack: FakeSlack, channel: str) -> list[str]:
    """Texts of the version alerts created in a channel (top level) or in any thread of it."""
    top = [m["text"] for m in slack.messages.get(channel, [])]
    threaded = [m["text"] for (c, _ts), ms in slack.replies.items() if c == channel for m in ms]
    return [t for t in top + threaded if " is out: " in t]


async def test_a_replacement_alerts_each_saver_once_and_the_cards_thread_once_across_a_restart(
    db_url: str, cs_dc: FakeArxivServer, clock: FixedClock, slack: FakeSlack
) -> None:
    async with slack_bot(db_url, cs_dc, clock, slack) as runtime, http_client(runtime, slack) as client:
        await subscribe_dc_llm(client)
        await client.run("digest now", "day1")
        card = next(c for c in cards(slack) if paper_id(c) == f"{SAVED}v1")
        for user in ("U1", "U2", "U3"):
            assert await client.event(reaction_event(ts=card.answer["ts"], user=user)) == 200
        await slack.wait_for(lambda: len(slack.calls_to("chat.postEphemeral")) == 3)
        assert "Version alerts off" in await client.run("alerts off", "off", user="U3")

        # The next day: 2601.00644 is replaced (v3), 2601.00227 too (nobody saved it). The note to U1 is created
        # but its answer is lost, so it stays "sending" in the ledger when the bot stops.
        cs_dc.feeds[frozenset({"cs.DC"})] = REPLACEMENTS.read_bytes()
        entry = atom_entry(SAVED, "FlexSpec", "Abstract.").replace(f"{SAVED}v1", f"{SAVED}v3")
        cs_dc.papers[f"{SAVED}v3"] = (
            200,
            entry.replace("</summary>", "</summary><arxiv:comment>14 pages; v3 adds <!here> results</arxiv:comment>"),
        )
        clock.current = clock.current.replace(day=6)
        slack.fail(LOST, method="chat.postMessage")
        await client.run("digest now", "day2")
        assert len(alert_posts(slack, "DU1")) == 1  # created, unconfirmed
        assert len(alert_posts(slack, "DU2")) == 1

    async with slack_bot(db_url, cs_dc, clock, slack) as runtime, http_client(runtime, slack) as client:
        for key in ("again", "and-again"):
            await client.run("digest now", key)

    notes = {user: alert_posts(slack, f"D{user}") for user in ("U1", "U2", "U3")}
    assert [len(n) for n in notes.values()] == [1, 1, 0]
    thread = [m["text"] for m in slack.replies.get(("C1", card.answer["ts"]), []) if " is out: " in m["text"]]
    assert len(thread) == 1
    text = notes["U1"][0]
    assert text == notes["U2"][0] == thread[0]
    assert text.startswith("v3 of FlexSpec: Frozen Drafts Meet Evolving Targets")
    assert f"https://arxiv.org/abs/{SAVED}v3" in text and "comments: 14 pages; v3 adds" in text
    assert "<!channel>" not in text and "<!here>" not in text and "&lt;!channel&gt;" in text
    assert "2601.00227" not in " ".join(m["text"] for ms in slack.messages.values() for m in ms)
    assert [c.args["users"] for c in slack.calls_to("conversations.open")].count("U3") == 0


async def test_alerts_on_again_and_answers(
    db_url: str, cs_dc: FakeArxivServer, clock: FixedClock, slack: FakeSlack
) -> None:
    assert FEED_0105.exists()
    async with slack_bot(db_url, cs_dc, clock, slack) as runtime, http_client(runtime, slack) as client:
        assert "Version alerts were already on" in await client.run("alerts on", "a")
        assert "Version alerts off" in await client.run("alerts off", "b")
        assert "Version alerts were already off" in await client.run("alerts off", "c")
        assert "Version alerts on" in await client.run("alerts on", "d")
        assert "use alerts on|off" in await client.run("alerts maybe", "e")


async def test_discord_alert_is_a_direct_message_and_a_reply_in_the_cards_thread(
    bot: DiscordAdapter, discord_fake: FakeDiscord, arxiv: FakeArxivServer, clock: FixedClock
) -> None:
    await discord_fake.run("subscribe", {"categories": "cs.DC"})
    await discord_fake.run("keywords", {"action": "add", "terms": "LLM"})
    digest = await discord_fake.run("digest-now")
    await discord_fake.answered(digest)
    card = next(c for c in discord_fake.cards() if c["embeds"][0]["url"].endswith(f"{SAVED}v1"))
    reply = await reaction_handled(bot, lambda: discord_fake.react(card["id"], user=MEMBER))
    assert reply is not None and reply.text.startswith("Saved")

    arxiv.feeds[frozenset({"cs.DC"})] = REPLACEMENTS.read_bytes()
    clock.current = clock.current.replace(day=6)  # the next announcement (today's listing is fetched once)
    for _ in range(2):
        again = await discord_fake.run("digest-now")
        await discord_fake.answered(again)
    dm = [m for m in discord_fake.messages.get(MEMBER.id + 7, []) if " is out: " in m["content"]]
    assert len(dm) == 1
    assert dm[0]["content"].startswith("v3 of FlexSpec") and f"/abs/{SAVED}v3" in dm[0]["content"]
    in_thread = [m for m in discord_fake.thread_of(card["id"]) if " is out: " in m["content"]]
    assert [m["content"] for m in in_thread] == [dm[0]["content"]]
    creates = [r for r in discord_fake.requests if r.method == "POST" and " is out: " in str(r.body)]
    assert len(creates) == 2 and all(r.body["allowed_mentions"] == {"parse": []} and r.body["nonce"] for r in creates)
    assert "@everyone" not in dm[0]["content"] and "comments: none" in dm[0]["content"]  # no API entry: none
