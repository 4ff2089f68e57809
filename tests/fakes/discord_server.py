"""A local fake Discord on 127.0.0.1 that the real discord.py talks to: REST API and websocket gateway.

Use it as ``async with running_discord_server() as discord_fake:`` and point the bot at
``discord_fake.api_url`` (``[discord] api_url``) with ``DISCORD_TOKEN=discord_fake.token``.

REST: ``/users/@me``, ``/oauth2/applications/@me``, ``/gateway/bot``, channels and their messages (post, list,
edit: ``edits`` records each),
reactions, threads started from a message, DM channels, interaction callbacks, webhook follow-ups and edits,
and bulk overwrites of global and guild application commands. Answers are JSON with
``Content-Type: application/json`` exactly, as Discord sends them.

Gateway (``/gateway``, plain JSON text frames): HELLO, IDENTIFY -> READY + GUILD_CREATE (one guild, text
channels, @everyone role), heartbeats and ACKs, RESUME -> RESUMED. Sharding as Discord does it: ``/gateway/bot``
recommends ``recommended_shards``; each connection identifies with ``[shard_id, shard_count]`` and gets only the
guilds of its shard (``(guild_id >> 22) % shard_count``) in READY; ``shards`` holds the open connection of each
shard, and guild events go over the connection of the guild's shard. Tests then dispatch events with real payload
shapes: ``slash()`` (``INTERACTION_CREATE`` for ``/arxiv <sub>``, option types taken from the commands the bot
synced, as Discord's client would), ``autocomplete()``, ``click()`` (a button) and ``react()``
(``MESSAGE_REACTION_ADD`` / ``REMOVE``).

Everything received is recorded (``requests``, ``messages`` per channel or thread, ``threads``,
``command_syncs``, ``identifies``). ``wait_for(predicate)`` waits, with a timeout, until a predicate over the
recorded state holds: every recorded request wakes the waiters. ``rate_limit()`` answers the next matching
requests with a 429 as Discord sends it (``X-RateLimit-*``, ``Retry-After``, ``Via``, JSON ``retry_after`` and
``global: false``); ``fail()`` answers them with another error status; ``network_fault()`` plays ``LOST``,
``HANG`` (optionally answering a 5xx after the hang) or ``RESET`` of ``tests.fakes.faults`` on them.
A message with files comes as ``multipart/form-data``; its recorded body is ``payload_json`` with the files
under ``"files"`` (filename, content type, bytes), and the answered message lists them as ``attachments``.
``random_faults`` gives every message create a random fault, ``gates.add(at=n, create_first=...)`` holds the n-th.

Message creates honour ``nonce`` + ``enforce_nonce`` as Discord documents them: another create with the same
nonce by the same author within ``nonce_window_s`` returns the first message and creates nothing. A nonce longer
than 25 characters is refused (50035). Message ids are snowflakes of the current time, as Discord's are, so
``history(after=<time>)`` works; listed messages carry no nonce (Discord keeps it only in the create answer).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import unquote

from aiohttp import WSMsgType, web

from tests.fakes.faults import HANG, LOST, RESET, Gates, RandomFaults, reset_connection

API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1_420_070_400_000
NONCE_LIMIT = 25
MESSAGE_CREATE = re.compile(r"/channels/\d+/messages")
BOT_ID = 1_100_000_000_000_000_001
APP_ID = BOT_ID
GUILD_ID = 1_200_000_000_000_000_001
CHANNEL_ID = 1_200_000_000_000_000_101
OTHER_CHANNEL_ID = 1_200_000_000_000_000_102
EVERYONE_PERMISSIONS = 311_385_246_784
"""View channel, send messages (also in threads), embed links, attach files, add reactions, read history,
create public threads, use application commands: what a plain member has."""
MANAGE_CHANNELS = 1 << 4
EPHEMERAL = 1 << 6
SAVE_EMOJI = "🔖"


@dataclass(frozen=True, slots=True)
class FakeUser:
    """A guild member that types commands and reacts."""

    id: int
    name: str
    permissions: int


ADMIN = FakeUser(1_300_000_000_000_000_001, "ada", EVERYONE_PERMISSIONS | MANAGE_CHANNELS)
MEMBER = FakeUser(1_300_000_000_000_000_002, "bob @everyone <@1300000000000000001>", EVERYONE_PERMISSIONS)
BOT_USER = {
    "id": str(BOT_ID),
    "username": "arxiv-bot",
    "global_name": None,
    "discriminator": "0",
    "avatar": None,
    "bot": True,
    "public_flags": 0,
    "flags": 0,
    "verified": True,
    "mfa_enabled": False,
}


@dataclass
class Recorded:
    """One REST request the fake received, and how it answered."""

    method: str
    path: str
    """Path below ``/api/v10``, e.g. ``/channels/123/messages``."""
    query: dict[str, str]
    body: Any
    status: int = 200
    authorization: str | None = None
    fault: str | None = None
    """The network fault played on this request."""


@dataclass
class Fault:
    """Answer ``times`` requests matching ``method`` and ``pattern`` with ``status``, after letting ``after`` pass.

    ``kind`` is ``"status"`` (nothing is done), or a network fault: ``LOST``, ``HANG`` (then ``status`` when it is
    not 0) or ``RESET``.
    """

    method: str
    pattern: re.Pattern[str]
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    times: int
    after: int = 0
    kind: str = "status"


@dataclass
class InteractionHandle:
    """One interaction the fake dispatched, and everything the bot answered to it."""

    id: str
    token: str
    payload: dict[str, Any]
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    followups: list[dict[str, Any]] = field(default_factory=list)
    edits: list[dict[str, Any]] = field(default_factory=list)

    @property
    def answers(self) -> list[dict[str, Any]]:
        """Every message body the bot sent for this interaction, in order (callback, edits, follow-ups)."""
        direct = [c["data"] for c in self.callbacks if c.get("type") in (4, 7) and "data" in c]
        return direct + self.edits + self.followups

    @property
    def deferred(self) -> bool:
        """Whether the first response was a defer (thinking)."""
        return bool(self.callbacks) and self.callbacks[0].get("type") == 5

    @property
    def text(self) -> str:
        """All answered content joined by newlines."""
        return "\n".join(a.get("content") or "" for a in self.answers)

    @property
    def ephemeral(self) -> bool:
        """Whether every answer is ephemeral (a deferred answer takes the defer's flag)."""
        if self.deferred:
            return bool(self.callbacks[0].get("data", {}).get("flags", 0) & EPHEMERAL)
        return bool(self.answers) and all(a.get("flags", 0) & EPHEMERAL for a in self.answers)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    # Exactly "application/json": discord.py only decodes JSON when the header has no charset.
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def _error(status: int, message: str, code: int = 0) -> web.Response:
    return _json({"message": message, "code": code}, status)


def _multipart(content_type: str, raw: bytes) -> dict[str, Any]:
    """A message sent with files, as Discord reads it: ``payload_json`` is the body, each ``files[n]`` part an
    attachment (recorded under ``"files"`` with its filename, content type and bytes)."""
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    body: dict[str, Any] = {}
    files: list[dict[str, Any]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True)
        assert isinstance(data, bytes)
        if name == "payload_json":
            body.update(json.loads(data))
        elif isinstance(name, str) and name.startswith("files["):
            files.append({"filename": part.get_filename(), "content_type": part.get_content_type(), "data": data})
    body["files"] = files
    return body


_WEBHOOK_MESSAGE = r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)/messages/(?P<message>[^/]+)"
Handler = Callable[[web.Request, re.Match[str], Any], Awaitable[web.StreamResponse]]


class FakeDiscord:
    """State and behaviour of the fake; tests read the records and call the dispatch helpers."""

    def __init__(self, *, token: str = "fake-bot-token") -> None:
        self.token = token
        self.requests: list[Recorded] = []
        self.messages: dict[int, list[dict[str, Any]]] = {CHANNEL_ID: [], OTHER_CHANNEL_ID: []}
        self.threads: dict[int, dict[str, Any]] = {}
        self.reactions: dict[tuple[int, int], list[tuple[int, str]]] = {}
        self.command_syncs: list[tuple[str, list[dict[str, Any]]]] = []
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.identifies: list[dict[str, Any]] = []
        self.interactions: dict[str, InteractionHandle] = {}
        self.faults: list[Fault] = []
        self.edits: list[dict[str, Any]] = []
        """Every message edit made (channel, message id, the body sent), in order."""
        self.nonce_window_s = 300.0
        """How long a nonce is remembered ("the past few minutes")."""
        self.hang_s = 5.0
        """How long a ``HANG`` holds the answer (longer than the client's timeout)."""
        self.random_faults: RandomFaults | None = None
        self.gates = Gates()
        self._nonces: dict[tuple[int, str], tuple[dict[str, Any], float]] = {}
        self._closing = asyncio.Event()
        self.port = 0
        self._last_id = 0
        self._changed = asyncio.Condition()
        self.shards: dict[int, web.WebSocketResponse] = {}
        """The open gateway connection of each shard id."""
        self.shard_count = 1
        """The shard count the connected bot identified with."""
        self.recommended_shards = 1
        """What ``/gateway/bot`` recommends."""
        self._seqs: dict[int, int] = {}
        self._sessions: dict[str, int] = {}
        self._runner: web.AppRunner | None = None
        self.gateway_ready = asyncio.Event()
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = [
            ("GET", re.compile(r"/users/@me"), self._me),
            ("GET", re.compile(r"/oauth2/applications/@me"), self._application),
            ("GET", re.compile(r"/gateway/bot"), self._gateway_bot),
            ("PUT", re.compile(r"/applications/(?P<app>\d+)/commands"), self._sync_commands),
            ("PUT", re.compile(r"/applications/(?P<app>\d+)/guilds/(?P<guild>\d+)/commands"), self._sync_commands),
            ("GET", re.compile(r"/applications/(?P<app>\d+)/commands"), self._list_commands),
            ("GET", re.compile(r"/channels/(?P<channel>\d+)"), self._get_channel),
            ("GET", re.compile(r"/channels/(?P<channel>\d+)/messages"), self._list_messages),
            ("POST", re.compile(r"/channels/(?P<channel>\d+)/messages"), self._post_message),
            ("PATCH", re.compile(r"/channels/(?P<channel>\d+)/messages/(?P<message>\d+)"), self._edit_message),
            (
                "PUT",
                re.compile(r"/channels/(?P<channel>\d+)/messages/(?P<message>\d+)/reactions/(?P<emoji>[^/]+)/@me"),
                self._add_reaction,
            ),
            ("POST", re.compile(r"/channels/(?P<channel>\d+)/messages/(?P<message>\d+)/threads"), self._start_thread),
            ("POST", re.compile(r"/users/@me/channels"), self._open_dm),
            ("GET", re.compile(r"/users/(?P<user>\d+)"), self._user),
            ("POST", re.compile(r"/interactions/(?P<id>\d+)/(?P<token>[^/]+)/callback"), self._callback),
            ("POST", re.compile(r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)"), self._followup),
            ("PATCH", re.compile(_WEBHOOK_MESSAGE), self._edit),
            ("DELETE", re.compile(_WEBHOOK_MESSAGE), self._delete),
        ]

    # ------------------------------------------------------------------------------------------ lifecycle

    @property
    def api_url(self) -> str:
        """The REST base URL to configure as ``[discord] api_url``."""
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    async def start(self) -> None:
        """Listen on an ephemeral loopback port."""
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server) and server.sockets
        self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """End hangs and release gates, close the gateway and stop serving."""
        self._closing.set()
        self.gates.release_all()
        for ws in list(self.shards.values()):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------------------------------------ records

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[], bool], within_s: float = 10.0) -> None:
        """Wait until ``predicate()`` holds over the recorded state; TimeoutError after ``within_s`` seconds."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), within_s)

    def requests_to(self, method: str, pattern: str) -> list[Recorded]:
        """Recorded requests whose path matches ``pattern`` (a regex, whole path)."""
        compiled = re.compile(pattern)
        return [r for r in self.requests if r.method == method and compiled.fullmatch(r.path)]

    def message_bodies(self) -> list[dict[str, Any]]:
        """Every message body the bot sent (channel and thread posts and edits, interaction answers, follow-ups and
        their edits)."""
        bodies: list[dict[str, Any]] = []
        for r in self.requests:
            if r.status == 429 or not isinstance(r.body, dict):
                continue
            if r.method == "POST" and re.fullmatch(r"/channels/\d+/messages|/webhooks/\d+/[^/]+", r.path):
                bodies.append(r.body)
            elif r.method == "PATCH" and re.fullmatch(r"/webhooks/.+|/channels/\d+/messages/\d+", r.path):
                bodies.append(r.body)
            elif r.path.endswith("/callback") and r.body.get("type") in (4, 7):
                bodies.append(r.body["data"])
        return bodies

    def cards(self, channel_id: int = CHANNEL_ID) -> list[dict[str, Any]]:
        """Messages the bot posted in a channel (not in threads), in order."""
        return list(self.messages.get(channel_id, []))

    def thread_of(self, message_id: int | str) -> list[dict[str, Any]]:
        """Messages in the thread started from ``message_id``."""
        return list(self.messages.get(int(message_id), []))

    # ------------------------------------------------------------------------------------------ faults

    def rate_limit(
        self, method: str, pattern: str, *, times: int = 1, retry_after: float = 0.05, after: int = 0
    ) -> None:
        """Answer the next ``times`` matching requests with a 429 as Discord sends it (per-route, not global)."""
        self.faults.append(self._rate_limited(method, re.compile(pattern), times, retry_after, after))

    @staticmethod
    def _rate_limited(method: str, pattern: re.Pattern[str], times: int, retry_after: float, after: int) -> Fault:
        headers = {
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "X-RateLimit-Bucket": "80c17d2f203122d936070c88c8d10f33",
            "X-RateLimit-Scope": "user",
            "Retry-After": str(max(1, math.ceil(retry_after))),
            "Via": "1.1 google",
        }
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}
        return Fault(method, pattern, 429, body, headers, times, after)

    def fail(
        self, method: str, pattern: str, *, status: int, code: int, message: str, times: int = 1, after: int = 0
    ) -> None:
        """Answer ``times`` matching requests (after ``after`` pass) with an error and Discord's JSON error body."""
        body = {"message": message, "code": code}
        self.faults.append(Fault(method, re.compile(pattern), status, body, {}, times, after))

    def network_fault(
        self, kind: str, method: str, pattern: str, *, times: int = 1, after: int = 0, then_status: int = 0
    ) -> None:
        """Play ``LOST``, ``HANG`` or ``RESET`` on ``times`` matching requests; a ``HANG`` with ``then_status``
        answers that error (e.g. 500) after the hang, the message created."""
        assert kind in (LOST, HANG, RESET)
        body = {"message": "500: Internal Server Error", "code": 0}
        self.faults.append(Fault(method, re.compile(pattern), then_status, body, {}, times, after, kind))

    def _fault_for(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.times > 0 and fault.method == method and fault.pattern.fullmatch(path):
                if fault.after > 0:
                    fault.after -= 1
                    continue
                fault.times -= 1
                return fault
        return None

    # ------------------------------------------------------------------------------------------ REST

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        raw = await request.read()
        body: Any = None
        if raw and request.content_type == "application/json":
            body = json.loads(raw)
        elif raw and request.content_type == "multipart/form-data":
            body = _multipart(request.headers["Content-Type"], raw)
        record = Recorded(
            request.method, path, dict(request.query), body, authorization=request.headers.get("Authorization")
        )
        self.requests.append(record)
        try:
            fault = self._fault_for(request.method, path)
            creates = request.method == "POST" and MESSAGE_CREATE.fullmatch(path) is not None
            gate = self.gates.due() if creates else None
            if fault is None and gate is None and creates and self.random_faults is not None:
                fault = self._random_fault(self.random_faults.pick())
            if gate is not None and not gate.create_first:
                record.fault = "held"
                gate.reached.set()  # before the waiters look
                await self._notify()
                await gate.hold()
                if gate.drop:
                    record.status = 0
                    reset_connection(request)
                    return web.Response()
            if fault is not None and fault.kind == "status":
                record.status = fault.status
                return _json(fault.body, fault.status, fault.headers)
            if fault is not None and fault.kind == RESET:
                record.status, record.fault = 0, RESET
                reset_connection(request)
                return web.Response()
            response = await self._route(request, path, body)
            record.status = response.status
            if fault is not None:
                record.fault = fault.kind
                await self._notify()
                if fault.kind == LOST:
                    reset_connection(request)
                    return response
                with contextlib.suppress(TimeoutError):  # a hang ends early only when the fake stops
                    await asyncio.wait_for(self._closing.wait(), self.hang_s)
                return _json(fault.body, fault.status) if fault.status else response
            if gate is not None and gate.create_first:
                record.fault = "held"
                gate.reached.set()  # before the waiters look
                await self._notify()
                await gate.hold()
            return response
        finally:
            await self._notify()

    async def _route(self, request: web.Request, path: str, body: Any) -> web.Response:
        needs_auth = not path.startswith(("/interactions/", "/webhooks/"))
        if needs_auth and request.headers.get("Authorization") != f"Bot {self.token}":
            return _error(401, "401: Unauthorized")
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match and method == request.method:
                response = await handler(request, match, body)
                assert isinstance(response, web.Response)
                return response
        return _error(404, "404: Not Found")

    def _random_fault(self, kind: str | int | None) -> Fault | None:
        if kind is None:
            return None
        anything = re.compile(".*")
        if kind == 429:
            return self._rate_limited("POST", anything, 1, 0.05, 0)
        if isinstance(kind, int):
            return Fault("POST", anything, kind, {"message": f"{kind}: Server Error", "code": 0}, {}, 1)
        return Fault("POST", anything, 0, {}, {}, 1, 0, kind)

    def _snowflake(self) -> int:
        now = (time.time_ns() // 1_000_000 - DISCORD_EPOCH_MS) << 22
        self._last_id = max(self._last_id + 1, now)
        return self._last_id

    async def _me(self, request: web.Request, match: re.Match[str], body: Any) -> web.Response:
        return _json(BOT_USER)

    async def _application(self, request: web.Request, match: re.Match[str], body: Any) -> web.Response:
        return _json(
            {
                "id": str(APP_ID),
                "name": "arxiv-bot",
                "icon": None,
                "description": "",
                "summary": "",
                "type": None,
                "hook": True,
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "flags": 0,
                "owner": {"id": str(ADMIN.id), "username": "ada", "discriminator": "0", "avatar": None},
                "team": None,
                "bot": BOT_USER,
                "redirect_uris": [],
                "interactions_endpoint_url": None,
            }
        )

    async def _gateway_bot(self, request: web.Request, match: re.Match[str], body: Any) -> web.Response:
        return _json(
            {
                "url": f"ws://127.0.0.1:{self.port}/gateway",
                "shards": self.recommended_shards,
                "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14400000, "max_concurrency": 1},
            }
        )

    async def _sync_commands(self, request: web.Request, match: re.Match[str], body: Any) -> web.Response:
        scope = match.groupdict().get("guild") or "global"
        created = []
        for command in body:
            created.append(
                {
                    "id": str(self._snowflake()),
                    "application_id": str(APP_ID),
                    "version": str(self._snowflake()),
                    "default_member_permissions": None,
                    "type": 1,
                    "nsfw": False,
                    **({} if scope == "global" else {"guild_id": scope}),
                    **command,
                }
            )
        self.command_syncs.append((scope, body))
        self.commands[scope] = created
        return _json(created)

    async def _list_commands(self, request: web.Request, match: re.Match[str], body: Any) -> web.Response:
        return _json(self.commands.get("global", []))

    def _channel_payload(self, channel_id: int) -> dict[str, Any]:
        if channel_id in self.threads:
            return self.threads[channel_id]
        return {
            "id": str(channel_id),
            "type": 0,
            "guild_id": str(GUILD_ID),
            "name": "papers" if channel_id == CHANNEL_ID else "general",
            "position": 0 if channel_id == CHANNEL_ID else 1,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "rate_limit_per_user": 0,
            "last_message_id": None,
            "flags": 0,
        }

    async def _get_channel(self, request: web.Request, match: re.Match[str], body: Any) -> web.Response:
        channel_id = int(match["channel"])
        if channel_id not in self.messages:
            return _error(404, "Unknown Channel", 10003)
        return _json(self._channel_payload(channel_id))

    async def _list_messages(self, request: web.Request, match: re.Match[str], body: Any) -> web.Response:
        channel_id = int(match["channel"])
        if channel_id not in self.messages:
            return _error(404, "Unknown Channel", 10003)
        limit = int(request.query.get("limit", "50"))
        found = list(self.messages[channel_id])  # oldest first
        if "before" in request.query:
            found = [m for m in found if int(m["id"]) < int(request.query["before"])]
        if "after" in request.query:
            # The `limit` messages right after it, newest first, as Discord pages forward.
            found = [m for m in found if int(m["id"]) > int(request.query["after"])][:limit]
        else:
            found = found[-limit:] if limit else []
        return _json([{k: v for k, v in m.items() if k != "nonce"} for m in reversed(found)])

    def _message(self, channel_id: int, body: Mapping[str, Any], *, flags: int = 0) -> dict[str, Any]:
        return {
            "id": str(self._snowflake()),
            "channel_id": str(channel_id),
            "type": 0,
            "content": body.get("content") or "",
            "author": BOT_USER,
            "embeds": body.get("embeds") or [],
            "components": body.get("components") or [],
            "attachments": [
                {
                    "id": str(self._snowflake()),
                    "filename": f["filename"],
                    "size": len(f["data"]),
                    "url": f"https://cdn.discordapp.test/{f['filename']}",
                    "proxy_url": f"https://media.discordapp.test/{f['filename']}",
                }
                for f in body.get("files") or []
            ],
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": False,
            "timestamp": _now(),
            "edited_timestamp": None,
            "flags": flags | int(body.get("flags") or 0),
        }

    async def _post_message(self, request: web.Request, match: re.Match[str], body: Any) -> web.Response:
        channel_id = int(match["channel"])
        if channel_id not in self.messages:
            return _error(404, "Unknown Channel", 10003)
        if len(body.get("content") or "") > 2000 or len(body.get("embeds") or []) > 10:
            return _error(400, "Invalid Form Body", 50035)
        nonce = body.get("nonce")
        if nonce is not None and len(str(nonce)) > NONCE_LIMIT:
            return _error(400, "Invalid Form Body (nonce: Must be 25 or fewer in length.)", 50035)
        now = time.monotonic()
        if nonce is not None and body.get("enforce_nonce"):
            known = self._nonces.get((BOT_ID, str(nonce)))
            if known is not None and now - known[1] < self.nonce_window_s:
                return _json(known[0])  # the message this nonce already created; nothing new
        message = self._message(channel_id, body)
        self.messages[channel_id].append(message)
        if nonce is None:
            return _json(message)
        answered = {**message, "nonce": str(nonce)}
        if body.get("enforce_nonce"):
            self._nonces[(BOT_ID, str(nonce))] = (answered, now)
        return _json(answered)

    async def _edit_message(self, request: web.Request, match: re.Match[str], body: Any) -> web.Response:
        """Edit a message as Discord does: only the fields sent change (content, embeds, components, flags), the id
        stays, ``edited_timestamp`` is set; someone else's message cannot be edited (50005)."""
        channel_id, message_id = int(match["channel"]), match["message"]
        if channel_id not in self.messages:
            return _error(404, "Unknown Channel", 10003)
        message = next((m for m in self.messages[channel_id] if m["id"] == message_id), None)
        if message is None:
            return _error(404, "Unknown Message", 10008)
        if message["author"]["id"] != BOT_USER["id"]:
            return _error(403, "Cannot edit a message authored by another user", 50005)
        if len((body or {}).get("content") or "") > 2000 or len((body or {}).get("embeds") or []) > 10:
            return _error(400, "Invalid Form Body", 50035)
        for name in ("content", "embeds", "components", "flags"):
            if name in (body or {}):
                message[name] = body[name]
        message["edited_timestamp"] = _now()
        self.edits.append({"channel_id": channel_id, "message_id": message_id, "body": body})
        return _json({k: v for k, v in message.items() if k != "nonce"})

    async def _add_reaction(self, request: web.Request, match: re.Match[str], body: Any) -> web.Response:
        key = (int(match["channel"]), int(match["message"]))
        self.reactions.setdefault(key, []).append((BOT_ID, unquote(match["emoji"])))
        return web.Response(status=204)

    async def _start_thread(self, request: web.Request, match: re.Match[str], body: Any) -> web.Response:
        channel_id, message_id = int(match["channel"]), int(match["message"])
        if not any(m["id"] == str(message_id) for m in self.messages.get(channel_id, [])):
            return _error(404, "Unknown Message", 10008)
        if message_id in self.threads:
            return _error(400, "A thread has already been created for this message", 160004)
        thread = {
            "id": str(message_id),
            "type": 11,
            "guild_id": str(GUILD_ID),
            "parent_id": str(channel_id),
            "owner_id": str(BOT_ID),
            "name": body["name"],
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": body.get("auto_archive_duration", 1440),
                "archive_timestamp": _now(),
                "locked": False,
                "create_timestamp": _now(),
            },
        }
        self.threads[message_id] = thread
        self.messages[message_id] = []
        if self._ws is not None and not self._ws.closed:
            await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return _json(thread, 201)

    async def _user(self, request: web.Request, match: re.Match[str], body: Any) -> web.Response:
        known = {u.id: u for u in (ADMIN, MEMBER)}
        user = known.get(int(match["user"]))
        if user is None:
            return _error(404, "Unknown User", 10013)
        return _json(self.member_payload(user)["user"])

    async def _open_dm(self, request: web.Request, match: re.Match[str], body: Any) -> web.Response:
        channel_id = int(body["recipient_id"]) + 7
        self.messages.setdefault(channel_id, [])
        user = {"id": str(body["recipient_id"]), "username": "someone", "discriminator": "0", "avatar": None}
        return _json({"id": str(channel_id), "type": 1, "last_message_id": None, "recipients": [user]})

    async def _callback(self, request: web.Request, match: re.Match[str], body: Any) -> web.Response:
        handle = self.interactions.get(match["token"])
        if handle is None or handle.id != match["id"]:
            return _error(404, "Unknown interaction", 10062)
        if handle.callbacks:
            return _error(400, "Interaction has already been acknowledged.", 40060)
        handle.callbacks.append(body)
        kind = body.get("type")
        data = body.get("data") or {}
        answer: dict[str, Any] = {
            "interaction": {
                "id": handle.id,
                "type": handle.payload["type"],
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(data.get("flags", 0) & EPHEMERAL),
            }
        }
        if kind in (4, 5):
            message = self._message(int(handle.payload["channel_id"]), data)
            answer["interaction"]["response_message_id"] = message["id"]
            answer["resource"] = {"type": kind, "message": message}
        return _json(answer)

    async def _followup(self, request: web.Request, match: re.Match[str], body: Any) -> web.Response:
        handle = self.interactions.get(match["token"])
        if handle is None:
            return _error(404, "Unknown Webhook", 10015)
        if not handle.callbacks:
            return _error(404, "Unknown Webhook", 10015)
        handle.followups.append(body)
        return _json(self._message(int(handle.payload["channel_id"]), body))

    async def _edit(self, request: web.Request, match: re.Match[str], body: Any) -> web.Response:
        handle = self.interactions.get(match["token"])
        if handle is None or not handle.callbacks:
            return _error(404, "Unknown Webhook", 10015)
        handle.edits.append(body)
        return _json(self._message(int(handle.payload["channel_id"]), body))

    async def _delete(self, request: web.Request, match: re.Match[str], body: Any) -> web.Response:
        return web.Response(status=204)

    # ------------------------------------------------------------------------------------------ gateway

    @property
    def _ws(self) -> web.WebSocketResponse | None:
        """The connection of the guild's shard, over which its events go."""
        return self.shards.get(self.shard_of(GUILD_ID))

    def shard_of(self, guild_id: int) -> int:
        """The shard a guild's events go to, as Discord computes it."""
        return (guild_id >> 22) % max(1, self.shard_count)

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        shard: int | None = None
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None}))
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                op = frame.get("op")
                if op == 1:
                    await ws.send_str(json.dumps({"op": 11, "d": None, "s": None, "t": None}))
                elif op == 2:
                    self.identifies.append(frame["d"])
                    shard, self.shard_count = frame["d"].get("shard") or (0, 1)
                    self.shards[shard], self._seqs[shard] = ws, 0
                    await self._identify_ok(shard)
                elif op == 6:
                    shard = self._sessions.get(str(frame["d"].get("session_id")), 0)
                    self.shards[shard] = ws
                    await self.dispatch("RESUMED", {}, shard=shard)
                await self._notify()
        finally:
            if shard is not None and self.shards.get(shard) is ws:
                del self.shards[shard]
                if shard == self.shard_of(GUILD_ID):
                    self.gateway_ready.clear()
        return ws

    async def _identify_ok(self, shard: int) -> None:
        session = f"session-{self._snowflake()}"
        self._sessions[session] = shard
        ours = shard == self.shard_of(GUILD_ID)
        await self.dispatch(
            "READY",
            {
                "v": 10,
                "user": BOT_USER,
                "guilds": [{"id": str(GUILD_ID), "unavailable": True}] if ours else [],
                "session_id": session,
                "shard": [shard, self.shard_count],
                "resume_gateway_url": f"ws://127.0.0.1:{self.port}/gateway",
                "application": {"id": str(APP_ID), "flags": 0},
                "private_channels": [],
                "relationships": [],
                "user_settings": {},
                "session_type": "normal",
                "presences": [],
                "guild_join_requests": [],
                "geo_ordered_rtc_regions": [],
                "auth": {},
            },
            shard=shard,
        )
        if ours:
            await self.dispatch("GUILD_CREATE", self.guild_payload(), shard=shard)
            self.gateway_ready.set()

    def guild_payload(self) -> dict[str, Any]:
        """The GUILD_CREATE of the one guild: two text channels and an @everyone role."""
        return {
            "id": str(GUILD_ID),
            "name": "Reading group",
            "icon": None,
            "owner_id": str(ADMIN.id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 1,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "features": [],
            "emojis": [],
            "stickers": [],
            "roles": [
                {
                    "id": str(GUILD_ID),
                    "name": "@everyone",
                    "permissions": str(EVERYONE_PERMISSIONS),
                    "position": 0,
                    "color": 0,
                    "hoist": False,
                    "managed": False,
                    "mentionable": False,
                    "flags": 0,
                }
            ],
            "channels": [self._channel_payload(CHANNEL_ID), self._channel_payload(OTHER_CHANNEL_ID)],
            "threads": [],
            "members": [
                {
                    "user": BOT_USER,
                    "roles": [],
                    "joined_at": "2026-01-01T00:00:00.000000+00:00",
                    "deaf": False,
                    "mute": False,
                    "flags": 0,
                }
            ],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "member_count": 3,
            "large": False,
            "unavailable": False,
            "joined_at": "2026-01-01T00:00:00.000000+00:00",
        }

    async def dispatch(self, event: str, data: Mapping[str, Any], *, shard: int | None = None) -> None:
        """Send one gateway DISPATCH (op 0) to the connected bot: over ``shard``, else the guild's shard."""
        shard = self.shard_of(GUILD_ID) if shard is None else shard
        ws = self.shards.get(shard)
        if ws is None or ws.closed:
            raise AssertionError(f"no bot is connected to shard {shard} of the fake gateway")
        self._seqs[shard] = self._seqs.get(shard, 0) + 1
        await ws.send_str(json.dumps({"op": 0, "s": self._seqs[shard], "t": event, "d": data}))

    # ------------------------------------------------------------------------------------------ test helpers

    @staticmethod
    def member_payload(user: FakeUser) -> dict[str, Any]:
        """A guild member as interactions carry it (with the member's channel permissions)."""
        return {
            "user": {
                "id": str(user.id),
                "username": user.name,
                "global_name": user.name,
                "discriminator": "0",
                "avatar": None,
                "public_flags": 0,
            },
            "roles": [],
            "joined_at": "2025-06-01T12:00:00.000000+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "nick": None,
            "avatar": None,
            "premium_since": None,
            "communication_disabled_until": None,
            "permissions": str(user.permissions),
        }

    def _interaction(
        self,
        kind: int,
        data: dict[str, Any],
        *,
        user: FakeUser,
        channel_id: int,
        message: dict[str, Any] | None = None,
    ) -> InteractionHandle:
        interaction_id = str(self._snowflake())
        token = f"aW50ZXJhY3Rpb246{interaction_id}"
        payload: dict[str, Any] = {
            "id": interaction_id,
            "application_id": str(APP_ID),
            "type": kind,
            "data": data,
            "guild_id": str(GUILD_ID),
            "guild": {"id": str(GUILD_ID), "locale": "en-US", "features": []},
            "channel_id": str(channel_id),
            "channel": self._channel_payload(channel_id),
            "member": self.member_payload(user),
            "token": token,
            "version": 1,
            "app_permissions": str(EVERYONE_PERMISSIONS),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(GUILD_ID)},
            "context": 0,
            "attachment_size_limit": 10_485_760,
        }
        if message is not None:
            payload["message"] = message
        handle = InteractionHandle(interaction_id, token, payload)
        self.interactions[token] = handle
        return handle

    def _command_data(self, subcommand: str, options: Mapping[str, Any], focused: str | None) -> dict[str, Any]:
        """``data`` for ``/arxiv <subcommand>`` with option types from the synced schema, checked like Discord."""
        scope = next((s for s in self.commands if s != "global"), "global")
        command = next((c for c in self.commands.get(scope, []) if c["name"] == "arxiv"), None)
        if command is None:
            raise AssertionError("the bot has not synced an /arxiv command")
        sub = next((o for o in command.get("options", []) if o["name"] == subcommand and o["type"] == 1), None)
        if sub is None:
            raise AssertionError(f"/arxiv has no subcommand {subcommand!r}")
        schema = {o["name"]: o for o in sub.get("options", [])}
        given = []
        for name, value in options.items():
            if name not in schema:
                raise AssertionError(f"/arxiv {subcommand} has no option {name!r}; it has {sorted(schema)}")
            option = schema[name]
            choices = [c["value"] for c in option.get("choices", [])]
            if choices and value not in choices and name != focused:
                raise AssertionError(f"{value!r} is not a choice of {name!r}: {choices}")
            entry: dict[str, Any] = {"name": name, "type": option["type"], "value": value}
            if name == focused:
                entry["focused"] = True
            given.append(entry)
        if focused is None:
            missing = [n for n, o in schema.items() if o.get("required") and n not in options]
            if missing:
                raise AssertionError(f"Discord would not send /arxiv {subcommand} without {missing}")
        data: dict[str, Any] = {
            "id": command["id"],
            "name": "arxiv",
            "type": 1,
            "options": [{"name": subcommand, "type": 1, "options": given}],
        }
        if scope != "global":
            data["guild_id"] = scope
        return data

    async def slash(
        self,
        subcommand: str,
        options: Mapping[str, Any] | None = None,
        *,
        user: FakeUser = ADMIN,
        channel_id: int = CHANNEL_ID,
    ) -> InteractionHandle:
        """Dispatch ``/arxiv <subcommand> [options]`` typed by ``user`` in ``channel_id``."""
        data = self._command_data(subcommand, options or {}, None)
        handle = self._interaction(2, data, user=user, channel_id=channel_id)
        await self.dispatch("INTERACTION_CREATE", handle.payload)
        return handle

    async def answered(
        self, handle: InteractionHandle, *, count: int = 1, within_s: float = 10.0
    ) -> InteractionHandle:
        """Wait until the bot has sent ``count`` answer messages to an interaction."""
        await self.wait_for(lambda: len(handle.answers) >= count, within_s)
        return handle

    async def run(
        self,
        subcommand: str,
        options: Mapping[str, Any] | None = None,
        *,
        user: FakeUser = ADMIN,
        channel_id: int = CHANNEL_ID,
        within_s: float = 10.0,
    ) -> InteractionHandle:
        """``slash()`` and wait for the first answer."""
        handle = await self.slash(subcommand, options, user=user, channel_id=channel_id)
        return await self.answered(handle, within_s=within_s)

    async def autocomplete(
        self, subcommand: str, option: str, value: str, *, others: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Dispatch an autocomplete for one option and return the choices the bot offered."""
        data = self._command_data(subcommand, {**(others or {}), option: value}, option)
        handle = self._interaction(4, data, user=MEMBER, channel_id=CHANNEL_ID)
        await self.dispatch("INTERACTION_CREATE", handle.payload)
        await self.wait_for(lambda: bool(handle.callbacks))
        assert handle.callbacks[0]["type"] == 8, handle.callbacks
        choices: list[dict[str, Any]] = handle.callbacks[0]["data"]["choices"]
        return choices

    async def click(self, message: dict[str, Any], custom_id: str, *, user: FakeUser = MEMBER) -> InteractionHandle:
        """Dispatch a button press on one of the bot's messages and wait for the answer."""
        data = {"custom_id": custom_id, "component_type": 2}
        handle = self._interaction(3, data, user=user, channel_id=int(message["channel_id"]), message=message)
        await self.dispatch("INTERACTION_CREATE", handle.payload)
        return await self.answered(handle)

    async def react(
        self,
        message_id: int | str,
        *,
        user: FakeUser = MEMBER,
        emoji: str = SAVE_EMOJI,
        added: bool = True,
        channel_id: int = CHANNEL_ID,
    ) -> None:
        """Dispatch MESSAGE_REACTION_ADD (or REMOVE) for a user's reaction with a unicode emoji."""
        data: dict[str, Any] = {
            "user_id": str(user.id),
            "channel_id": str(channel_id),
            "message_id": str(message_id),
            "guild_id": str(GUILD_ID),
            "emoji": {"id": None, "name": emoji},
            "burst": False,
            "type": 0,
        }
        if added:
            data["member"] = self.member_payload(user)
            data["message_author_id"] = str(BOT_ID)
            data["burst_colors"] = []
        await self.dispatch("MESSAGE_REACTION_ADD" if added else "MESSAGE_REACTION_REMOVE", data)


@asynccontextmanager
async def running_discord_server(*, token: str = "fake-bot-token") -> AsyncIterator[FakeDiscord]:
    """A started fake Discord, stopped on exit."""
    server = FakeDiscord(token=token)
    await server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(Exception):
            await server.stop()
