"""A real HTTP server on 127.0.0.1 that plays Slack: the Web API, response_url, and a Socket Mode WebSocket.

Use it as ``async with running_fake_slack() as slack:`` and point ``AsyncWebClient(base_url=slack.api_url)``
(or ``ARXIVBOT_SLACK__API_URL``) at it. Tests read and steer it directly:

* ``chat.update`` changes a message in place as Slack does (same ts, new text and blocks, ``edited``;
  ``message_not_found``, ``cant_update_message``); ``slack.updates`` lists every update made.
* ``slack.calls``: every Web API call (method, arguments, token, HTTP status, answer, time, fault), faults included;
  ``slack.posts()`` the chat.postMessage calls that were answered ok.
* ``slack.messages`` / ``slack.replies``: every message chat.postMessage created, per channel and per thread, with
  its ``metadata`` (what ``conversations.history`` and ``conversations.replies`` list, newest first / oldest first,
  from ``oldest`` on, metadata only with ``include_all_metadata``). Reading needs ``channels:history`` (``groups:``
  for a ``G...`` channel) in ``slack.scopes``; without it Slack's ``missing_scope`` answer.
* ``slack.fail(429, (429, {"Retry-After": "0"}), 500, LOST, HANG, RESET, method="chat.postMessage")`` queues faults
  for the next calls of that method (``method=None``: any method): a status (the message is not created), or a
  network fault of ``tests.fakes.faults`` (``LOST`` and ``HANG`` create the message first). ``slack.random_faults``
  gives every chat.postMessage a random one; ``slack.gates.add(at=n, create_first=...)`` holds the n-th.
* ``slack.responses``: payloads POSTed to ``slack.response_url(key)`` (what ``respond()`` sent);
  ``slack.respond_status`` makes that endpoint answer an error instead.
* ``slack.absent_from.add("C1")``: the bot is not in C1 (chat.postMessage answers ``not_in_channel``).
* Socket Mode: ``apps.connections.open`` answers ``slack.socket_url``; a client that connects gets a ``hello``;
  ``await slack.socket_send(envelope)`` sends an envelope; ``slack.socket_acks`` records what came back.
* Files as ``files_upload_v2`` sends them: ``files.getUploadURLExternal`` hands out an upload URL on this server,
  the bytes POSTed there are kept, ``files.completeUploadExternal`` shares them into ``channel_id``:
  ``slack.shared_files`` lists each shared file (id, name, title, channel, content). ``conversations.open`` with
  ``users`` opens (and re-opens) the DM ``D<user>``. They need ``files:write`` / ``im:write`` in ``slack.scopes``;
  reading a DM's history needs ``im:history``.
* ``await slack.wait_for(predicate)`` waits (with a timeout) until the predicate holds after some recorded change.
* OAuth v2 (many workspaces): ``slack.installing = ("T2", None)`` is the team (and enterprise) whose user approves
  the app on ``GET /oauth/v2/authorize``, which redirects to the ``redirect_uri`` with a one-time code;
  ``oauth.v2.access`` (Basic auth with ``CLIENT_ID``/``CLIENT_SECRET``) exchanges it for a bot token of that team
  (``slack.team_tokens``: token -> team, what ``auth.test`` answers). ``slack.revoke("T2")`` makes the team's
  tokens invalid (as an uninstall does).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aiohttp import WSMsgType, web

from tests.fakes.faults import HANG, RESET, Gates, RandomFaults, reset_connection
from tests.fakes.loopback import serving

Fault = int | str | tuple[int, Mapping[str, str]]
"""An HTTP status, a network fault (``LOST``, ``HANG``, ``RESET``), or a status with headers."""
HISTORY_SCOPES = frozenset({"channels:history", "groups:history"})
SCOPE_OF = {
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
    "conversations.open": "im:write",
}
BOT_TOKEN = "xoxb-fake-bot-token"
APP_TOKEN = "xapp-fake-app-token"
SIGNING_SECRET = "fake-signing-secret"
TEAM = "T0FAKE"
BOT_USER = "UBOT"
CLIENT_ID = "1111111111.2222222222"
CLIENT_SECRET = "fake-client-secret"


@dataclass
class SlackCall:
    """One Web API call the fake received."""

    method: str
    args: dict[str, Any]
    token: str | None
    status: int
    answer: dict[str, Any]
    at: float
    fault: str | None = None
    """The network fault played on this call (its answer did not reach the client in time, or at all)."""


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
    scopes: set[str] = field(
        default_factory=lambda: set(HISTORY_SCOPES)
        | {"chat:write", "commands", "files:write", "im:write", "im:history"}
    )
    uploads: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Files announced with files.getUploadURLExternal, by file id: filename, length, content (once uploaded)."""
    shared_files: list[dict[str, Any]] = field(default_factory=list)
    """Files shared by files.completeUploadExternal, in order: id, name, title, channel, content."""
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Top-level messages created, per channel, oldest first."""
    replies: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    """Thread replies created, per (channel, parent ts), oldest first."""
    updates: list[dict[str, Any]] = field(default_factory=list)
    """Every update chat.update made (channel, ts, new text and blocks), in order."""
    hang_s: float = 5.0
    """How long a ``HANG`` holds the answer (longer than the client's timeout)."""
    random_faults: RandomFaults | None = None
    retry_after: str = "1"
    """The Retry-After of a random 429 (Slack sends whole seconds; a bench with a shortened rate, less)."""
    channel_interval_s: float = 0.0
    """When set, Slack's per-channel rate: a chat.postMessage to a channel sooner than this after the last one taken
    there is answered 429 with the Retry-After left (nothing created); ``rate_limited`` counts them."""
    rate_limited: int = 0
    clock: Callable[[], float] = time.monotonic
    """What stamps each call (``SlackCall.at``) and measures the per-channel rate; tests on looptime give the loop's."""
    gates: Gates = field(default_factory=Gates)
    installing: tuple[str, str | None] = (TEAM, None)
    """The team (and enterprise) whose user approves the app on the authorize page."""
    team_tokens: dict[str, str] = field(default_factory=dict)
    """Valid bot tokens handed out by oauth.v2.access, with their team."""
    issued: dict[str, str] = field(default_factory=dict)
    """Every bot token oauth.v2.access handed out, revoked ones included, with its team."""
    codes: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    _faults: deque[tuple[str | None, Fault, int]] = field(default_factory=deque)
    _last_ts: float = 0.0
    _last_post: dict[str, float] = field(default_factory=dict)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _closing: asyncio.Event = field(default_factory=asyncio.Event)

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

    def fail(self, *faults: Fault, method: str | None = "chat.postMessage", after: int = 0) -> None:
        """Answer the next calls of ``method`` (once ``after`` more have passed) with these faults, in order."""
        self._faults.extend((method, fault, after) for fault in faults)

    def calls_to(self, method: str) -> list[SlackCall]:
        """Every call of one method, faults included."""
        return [c for c in self.calls if c.method == method]

    def posts(self) -> list[SlackCall]:
        """chat.postMessage calls answered ok, in order."""
        return [c for c in self.calls if c.method == "chat.postMessage" and c.answer.get("ok") and c.fault is None]

    def created(self) -> list[dict[str, Any]]:
        """Every message created (top-level and replies), in the order they were created."""
        every = [m for ms in self.messages.values() for m in ms] + [m for ms in self.replies.values() for m in ms]
        return sorted(every, key=lambda m: float(m["ts"]))

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

    def revoke(self, team: str) -> None:
        """Make every token of ``team`` invalid, as uninstalling the app does."""
        for token in [t for t, owner in self.team_tokens.items() if owner == team]:
            del self.team_tokens[token]

    def posts_in(self, team: str) -> list[SlackCall]:
        """chat.postMessage calls answered ok that carried a token of ``team``."""
        return [c for c in self.posts() if self.issued.get(str(c.token)) == team]

    async def authorize(self, request: web.Request) -> web.Response:
        """Slack's authorize page: the user of ``installing`` approves, and is sent back with a code and the state."""
        query = dict(request.query)
        self.authorize_requests.append(query)
        if query.get("client_id") != CLIENT_ID or "redirect_uri" not in query:
            return web.Response(status=400, text="invalid client_id or redirect_uri")
        code = f"code-{len(self.codes) + 1}"
        self.codes[code] = self.installing
        scheme, netloc, path, old_query, _ = urlsplit(query["redirect_uri"])
        back = [*parse_qsl(old_query), ("code", code), ("state", query.get("state", ""))]
        raise web.HTTPFound(urlunsplit((scheme, netloc, path, urlencode(back), "")))

    def _oauth_access(self, args: dict[str, Any], basic: str) -> dict[str, Any]:
        client = base64.b64decode(basic).decode() if basic else f"{args.get('client_id')}:{args.get('client_secret')}"
        if client != f"{CLIENT_ID}:{CLIENT_SECRET}":
            return {"ok": False, "error": "invalid_client_id"}
        installing = self.codes.pop(str(args.get("code", "")), None)
        if installing is None:
            return {"ok": False, "error": "invalid_code"}
        team, enterprise = installing
        token = f"xoxb-{team.lower()}-{len(self.team_tokens) + 1:04d}-installed"
        self.team_tokens[token] = self.issued[token] = team
        return {
            "ok": True,
            "access_token": token,
            "token_type": "bot",
            "scope": ",".join(sorted(self.scopes)),
            "bot_user_id": BOT_USER,
            "app_id": "A1",
            "team": {"id": team, "name": f"Team {team}"},
            "enterprise": {"id": enterprise, "name": f"Org {enterprise}"} if enterprise else None,
            "authed_user": {"id": "UINSTALLER"},
            "is_enterprise_install": False,
        }

    def _take_fault(self, method: str) -> Fault | None:
        for i, (wanted, fault, after) in enumerate(self._faults):
            if wanted is None or wanted == method:
                if after > 0:
                    self._faults[i] = (wanted, fault, after - 1)
                    return None
                del self._faults[i]
                return fault
        return None

    def _next_ts(self) -> str:
        # Like Slack's: seconds.microseconds of the server's clock, unique per workspace and increasing.
        self._last_ts = max(time.time(), self._last_ts + 0.000001)
        return f"{self._last_ts:.6f}"

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
        if method == "oauth.v2.access":
            answer = self._oauth_access(args, auth.removeprefix("Basic ") if auth.startswith("Basic ") else "")
            self.calls.append(SlackCall(method, args, None, 200, answer, time.monotonic()))
            await self._notify()
            return web.json_response(answer)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        played: str | None = None
        try:
            if self.latency_s:
                await asyncio.sleep(self.latency_s)
            fault = self._take_fault(method)
            creates = method == "chat.postMessage"
            gate = self.gates.due() if creates else None
            if fault is None and gate is None and creates and self.random_faults is not None:
                fault = self.random_faults.pick()
                if fault == 429:
                    fault = (429, {"Retry-After": self.retry_after})  # as Slack sends it
            if fault is None and creates and self.channel_interval_s > 0:
                fault = self._over_rate(str(args.get("channel") or ""))
                played = None if fault is None else "rate"
            if gate is not None and not gate.create_first:
                self.calls.append(SlackCall(method, args, token, 0, {}, self.clock(), "held"))
                gate.reached.set()  # before the waiters look
                await self._notify()
                await gate.hold()
                if gate.drop:
                    reset_connection(request)
                    return web.json_response({})
                gate = None  # released: the request goes on and creates its message
            if isinstance(fault, str):
                played = fault
                status, answer = (0, {}) if fault == RESET else (200, self._answer(method, args, token))
                self.calls.append(SlackCall(method, args, token, status, answer, self.clock(), fault))
                await self._notify()
                if fault == HANG:
                    with contextlib.suppress(TimeoutError):  # a hang ends early only when the fake stops
                        await asyncio.wait_for(self._closing.wait(), self.hang_s)
                else:
                    reset_connection(request)
                return web.json_response(answer)
            if fault is not None:
                status, headers = (fault, {}) if isinstance(fault, int) else fault
                answer = {"ok": False, "error": "ratelimited" if status == 429 else "fake_fault"}
                response = web.json_response(answer, status=status, headers=dict(headers))
            else:
                status, answer = 200, self._answer(method, args, token)
                response = web.json_response(answer)
                if gate is not None:
                    self.calls.append(SlackCall(method, args, token, status, answer, self.clock(), "held"))
                    gate.reached.set()  # before the waiters look
                    await self._notify()
                    await gate.hold()
                    return response
        finally:
            self.in_flight -= 1
        self.calls.append(SlackCall(method, args, token, status, answer, self.clock(), played))
        await self._notify()
        return response

    def _over_rate(self, channel: str) -> Fault | None:
        """A 429 when this message comes too soon after the last one the channel took (a little early is let
        through: Slack allows short bursts)."""
        now = self.clock()
        last = self._last_post.get(channel)
        if last is not None and now - last < 0.9 * self.channel_interval_s:
            self.rate_limited += 1
            return (429, {"Retry-After": f"{last + self.channel_interval_s - now:.3f}"})
        self._last_post[channel] = now
        return None

    def _history(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        needed = {"G": "groups:history", "D": "im:history"}.get(channel[:1], "channels:history")
        if needed not in self.scopes:
            return {"ok": False, "error": "missing_scope", "needed": needed, "provided": ",".join(sorted(self.scopes))}
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        oldest = float(args.get("oldest") or 0)
        with_metadata = str(args.get("include_all_metadata", "")).lower() in ("true", "1")
        if method == "conversations.history":
            found = [m for m in reversed(self.messages.get(channel, [])) if float(m["ts"]) > oldest]
        else:
            parent = str(args.get("ts", ""))
            top = [m for m in self.messages.get(channel, []) if m["ts"] == parent]
            if not top:
                return {"ok": False, "error": "thread_not_found"}
            found = top + [m for m in self.replies.get((channel, parent), []) if float(m["ts"]) > oldest]
        start = int(args.get("cursor") or 0)
        limit = int(args.get("limit") or 100)
        page = found[start : start + limit]
        more = start + limit < len(found)
        shown = [m if with_metadata else {k: v for k, v in m.items() if k != "metadata"} for m in page]
        answer: dict[str, Any] = {"ok": True, "messages": shown, "has_more": more}
        answer["response_metadata"] = {"next_cursor": str(start + limit) if more else ""}
        return answer

    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        """chat.update as Slack does it: the message with this ts in the channel gets the new text and blocks (and
        metadata when given), keeps its ts and is marked edited; someone else's message cannot be updated."""
        channel, ts = str(args.get("channel") or ""), str(args.get("ts") or "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if channel in self.absent_from:
            return {"ok": False, "error": "not_in_channel"}
        threads = [ms for (c, _), ms in self.replies.items() if c == channel]
        found = [m for ms in [self.messages.get(channel, []), *threads] for m in ms if m["ts"] == ts]
        if not found:
            return {"ok": False, "error": "message_not_found"}
        message = found[0]
        if message.get("user") != BOT_USER:
            return {"ok": False, "error": "cant_update_message"}
        message["text"] = args.get("text", message.get("text", ""))
        if "blocks" in args:
            message["blocks"] = args.get("blocks") or []
        if isinstance(args.get("metadata"), dict):
            message["metadata"] = args["metadata"]
        message["edited"] = {"user": BOT_USER, "ts": self._next_ts()}
        self.updates.append({"channel": channel, "ts": ts, "text": message["text"], "blocks": message["blocks"]})
        return {"ok": True, "channel": channel, "ts": ts, "text": message["text"], "message": dict(message)}

    def _answer(self, method: str, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        if method == "apps.connections.open":
            if token not in self.app_tokens:
                return {"ok": False, "error": "invalid_auth"}
            return {"ok": True, "url": self.socket_url}
        if token not in self.bot_tokens and token not in self.team_tokens:
            return {"ok": False, "error": "invalid_auth"}
        scope = SCOPE_OF.get(method)
        if scope is not None and scope not in self.scopes:
            return {"ok": False, "error": "missing_scope", "needed": scope, "provided": ",".join(sorted(self.scopes))}
        team = self.team_tokens.get(str(token), self.team_id)
        match method:
            case "auth.test":
                return {
                    "ok": True,
                    "url": "https://fake.slack.com/",
                    "team": "Fake Lab",
                    "user": "arxiv-bot",
                    "team_id": team,
                    "user_id": BOT_USER,
                    "bot_id": "BFAKE",
                }
            case "chat.postMessage":
                channel = str(args.get("channel") or "")
                if not channel:
                    return {"ok": False, "error": "channel_not_found"}
                if channel in self.absent_from:
                    return {"ok": False, "error": "not_in_channel"}
                ts = self._next_ts()
                message: dict[str, Any] = {
                    "type": "message",
                    "ts": ts,
                    "user": BOT_USER,
                    "bot_id": "BFAKE",
                    "text": args.get("text", ""),
                    "blocks": args.get("blocks") or [],
                }
                if isinstance(args.get("metadata"), dict):
                    message["metadata"] = args["metadata"]
                parent = args.get("thread_ts")
                if parent:
                    message["thread_ts"] = str(parent)
                    self.replies.setdefault((channel, str(parent)), []).append(message)
                else:
                    self.messages.setdefault(channel, []).append(message)
                return {"ok": True, "channel": channel, "ts": ts, "message": message}
            case "chat.update":
                return self._update(args)
            case "chat.postEphemeral":
                return {"ok": True, "message_ts": self._next_ts()}
            case "conversations.history" | "conversations.replies":
                return self._history(method, args)
            case "conversations.open":
                users = str(args.get("users") or "")
                if not users or "," in users:
                    return {"ok": False, "error": "users_list_not_supplied" if not users else "not_implemented"}
                return {"ok": True, "channel": {"id": f"D{users}", "is_im": True, "user": users}}
            case "files.getUploadURLExternal":
                filename, length = str(args.get("filename") or ""), str(args.get("length") or "")
                if not filename or not length.isdigit():
                    return {"ok": False, "error": "invalid_arguments"}
                file_id = f"F{len(self.uploads) + 1:08d}"
                self.uploads[file_id] = {"filename": filename, "length": int(length), "content": None}
                return {"ok": True, "upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}
            case "files.completeUploadExternal":
                return self._complete_upload(args)
            case "users.info":
                user = str(args.get("user", ""))
                return {
                    "ok": True,
                    "user": {"id": user, "name": user.lower(), "is_admin": user in self.admins, "is_owner": False},
                }
        return {"ok": False, "error": "unknown_method"}

    def _complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        try:
            files = json.loads(str(args.get("files") or "[]"))
        except ValueError:
            return {"ok": False, "error": "invalid_json"}
        channel = str(args.get("channel_id") or "")
        if channel in self.absent_from:
            return {"ok": False, "error": "not_in_channel"}
        shared = []
        for f in files:
            upload = self.uploads.get(str(f.get("id")))
            if upload is None or upload["content"] is None:
                return {"ok": False, "error": "file_not_found"}
            entry = {
                "id": f["id"],
                "name": upload["filename"],
                "title": f.get("title") or upload["filename"],
                "channel": channel,
                "content": upload["content"],
            }
            shared.append(entry)
        self.shared_files.extend(shared)
        return {"ok": True, "files": [{k: v for k, v in e.items() if k != "content"} for e in shared]}

    async def upload(self, request: web.Request) -> web.Response:
        """Receive the bytes of a file announced with files.getUploadURLExternal (as files.slack.com does)."""
        upload = self.uploads.get(request.match_info["file_id"])
        body = await request.read()
        if upload is None:
            return web.Response(status=404, text="unknown file")
        if len(body) != upload["length"]:
            return web.Response(status=400, text="length mismatch")
        upload["content"] = body
        await self._notify()
        return web.Response(text=f"OK - {len(body)}")

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
    app.router.add_post("/upload/{file_id}", slack.upload)
    app.router.add_get("/socket-mode", slack.socket_mode)
    app.router.add_get("/oauth/v2/authorize", slack.authorize)
    async with serving(app) as slack.base_url:
        try:
            yield slack
        finally:
            slack._closing.set()
            slack.gates.release_all()
            for ws in slack.sockets:
                await ws.close()


def signed_headers(body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack sends with a request body, signed with the app's signing secret."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def command_payload(
    text: str,
    *,
    response_url: str,
    channel: str = "C1",
    user: str = "U1",
    user_name: str = "alice",
    team: str = TEAM,
) -> dict[str, str]:
    """The fields Slack sends for ``/arxiv <text>``."""
    return {
        "token": "deprecated-verification-token",
        "team_id": team,
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
        "event_id": f"Ev{ts.replace('.', '')}{user}{reaction}{int(added)}",
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


def app_event(event: dict[str, Any], *, team: str, enterprise: str | None = None) -> dict[str, Any]:
    """An Events API ``event_callback`` body for ``event`` in ``team``."""
    return {
        "token": "deprecated-verification-token",
        "team_id": team,
        "enterprise_id": enterprise,
        "api_app_id": "A1",
        "type": "event_callback",
        "event_id": f"Ev{event['type']}{team}{int(time.time() * 1000)}",
        "event_time": int(time.time()),
        "event": event,
        "authorizations": [{"team_id": team, "enterprise_id": enterprise, "user_id": BOT_USER, "is_bot": True}],
    }


def uninstalled_event(team: str) -> dict[str, Any]:
    """What Slack sends when ``team`` uninstalls the app."""
    return app_event({"type": "app_uninstalled"}, team=team)


def bot_token_revoked_event(team: str) -> dict[str, Any]:
    """What Slack sends when the bot token of ``team`` is revoked."""
    return app_event({"type": "tokens_revoked", "tokens": {"oauth": [], "bot": [BOT_USER]}}, team=team)
