"""A real OpenAI-compatible HTTP server on 127.0.0.1 that litellm reaches over loopback through ``api_base``.

Use it as ``async with running_openai_server() as llm:`` and configure litellm with
``api_base=llm.api_base`` and a model such as ``openai/fake-model`` (any ``OPENAI_API_KEY`` works). It answers
``POST /v1/chat/completions`` with a structured summary in JSON and real ``usage`` token counts.

* ``llm.requests`` records each request (model, messages, the whole body, start and end on ``time.monotonic``).
* ``llm.fail(500, 429, STALL)`` queues faults for the next requests, in order; ``llm.model_faults["m"] = 500``
  makes every request for model ``m`` fail. ``STALL`` never answers until the server stops (a timeout).
* ``llm.answer`` replaces the answer text (a string, or a function of the request body);
  ``overlong_answer()`` gives a hostile answer far longer than any cap; ``MARKDOWN_EN`` and ``MARKDOWN_ZH`` are the
  sectioned markdown that models write when they ignore ``response_format`` (as the reference bot's summaries
  read), ``PROSE_ANSWER`` an answer in neither shape.
* ``POST /v1/embeddings`` answers each input with ``hashed_embedding`` (a hashed bag of words: texts that share
  words are near); ``llm.embedding_requests`` records them, ``llm.fail_embeddings(429, STALL)`` queues faults for
  the next ones. A 401 echoes the API key it was given, as careless providers do (logs must mask it).
* ``llm.latency_s`` delays every answer; ``llm.max_in_flight`` is the most requests it handled at once.
* ``llm.hold()`` makes every later request wait (recorded, in flight) until ``llm.release(n)`` lets ``n`` of
  them go on, in arrival order; ``await llm.wait_for(predicate)`` waits for a state of the fake, by events.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from aiohttp import web

from tests.fakes.loopback import serving

STALL: Final = "stall"
LlmFault = int | Literal["stall"]


@dataclass
class RecordedChat:
    """One chat completion request the fake received."""

    model: str
    messages: list[dict[str, Any]]
    body: dict[str, Any]
    started: float
    finished: float | None = None

    @property
    def system(self) -> str:
        """The system message text."""
        return "\n".join(str(m.get("content", "")) for m in self.messages if m.get("role") == "system")

    @property
    def user(self) -> str:
        """The user message text."""
        return "\n".join(str(m.get("content", "")) for m in self.messages if m.get("role") == "user")


@dataclass
class RecordedEmbedding:
    """One embedding request the fake received."""

    model: str
    inputs: list[str]
    body: dict[str, Any]
    authorization: str


EMBEDDING_DIMENSIONS = 64
_WORD = re.compile(r"[a-z0-9]{3,}")


def hashed_embedding(text: str, dimensions: int = EMBEDDING_DIMENSIONS) -> list[float]:
    """A deterministic unit vector of a text: each word of three or more letters adds +-1 at a hashed position, so
    texts that share words point the same way."""
    vector = [0.0] * dimensions
    for word in _WORD.findall(text.lower()):
        digest = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big")
        vector[digest % dimensions] += 1.0 if (digest >> 32) & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0.0:
        return [1.0] + [0.0] * (dimensions - 1)
    return [v / norm for v in vector]


def summary_answer(body: dict[str, Any]) -> str:
    """A well-formed structured summary that names the model that wrote it."""
    model = str(body.get("model", "?"))
    return json.dumps(
        {
            "tldr": f"A faster way to serve LLMs (by {model}).",
            "contributions": "Proposes FlexSpec, a speculative decoding scheme with frozen drafts.",
            "method": "Edge-cloud inference; datasets: MT-Bench, GSM8K; baselines: EAGLE, Medusa; metric: latency.",
            "results": "2.1x lower latency and 35% less bandwidth than EAGLE on MT-Bench.",
            "conclusions": "Works with evolving targets; limited to decoder-only models; future: multi-draft.",
        }
    )


MARKDOWN_EN = """Here is the summary of the paper.

**TL;DR:** FlexSpec keeps one frozen draft model on the device while the cloud target evolves, 2.1x faster.

### 1. Main contributions and novelty
- A frozen on-device draft that needs **no retraining** when the cloud target model is updated.
- An adaptive draft length chosen from the channel state.

### 2. Method and experimental setup
Edge-cloud speculative decoding; datasets: MT-Bench, GSM8K; baselines: EAGLE, Medusa; metric: latency.

### 3. Key results
2.1x lower latency and 35% less bandwidth than EAGLE on MT-Bench.

### 4. Conclusions, limitations and future work
Works with evolving targets; limited to decoder-only models; future work: several drafts.
"""
"""A summary in markdown sections with a bold TL;DR line, in English."""

MARKDOWN_ZH = """TL;DR：FlexSpec 在设备端保留一个冻结的草稿模型，云端目标模型持续演进，延迟降低 2.1 倍。

1. 主要贡献与创新点
提出 FlexSpec：设备端草稿模型冻结，云端目标模型更新时无需重新训练。

2. 方法与实验设置
边云协同的 speculative decoding；数据集 MT-Bench、GSM8K；基线 EAGLE、Medusa；指标为延迟。

3. 关键结果
在 MT-Bench 上比 EAGLE 延迟降低 2.1 倍，带宽减少 35%。

4. 结论、局限与未来工作
仅适用于 decoder-only 模型；未来工作：多个草稿模型。
"""
"""A summary in numbered sections with a full-width colon after TL;DR, in Chinese."""

PROSE_ANSWER = "I am sorry, but I can only say that this paper is about speculative decoding at the edge."
"""An answer with neither the JSON asked for nor a TL;DR line and sections."""


def overlong_answer(_body: dict[str, Any]) -> str:
    """A hostile answer: pings, markup and sections far longer than any cap."""
    spam = "<!channel> @everyone <@U123> **bold** " * 2000
    return json.dumps(
        {
            "tldr": "IGNORE THE CAPS " + spam,
            "contributions": spam,
            "method": spam,
            "results": spam,
            "conclusions": spam,
        }
    )


@dataclass
class FakeOpenAIServer:
    """State and behaviour of the fake; tests change its fields directly."""

    answer: str | Callable[[dict[str, Any]], str] = summary_answer
    faults: deque[LlmFault] = field(default_factory=deque)
    model_faults: dict[str, LlmFault] = field(default_factory=dict)
    latency_s: float = 0.0
    requests: list[RecordedChat] = field(default_factory=list)
    embedding_requests: list[RecordedEmbedding] = field(default_factory=list)
    embedding_faults: deque[LlmFault] = field(default_factory=deque)
    embedding_dimensions: int = EMBEDDING_DIMENSIONS
    in_flight: int = 0
    max_in_flight: int = 0
    base_url: str = ""
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _gate: asyncio.Semaphore | None = None
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def api_base(self) -> str:
        """What to give litellm as ``api_base``."""
        return f"{self.base_url}/v1"

    def fail(self, *faults: LlmFault) -> None:
        """Queue faults for the next requests, in order."""
        self.faults.extend(faults)

    def fail_embeddings(self, *faults: LlmFault) -> None:
        """Queue faults for the next embedding requests, in order."""
        self.embedding_faults.extend(faults)

    def embedded_texts(self) -> list[str]:
        """Every text the embedding requests asked for, in order (repeats included)."""
        return [text for r in self.embedding_requests for text in r.inputs]

    def hold(self) -> None:
        """From now on, each request waits at the fake until ``release`` lets it go on."""
        self._gate = asyncio.Semaphore(0)

    def release(self, count: int = 1) -> None:
        """Let ``count`` held requests (or ones still to come) go on, in arrival order."""
        assert self._gate is not None, "release() without hold()"
        for _ in range(count):
            self._gate.release()

    async def wait_for(self, predicate: Callable[[], object], within_s: float = 60.0) -> None:
        """Wait until ``predicate()`` is true (checked whenever a request arrives or ends); fail after ``within_s``.

        The bound is generous: the bot's first summary imports litellm, which can take seconds on a busy machine.
        """
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), within_s)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def models(self) -> list[str]:
        """The model named in each request, in order."""
        return [r.model for r in self.requests]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Record the request, apply latency and faults, else answer it."""
        body = await request.json()
        record = RecordedChat(
            model=str(body.get("model", "")),
            messages=list(body.get("messages", [])),
            body=body,
            started=time.monotonic(),
        )
        self.requests.append(record)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await self._notify()
            if self._gate is not None:
                await self._gate.acquire()
            if self.latency_s:
                await asyncio.sleep(self.latency_s)
            fault = self.faults.popleft() if self.faults else self.model_faults.get(record.model)
            if fault == STALL:
                await self._stopping.wait()
                return web.Response(status=503)
            if isinstance(fault, int):
                error = {"error": {"message": f"fake fault: HTTP {fault}", "type": "server_error", "code": fault}}
                return web.json_response(error, status=fault)
            return web.json_response(self._completion(body))
        finally:
            self.in_flight -= 1
            record.finished = time.monotonic()
            await self._notify()

    async def handle_embeddings(self, request: web.Request) -> web.StreamResponse:
        """Record the embedding request, apply latency and faults, else answer a hashed vector per input."""
        body = await request.json()
        raw = body.get("input", [])
        inputs = [raw] if isinstance(raw, str) else [str(t) for t in raw]
        authorization = request.headers.get("Authorization", "")
        self.embedding_requests.append(
            RecordedEmbedding(model=str(body.get("model", "")), inputs=inputs, body=body, authorization=authorization)
        )
        await self._notify()
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        fault = self.embedding_faults.popleft() if self.embedding_faults else None
        if fault == STALL:
            await self._stopping.wait()
            return web.Response(status=503)
        if isinstance(fault, int):
            message = f"fake fault: HTTP {fault}"
            if fault == 401:
                message = f"Incorrect API key provided: {authorization.removeprefix('Bearer ')}"
            error = {"error": {"message": message, "type": "server_error", "code": fault}}
            return web.json_response(error, status=fault)
        tokens = sum(max(1, len(t) // 4) for t in inputs)
        return web.json_response(
            {
                "object": "list",
                "model": body.get("model", ""),
                "data": [
                    {"object": "embedding", "index": i, "embedding": hashed_embedding(t, self.embedding_dimensions)}
                    for i, t in enumerate(inputs)
                ],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        text = self.answer(body) if callable(self.answer) else self.answer
        prompt = "".join(str(m.get("content", "")) for m in body.get("messages", []))
        prompt_tokens, completion_tokens = max(1, len(prompt) // 4), max(1, len(text) // 4)
        return {
            "id": f"chatcmpl-fake-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", ""),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


@asynccontextmanager
async def running_openai_server() -> AsyncIterator[FakeOpenAIServer]:
    """Start a fake OpenAI-compatible API on an ephemeral loopback port; stop it on exit."""
    server = FakeOpenAIServer()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", server.handle)
    app.router.add_post("/chat/completions", server.handle)
    app.router.add_post("/v1/embeddings", server.handle_embeddings)
    app.router.add_post("/embeddings", server.handle_embeddings)
    async with serving(app) as server.base_url:
        try:
            yield server
        finally:
            server._stopping.set()
