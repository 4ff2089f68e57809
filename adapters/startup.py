"""Start-up decisions that need no platform library: what ``arxiv-bot run`` will start, and the retry policy for a
platform that cannot be reached while starting. Both platform adapters use it, so it imports neither of them.

``adapters.runtime`` (which runs the bot) and ``arxiv-bot check-config`` (which only says what would run) decide
from the same functions here, so the two never disagree. Nothing here imports slack_bolt, discord.py, aiohttp or
SQLAlchemy: ``check-config`` and ``--help`` stay fast.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TextIO, TypeVar

from bot.config import Settings
from bot.errors import ArxivBotError

log = logging.getLogger(__name__)
_T = TypeVar("_T")

NO_PLATFORM = (
    "no platform is configured and standard input is no terminal, so the console chat cannot run either: set "
    "SLACK_BOT_TOKEN (with SLACK_APP_TOKEN, or SLACK_SIGNING_SECRET in HTTP mode) or DISCORD_TOKEN, "
    "or start it with a terminal (docker run -it) for the console chat"
)
"""The one line ``arxiv-bot run`` prints, exiting 2, when it would start nothing (a detached container)."""


def platform_tokens_set(env: Mapping[str, str] | None = None) -> bool:
    """Whether a Slack or Discord token is in the environment."""
    env = os.environ if env is None else env
    return uses_slack(env) or uses_discord(env)


def uses_slack(env: Mapping[str, str]) -> bool:
    """Whether ``run`` starts Slack: a bot token (a token of blanks too: starting then says it is not set) or an
    OAuth client id (workspaces install the app)."""
    return bool(env.get("SLACK_BOT_TOKEN") or env.get("SLACK_CLIENT_ID"))


def uses_discord(env: Mapping[str, str]) -> bool:
    """Whether ``run`` starts Discord."""
    return bool(env.get("DISCORD_TOKEN"))


def start_plan(settings: Settings, env: Mapping[str, str], *, force_console: bool = False) -> list[str]:
    """What ``run`` will start, one phrase per part, in start order (for ``check-config``)."""
    parts: list[str] = []
    console = force_console or not platform_tokens_set(env)
    if not console and uses_slack(env):
        if settings.slack.mode == "socket":
            part = "Slack in Socket Mode"
        else:
            where = settings.http.public_url.rstrip("/") + settings.slack.events_path
            part = f"Slack in HTTP mode (requests to {where})"
        if env.get("SLACK_CLIENT_ID", "").strip():
            install = settings.http.public_url.rstrip("/") + settings.slack.install_path
            part += f" for every workspace that installs it at {install}"
        parts.append(part)
    if not console and uses_discord(env):
        guild = settings.discord.dev_guild_id.strip()
        parts.append("Discord" + (f" (commands in server {guild} only)" if guild else ""))
    if settings.http.enabled:
        parts.append(f"the HTTP server on {settings.http.host}:{settings.http.port}")
    if settings.scheduler.enabled:
        parts.append("the daily digest scheduler")
    if console:
        why = "" if force_console else " (no SLACK_BOT_TOKEN or DISCORD_TOKEN is set)"
        parts.append(f"the console chat on standard input{why}")
    return parts


def console_input_missing(stream: TextIO | None) -> bool:
    """Whether ``stream`` (standard input) can give the console chat nothing: closed, or ``/dev/null``.

    A detached container (``docker run -d`` without ``-i``, compose without ``stdin_open``) has ``/dev/null`` there.
    A pipe or a file is input, even an empty one; a terminal is.
    """
    if stream is None:
        return True
    try:
        fd = stream.fileno()
        if os.isatty(fd):
            return False
        mode = os.fstat(fd)
    except (OSError, ValueError, AttributeError):  # closed, or no file descriptor at all
        return True
    null = os.stat(os.devnull)
    same_file = (mode.st_dev, mode.st_ino) == (null.st_dev, null.st_ino)
    return same_file or (stat.S_ISCHR(mode.st_mode) and mode.st_rdev == null.st_rdev)


async def _sleep(seconds: float) -> None:
    import asyncio  # here, not at the top: --help and argument errors import nothing they do not use

    await asyncio.sleep(seconds)


class PlatformUnreachable(ArxivBotError):
    """A platform could not be reached at start, after every retry (a network outage, not a setting's fault)."""


@dataclass(frozen=True, kw_only=True)
class StartRetry:
    """How long to keep trying a platform that does not answer at start: ``attempts`` in all, with a doubling delay.

    The default waits 2, 4, 8, ... up to 60 s between attempts, about five minutes in all; then start-up fails with
    one line (a container's restart policy starts it over).
    """

    attempts: int = 8
    first_delay_s: float = 2.0
    max_delay_s: float = 60.0
    sleep: Callable[[float], Awaitable[None]] = field(default=_sleep)

    def delay(self, attempt: int) -> float:
        """The wait after failed attempt number ``attempt`` (1-based)."""
        return float(min(self.max_delay_s, self.first_delay_s * 2 ** (attempt - 1)))

    async def run(
        self, what: str, step: Callable[[], Awaitable[_T]], *, transient: tuple[type[BaseException], ...]
    ) -> _T:
        """``await step()`` until it succeeds; each ``transient`` failure is retried after a logged wait.

        Any other exception (a refused token: a ``ConfigError``) passes through at once. ``what`` names what is
        tried, e.g. "Slack (https://slack.com/api/)".
        """
        for attempt in range(1, self.attempts + 1):
            try:
                return await step()
            except transient as err:
                reason = str(err) or type(err).__name__
                if attempt == self.attempts:
                    raise PlatformUnreachable(
                        f"{what} could not be reached after {self.attempts} attempts ({reason}); check the network, "
                        "then start again"
                    ) from None
                wait = self.delay(attempt)
                log.warning(
                    "%s did not answer (%s); retrying %d/%d in %.0f s", what, reason, attempt + 1, self.attempts, wait
                )
                await self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def describe(err: BaseException) -> str:
    """A one-line name for a failure: its class, and its message when it has one."""
    message = " ".join(str(err).split())
    return f"{type(err).__name__}: {message}" if message else type(err).__name__
