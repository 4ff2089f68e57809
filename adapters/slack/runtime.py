"""Start Slack inside our event loop: check the tokens, build the publisher, then Socket Mode or HTTP mode.

``connect_slack_publisher`` is the one way to a Slack publisher: ``start_slack`` and ``arxiv-bot digest`` both use it.
A token Slack refuses stops start-up with one ConfigError line; Slack not answering (a network outage, a 5xx) is
retried with backoff by a ``StartRetry``, each wait logged, before start-up gives up with ``PlatformUnreachable``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from adapters.http_server import Handler, HttpServer
from adapters.slack.app import InFlight, build_slack_app
from adapters.slack.installations import SlackInstallations
from adapters.slack.publisher import SlackPublisher, make_client
from adapters.slack.tokens import slack_bot_token, slack_secrets
from adapters.startup import StartRetry, describe
from bot.commands.service import CommandService
from bot.config import SlackSettings
from bot.errors import ConfigError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 30.0
CHECK_TIMEOUT_S = 30


class SlackUnavailable(Exception):
    """Slack did not answer one start-up request (network error, timeout, 429 or 5xx): worth retrying."""


class SlackAdapter:
    """A started Slack connection (Socket Mode or HTTP mode) and the publisher posting through it."""

    def __init__(
        self,
        *,
        app: AsyncApp,
        publisher: SlackPublisher,
        in_flight: InFlight,
        socket: AsyncSocketModeHandler | None = None,
    ) -> None:
        self.app = app
        self.publisher = publisher
        self.socket = socket
        self.in_flight = in_flight
        """The handlers still running after their ack."""
        self._closed = False

    @property
    def ready(self) -> bool:
        """Whether Slack requests can reach the app (in Socket Mode: the WebSocket is open)."""
        if self._closed:
            return False
        if self.socket is None:
            return True
        session = self.socket.client.current_session
        return session is not None and not session.closed

    async def aclose(self) -> None:
        """Let running handlers finish briefly, then disconnect."""
        if self._closed:
            return
        self._closed = True
        await self.in_flight.aclose()
        if self.socket is not None:
            await self.socket.close_async()  # type: ignore[no-untyped-call]
        await self.publisher.aclose()


REPLAY_WINDOW_S = 300.0
"""Slack refuses (and we reject) a request timestamp older than this; a replay can only come within it."""


class SeenRequests(Protocol):
    """What was handled within the replay window; with several replicas it must be shared (``bot.store.http_state``'s
    ``SeenKeys``), since Slack's retry of an event may reach another replica than the first attempt."""

    async def first(self, key: str) -> bool:
        """Record ``key``; False if it was already recorded within the window."""
        ...

    async def forget(self, key: str) -> None:
        """Drop ``key`` (its handling failed: a retry of it must run)."""
        ...


class ReplayGuard:
    """``SeenRequests`` in this process's memory (one process only): ``first(key)`` is True once per key per window."""

    def __init__(self, *, window_s: float = REPLAY_WINDOW_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._window_s = window_s
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    async def first(self, key: str) -> bool:
        """Record ``key``; False if it was already recorded within the window."""
        now = self._clock()
        while self._seen and next(iter(self._seen.values())) <= now - self._window_s:
            self._seen.popitem(last=False)
        if key in self._seen:
            return False
        self._seen[key] = now
        return True

    async def forget(self, key: str) -> None:
        """Drop ``key`` (its handling failed: a retry of it must run)."""
        self._seen.pop(key, None)


def event_id(body: str, content_type: str) -> str | None:
    """The ``event_id`` of an Events API callback, None for commands, interactivity and anything else."""
    if not content_type.startswith("application/json"):
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    value = data.get("event_id") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else None


def events_handler(*, app: AsyncApp, signing_secret: str, seen: SeenRequests) -> Handler:
    """The aiohttp handler of Slack's HTTP mode.

    401 for a bad, stale or malformed signature or timestamp. A validly signed request seen before within the
    5-minute window (same timestamp and signature), and an event whose ``event_id`` was already handled (Slack's
    retries, marked ``X-Slack-Retry-Num``, included), get 200 and change nothing. The rest goes to Bolt. ``seen``
    shared between replicas makes this hold behind a load balancer too.
    """
    verifier = SignatureVerifier(signing_secret)

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        timestamp = headers.get("x-slack-request-timestamp", "")
        if not timestamp.isascii() or not timestamp.isdigit() or not verifier.is_valid_request(body, headers):
            log.warning("rejected a Slack request with a missing, wrong or stale signature or timestamp")
            return web.Response(status=401, text="invalid request signature")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return web.Response(status=400, text="request body is not UTF-8")
        if not await seen.first(f"request:{timestamp}:{headers.get('x-slack-signature', '')[:160]}"):
            log.warning("ignored a replayed Slack request (timestamp %s seen before)", timestamp)
            return web.Response(status=200)
        event = event_id(text, headers.get("content-type", ""))
        if event is not None and not await seen.first(f"event:{event[:160]}"):
            retry = headers.get("x-slack-retry-num")
            log.info("ignored Slack event %s: already handled%s", event, f" (retry {retry})" if retry else "")
            return web.Response(status=200)
        bolt_headers: dict[str, str | Sequence[str]] = dict(headers)
        bolt_request = AsyncBoltRequest(body=text, query=request.query_string, headers=bolt_headers)
        response = await app.async_dispatch(bolt_request)
        if event is not None and response.status >= 500:
            await seen.forget(f"event:{event[:160]}")  # not handled: Slack's retry of it must run
        return await to_aiohttp_response(response)

    return handle


def oauth_handler(flow: AsyncOAuthFlow, *, step: str) -> Handler:
    """The aiohttp handler of one OAuth page: ``install`` (Add to Slack, sets the state cookie) or ``redirect``
    (Slack sends the browser back with a code: Bolt exchanges it with oauth.v2.access and saves the installation)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        headers: dict[str, str | Sequence[str]] = {k.lower(): v for k, v in request.headers.items()}
        bolt_request = AsyncBoltRequest(body="", query=request.query_string, headers=headers)
        if step == "install":
            response = await flow.handle_installation(bolt_request)
        else:
            response = await flow.handle_callback(bolt_request)
        return await to_aiohttp_response(response)

    return handle


def _transient_status(err: SlackApiError) -> bool:
    status = int(getattr(err.response, "status_code", 200) or 200)
    return status == 429 or status >= 500


async def check_bot_token(client: AsyncWebClient, api_url: str) -> str:
    """Call ``auth.test`` once; the workspace id, a one-line ConfigError for a refused token, or SlackUnavailable."""
    try:
        response = await client.auth_test()
    except SlackApiError as err:
        if _transient_status(err):
            raise SlackUnavailable(f"HTTP {err.response.status_code}") from None
        code = err.response.get("error", "unknown_error")
        raise ConfigError(
            f"SLACK_BOT_TOKEN was refused by Slack ({code}): expected the Bot User OAuth Token (xoxb-...) "
            "of an app installed in your workspace"
        ) from None
    except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError) as err:
        raise SlackUnavailable(describe(err)) from None
    return str(response.get("team_id") or "")


async def connect_socket_mode(app: AsyncApp, *, app_token: str) -> AsyncSocketModeHandler:
    """Open the Socket Mode WebSocket once (a refused app token: ConfigError; no answer: SlackUnavailable)."""
    handler = AsyncSocketModeHandler(app, app_token=app_token)
    try:
        # Ask for the WebSocket URL ourselves: the client's own connect loop retries a refused token forever.
        handler.client.wss_uri = await handler.client.issue_new_wss_url()
        await asyncio.wait_for(handler.connect_async(), timeout=CONNECT_TIMEOUT_S)  # type: ignore[no-untyped-call]
    except SlackApiError as err:
        await handler.close_async()  # type: ignore[no-untyped-call]
        if _transient_status(err):
            raise SlackUnavailable(f"HTTP {err.response.status_code}") from None
        code = err.response.get("error", "unknown_error")
        raise ConfigError(
            f"SLACK_APP_TOKEN was refused by Slack ({code}): expected an app-level token (xapp-...) "
            "with the connections:write scope, from Basic Information > App-Level Tokens"
        ) from None
    except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError) as err:
        await handler.close_async()  # type: ignore[no-untyped-call]
        raise SlackUnavailable(f"Socket Mode: {describe(err)}") from None
    return handler


@dataclass(frozen=True, kw_only=True)
class SlackConnection:
    """A bot token Slack accepted: the workspace it belongs to and the publisher posting with it."""

    team_id: str
    publisher: SlackPublisher


async def connect_slack_publisher(
    settings: SlackSettings, env: Mapping[str, str], *, retry: StartRetry | None = None
) -> SlackConnection:
    """Check SLACK_BOT_TOKEN with ``auth.test`` (retried while Slack does not answer) and build the publisher."""
    token = slack_bot_token(env)
    api_url = settings.api_url if settings.api_url.endswith("/") else settings.api_url + "/"
    # The check has no retry handlers of its own: while starting, StartRetry is the one that retries (and says so).
    checker = AsyncWebClient(token=token, base_url=api_url, retry_handlers=[], timeout=CHECK_TIMEOUT_S)
    team_id = await (retry or StartRetry()).run(
        f"Slack ({settings.api_url})", lambda: check_bot_token(checker, settings.api_url), transient=(SlackUnavailable,)
    )
    publisher = SlackPublisher(
        client=make_client(token=token, api_url=settings.api_url, timeout_s=settings.post_timeout_s, pooled=True),
        post_interval_s=settings.post_interval_s,
        max_concurrency=settings.max_concurrency,
    )
    return SlackConnection(team_id=team_id, publisher=publisher)


def installed_publisher(settings: SlackSettings, installations: SlackInstallations) -> SlackPublisher:
    """A publisher for every workspace that installed the app: each post looks its team's token up."""
    return SlackPublisher(
        client=make_client(token=None, api_url=settings.api_url, timeout_s=settings.post_timeout_s, pooled=True),
        post_interval_s=settings.post_interval_s,
        max_concurrency=settings.max_concurrency,
        tokens=installations.tokens,
    )


OAuthFactory = Callable[[str, str], SlackInstallations]
"""Builds the OAuth wiring from the client id and secret (the runtime gives it the database)."""


async def start_slack(
    *,
    commands: CommandService,
    settings: SlackSettings,
    http: HttpServer | None,
    env: Mapping[str, str],
    retry: StartRetry | None = None,
    oauth: OAuthFactory | None = None,
    seen: SeenRequests | None = None,
) -> SlackAdapter:
    """Connect Slack: Socket Mode (``[slack] mode = "socket"``) or HTTP mode on our HTTP server; one workspace
    (SLACK_BOT_TOKEN) or, with SLACK_CLIENT_ID and ``oauth``, every workspace that installs the app.

    The tokens are all checked before Slack is called; the caller registers ``adapter.publisher``. ``seen``: the
    requests HTTP mode handled (default: this process's memory; give the database's to run several replicas).
    """
    secrets = slack_secrets(settings, env, http_server=http is not None)
    retry = retry or StartRetry()
    installations: SlackInstallations | None = None
    if secrets.oauth:
        if oauth is None:
            raise ConfigError("SLACK_CLIENT_ID is set but this command serves one workspace: expected SLACK_BOT_TOKEN")
        installations = oauth(secrets.client_id, secrets.client_secret)
        await installations.create_tables()
        publisher = installed_publisher(settings, installations)
        team_id = "every workspace that installs it"
    else:
        connection = await connect_slack_publisher(settings, env, retry=retry)
        publisher, team_id = connection.publisher, connection.team_id
    in_flight = InFlight()
    app = build_slack_app(
        commands=commands,
        publisher=publisher,
        settings=settings,
        signing_secret=secrets.signing_secret,
        in_flight=in_flight,
        oauth_settings=installations.settings if installations is not None else None,
    )
    if installations is not None:
        assert http is not None and app.oauth_flow is not None
        installations.register(app, in_flight=in_flight)
        http.add_route("GET", settings.install_path, oauth_handler(app.oauth_flow, step="install"))
        http.add_route("GET", settings.redirect_path, oauth_handler(app.oauth_flow, step="redirect"))
    socket: AsyncSocketModeHandler | None = None
    if settings.mode == "socket":
        socket = await retry.run(
            "Slack Socket Mode",
            lambda: connect_socket_mode(app, app_token=secrets.app_token),
            transient=(SlackUnavailable,),
        )
    else:
        assert http is not None
        handler = events_handler(app=app, signing_secret=secrets.signing_secret, seen=seen or ReplayGuard())
        http.add_route("POST", settings.events_path, handler)
    log.info("Slack connected to workspace %s (%s mode)", team_id or "?", settings.mode)
    return SlackAdapter(app=app, publisher=publisher, in_flight=in_flight, socket=socket)
