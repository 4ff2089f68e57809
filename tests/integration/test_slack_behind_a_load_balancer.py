"""Slack HTTP mode on two replicas sharing one database, as behind a load balancer: a one-time link made on one is
downloaded through the other, once; an event Slack retries to the other replica, or a request replayed there, is
handled once."""

from __future__ import annotations

import json
import re
import time

import aiohttp

from tests.fakes.arxiv_server import FakeArxivServer
from tests.fakes.clock import FixedClock
from tests.fakes.slack_api import FakeSlack, command_form, reaction_event, signed_headers
from tests.integration.test_slack_app import (
    CHANNEL,
    FORM,
    cards,
    cs_dc,
    http_client,
    message_text,
    slack,
    slack_bot,
    subscribe_dc_llm,
)

__all__ = ["cs_dc", "slack"]  # the fixtures, imported to be used here
JSON = {"Content-Type": "application/json"}
LINK = re.compile(r"http://127\.0\.0\.1:8080(/files/\S+)")


async def test_a_link_made_on_one_replica_downloads_once_through_the_other(
    db_url: str, cs_dc: FakeArxivServer, clock: FixedClock, slack: FakeSlack
) -> None:
    async with (
        slack_bot(db_url, cs_dc, clock, slack) as a,
        slack_bot(db_url, cs_dc, clock, slack) as b,
        http_client(a, slack) as to_a,
    ):
        await subscribe_dc_llm(to_a)
        await to_a.run("digest now", "digest")
        assert await to_a.event(reaction_event(ts=cards(slack)[0].answer["ts"])) == 200
        await slack.wait_for(lambda: len(slack.calls_to("chat.postEphemeral")) == 1)
        slack.scopes.discard("files:write")
        match = LINK.search(await to_a.run("saved export bibtex", "link"))
        assert match is not None
        assert a.http is not None and b.http is not None
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{b.http.port}{match.group(1)}") as response:
                assert response.status == 200
                assert response.headers["Content-Disposition"] == 'attachment; filename="arxiv-saved.bib"'
                assert "eprint" in await response.text()
            for replica in (a, b):
                assert replica.http is not None
                async with session.get(f"http://127.0.0.1:{replica.http.port}{match.group(1)}") as again:
                    assert again.status == 404


async def test_an_event_retried_to_the_other_replica_and_a_replayed_command_are_handled_once(
    db_url: str, cs_dc: FakeArxivServer, clock: FixedClock, slack: FakeSlack
) -> None:
    async with (
        slack_bot(db_url, cs_dc, clock, slack) as a,
        slack_bot(db_url, cs_dc, clock, slack) as b,
        http_client(a, slack) as to_a,
        http_client(b, slack) as to_b,
    ):
        await subscribe_dc_llm(to_a)
        await to_a.run("digest now", "digest")
        event = json.dumps(reaction_event(ts=cards(slack)[0].answer["ts"]))
        assert (await to_a.post(event, signed_headers(event) | JSON))[0] == 200
        # Slack's retry (newly signed, marked X-Slack-Retry-Num) reaches the other replica.
        retry = signed_headers(event, timestamp=int(time.time()) - 1) | JSON | {"X-Slack-Retry-Num": "1"}
        assert await to_b.post(event, retry) == (200, "")
        # A command, then the same signed request replayed byte for byte to the other replica.
        body = command_form("unsubscribe cs.DC", response_url=slack.response_url("unsub"))
        headers = signed_headers(body) | FORM
        assert (await to_b.post(body, headers))[0] == 200
        await slack.wait_for(lambda: slack.responded("unsub"))
        assert await to_a.post(body, headers) == (200, "")
        await slack.wait_for(lambda: len(slack.calls_to("chat.postEphemeral")) >= 1)
        assert await to_b.event(reaction_event(ts=cards(slack)[1].answer["ts"])) == 200  # a new event still runs
        await slack.wait_for(lambda: len(slack.calls_to("chat.postEphemeral")) == 2)
        texts = [message_text(c.args) for c in slack.calls_to("chat.postEphemeral")]
        assert all(t.startswith("Saved") for t in texts)
        saved = await a.services.saves.list(channel=CHANNEL, user_id="U1")
        assert len(saved) == 2
        assert len(slack.responded("unsub")) == 1
