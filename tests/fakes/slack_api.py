"""A real HTTP server on 127.0.0.1 that plays Slack: the Web API, response_url, and a Socket Mode WebSocket.

Use it as ``async with running_fake_slack() as slack:`` and point ``AsyncWebClient(base_url=slack.api_url)``
(or ``ARXIVBOT_SLACK__API_URL``) at it. Tests read and steer it directly:

* ``slack.calls``: every Web API call (method, arguments, token, HTTP status, answer, time), faults included;
  ``slack.posts()`` the chat.postMessage calls that succeeded.
* ``slack.fail(429, (429, {"Retry-After": "0"}), 500, method="chat.postMessage")`` queues faults for the next
  calls of that method (``method=None``: any method).
* ``slack.responses``: payloads POSTed to ``slack.response_url(key)`` (what ``respond()`` sent);
  ``slack.respond_status`` makes that endpoint answer an error instead.
* ``slack.absent_from.add("C1")``: the bot is not in C1 (chat.postMessage answers ``not_in_channel``).
* Socket Mode: ``apps.connections.open`` answers ``slack.socket_url``; a client that connects gets a ``hello``;
  ``await slack.socket_send(envelope)`` sends an envelope; ``slack.socket_acks`` records what came back.
* ``await slack.wait_for(predicate)`` waits (with a timeout) until the predicate holds after some recorded change.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import WSMsgType, web

from tests.fakes.loopback import serving

Fault = int | tuple[int, Mapping[str, str]]
BOT_TOKEN = "xoxb-fake-bot-token"
APP_TOKEN = "xapp-fake-app-token"
SIGNING_SECRET = "fake-signing-secret"
TEAM = "T0FAKE"
BOT_USER = "UBOT"


@dataclass
class SlackCall:
    """One Web API call the fake received."""

    method: str
    args: dict[str, Any]
    token: str | None
    status: int
    answer: dict[str, Any]
    at: float


@dataclass
class RespondCall:
    """One POST to a response_url."""

    key: str
    payload: dict[str, Any]
    at: float


@dataclass
class FakeSlack:
    """State and behaviour of the fake; tests change its fields directly."""

    bot_tokens: set[str] = field(default_factory=lambda: {BOT_TOKEN})
    app_tokens: set[str] = field(default_factory=lambda: {APP_TOKEN})
    admins: set[str] = field(default_factory=set)
    absent_from: set[str] = field(default_factory=set)
    """Channels the bot is not in: chat.postMessage there answers ``not_in_channel``, as Slack does."""
    team_id: str = TEAM
    latency_s: float = 0.0
    respond_status: int = 200
    calls: list[SlackCall] = field(default_factory=list)
    responses: list[RespondCall] = field(default_factory=list)
    socket_acks: list[dict[str, Any]] = field(default_factory=list)
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    base_url: str = ""
    _faults: deque[tuple[str | None, Fault]] = field(default_factory=deque)
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def api_url(self) -> str:
        """Web API base URL, like ``https://slack.com/api/``."""
        return f"{self.base_url}/api/"

    @property
    def socket_url(self) -> str:
        """The WebSocket URL that apps.connections.open hands out."""
        return self.base_url.replace("http://", "ws://") + "/socket-mode"

    def response_url(self, key: str = "r") -> str:
        """A response_url whose payloads are recorded under ``key``."""
        return f"{self.base_url}/respond/{key}"

    def fail(self, *faults: Fault, method: str | None = "chat.postMessage") -> None:
        """Answer the next calls of ``method`` with these HTTP statuses (and headers), in order."""
        self._faults.extend((method, fault) for fault in faults)

    def calls_to(self, method: str) -> list[SlackCall]:
        """Every call of one method, faults included."""
        return [c for c in self.calls if c.method == method]

    def posts(self) -> list[SlackCall]:
        """chat.postMessage calls that succeeded, in order."""
        return [c for c in self.calls if c.method == "chat.postMessage" and c.answer.get("ok")]

    def responded(self, key: str | None = None) -> list[dict[str, Any]]:
        """Payloads sent to response_url (under ``key``, or all)."""
        return [r.payload for r in self.responses if key is None or r.key == key]

    async def wait_for(self, predicate: Callable[[], object], within_s: float = 5.0) -> None:
        """Wait until ``predicate()`` is true; fail the test after ``within_s`` seconds."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), within_s)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def socket_send(self, envelope: Mapping[str, Any]) -> None:
        """Send one Socket Mode envelope to the newest connection."""
        await self.sockets[-1].send_str(json.dumps(envelope))

    def _take_fault(self, method: str) -> Fault | None:
        for i, (wanted, fault) in enumerate(self._faults):
            if wanted is None or wanted == method:
                del self._faults[i]
                return fault
        return None

    async def api(self, request: web.Request) -> web.Response:
        """Answer one Web API call."""
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                args.update(await request.json())
            else:
                args.update(dict(await request.post()))
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else args.get("token")
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency_s:
                await asyncio.sleep(self.latency_s)
            fault = self._take_fault(method)
            if fault is not None:
                status, headers = (fault, {}) if isinstance(fault, int) else fault
                answer = {"ok": False, "error": "ratelimited" if status == 429 else "fake_fault"}
                response = web.json_response(answer, status=status, headers=dict(headers))
            else:
                status, answer = 200, self._answer(method, args, token)
                response = web.json_response(answer)
        finally:
            self.in_flight -= 1
        self.calls.append(SlackCall(method, args, token, status, answer, time.monotonic()))
        await self._notify()
        return response

    def _answer(self, method: str, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        if method == "apps.connections.open":
            if token not in self.app_tokens:
                return {"ok": False, "error": "invalid_auth"}
            return {"ok": True, "url": self.socket_url}
        if token not in self.bot_tokens:
            return {"ok": False, "error": "invalid_auth"}
        match method:
            case "auth.test":
                return {
                    "ok": True,
                    "url": "https://fake.slack.com/",
                    "team": "Fake Lab",
                    "user": "arxiv-bot",
                    "team_id": self.team_id,
                    "user_id": BOT_USER,
                    "bot_id": "BFAKE",
                }
            case "chat.postMessage":
                if not args.get("channel"):
                    return {"ok": False, "error": "channel_not_found"}
                if args["channel"] in self.absent_from:
                    return {"ok": False, "error": "not_in_channel"}
                n = next(self._ts)
                ts = f"{1767600000 + n}.{n:06d}"
                return {"ok": True, "channel": args["channel"], "ts": ts, "message": {"ts": ts}}
            case "chat.postEphemeral":
                n = next(self._ts)
                return {"ok": True, "message_ts": f"{1767600000 + n}.{n:06d}"}
            case "users.info":
                user = str(args.get("user", ""))
                return {
                    "ok": True,
                    "user": {"id": user, "name": user.lower(), "is_admin": user in self.admins, "is_owner": False},
                }
        return {"ok": False, "error": "unknown_method"}

    async def respond(self, request: web.Request) -> web.Response:
        """Record one response_url payload."""
        self.responses.append(RespondCall(request.match_info["key"], await request.json(), time.monotonic()))
        await self._notify()
        if self.respond_status != 200:
            return web.Response(status=self.respond_status, text="expired_url")
        return web.Response(text="ok")

    async def socket_mode(self, request: web.Request) -> web.WebSocketResponse:
        """One Socket Mode connection: hello, then record every acknowledgement the app sends."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_str(json.dumps({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A1"}}))
        await self._notify()
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                self.socket_acks.append(json.loads(message.data))
                await self._notify()
        return ws


@asynccontextmanager
async def running_fake_slack() -> AsyncIterator[FakeSlack]:
    """Start the fake Slack on an ephemeral loopback port; stop it on exit."""
    slack = FakeSlack()
    app = web.Application()
    app.router.add_route("*", "/api/{method}", slack.api)
    app.router.add_post("/respond/{key}", slack.respond)
    app.router.add_get("/socket-mode", slack.socket_mode)
    async with serving(app) as slack.base_url:
        try:
            yield slack
        finally:
            for ws in slack.sockets:
                await ws.close()


def signed_headers(body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack sends with a request body, signed with the app's signing secret."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def command_payload(
    text: str, *, response_url: str, channel: str = "C1", user: str = "U1", user_name: str = "alice"
) -> dict[str, str]:
    """The fields Slack sends for ``/arxiv <text>``."""
    return {
        "token": "deprecated-verification-token",
        "team_id": TEAM,
        "team_domain": "fakelab",
        "channel_id": channel,
        "channel_name": "papers",
        "user_id": user,
        "user_name": user_name,
        "command": "/arxiv",
        "text": text,
        "api_app_id": "A1",
        "response_url": response_url,
        "trigger_id": "1.2.3",
    }


def command_form(text: str, *, response_url: str, **fields: str) -> str:
    """``/arxiv <text>`` form-encoded, as in HTTP mode."""
    return urlencode(command_payload(text, response_url=response_url, **fields))


def reaction_event(
    *, ts: str, channel: str = "C1", user: str = "U1", reaction: str = "bookmark", added: bool = True
) -> dict[str, Any]:
    """An Events API ``event_callback`` body for a reaction on message ``ts``."""
    return {
        "token": "deprecated-verification-token",
        "team_id": TEAM,
        "api_app_id": "A1",
        "type": "event_callback",
        "event_id": f"Ev{ts.replace('.', '')}{user}{int(added)}",
        "event_time": int(time.time()),
        "event": {
            "type": "reaction_added" if added else "reaction_removed",
            "user": user,
            "reaction": reaction,
            "item_user": BOT_USER,
            "item": {"type": "message", "channel": channel, "ts": ts},
            "event_ts": f"{int(time.time())}.000100",
        },
        "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
    }
