"""The Slack app end to end: BotRuntime in-process, signed HTTP requests and Socket Mode against a fake Slack."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from adapters.composition import build_services
from adapters.runtime import BotRuntime
from bot.models import ChannelRef
from tests.conftest import FEED_0105, ROOT, ZONE_MISTAKES, make_settings
from tests.fakes.arxiv_server import FakeArxivServer
from tests.fakes.clock import FixedClock
from tests.fakes.slack_api import (
    APP_TOKEN,
    BOT_TOKEN,
    SIGNING_SECRET,
    TEAM,
    FakeSlack,
    SlackCall,
    command_form,
    command_payload,
    reaction_event,
    running_fake_slack,
    signed_headers,
)
from tests.parse_count import count_parses

CHANNEL = ChannelRef("slack", TEAM, "C1")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    """The fake Slack Web API, response_url and Socket Mode server."""
    async with running_fake_slack() as server:
        yield server


@pytest.fixture
def cs_dc(arxiv: FakeArxivServer) -> FakeArxivServer:
    """The fake arXiv also serving the 2026-01-05 feed for cs.DC alone."""
    arxiv.feeds[frozenset({"cs.DC"})] = FEED_0105.read_bytes()
    return arxiv


@asynccontextmanager
async def slack_bot(
    db_url: str, arxiv: FakeArxivServer, clock: FixedClock, slack: FakeSlack, *, mode: str = "http", **env: str
) -> AsyncIterator[BotRuntime]:
    """The whole bot in-process, with Slack pointed at the fake."""
    settings = make_settings(
        db_url,
        arxiv,
        ARXIVBOT_SLACK__MODE=mode,
        ARXIVBOT_SLACK__API_URL=slack.api_url,
        ARXIVBOT_SLACK__POST_INTERVAL_S="0",
        **env,
    )
    secrets = {"SLACK_BOT_TOKEN": BOT_TOKEN}
    secrets |= {"SLACK_SIGNING_SECRET": SIGNING_SECRET} if mode == "http" else {"SLACK_APP_TOKEN": APP_TOKEN}
    runtime = BotRuntime(settings, env=secrets, services=build_services(settings, clock=clock))
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.close()


class SlackClient:
    """Sends what Slack would send to our HTTP endpoint."""

    def __init__(self, runtime: BotRuntime, slack: FakeSlack, session: aiohttp.ClientSession) -> None:
        assert runtime.http is not None
        self.url = f"http://127.0.0.1:{runtime.http.port}/slack/events"
        self.slack = slack
        self.session = session

    async def post(self, body: str, headers: dict[str, str]) -> tuple[int, str]:
        """POST a raw body; return status and text."""
        async with self.session.post(self.url, data=body.encode(), headers=headers) as response:
            return response.status, await response.text()

    async def command(self, text: str, key: str, **fields: str) -> tuple[int, str]:
        """A signed ``/arxiv <text>`` whose response_url records under ``key``."""
        body = command_form(text, response_url=self.slack.response_url(key), **fields)
        return await self.post(body, signed_headers(body) | FORM)

    async def run(self, text: str, key: str, **fields: str) -> str:
        """A signed command, then the text of what it answered through response_url."""
        status, _ = await self.command(text, key, **fields)
        assert status == 200
        await self.slack.wait_for(lambda: self.slack.responded(key))
        return "\n".join(message_text(p) for p in self.slack.responded(key))

    async def event(self, body: dict[str, Any]) -> int:
        """A signed Events API request."""
        raw = json.dumps(body)
        status, _ = await self.post(raw, signed_headers(raw) | {"Content-Type": "application/json"})
        return status

    async def click(self, payload: dict[str, Any]) -> int:
        """A signed interactivity request (a button click)."""
        raw = urlencode({"payload": json.dumps(payload)})
        status, _ = await self.post(raw, signed_headers(raw) | FORM)
        return status


@asynccontextmanager
async def http_client(runtime: BotRuntime, slack: FakeSlack) -> AsyncIterator[SlackClient]:
    """A SlackClient for the running bot."""
    async with aiohttp.ClientSession() as session:
        yield SlackClient(runtime, slack, session)


def message_text(payload: dict[str, Any]) -> str:
    """Every text in a message's blocks (what the user reads), or its ``text`` when it has none."""
    texts = []
    for block in payload.get("blocks") or []:
        if isinstance(block.get("text"), dict):
            texts.append(block["text"]["text"])
        for element in block.get("elements") or []:
            if isinstance(element.get("text"), str):
                texts.append(element["text"])
    return "\n".join(texts) or str(payload.get("text", ""))


def cards(slack: FakeSlack) -> list[SlackCall]:
    """Top-level messages posted (paper cards)."""
    return [c for c in slack.posts() if "thread_ts" not in c.args]


def threads(slack: FakeSlack) -> list[SlackCall]:
    """Thread replies posted."""
    return [c for c in slack.posts() if "thread_ts" in c.args]


def paper_id(card: SlackCall) -> str:
    """The versioned arXiv id on a card's Save button."""
    actions = next(b for b in card.args["blocks"] if b["type"] == "actions")
    return str(next(e["value"] for e in actions["elements"] if e["action_id"] == "arxiv_save"))


def button_click(slack: FakeSlack, card: SlackCall, action_id: str, *, trigger_id: str) -> dict[str, Any]:
    """The interactivity payload of U2 clicking one of a card's buttons."""
    return {
        "type": "block_actions",
        "team": {"id": TEAM, "domain": "fakelab"},
        "user": {"id": "U2", "username": "bob", "team_id": TEAM},
        "api_app_id": "A1",
        "token": "deprecated-verification-token",
        "trigger_id": trigger_id,
        "channel": {"id": "C1", "name": "papers"},
        "container": {"type": "message", "message_ts": card.answer["ts"], "channel_id": "C1"},
        "message": {"ts": card.answer["ts"], "type": "message"},
        "response_url": slack.response_url(action_id),
        "actions": [{"type": "button", "action_id": action_id, "block_id": "b", "value": paper_id(card)}],
    }


async def subscribe_dc_llm(client: SlackClient) -> None:
    """The channel follows cs.DC with keyword LLM."""
    assert "Subscribed to cs.DC" in await client.run("subscribe cs.DC", "sub")
    assert "Added to keywords: LLM\n" in await client.run("keywords add LLM", "kw")


async def ledger_ts(runtime: BotRuntime) -> set[str]:
    """Message ts of every card the ledger records as posted in the channel."""
    record = await runtime.services.channels.get(CHANNEL)
    assert record is not None
    return {row.message_id for row in await runtime.services.ledger.posted_since(record.id) if row.message_id}


async def test_http_mode_digest_posts_cards_with_threaded_summaries_and_a_reaction_saves(
    db_url: str, cs_dc: FakeArxivServer, clock: FixedClock, slack: FakeSlack
) -> None:
    async with slack_bot(db_url, cs_dc, clock, slack) as runtime, http_client(runtime, slack) as client:
        await subscribe_dc_llm(client)
        answer = await client.run("digest now", "digest")

        posted = cards(slack)
        assert posted, answer
        assert f"Posted {len(posted)} of" in answer
        assert len({paper_id(c) for c in posted}) == len(posted)
        for card in posted:
            assert card.args["channel"] == "C1"
            assert card.args["unfurl_links"] is False and card.args["unfurl_media"] is False
            assert card.args["text"] and card.token == BOT_TOKEN
        assert sorted(t.args["thread_ts"] for t in threads(slack)) == sorted(c.answer["ts"] for c in posted)
        assert await ledger_ts(runtime) == {c.answer["ts"] for c in posted}

        first = posted[0]
        assert await client.event(reaction_event(ts=first.answer["ts"])) == 200
        await slack.wait_for(lambda: slack.calls_to("chat.postEphemeral"))
        confirmation = slack.calls_to("chat.postEphemeral")[0]
        assert confirmation.args["user"] == "U1" and confirmation.args["channel"] == "C1"
        assert f"Saved {paper_id(first)}" in message_text(confirmation.args)

        saved = await client.run("saved", "saved")
        assert paper_id(first) in saved
        assert all(p["response_type"] == "ephemeral" for p in slack.responded("saved"))


async def test_unsigned_wrongly_signed_or_stale_requests_get_401_and_change_nothing(
    db_url: str, cs_dc: FakeArxivServer, clock: FixedClock, slack: FakeSlack
) -> None:
    async with slack_bot(db_url, cs_dc, clock, slack) as runtime, http_client(runtime, slack) as client:
        await subscribe_dc_llm(client)
        calls_before = len(slack.calls)
        body = command_form("unsubscribe cs.DC", response_url=slack.response_url("evil"))
        stale = signed_headers(body, timestamp=int(time.time()) - 600)
        forged = signed_headers(body, secret="not-the-secret")
        for headers in ({}, forged, stale, {**signed_headers(body), "X-Slack-Signature": "v0=00"}):
            status, text = await client.post(body, headers | FORM)
            assert (status, text) == (401, "invalid request signature")
        event = json.dumps(reaction_event(ts="1767600001.000001"))
        status, _ = await client.post(event, {"Content-Type": "application/json"})
        assert status == 401

        record = await runtime.services.channels.get(CHANNEL)
        assert record is not None and record.categories == ("cs.DC",)
        assert slack.responded("evil") == []
        assert len(slack.calls) == calls_before


async def test_ack_comes_first_the_200_leaves_before_a_slow_digest_posts(
    db_url: str, cs_dc: FakeArxivServer, clock: FixedClock, slack: FakeSlack
) -> None:
    async with slack_bot(db_url, cs_dc, clock, slack) as runtime, http_client(runtime, slack) as client:
        await subscribe_dc_llm(client)
        cs_dc.latency_s = 1.0
        status, body = await client.command("digest now", "slow")
        acked_at = time.monotonic()
        assert status == 200
        assert json.loads(body) == {"text": "Working on it…", "response_type": "ephemeral"}
        assert slack.posts() == [] and slack.responded("slow") == []

        await slack.wait_for(lambda: slack.responded("slow"), within_s=10)
        assert cards(slack)
        assert all(call.at > acked_at for call in slack.posts())


async def test_abstract_with_mentions_is_posted_without_a_live_mention(
    db_url: str, arxiv: FakeArxivServer, clock: FixedClock, slack: FakeSlack
) -> None:
    hostile = b"Abstract: &lt;!channel&gt; @here &lt;@U0BOSS&gt; &lt;!subteam^S1&gt; @everyone read this. "
    arxiv.feeds[frozenset({"cs.DC"})] = FEED_0105.read_bytes().replace(b"Abstract: ", hostile)
    async with slack_bot(db_url, arxiv, clock, slack) as runtime, http_client(runtime, slack) as client:
        await subscribe_dc_llm(client)
        await client.run("digest now", "digest")

        assert cards(slack) and threads(slack)
        for call in slack.posts():
            sent = json.dumps(call.args, ensure_ascii=False)
            for live in ("<!channel>", "<@U0BOSS>", "<!subteam^S1>", "@here", "@everyone"):
                assert live not in sent
            assert "&lt;!channel&gt;" in sent and "@\u2060here" in sent


async def test_429s_are_retried_and_a_500_card_is_looked_for_then_posted_exactly_once(
    db_url: str, cs_dc: FakeArxivServer, clock: FixedClock, slack: FakeSlack
) -> None:
    async with slack_bot(db_url, cs_dc, clock, slack) as runtime, http_client(runtime, slack) as client:
        await subscribe_dc_llm(client)
        # 429s are retried after Retry-After (nothing was created); a 500 to chat.postMessage is not retried blind
        # (Slack may have created the message): that card stays "sending" and the next run looks for it first.
        slack.fail((429, {"Retry-After": "0"}), 500, (429, {"Retry-After": "0"}))
        answer = await client.run("digest now", "digest")

        statuses = [c.status for c in slack.calls_to("chat.postMessage")]
        assert statuses.count(429) == 2 and statuses.count(500) == 1
        assert "1 could not be posted and will be retried" in answer
        again = await client.run("digest now", "again")
        assert slack.calls_to("conversations.history")  # looked for the card whose answer was a 500
        posted = cards(slack)
        ids = [paper_id(c) for c in posted]
        assert len(ids) == len(set(ids)) and "Posted 1 of" in again
        assert await ledger_ts(runtime) == {c.answer["ts"] for c in posted}
        assert sorted(t.args["thread_ts"] for t in threads(slack)) == sorted(c.answer["ts"] for c in posted)


async def test_a_refused_card_stays_pending_and_the_next_digest_posts_it_once(
    db_url: str, cs_dc: FakeArxivServer, clock: FixedClock, slack: FakeSlack
) -> None:
    async with slack_bot(db_url, cs_dc, clock, slack) as runtime, http_client(runtime, slack) as client:
        await subscribe_dc_llm(client)
        slack.fail(400)
        first = await client.run("digest now", "d1")
        assert "1 could not be posted and will be retried" in first
        once = {paper_id(c) for c in cards(slack)}

        await client.run("digest now", "d2")
        ids = [paper_id(c) for c in cards(slack)]
        assert len(ids) == len(set(ids)) == len(once) + 1
        assert await ledger_ts(runtime) == {c.answer["ts"] for c in cards(slack)}


async def test_reaction_removed_unsaves_and_other_reactions_or_messages_are_ignored(
    db_url: str, cs_dc: FakeArxivServer, clock: FixedClock, slack: FakeSlack
) -> None:
    async with slack_bot(db_url, cs_dc, clock, slack) as runtime, http_client(runtime, slack) as client:
        await subscribe_dc_llm(client)
        await client.run("digest now", "digest")
        ts = cards(slack)[0].answer["ts"]

        assert await client.event(reaction_event(ts=ts, reaction="thumbsup")) == 200
        assert await client.event(reaction_event(ts="1111111111.000001")) == 200
        assert await client.event(reaction_event(ts=ts)) == 200
        assert await client.event(reaction_event(ts=ts, added=False)) == 200
        await slack.wait_for(lambda: len(slack.calls_to("chat.postEphemeral")) == 2)
        texts = [message_text(c.args) for c in slack.calls_to("chat.postEphemeral")]
        assert texts[0].startswith("Saved") and texts[1].startswith("Removed from your saved papers")
        assert "You have no saved papers" in await client.run("saved", "saved")


async def test_save_button_saves_once_and_confirms_ephemerally(
    db_url: str, cs_dc: FakeArxivServer, clock: FixedClock, slack: FakeSlack
) -> None:
    async with slack_bot(db_url, cs_dc, clock, slack) as runtime, http_client(runtime, slack) as client:
        await subscribe_dc_llm(client)
        await client.run("digest now", "digest")
        card = cards(slack)[0]
        click = button_click(slack, card, "arxiv_save", trigger_id="1.2.3")
        assert await client.click(click) == 200
        # A second click is a new request (its own trigger_id); an identical body would be a replay, ignored.
        assert await client.click({**click, "trigger_id": "1.2.4"}) == 200
        await slack.wait_for(lambda: len(slack.calls_to("chat.postEphemeral")) == 2)
        texts = [message_text(c.args) for c in slack.calls_to("chat.postEphemeral")]
        assert texts[0].startswith(f"Saved {paper_id(card)}") and texts[1].startswith("Already saved")
        saves = await runtime.services.saves.list(channel=CHANNEL, user_id="U2")
        assert [f"{s.arxiv_id}v{s.version}" for s in saves] == [paper_id(card)]


async def channel_negatives(runtime: BotRuntime) -> tuple[str, ...]:
    """The channel's 👎 signals as the ranker reads them."""
    record = await runtime.services.channels.get(CHANNEL)
    assert record is not None
    return (await runtime.services.signals.channel_signals(record.id)).negatives


async def test_a_thumbs_down_reaction_records_a_negative_and_removing_it_takes_it_back(
    db_url: str, cs_dc: FakeArxivServer, clock: FixedClock, slack: FakeSlack
) -> None:
    async with slack_bot(db_url, cs_dc, clock, slack) as runtime, http_client(runtime, slack) as client:
        await subscribe_dc_llm(client)
        await client.run("digest now", "digest")
        card = cards(slack)[0]
        ts, versioned = card.answer["ts"], paper_id(card)
        assert await client.event(reaction_event(ts=ts, reaction="-1", user="U4")) == 200
        await slack.wait_for(lambda: len(slack.calls_to("chat.postEphemeral")) == 1)
        assert await channel_negatives(runtime) == (versioned.rsplit("v", 1)[0],)
        assert await client.event(reaction_event(ts=ts, reaction="thumbsdown", user="U4", added=False)) == 200
        await slack.wait_for(lambda: len(slack.calls_to("chat.postEphemeral")) == 2)
        first, second = slack.calls_to("chat.postEphemeral")
        assert first.args["user"] == "U4"
        assert message_text(first.args).startswith(f"Marked as not for this channel: {versioned}")
        assert message_text(second.args).startswith(f"No longer marked as not for this channel: {versioned}")
        assert await channel_negatives(runtime) == ()
        # Saves are untouched by any of it.
        assert "You have no saved papers" in await client.run("saved", "saved", user="U4")


async def test_the_not_for_us_button_records_a_negative_and_a_second_press_takes_it_back(
    db_url: str, cs_dc: FakeArxivServer, clock: FixedClock, slack: FakeSlack
) -> None:
    async with slack_bot(db_url, cs_dc, clock, slack) as runtime, http_client(runtime, slack) as client:
        await subscribe_dc_llm(client)
        await client.run("digest now", "digest")
        card = cards(slack)[0]
        [button] = [
            e
            for b in card.args["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
            if e["action_id"] == "arxiv_down"
        ]
        assert button["text"]["text"] == "Not for us" and button["value"] == paper_id(card)
        click = button_click(slack, card, "arxiv_down", trigger_id="2.2.3")
        assert await client.click(click) == 200
        await slack.wait_for(lambda: len(slack.calls_to("chat.postEphemeral")) == 1)
        assert await channel_negatives(runtime) == (paper_id(card).rsplit("v", 1)[0],)
        assert await client.click({**click, "trigger_id": "2.2.4"}) == 200
        await slack.wait_for(lambda: len(slack.calls_to("chat.postEphemeral")) == 2)
        texts = [message_text(c.args) for c in slack.calls_to("chat.postEphemeral")]
        assert texts[0].startswith(f"Marked as not for this channel: {paper_id(card)} ")
        assert texts[0].endswith("(press Not for us again to undo)")
        assert texts[1].startswith(f"No longer marked as not for this channel: {paper_id(card)}")
        assert await channel_negatives(runtime) == ()
        assert await runtime.services.saves.list(channel=CHANNEL, user_id="U2") == []


async def test_admins_only_refuses_settings_changes_by_non_admins(
    db_url: str, cs_dc: FakeArxivServer, clock: FixedClock, slack: FakeSlack
) -> None:
    slack.admins.add("U1")
    async with (
        slack_bot(db_url, cs_dc, clock, slack, ARXIVBOT_SLACK__ADMINS_ONLY="true") as runtime,
        http_client(runtime, slack) as client,
    ):
        refused = await client.run("subscribe cs.DC", "u2", user="U2", user_name="bob")
        assert "Only people who may manage this channel can change its settings" in refused
        assert "You have no saved papers" in await client.run("saved", "u2-saved", user="U2")
        assert "Subscribed to cs.DC" in await client.run("subscribe cs.DC", "u1")
        asked = [c.args["user"] for c in slack.calls_to("users.info")]
        assert asked == ["U2", "U1"]
        record = await runtime.services.channels.get(CHANNEL)
        assert record is not None and record.categories == ("cs.DC",)


async def test_a_slash_command_is_parsed_exactly_once(
    db_url: str, cs_dc: FakeArxivServer, clock: FixedClock, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    slack.admins.add("U1")
    parses = count_parses(monkeypatch)
    async with (
        slack_bot(db_url, cs_dc, clock, slack, ARXIVBOT_SLACK__ADMINS_ONLY="true") as runtime,
        http_client(runtime, slack) as client,
    ):
        # Mutating under admins_only: the one parse decides that users.info is asked, and the core runs it.
        assert "Subscribed to cs.DC" in await client.run("subscribe cs.DC", "sub")
        assert parses == ["subscribe cs.DC"]
        assert [c.args["user"] for c in slack.calls_to("users.info")] == ["U1"]

        refused = await client.run("keywords add LLM", "refused", user="U2")
        assert "Only people who may manage this channel" in refused
        assert parses == ["subscribe cs.DC", "keywords add LLM"]

        # Slow: the one parse decides the "Working on it…" ack, and the same parse runs.
        status, body = await client.command("digest now", "digest")
        assert status == 200 and json.loads(body)["text"] == "Working on it…"
        await slack.wait_for(lambda: slack.responded("digest"))
        assert "Posted" in message_text(slack.responded("digest")[0])
        assert parses == ["subscribe cs.DC", "keywords add LLM", "digest now"]


async def test_bad_command_gets_one_line_and_a_spent_response_url_falls_back_to_ephemeral(
    db_url: str, cs_dc: FakeArxivServer, clock: FixedClock, slack: FakeSlack
) -> None:
    async with slack_bot(db_url, cs_dc, clock, slack) as runtime, http_client(runtime, slack) as client:
        answer = await client.run("subscribe cs.NOPE", "bad")
        assert "cs.NOPE" in answer and "Traceback" not in answer and len(answer.splitlines()) == 1

        slack.respond_status = 404
        status, _ = await client.command("settings", "gone")
        assert status == 200
        await slack.wait_for(lambda: slack.calls_to("chat.postEphemeral"))
        fallback = slack.calls_to("chat.postEphemeral")[0]
        assert fallback.args["user"] == "U1" and "Categories: none" in message_text(fallback.args)


async def test_socket_mode_connects_and_handles_a_slash_command_and_a_reaction(
    db_url: str, arxiv: FakeArxivServer, clock: FixedClock, slack: FakeSlack
) -> None:
    fixture = json.loads((ROOT / "tests/fixtures/arxiv-api/id_2104.12255v1.json").read_text())
    arxiv.papers["2104.12255"] = (fixture["status_code"], fixture["body"])
    async with slack_bot(db_url, arxiv, clock, slack, mode="socket") as runtime:
        assert runtime.ready and len(slack.sockets) == 1
        assert [c.token for c in slack.calls_to("apps.connections.open")] == [APP_TOKEN]

        payload = command_payload("summarize 2104.12255", response_url=slack.response_url("sock"))
        await slack.socket_send({"envelope_id": "e-cmd", "type": "slash_commands", "payload": payload,
                                 "accepts_response_payload": True})
        await slack.wait_for(lambda: slack.responded("sock"))
        ack = next(a for a in slack.socket_acks if a["envelope_id"] == "e-cmd")
        assert ack["payload"]["text"] == "Working on it…"
        card, thread = slack.posts()
        assert "requested by alice" in message_text(card.args)
        assert thread.args["thread_ts"] == card.answer["ts"]

        event = reaction_event(ts=card.answer["ts"], user="U3")
        await slack.socket_send({"envelope_id": "e-react", "type": "events_api", "payload": event,
                                 "accepts_response_payload": False})
        await slack.wait_for(lambda: slack.calls_to("chat.postEphemeral"))
        assert any(a["envelope_id"] == "e-react" for a in slack.socket_acks)
        assert message_text(slack.calls_to("chat.postEphemeral")[0].args).startswith("Saved 2104.12255v1")
        saves = await runtime.services.saves.list(channel=CHANNEL, user_id="U3")
        assert [s.arxiv_id for s in saves] == ["2104.12255"]
    assert not runtime.adapters[0].ready


async def test_a_failing_handler_answers_one_line_and_the_app_keeps_working(
    db_url: str, cs_dc: FakeArxivServer, clock: FixedClock, slack: FakeSlack
) -> None:
    async with slack_bot(db_url, cs_dc, clock, slack) as runtime, http_client(runtime, slack) as client:
        fields = command_payload("settings", response_url=slack.response_url("broken"))
        del fields["channel_id"]
        body = urlencode(fields)
        status, _ = await client.post(body, signed_headers(body) | FORM)
        assert status == 200
        await slack.wait_for(lambda: slack.responded("broken"))
        (answer,) = slack.responded("broken")
        assert answer["text"] == "Something went wrong on our side; nothing was changed, try again later"
        assert answer["response_type"] == "ephemeral"

        slack.fail(400, method="chat.postEphemeral")
        await subscribe_dc_llm(client)
        await client.run("digest now", "digest")
        assert await client.event(reaction_event(ts=cards(slack)[0].answer["ts"])) == 200
        await slack.wait_for(lambda: slack.calls_to("chat.postEphemeral"))
        assert slack.calls_to("chat.postEphemeral")[0].status == 400
        assert "Categories: cs.DC" in await client.run("settings", "after")


async def test_every_zone_mistake_in_set_time_is_one_line_with_the_right_form(
    db_url: str, cs_dc: FakeArxivServer, clock: FixedClock, slack: FakeSlack
) -> None:
    async with slack_bot(db_url, cs_dc, clock, slack) as runtime, http_client(runtime, slack) as client:
        for n, zone in enumerate(ZONE_MISTAKES):
            answer = await client.run(f"set time 09:30 {zone}", f"zone{n}")
            assert len(answer.splitlines()) == 1 and "time zone" in answer, answer
            assert "set time 09:30 Europe/Berlin" in answer and "went wrong" not in answer
        assert "did you mean Europe/Berlin?" in answer  # the last mistake: a bare city
        assert await runtime.services.channels.get(CHANNEL) is None  # nothing was stored
        assert "Posts at 09:30 Europe/Berlin" in await client.run("set time 9:30 europe/berlin", "ok")


async def test_a_post_refused_because_the_bot_is_not_in_the_channel_tells_the_person_who_asked(
    db_url: str, arxiv: FakeArxivServer, cs_dc: FakeArxivServer, clock: FixedClock, slack: FakeSlack
) -> None:
    fixture = json.loads((ROOT / "tests/fixtures/arxiv-api/id_2104.12255v1.json").read_text())
    arxiv.papers["2104.12255"] = (fixture["status_code"], fixture["body"])
    slack.absent_from.add("C1")
    async with slack_bot(db_url, cs_dc, clock, slack) as runtime, http_client(runtime, slack) as client:
        await subscribe_dc_llm(client)
        digest = await client.run("digest now", "digest")
        assert digest.startswith("Posted 0 of 30 papers listed today; 2 could not be posted and will be retried")
        assert "not_in_channel" in digest and "/invite @arxiv-bot" in digest, digest
        summarize = await client.run("summarize 2104.12255", "one")
        assert summarize.startswith("Could not post in this channel") and "/invite @arxiv-bot" in summarize
        assert "went wrong" not in digest + summarize and len(summarize.splitlines()) == 1
        assert cards(slack) == []

        slack.absent_from.clear()  # /invite @arxiv-bot
        assert (await client.run("digest now", "again")).startswith("Posted 2 of 30 papers listed today")
