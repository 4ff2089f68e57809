"""Many Slack workspaces through OAuth v2: installs through the real Bolt flow against the fake Slack, a token per
request and per post, and uninstalling one workspace pauses it alone (nothing lost when it comes back)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
import sqlalchemy as sa

from adapters.composition import build_services
from adapters.runtime import BotRuntime
from adapters.slack.installations import authorize_url
from adapters.slack.runtime import SlackAdapter
from bot.models import ChannelRef
from bot.store import schema as db
from tests.conftest import FEED_0105, make_settings
from tests.fakes.arxiv_server import FakeArxivServer
from tests.fakes.clock import FixedClock
from tests.fakes.slack_api import (
    CLIENT_ID,
    CLIENT_SECRET,
    SIGNING_SECRET,
    FakeSlack,
    bot_token_revoked_event,
    command_form,
    running_fake_slack,
    signed_headers,
    uninstalled_event,
)

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
OAUTH_ENV = {"SLACK_CLIENT_ID": CLIENT_ID, "SLACK_CLIENT_SECRET": CLIENT_SECRET, "SLACK_SIGNING_SECRET": SIGNING_SECRET}


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    """The fake Slack Web API with its OAuth pages."""
    async with running_fake_slack() as server:
        yield server


class Browser:
    """A person in a browser, and Slack's servers, talking to the bot's HTTP server."""

    def __init__(self, runtime: BotRuntime, slack: FakeSlack, session: aiohttp.ClientSession) -> None:
        assert runtime.http is not None
        self.base = f"http://127.0.0.1:{runtime.http.port}"
        self.slack = slack
        self.session = session
        (adapter,) = runtime.adapters
        assert isinstance(adapter, SlackAdapter)
        self.adapter = adapter

    async def install(self, team: str) -> tuple[int, str]:
        """Add to Slack as a user of ``team``: the install page, Slack's authorize page, back to the redirect URL."""
        self.slack.installing = (team, None)
        async with self.session.get(self.base + "/slack/install", allow_redirects=False) as page:
            assert page.status == 200, await page.text()
            html = await page.text()
            # The state cookie is Secure (the public URL is https); this browser reaches the server on plain http.
            cookie = page.headers.getall("Set-Cookie")[0].split(";", 1)[0]
        start = html.index(authorize_url(self.slack.api_url))
        link = html[start : html.index('"', start)].replace("&amp;", "&")
        async with self.session.get(link, allow_redirects=False) as approved:
            assert approved.status == 302
            back = urlsplit(approved.headers["Location"])
        # The redirect URL names the public URL; the browser reaches the same server on its test port.
        async with self.session.get(
            f"{self.base}{back.path}?{back.query}", headers={"Cookie": cookie}, allow_redirects=False
        ) as done:
            return done.status, await done.text()

    async def command(self, text: str, *, team: str, channel: str, key: str) -> str:
        """Slack sending a signed ``/arxiv <text>`` from ``channel`` of ``team``; what it answered."""
        body = command_form(text, response_url=self.slack.response_url(key), team=team, channel=channel)
        async with self.session.post(
            self.base + "/slack/events", data=body.encode(), headers=signed_headers(body) | FORM
        ) as response:
            assert response.status == 200
        await self.slack.wait_for(lambda: self.slack.responded(key))
        return " ".join(str(p.get("text", "")) for p in self.slack.responded(key))

    async def event(self, body: dict[str, Any]) -> int:
        """Slack sending a signed Events API request; returns once the bot has handled it (after the ack)."""
        raw = json.dumps(body)
        headers = signed_headers(raw) | {"Content-Type": "application/json"}
        async with self.session.post(self.base + "/slack/events", data=raw.encode(), headers=headers) as response:
            status = response.status
        await self.adapter.in_flight.idle()
        return status


@asynccontextmanager
async def oauth_bot(
    db_url: str, arxiv: FakeArxivServer, clock: FixedClock, slack: FakeSlack
) -> AsyncIterator[tuple[BotRuntime, Browser]]:
    """The whole bot in-process in HTTP mode, installed through OAuth (no SLACK_BOT_TOKEN)."""
    arxiv.feeds[frozenset({"cs.DC"})] = FEED_0105.read_bytes()
    settings = make_settings(
        db_url,
        arxiv,
        ARXIVBOT_SLACK__MODE="http",
        ARXIVBOT_SLACK__API_URL=slack.api_url,
        ARXIVBOT_SLACK__POST_INTERVAL_S="0",
        ARXIVBOT_HTTP__PUBLIC_URL="https://bot.example.org",
    )
    runtime = BotRuntime(settings, env=OAUTH_ENV, services=build_services(settings, clock=clock))
    await runtime.start()
    try:
        async with aiohttp.ClientSession() as session:
            yield runtime, Browser(runtime, slack, session)
    finally:
        await runtime.close()


async def _digest(runtime: BotRuntime) -> None:
    await runtime.services.runner.run(await runtime.services.channels.all_active())


async def test_two_workspaces_install_through_oauth_each_get_their_digest_and_an_uninstall_pauses_only_one(
    db_url: str, arxiv: FakeArxivServer, clock: FixedClock, slack: FakeSlack
) -> None:
    async with oauth_bot(db_url, arxiv, clock, slack) as (runtime, browser):
        for team in ("T1", "T2"):
            status, page = await browser.install(team)
            assert status == 200, page
        (first, second) = slack.authorize_requests
        assert first["redirect_uri"] == "https://bot.example.org/slack/oauth_redirect"
        assert set(first["scope"].split(",")) >= {"commands", "chat:write", "channels:history"}
        assert first["state"] != second["state"]
        tokens = {team: token for token, team in slack.team_tokens.items()}
        assert set(tokens) == {"T1", "T2"}

        # Commands in each workspace are answered with that workspace's token (Bolt's authorize).
        for team, channel in (("T1", "C1"), ("T2", "C2")):
            answer = await browser.command("subscribe cs.DC", team=team, channel=channel, key=f"s-{team}")
            assert "Subscribed to cs.DC" in answer
            await browser.command("keywords add LLM", team=team, channel=channel, key=f"k-{team}")
            await browser.command("set max 1", team=team, channel=channel, key=f"m-{team}")
        assert {c.token for c in slack.calls_to("auth.test")} == set(tokens.values())

        await _digest(runtime)
        for team, channel in (("T1", "C1"), ("T2", "C2")):
            posts = slack.posts_in(team)
            assert posts and {c.args["channel"] for c in posts} == {channel}
            assert {c.token for c in posts} == {tokens[team]}
        t1_before, t2_before = len(slack.posts_in("T1")), len(slack.posts_in("T2"))
        calls_before = len(slack.calls_to("chat.postMessage"))

        # T1 uninstalls the app: Slack revokes its tokens and sends app_uninstalled.
        slack.revoke("T1")
        assert await browser.event(uninstalled_event("T1")) == 200
        channels = runtime.services.channels
        c1 = await channels.get(ChannelRef("slack", "T1", "C1"))
        c2 = await channels.get(ChannelRef("slack", "T2", "C2"))
        assert c1 is not None and not c1.active and c1.categories == ("cs.DC",)
        assert c2 is not None and c2.active
        assert [r.ref for r in await channels.all_active()] == [c2.ref]

        # The next digest posts in T2 alone; T1's channel posts nothing and nothing is attempted there.
        for record in (c1, c2):
            await channels.update(record.id, max_papers=3)
        await _digest(runtime)
        await runtime.services.scheduler.catch_up()
        assert len(slack.posts_in("T1")) == t1_before
        assert len(slack.posts_in("T2")) > t2_before
        assert {slack.issued[str(c.token)] for c in slack.calls_to("chat.postMessage")[calls_before:]} == {"T2"}

        # T1 installs again: its channel resumes with its settings, and its next digest is posted with the new token.
        status, _ = await browser.install("T1")
        assert status == 200
        resumed = await channels.get(ChannelRef("slack", "T1", "C1"))
        assert resumed is not None and resumed.active and resumed.max_papers == 3
        await _digest(runtime)
        new_token = next(t for t, team in slack.team_tokens.items() if team == "T1")
        assert new_token != tokens["T1"]
        later = slack.posts_in("T1")[t1_before:]
        assert later and {c.token for c in later} == {new_token}
        assert len({c.args["metadata"]["event_payload"]["key"] for c in slack.posts()}) == len(slack.posts())


async def test_one_installation_per_team_and_a_revoked_bot_token_pauses_the_team(
    db_url: str, arxiv: FakeArxivServer, clock: FixedClock, slack: FakeSlack
) -> None:
    async with oauth_bot(db_url, arxiv, clock, slack) as (runtime, browser):
        for _ in range(2):
            status, _page = await browser.install("T1")
            assert status == 200
        await browser.command("subscribe cs.DC", team="T1", channel="C1", key="s")
        await browser.command("keywords add LLM", team="T1", channel="C1", key="k")
        async with runtime.services.database.transaction() as conn:
            rows = (await conn.execute(sa.text("SELECT team_id, bot_token FROM slack_bots"))).all()
            installs = (await conn.execute(sa.text("SELECT count(*) FROM slack_installations"))).scalar()
        newest = max(slack.team_tokens, key=lambda t: t.split("-")[2])
        assert [tuple(r) for r in rows] == [("T1", newest)] and installs == 1

        slack.revoke("T1")
        assert await browser.event(bot_token_revoked_event("T1")) == 200
        async with runtime.services.database.transaction() as conn:
            assert (await conn.execute(sa.text("SELECT count(*) FROM slack_bots"))).scalar() == 0
            active = (await conn.execute(sa.select(db.channels.c.active))).scalars().all()
        assert active == [False]
        await _digest(runtime)
        assert slack.posts() == []


async def test_the_install_page_refuses_a_redirect_without_the_browsers_state(
    db_url: str, arxiv: FakeArxivServer, clock: FixedClock, slack: FakeSlack
) -> None:
    async with oauth_bot(db_url, arxiv, clock, slack) as (_runtime, browser):
        async with aiohttp.ClientSession() as stranger:  # no state cookie from /slack/install
            slack.codes["code-x"] = ("T9", None)
            url = f"{browser.base}/slack/oauth_redirect?code=code-x&state=forged"
            async with stranger.get(url, allow_redirects=False) as response:
                assert response.status == 400
        assert slack.team_tokens == {} and "T9" not in {c.args.get("team") for c in slack.calls}


async def test_socket_mode_with_oauth_opens_one_connection_per_replica_and_either_answers_any_workspace(
    db_url: str, arxiv: FakeArxivServer, clock: FixedClock, slack: FakeSlack
) -> None:
    from tests.fakes.slack_api import APP_TOKEN, command_payload

    async with oauth_bot(db_url, arxiv, clock, slack) as (_, browser):  # an HTTP replica, for the install pages
        status, page = await browser.install("T1")  # installed through the HTTP replica's pages
        assert status == 200, page
        settings = make_settings(
            db_url,
            arxiv,
            ARXIVBOT_SLACK__MODE="socket",
            ARXIVBOT_SLACK__API_URL=slack.api_url,
            ARXIVBOT_SLACK__POST_INTERVAL_S="0",
            ARXIVBOT_HTTP__PUBLIC_URL="https://bot.example.org",
        )
        env = {"SLACK_CLIENT_ID": CLIENT_ID, "SLACK_CLIENT_SECRET": CLIENT_SECRET, "SLACK_APP_TOKEN": APP_TOKEN}
        replicas = [BotRuntime(settings, env=env, services=build_services(settings, clock=clock)) for _ in range(2)]
        try:
            for replica in replicas:
                await replica.start()
            assert len(slack.sockets) == 2 and all(r.ready for r in replicas)
            assert [c.token for c in slack.calls_to("apps.connections.open")] == [APP_TOKEN, APP_TOKEN]
            for n, socket in enumerate(slack.sockets):  # Slack hands each envelope to one of the connections
                key = f"s{n}"
                payload = command_payload("subscribe cs.DC", response_url=slack.response_url(key), team="T1")
                await socket.send_json({"envelope_id": f"e{n}", "type": "slash_commands", "payload": payload})
                await slack.wait_for(partial(slack.responded, key))
            answers = [str(p.get("text", "")) for p in slack.responded()]
            assert "Subscribed to cs.DC" in answers[0] and "Already subscribed to cs.DC" in answers[1], answers
        finally:
            for replica in replicas:
                await replica.close()


async def test_a_workspaces_token_is_read_once_per_ttl_and_forgotten_when_an_installation_changes_here(
    db_url: str, clock: FixedClock
) -> None:
    from slack_sdk.oauth.installation_store import Installation

    from adapters.slack.installations import InstallationStore, InstalledTokens, NotInstalled
    from bot.store.database import Database, create_engine
    from bot.store.workspaces import WorkspaceStore
    from tests.fakes.clock import ManualClock

    database = Database(engine=create_engine(db_url), clock=clock)
    try:
        workspaces = WorkspaceStore(database=database)
        store = InstallationStore(
            client_id=CLIENT_ID, engine=database.engine, workspaces=workspaces, on_resumed=lambda: None
        )
        await store.create_tables()  # type: ignore[no-untyped-call]
        time = ManualClock()
        tokens = InstalledTokens(
            store=store, workspaces=workspaces, install_url="https://h/i", ttl_s=10, clock=time.time
        )

        def install(token: str) -> Installation:
            return Installation(app_id="A1", team_id="T1", bot_token=token, bot_id="B1", bot_user_id="UBOT",
                                user_id="UINSTALLER", bot_scopes=["chat:write"])  # fmt: skip

        await store.async_save(install("xoxb-first"))
        assert await tokens.token_for("T1") == "xoxb-first"
        async with database.engine.begin() as conn:  # another replica reinstalls: this one learns it after the TTL
            await conn.execute(sa.text("UPDATE slack_bots SET bot_token = 'xoxb-second'"))
        assert await tokens.token_for("T1") == "xoxb-first"
        time.advance(10)
        assert await tokens.token_for("T1") == "xoxb-second"
        await store.async_delete_bot(enterprise_id=None, team_id="T1")  # uninstalled through this replica: at once
        with pytest.raises(NotInstalled):
            await tokens.token_for("T1")
    finally:
        await database.dispose()
