"""Start Slack inside our event loop: check the tokens, register the publisher, then Socket Mode or HTTP mode."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from adapters.http_server import Handler, HttpServer
from adapters.slack.app import InFlight, build_slack_app
from adapters.slack.publisher import SlackPublisher, make_client
from bot.config import Settings
from bot.errors import ConfigError

if TYPE_CHECKING:
    from adapters.composition import Services

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 30.0


class SlackAdapter:
    """A started Slack connection (Socket Mode or HTTP mode)."""

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
        self._in_flight = in_flight
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
        await self._in_flight.aclose()
        if self.socket is not None:
            await self.socket.close_async()  # type: ignore[no-untyped-call]


def events_handler(*, app: AsyncApp, signing_secret: str) -> Handler:
    """The aiohttp handler of Slack's HTTP mode: 401 for a bad or stale signature, else the request goes to Bolt."""
    verifier = SignatureVerifier(signing_secret)

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        if not verifier.is_valid_request(body, headers):
            log.warning("rejected a Slack request with a missing, wrong or stale signature")
            return web.Response(status=401, text="invalid request signature")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return web.Response(status=400, text="request body is not UTF-8")
        bolt_headers: dict[str, str | Sequence[str]] = dict(headers)
        bolt_request = AsyncBoltRequest(body=text, query=request.query_string, headers=bolt_headers)
        return await to_aiohttp_response(await app.async_dispatch(bolt_request))

    return handle


def _env(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


async def check_bot_token(client: AsyncWebClient, api_url: str) -> str:
    """Call ``auth.test``; return the workspace id, or raise a one-line ConfigError."""
    try:
        response = await client.auth_test()
    except SlackApiError as err:
        code = err.response.get("error", "unknown_error")
        raise ConfigError(
            f"SLACK_BOT_TOKEN was refused by Slack ({code}): expected the Bot User OAuth Token (xoxb-...) "
            "of an app installed in your workspace"
        ) from None
    except (SlackClientError, aiohttp.ClientError, TimeoutError) as err:
        raise ConfigError(
            f"[slack] api_url = {api_url!r}: Slack could not be reached ({type(err).__name__}); "
            "expected a reachable Slack Web API URL such as https://slack.com/api/"
        ) from None
    return str(response.get("team_id") or "")


async def connect_socket_mode(app: AsyncApp, *, app_token: str) -> AsyncSocketModeHandler:
    """Open the Socket Mode WebSocket; a refused app token is a one-line ConfigError."""
    handler = AsyncSocketModeHandler(app, app_token=app_token)
    try:
        # Ask for the WebSocket URL ourselves: the client's own connect loop retries a refused token forever.
        handler.client.wss_uri = await handler.client.issue_new_wss_url()
        await asyncio.wait_for(handler.connect_async(), timeout=CONNECT_TIMEOUT_S)  # type: ignore[no-untyped-call]
    except SlackApiError as err:
        await handler.close_async()  # type: ignore[no-untyped-call]
        code = err.response.get("error", "unknown_error")
        raise ConfigError(
            f"SLACK_APP_TOKEN was refused by Slack ({code}): expected an app-level token (xapp-...) "
            "with the connections:write scope, from Basic Information > App-Level Tokens"
        ) from None
    except (SlackClientError, aiohttp.ClientError, TimeoutError) as err:
        await handler.close_async()  # type: ignore[no-untyped-call]
        raise ConfigError(
            f"Socket Mode connection to Slack failed ({type(err).__name__}); check the network, "
            'or use [slack] mode = "http"'
        ) from None
    return handler


async def start_slack(
    *, services: Services, settings: Settings, http: HttpServer | None, env: Mapping[str, str]
) -> SlackAdapter:
    """Connect Slack: Socket Mode (``[slack] mode = "socket"``) or HTTP mode on our HTTP server."""
    s = settings.slack
    bot_token = _env(env, "SLACK_BOT_TOKEN")
    if not bot_token:
        raise ConfigError("SLACK_BOT_TOKEN is not set: expected the Bot User OAuth Token (xoxb-...) of your Slack app")
    app_token = signing_secret = ""
    if s.mode == "socket":
        app_token = _env(env, "SLACK_APP_TOKEN")
        if not app_token:
            raise ConfigError(
                'SLACK_APP_TOKEN is not set: Socket Mode ([slack] mode = "socket") needs an app-level token '
                '(xapp-...); or set [slack] mode = "http" with SLACK_SIGNING_SECRET'
            )
    else:
        signing_secret = _env(env, "SLACK_SIGNING_SECRET")
        if not signing_secret:
            raise ConfigError(
                'SLACK_SIGNING_SECRET is not set: [slack] mode = "http" needs the Signing Secret from your Slack '
                "app's Basic Information page"
            )
        if http is None:
            raise ConfigError('[slack] mode = "http" needs our HTTP server: expected [http] enabled = true')

    client = make_client(token=bot_token, api_url=s.api_url)
    team_id = await check_bot_token(client, s.api_url)
    publisher = SlackPublisher(client=client, post_interval_s=s.post_interval_s, max_concurrency=s.max_concurrency)
    in_flight = InFlight()
    app = build_slack_app(
        commands=services.commands,
        publisher=publisher,
        settings=s,
        signing_secret=signing_secret,
        in_flight=in_flight,
    )
    socket: AsyncSocketModeHandler | None = None
    if s.mode == "socket":
        socket = await connect_socket_mode(app, app_token=app_token)
    else:
        assert http is not None
        http.add_route("POST", s.events_path, events_handler(app=app, signing_secret=signing_secret))
    services.router.add("slack", publisher)
    log.info("Slack connected to workspace %s (%s mode)", team_id or "?", s.mode)
    return SlackAdapter(app=app, publisher=publisher, in_flight=in_flight, socket=socket)
