"""Kill ``arxiv-bot run`` at points the fakes choose, restart it, and count what was duplicated or lost.

Shared by ``tests/e2e/test_crash_recovery.py`` (10 kills) and ``bench/faults.py`` (many more, with network faults).
The bot runs as a subprocess against the local fakes served by the caller's event loop: arXiv (a generated
listing), Slack in HTTP mode and Discord. Its channels exist since ten days, so each start runs the missed digest
(and the catch-up) on its own: nobody types ``digest now``.

A kill point is a message create the fake is told to hold (``Gates``): the n-th from the start, held after the
message was created (the answer never reaches the bot) or before (the request may or may not be created after the
bot is dead). The bot is SIGKILLed while the fake holds it: the kill lands exactly there, found from the fake's own
records, never from a sleep. The last start runs until every expected card and thread part is on the platform and
the ledger has nothing unfinished, then gets SIGTERM.

Counted from the fakes' records and the ledger: duplicate cards (a second card of a paper in a channel), duplicate
thread parts (a part of a thread twice), lost posts (a selected paper without its card, a card without every part of
its thread, a ledger row unfinished or pointing at another message), and resumed runs (an interrupted run whose
unfinished rows were all finished later, without any command).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from adapters.composition import Services, build_services
from adapters.discord.translate import thread_messages
from adapters.slack.translate import thread_blocks
from bot.models import ChannelRef, CommandContext, Paper
from bot.summarizers.extractive import extractive_summary
from tests.conftest import ROOT, make_settings
from tests.fakes.arxiv_server import FakeArxivServer
from tests.fakes.clock import FixedClock
from tests.fakes.discord_server import CHANNEL_ID, GUILD_ID, OTHER_CHANNEL_ID, FakeDiscord
from tests.fakes.faults import Gate, RandomFaults
from tests.fakes.slack_api import BOT_TOKEN, SIGNING_SECRET, TEAM, FakeSlack

CATEGORY = "cs.DC"
SLACK = "slack"
DISCORD = "discord"
SLACK_CHANNELS = ("C1", "C2", "C3")
DISCORD_CHANNELS = (CHANNEL_ID, OTHER_CHANNEL_ID)
START_TIMEOUT_S = 90.0
"""A guard against a hang only: how long one start may take to reach its kill point or to finish."""


def crash_feed(n_papers: int = 10, *, long_every: int = 4) -> bytes:
    """arXiv's RSS listing of ``CATEGORY`` for the day: ``n_papers`` about LLMs; every ``long_every``-th has an
    abstract long enough that its thread reply is several messages on Discord."""
    items = []
    for n in range(n_papers):
        arxiv_id = f"2601.{20000 + n:05d}"
        long = n % long_every == 0
        words = " ".join(f"t{n}x{i}" for i in range(1500 if long else 12))  # no two thread parts alike
        abstract = (
            f"We propose LLM serving method {n} that schedules {words} carefully. "
            f"It improves throughput by {10 + n}% over {words} baselines. "
            f"We release code for {words} reproducibility."
        )
        items.append(
            f"""<item><title>LLM serving study {n}</title><link>https://arxiv.org/abs/{arxiv_id}</link>
<description>arXiv:{arxiv_id}v1 Announce Type: new
Abstract: {abstract}</description>
<guid isPermaLink="false">oai:arXiv.org:{arxiv_id}v1</guid><category>{CATEGORY}</category>
<pubDate>Mon, 05 Jan 2026 00:00:00 -0500</pubDate><arxiv:announce_type>new</arxiv:announce_type>
<dc:creator>Ada Lovelace, Alan Turing</dc:creator></item>"""
        )
    return f"""<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" version="2.0">
<channel><title>{CATEGORY} updates on arXiv.org</title><link>http://rss.arxiv.org/rss/{CATEGORY}</link>
<description>{CATEGORY} updates</description><language>en-us</language>
<lastBuildDate>Mon, 05 Jan 2026 00:00:00 -0500</lastBuildDate><pubDate>Mon, 05 Jan 2026 00:00:00 -0500</pubDate>
{"".join(items)}
</channel></rss>""".encode()


@dataclass
class Tally:
    """What the kills did."""

    kills: int = 0
    duplicate_cards: int = 0
    duplicate_threads: int = 0
    lost: int = 0
    resumed: int = 0
    interrupted: int = 0
    problems: list[str] = field(default_factory=list)
    """One line per duplicate or loss, for the assertion message."""

    def line(self) -> str:
        """``kills=<n> duplicate_cards=<n> duplicate_threads=<n> lost=<n> resumed=<n>/<n>``."""
        return (
            f"kills={self.kills} duplicate_cards={self.duplicate_cards} duplicate_threads={self.duplicate_threads} "
            f"lost={self.lost} resumed={self.resumed}/{self.interrupted}"
        )

    def add(self, other: Tally) -> None:
        """Add another run's counts to these."""
        self.kills += other.kills
        self.duplicate_cards += other.duplicate_cards
        self.duplicate_threads += other.duplicate_threads
        self.lost += other.lost
        self.resumed += other.resumed
        self.interrupted += other.interrupted
        self.problems += other.problems


@dataclass(frozen=True)
class Expected:
    """A paper selected for a channel, and how many thread messages its summary takes there."""

    ref: ChannelRef
    paper: Paper
    parts: int


def channel_refs(platforms: set[str], slack_channels: tuple[str, ...] = SLACK_CHANNELS) -> list[ChannelRef]:
    """The channels of the crash world on these platforms."""
    refs = [ChannelRef(SLACK, TEAM, c) for c in slack_channels] if SLACK in platforms else []
    if DISCORD in platforms:
        refs += [ChannelRef(DISCORD, str(GUILD_ID), str(c)) for c in DISCORD_CHANNELS]
    return refs


async def wait_until(condition: Callable[[], Awaitable[bool]], *, within_s: float, every_s: float = 0.1) -> None:
    """Poll an async condition (the ledger, in another process's database) until it holds; AssertionError after
    ``within_s`` (a guard against a hang, not a timing assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not await condition():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(every_s)


class CrashWorld:
    """The fakes, the database and the bot subprocess of one crash run."""

    def __init__(
        self,
        *,
        db_url: str,
        home: Path,
        arxiv: FakeArxivServer,
        slack: FakeSlack,
        discord: FakeDiscord,
        platforms: set[str],
        rng: random.Random,
        max_papers: int = 6,
        fault_rate: float = 0.0,
        sigterm_share: float = 0.0,
    ) -> None:
        self.db_url = db_url
        self.home = home
        self.arxiv = arxiv
        self.slack = slack
        self.discord = discord
        self.platforms = platforms
        self.rng = rng
        self.max_papers = max_papers
        self.sigterm_share = sigterm_share
        self.expected: list[Expected] = []
        self.tally = Tally()
        self._snapshots: list[set[int]] = []
        self._services: Services | None = None
        self._stderr = b""
        arxiv.feeds[frozenset({CATEGORY})] = crash_feed()
        if fault_rate:
            slack.random_faults = RandomFaults(random.Random(rng.random()), fault_rate)
            discord.random_faults = RandomFaults(random.Random(rng.random()), fault_rate)
        # Hangs last past the bot's 2 s create timeout, and end long before the run does.
        slack.hang_s = discord.hang_s = 4.0

    @property
    def services(self) -> Services:
        """The test's own view of the database (never used to post)."""
        assert self._services is not None
        return self._services

    async def seed(self) -> None:
        """Create the channels (ten days ago) and compute what each one must get."""
        # The test only looks at the ledger: as a replica (the default on PostgreSQL) each read would claim the rows.
        settings = make_settings(self.db_url, self.arxiv, ARXIVBOT_DATABASE__REPLICAS="false")
        created = build_services(settings, clock=FixedClock(datetime.now(UTC) - timedelta(days=10)))
        try:
            for ref in channel_refs(self.platforms):
                for line in (f"subscribe {CATEGORY}", "keywords add LLM", f"set max {self.max_papers}"):
                    await created.commands.execute(_ctx(ref), line)
        finally:
            await created.aclose()
        self._services = build_services(settings)
        records = await self.services.channels.all_active()
        selection = await self.services.runner.select(records)
        for record in records:
            for pick in selection.picks[record.ref]:
                summary = extractive_summary(pick.paper)
                parts = len(thread_blocks(summary) if record.ref.platform == SLACK else thread_messages(summary))
                self.expected.append(Expected(record.ref, pick.paper, parts))
        assert len(self.expected) == self.max_papers * len(records)

    async def close(self) -> None:
        """Close the test's database connections."""
        if self._services is not None:
            await self._services.aclose()

    def env(self) -> dict[str, str]:
        """The bot's environment: the fakes, the database, short timeouts, a catch-up every second."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "ARXIVBOT_CONFIG": str(ROOT / "config.toml"),
            "ARXIVBOT_DATABASE__URL": self.db_url,
            "ARXIVBOT_ARXIV__RSS_URL": self.arxiv.rss_url,
            "ARXIVBOT_ARXIV__API_URL": self.arxiv.api_url,
            "ARXIVBOT_ARXIV__MIN_INTERVAL_S": "0",
            "ARXIVBOT_HTTP__PORT": "0",
            "ARXIVBOT_SCHEDULER__CATCH_UP_INTERVAL_S": "1",
            "ARXIVBOT_LOG__LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
        if SLACK in self.platforms:
            env |= {
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "ARXIVBOT_SLACK__MODE": "http",
                "ARXIVBOT_SLACK__API_URL": self.slack.api_url,
                "ARXIVBOT_SLACK__POST_INTERVAL_S": "0",
                "ARXIVBOT_SLACK__POST_TIMEOUT_S": "2",
            }
        if DISCORD in self.platforms:
            env |= {
                "DISCORD_TOKEN": self.discord.token,
                "ARXIVBOT_DISCORD__API_URL": self.discord.api_url,
                "ARXIVBOT_DISCORD__POST_TIMEOUT_S": "2",
            }
        return env

    async def _start(self) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "adapters.cli", "run", cwd=self.home, env=self.env(),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip

    # ------------------------------------------------------------------------------------------ the fakes' view

    def _slack_cards(self, ref: ChannelRef) -> list[tuple[str, dict[str, Any]]]:
        cards = []
        for message in self.slack.messages.get(ref.channel, []):
            actions = [b for b in message.get("blocks", []) if b.get("type") == "actions"]
            save = [e for b in actions for e in b["elements"] if e.get("action_id") == "arxiv_save"]
            if save:
                cards.append((str(save[0]["value"]), message))
        return cards

    def _slack_parts(self, ref: ChannelRef, card: dict[str, Any]) -> list[str]:
        replies = self.slack.replies.get((ref.channel, str(card["ts"])), [])
        return [str((r.get("metadata") or {}).get("event_payload", {}).get("key")) for r in replies]

    def _discord_cards(self, ref: ChannelRef) -> list[tuple[str, dict[str, Any]]]:
        cards = []
        for message in self.discord.cards(int(ref.channel)):
            footer = (message.get("embeds") or [{}])[0].get("footer", {}).get("text", "")
            if footer.startswith("arXiv:"):
                cards.append((footer.removeprefix("arXiv:").split(" ")[0], message))
        return cards

    def _discord_parts(self, card: dict[str, Any]) -> list[str]:
        messages = self.discord.thread_of(card["id"])
        return ["\n".join(e.get("description") or "" for e in m.get("embeds") or []) for m in messages]

    def _cards(self, ref: ChannelRef) -> list[tuple[str, dict[str, Any]]]:
        return self._slack_cards(ref) if ref.platform == SLACK else self._discord_cards(ref)

    def _parts(self, ref: ChannelRef, card: dict[str, Any]) -> list[str]:
        return self._slack_parts(ref, card) if ref.platform == SLACK else self._discord_parts(card)

    def _whole(self, item: Expected) -> list[dict[str, Any]]:
        """The cards of an expected paper whose thread has every part."""
        cards = [c for vid, c in self._cards(item.ref) if vid == item.paper.versioned_id]
        return [c for c in cards if len(set(self._parts(item.ref, c))) >= item.parts]

    def complete(self) -> bool:
        """Whether every expected card, with every part of its thread, is on the platform."""
        return all(self._whole(item) for item in self.expected)

    async def _until(self, predicate: Callable[[], bool], proc: asyncio.subprocess.Process) -> None:
        """Wait, on the fakes' own records, until ``predicate`` holds; fail if the bot exits first."""
        waits: list[asyncio.Future[Any]] = [
            asyncio.ensure_future(self.slack.wait_for(predicate, START_TIMEOUT_S)),
            asyncio.ensure_future(self.discord.wait_for(predicate, START_TIMEOUT_S)),
        ]
        exited = asyncio.ensure_future(proc.wait())
        try:
            done, _ = await asyncio.wait([*waits, exited], return_when=asyncio.FIRST_COMPLETED)
            if exited in done:
                raise AssertionError(f"the bot exited with {proc.returncode}: {await self._stderr_of(proc)}")
            for future in done:
                future.result()  # a TimeoutError of the guard
        finally:
            for future in [*waits, exited]:
                future.cancel()
            await asyncio.gather(*waits, exited, return_exceptions=True)

    async def _stderr_of(self, proc: asyncio.subprocess.Process) -> str:
        assert proc.stderr is not None
        with contextlib.suppress(Exception):
            self._stderr += await asyncio.wait_for(proc.stderr.read(), 10)
        return self._stderr.decode(errors="replace")[-3000:]

    # ------------------------------------------------------------------------------------------ kills

    def _remaining_creates(self, platform: str) -> int:
        left = 0
        for item in self.expected:
            if item.ref.platform != platform:
                continue
            cards = [c for vid, c in self._cards(item.ref) if vid == item.paper.versioned_id]
            left += (1 + item.parts) if not cards else max(0, item.parts - len(set(self._parts(item.ref, cards[0]))))
        return left

    async def kill_once(self, kills_left: int) -> bool:
        """Start the bot, kill it at a random message create; False when it finished all work before that point.

        The platform is drawn in proportion to the creates it still has to see, the create among the first
        ``remaining / (kills left + 1)`` of them, so that every kill finds work to land in.
        """
        platforms = sorted(self.platforms)
        left = [self._remaining_creates(p) for p in platforms]
        platform = self.rng.choices(platforms, weights=[n + 1 for n in left])[0]
        fake = self.slack if platform == SLACK else self.discord
        at = self.rng.randrange(max(1, left[platforms.index(platform)] // (kills_left + 1)))
        gate: Gate = fake.gates.add(at=at, create_first=self.rng.random() < 0.5)
        proc = await self._start()
        try:
            await self._until(lambda: gate.reached.is_set() or self.complete(), proc)
            if not gate.reached.is_set():
                fake.gates.active.remove(gate)
                await self._stop(proc)
                return False
            graceful = self.rng.random() < self.sigterm_share
            if graceful:
                proc.send_signal(signal.SIGTERM)
                gate.release()  # the platform answers; the bot records the post in flight and exits 0
                code = await asyncio.wait_for(proc.wait(), START_TIMEOUT_S)
                assert code == 0, await self._stderr_of(proc)
            else:
                proc.kill()
                await proc.wait()
                gate.release(drop=not gate.create_first and self.rng.random() < 0.5)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        self.tally.kills += 1
        self._snapshots.append(await self._unfinished_ids())
        return True

    async def _stop(self, proc: asyncio.subprocess.Process) -> None:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), START_TIMEOUT_S)
        assert code == 0, await self._stderr_of(proc)

    async def _unfinished_ids(self) -> set[int]:
        ids: set[int] = set()
        for record in await self.services.channels.all_active():
            ids |= {r.id for r in await self.services.ledger.unfinished(record.id)}
        return ids

    async def _settled(self) -> bool:
        return not await self._unfinished_ids()

    async def finish(self) -> None:
        """The last start: runs until everything is posted and recorded, then SIGTERM; exit code 0."""
        proc = await self._start()
        try:
            await self._until(self.complete, proc)
            await wait_until(self._settled, within_s=START_TIMEOUT_S)
            await self._stop(proc)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    async def count(self) -> Tally:
        """Duplicates and losses, from the fakes' records and the ledger."""
        tally = self.tally
        for ref in channel_refs(self.platforms):
            for vid, n in Counter(vid for vid, _ in self._cards(ref)).items():
                if n > 1:
                    tally.duplicate_cards += n - 1
                    tally.problems.append(f"{ref}: {n} cards of {vid}")
            for vid, card in self._cards(ref):
                parts = self._parts(ref, card)
                for part, n in Counter(parts).items():
                    if n > 1:
                        tally.duplicate_threads += n - 1
                        tally.problems.append(f"{ref}: part {part[:30]!r} of {vid}'s thread {n} times")
        records = {r.ref: r for r in await self.services.channels.all_active()}
        for item in self.expected:
            record = records[item.ref]
            whole = self._whole(item)
            rows = [r for r in await self.services.ledger.posted_since(record.id) if r.arxiv_id == item.paper.arxiv_id]
            if not whole:
                tally.lost += 1
                tally.problems.append(f"{item.ref}: no card of {item.paper.versioned_id} with its whole thread")
                continue
            ids = {str(c["ts"] if item.ref.platform == SLACK else c["id"]) for c in whole}
            if len(rows) != 1 or rows[0].message_id not in ids or not rows[0].finished:
                tally.lost += 1
                tally.problems.append(f"{item.ref}: ledger of {item.paper.versioned_id} is {rows}, cards {ids}")
        finished = set()
        for record in records.values():
            finished |= {r.id for r in await self.services.ledger.posted_since(record.id) if r.finished}
        tally.interrupted = len(self._snapshots)
        tally.resumed = sum(1 for snapshot in self._snapshots if snapshot <= finished)
        return tally


def _ctx(ref: ChannelRef) -> CommandContext:
    return CommandContext(channel=ref, user_id="U1", user_name="setup")


async def crash_run(world: CrashWorld, *, kills: int) -> Tally:
    """Seed, kill ``kills`` times at random message creates, finish, count."""
    await world.seed()
    try:
        for n in range(kills):
            if not await world.kill_once(kills - n):
                break
        await world.finish()
        return await world.count()
    finally:
        await world.close()
