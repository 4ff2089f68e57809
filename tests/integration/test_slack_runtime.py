"""Starting Slack: missing or refused tokens stop start-up with one line; nothing secret is printed; the runtime
registers the publisher of a started adapter."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from adapters.composition import Services
from adapters.http_server import HttpServer
from adapters.runtime import BotRuntime, attach_slack
from adapters.slack.runtime import start_slack
from adapters.startup import PlatformUnreachable, StartRetry
from bot.errors import ConfigError, PublishError
from bot.models import ChannelRef, Reply
from tests.conftest import make_settings
from tests.fakes.arxiv_server import FakeArxivServer
from tests.fakes.clock import SteppedClock
from tests.fakes.loopback import closed_url
from tests.fakes.slack_api import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, TEAM, FakeSlack, running_fake_slack


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    """The fake Slack Web API and Socket Mode server."""
    async with running_fake_slack() as server:
        yield server


@pytest.mark.parametrize(
    ("mode", "env", "message"),
    [
        ("socket", {"SLACK_BOT_TOKEN": BOT_TOKEN}, r"^SLACK_APP_TOKEN is not set: .*xapp-"),
        ("http", {"SLACK_BOT_TOKEN": BOT_TOKEN}, r"^SLACK_SIGNING_SECRET is not set: "),
        ("http", {"SLACK_BOT_TOKEN": "xoxb-revoked", "SLACK_SIGNING_SECRET": "s"}, r"^SLACK_BOT_TOKEN was refused"),
        ("socket", {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": "xapp-wrong"}, r"^SLACK_APP_TOKEN was refused"),
        ("socket", {"SLACK_BOT_TOKEN": " "}, r"^SLACK_BOT_TOKEN is not set: "),
    ],
)
async def test_missing_or_refused_tokens_are_one_line_config_errors(
    services: Services, db_url: str, arxiv: FakeArxivServer, slack: FakeSlack, mode: str, env: dict[str, str],
    message: str,
) -> None:
    settings = make_settings(db_url, arxiv, ARXIVBOT_SLACK__MODE=mode, ARXIVBOT_SLACK__API_URL=slack.api_url)
    http = HttpServer(host="127.0.0.1", port=0)
    with pytest.raises(ConfigError, match=message) as caught:
        await attach_slack(services, settings=settings, http=http, env=env)
    text = str(caught.value)
    assert "\n" not in text
    assert all(secret not in text for secret in ("xoxb-revoked", "xapp-wrong", BOT_TOKEN))
    assert slack.sockets == []
    with pytest.raises(PublishError, match="slack is not connected"):
        await services.router.send_reply(Reply(text="hi"), channel=ChannelRef("slack", "T", "C"), user_id=None)


async def test_http_mode_needs_the_http_server(
    services: Services, db_url: str, arxiv: FakeArxivServer, slack: FakeSlack
) -> None:
    settings = make_settings(db_url, arxiv, ARXIVBOT_SLACK__MODE="http", ARXIVBOT_SLACK__API_URL=slack.api_url)
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET}
    with pytest.raises(ConfigError, match=r'needs our HTTP server: expected \[http\] enabled = true'):
        await start_slack(commands=services.commands, settings=settings.slack, http=None, env=env)


async def test_socket_mode_start_checks_both_tokens_then_connects(
    services: Services, db_url: str, arxiv: FakeArxivServer, slack: FakeSlack
) -> None:
    settings = make_settings(db_url, arxiv, ARXIVBOT_SLACK__API_URL=slack.api_url)
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN}
    adapter = await start_slack(commands=services.commands, settings=settings.slack, http=None, env=env)
    try:
        assert adapter.ready
        assert [(c.method, c.token) for c in slack.calls] == [
            ("auth.test", BOT_TOKEN), ("apps.connections.open", APP_TOKEN)
        ]
        await slack.wait_for(lambda: slack.sockets)
        with pytest.raises(PublishError, match="slack is not connected"):  # registering is the runtime's job
            await services.router.send_reply(Reply(text="hi"), channel=ChannelRef("slack", TEAM, "C1"), user_id=None)
    finally:
        await adapter.aclose()
    assert not adapter.ready


async def test_bot_runtime_with_a_refused_token_stops_start_up_with_one_line(
    db_url: str, arxiv: FakeArxivServer, slack: FakeSlack
) -> None:
    settings = make_settings(db_url, arxiv, ARXIVBOT_SLACK__MODE="http", ARXIVBOT_SLACK__API_URL=slack.api_url)
    runtime = BotRuntime(settings, env={"SLACK_BOT_TOKEN": "xoxb-revoked", "SLACK_SIGNING_SECRET": SIGNING_SECRET})
    try:
        with pytest.raises(ConfigError, match=r"^SLACK_BOT_TOKEN was refused by Slack \(invalid_auth\): expected"):
            await runtime.start()
        assert runtime.adapters == [] and not runtime.console
    finally:
        await runtime.close()
    assert [c.method for c in slack.calls] == ["auth.test"]


async def test_the_runtime_registers_the_publisher_of_the_started_adapter(
    services: Services, db_url: str, arxiv: FakeArxivServer, slack: FakeSlack
) -> None:
    settings = make_settings(db_url, arxiv, ARXIVBOT_SLACK__API_URL=slack.api_url)
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN}
    adapter = await attach_slack(services, settings=settings, http=None, env=env)
    try:
        await services.router.send_reply(Reply(text="hi"), channel=ChannelRef("slack", TEAM, "C1"), user_id=None)
        (post,) = slack.calls_to("chat.postMessage")
        assert post.token == BOT_TOKEN and post.args["channel"] == "C1"
    finally:
        await adapter.aclose()


async def test_slack_not_answering_at_start_is_retried_with_backoff_then_connects(
    services: Services, db_url: str, arxiv: FakeArxivServer, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(db_url, arxiv, ARXIVBOT_SLACK__API_URL=slack.api_url)
    slack.fail(503, 502, method="auth.test")
    slack.fail(502, method="apps.connections.open")  # (500 and 503 are also retried inside slack_sdk first)
    clock = SteppedClock()
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN}
    with caplog.at_level(logging.WARNING, logger="adapters.startup"):
        retry = StartRetry(sleep=clock.sleep)
        adapter = await attach_slack(services, settings=settings, http=None, env=env, retry=retry)
    try:
        assert adapter.ready
        said = [r.getMessage() for r in caplog.records if r.name == "adapters.startup"]
        assert said[:2] == [
            f"Slack ({slack.api_url}) did not answer (HTTP 503); retrying 2/8 in 2 s",
            f"Slack ({slack.api_url}) did not answer (HTTP 502); retrying 3/8 in 4 s",
        ]
        assert said[2].startswith("Slack Socket Mode did not answer (HTTP 502)") and len(said) == 3
        assert clock.sleeps == [2.0, 4.0, 2.0]
        assert [c.method for c in slack.calls] == ["auth.test"] * 3 + ["apps.connections.open"] * 2
        assert BOT_TOKEN not in caplog.text and APP_TOKEN not in caplog.text
    finally:
        await adapter.aclose()


async def test_slack_unreachable_for_every_attempt_stops_start_up_with_one_line_that_is_no_config_error(
    services: Services, db_url: str, arxiv: FakeArxivServer
) -> None:
    closed = closed_url("/api/")
    settings = make_settings(db_url, arxiv, ARXIVBOT_SLACK__API_URL=closed)
    clock = SteppedClock()
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN}
    with pytest.raises(PlatformUnreachable) as caught:
        retry = StartRetry(attempts=3, sleep=clock.sleep)
        await attach_slack(services, settings=settings, http=None, env=env, retry=retry)
    assert str(caught.value).startswith(f"Slack ({closed}) could not be reached after 3 attempts (")
    assert "\n" not in str(caught.value) and not isinstance(caught.value, ConfigError)
    assert clock.sleeps == [2.0, 4.0] and BOT_TOKEN not in str(caught.value)


async def test_a_refused_token_is_not_retried(
    services: Services, db_url: str, arxiv: FakeArxivServer, slack: FakeSlack
) -> None:
    settings = make_settings(db_url, arxiv, ARXIVBOT_SLACK__API_URL=slack.api_url)
    clock = SteppedClock()
    with pytest.raises(ConfigError, match=r"^SLACK_BOT_TOKEN was refused by Slack \(invalid_auth\)"):
        await attach_slack(services, settings=settings, http=None, retry=StartRetry(sleep=clock.sleep),
                           env={"SLACK_BOT_TOKEN": "xoxb-revoked", "SLACK_APP_TOKEN": APP_TOKEN})  # fmt: skip
    assert clock.sleeps == [] and [c.method for c in slack.calls] == ["auth.test"]
