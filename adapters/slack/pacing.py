"""Per-workspace 429 handling: Slack rate-limits each workspace on its own, so a 429 holds that workspace only.

When Slack answers a workspace's call with 429, every call of that workspace (the retried one and the ones queued
behind it) waits for the Retry-After it asked for; calls to other workspaces go on at their own pace. Each workspace
has its own Web API client whose 429 retry handler is bound to it (``WorkspaceRateLimitRetry``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

DEFAULT_RETRY_AFTER_S = 1.0
"""The wait when a 429 names none (Slack always does)."""


def retry_after_s(response: HttpResponse | None) -> float:
    """The Retry-After of a 429 answer, in seconds."""
    if response is None:
        return DEFAULT_RETRY_AFTER_S
    for name, values in response.headers.items():
        if name.lower() == "retry-after" and values:
            try:
                return max(0.0, float(values[0]))
            except ValueError:
                break
    return DEFAULT_RETRY_AFTER_S


class WorkspaceHolds:
    """When each workspace may call Slack again after a 429; ``clock`` (monotonic seconds, default: the running
    loop's) and ``sleep`` are what tests replace."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._until: dict[str, float] = {}

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    def hold(self, workspace: str, seconds: float) -> None:
        """Hold ``workspace`` for ``seconds`` from now (a longer hold already set is kept)."""
        self._until[workspace] = max(self._until.get(workspace, 0.0), self._now() + seconds)

    def held(self, workspace: str) -> bool:
        """Whether ``workspace`` is held now."""
        return self._until.get(workspace, 0.0) > self._now()

    async def wait(self, workspace: str) -> None:
        """Return when ``workspace`` is not held (at once for a workspace Slack did not rate-limit)."""
        while (left := self._until.get(workspace, 0.0) - self._now()) > 0:
            await self._sleep(left)
        self._until.pop(workspace, None)


PUBLISHING = frozenset(
    {"chat.postMessage", "chat.postEphemeral", "chat.update", "conversations.history", "conversations.replies"}
)
"""The methods the publisher calls: it handles their 429s itself (pausing that channel only, outside the workspace's
bound), so slack_sdk's rate-limit handler, which sleeps inside the call, leaves them alone."""


class RateLimitRetry(AsyncRateLimitErrorRetryHandler):
    """slack_sdk's retry of 429 (waiting Retry-After) for the calls the publisher does not pace itself (Bolt's)."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if request.url.rstrip("/").rsplit("/", 1)[-1] in PUBLISHING:
            return False
        return await super()._can_retry_async(state=state, request=request, response=response, error=error)


class WorkspaceRateLimitRetry(RateLimitRetry):
    """``RateLimitRetry`` in one workspace's client: the Retry-After holds the whole workspace, then it retries."""

    def __init__(self, *, holds: WorkspaceHolds, workspace: str, max_retry_count: int = 6) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._holds = holds
        self._workspace = workspace

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        """Hold the workspace for the Retry-After, wait it out, then let the call be retried."""
        state.next_attempt_requested = True
        self._holds.hold(self._workspace, retry_after_s(response))
        await self._holds.wait(self._workspace)
        state.increment_current_attempt()


def workspace_client(base: AsyncWebClient, *, holds: WorkspaceHolds, workspace: str) -> AsyncWebClient:
    """A copy of ``base`` for one workspace: the same URL, token, timeout and retry handlers, its 429 retry bound to
    ``workspace``."""
    handlers = [
        WorkspaceRateLimitRetry(holds=holds, workspace=workspace, max_retry_count=h.max_retry_count)
        if isinstance(h, AsyncRateLimitErrorRetryHandler)
        else h
        for h in base.retry_handlers
    ]
    return AsyncWebClient(
        token=base.token,
        base_url=base.base_url,
        timeout=base.timeout,
        ssl=base.ssl,
        proxy=base.proxy,
        session=base.session,
        headers=base.headers,
        logger=base.logger,
        retry_handlers=handlers,
    )
