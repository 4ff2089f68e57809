"""Graceful shutdown: SIGTERM mid-digest finishes or leaves pending each post; a restart posts the rest once."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import re
import signal
import sys
import termios
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from adapters.composition import build_services
from adapters.console.adapter import CONSOLE_CHANNEL
from adapters.runtime import stop_work
from bot.models import ChannelRef, DeliveryState, MessageRef, PaperCard, PostKey
from tests.conftest import ROOT, ctx, make_settings
from tests.fakes.arxiv_server import HANG, FakeArxivServer
from tests.fakes.clock import FixedClock
from tests.fakes.publisher import FakePublisher

F_SETPIPE_SZ = 1031  # Linux fcntl: set a pipe's capacity
PIPE_BYTES = 4096
KEYWORDS = "model, models, learning, LLM, data, language, training, network, agents, graph, reasoning, inference"
CARD_ID = re.compile(r"^    cs\.\w+(?: \(cross-list\))? · (\d{4}\.\d{5}v\d+) · score", re.MULTILINE)


@dataclass
class GatedPublisher(FakePublisher):
    """A publisher whose ``gate_at``-th card is taken by the platform but answered only when ``release`` is set."""

    gate_at: int = 2
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def post_card(self, card: PaperCard, *, channel: ChannelRef, key: PostKey | None = None) -> MessageRef:
        """Record the card (the platform has it), then hold the answer of the gated one."""
        ref = await super().post_card(card, channel=channel, key=key)
        if len(self.cards) == self.gate_at:
            self.entered.set()
            await self.release.wait()
        return ref


async def test_a_cancelled_digest_records_the_post_in_flight_and_a_restart_posts_the_rest_once(
    db_url: str, arxiv: FakeArxivServer, clock: FixedClock
) -> None:
    first = build_services(make_settings(db_url, arxiv), clock=clock)
    gated = GatedPublisher()
    first.router.add("test", gated)
    for line in ("subscribe cs.AI cs.CL cs.DC cs.LG", "keywords add LLM, RL, agents"):
        await first.commands.execute(ctx(), line)
    digest = asyncio.create_task(first.commands.execute(ctx(), "digest now"))
    await asyncio.wait_for(gated.entered.wait(), timeout=5)
    digest.cancel()  # what shutdown does to a digest that is running
    with pytest.raises(asyncio.CancelledError):
        await digest
    draining = asyncio.create_task(first.runner.drain(timeout_s=5))
    gated.release.set()  # the platform answers the post that was in flight
    await asyncio.wait_for(draining, timeout=5)
    record = await first.channels.get(ctx().channel)
    assert record is not None
    assert await first.runner.deliver(record) == (0, 0)  # stopped: nothing new starts
    assert len(gated.cards) == 2 and gated.threads == []
    posted_first = {p.paper.versioned_id for p in await first.ledger.posted_papers(record.id)}
    assert posted_first == {c.paper.versioned_id for c in gated.cards}
    await first.aclose()

    second = build_services(make_settings(db_url, arxiv), clock=clock)
    later = FakePublisher()
    second.router.add("test", later)
    try:
        reply = await second.commands.execute(ctx(), "digest now")
        rows = await second.ledger.posted_papers(record.id)
        assert await second.ledger.unfinished(record.id) == []
    finally:
        await second.aclose()
    every = [c.paper.versioned_id for c in gated.cards + later.cards]
    assert len(every) == len(set(every)) == len(rows) > 2, reply.text
    assert set(every) == {r.paper.versioned_id for r in rows}
    assert len(later.threads) == len(rows)  # each card's thread, the first run's included, exactly once


async def test_stopping_cancels_a_scheduled_digest_stuck_on_arxiv_after_the_grace(
    db_url: str, arxiv: FakeArxivServer, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(db_url, arxiv, ARXIVBOT_SCHEDULER__ENABLED="true")
    clock.current = clock.current.replace(hour=8)  # the channel exists before its 09:00 slot...
    services = build_services(settings, clock=clock)
    publisher = FakePublisher()
    services.router.add("test", publisher)
    for line in ("subscribe cs.AI cs.CL cs.DC cs.LG", "keywords add LLM"):
        await services.commands.execute(ctx(), line)
    clock.current = clock.current.replace(hour=10)  # ...and the bot starts after it: the missed run starts at once
    arxiv.fail(HANG)
    await services.scheduler.start()
    await wait_until(lambda: len(arxiv.requests) == 1, within_s=10)
    with caplog.at_level(logging.WARNING, logger="adapters.runtime"):
        # arXiv never answers: stop_work can only return by cancelling the digest (the timeout guards a hang).
        await asyncio.wait_for(stop_work(services, grace_s=0.5), timeout=30)
    assert [r.getMessage() for r in caplog.records if r.name == "adapters.runtime"] == [
        "a digest was still running at shutdown; its unposted papers stay pending for the next run"
    ]
    assert len(arxiv.requests) == 1 and arxiv.requests[0].finished is None  # cancelled while arXiv still hung
    await services.aclose()
    assert publisher.sent == []

    again = build_services(make_settings(db_url, arxiv), clock=clock)
    again.router.add("test", publisher)
    try:
        assert (await again.commands.execute(ctx(), "digest now")).posted > 0
    finally:
        await again.aclose()
    ids = [c.paper.versioned_id for c in publisher.cards]
    assert len(ids) == len(set(ids)) == len(publisher.threads)


def unread_bytes(fd: int) -> int:
    buffer = array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, buffer)
    return buffer[0]


def blocked_writing_to_a_full_pipe(pid: int, read_fd: int) -> bool:
    """Whether the process sits in write() on our pipe: the kernel's wait channel when it shows one, else fullness."""
    try:
        channel = Path(f"/proc/{pid}/wchan").read_text()
    except OSError:
        channel = ""
    if channel not in ("", "0"):
        return "pipe_write" in channel
    return unread_bytes(read_fd) >= PIPE_BYTES - 1024


async def wait_until(condition: Callable[[], bool], *, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def bot_env(db_url: str, arxiv: FakeArxivServer, home: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "ARXIVBOT_CONFIG": str(ROOT / "config.toml"),
        "ARXIVBOT_DATABASE__URL": db_url,
        "ARXIVBOT_ARXIV__RSS_URL": arxiv.rss_url,
        "ARXIVBOT_ARXIV__API_URL": arxiv.api_url,
        "ARXIVBOT_ARXIV__MIN_INTERVAL_S": "0",
        "ARXIVBOT_SCHEDULER__ENABLED": "false",
        "ARXIVBOT_HTTP__PORT": "0",
    }


async def read_some(fd: int) -> bytes:
    return await asyncio.get_running_loop().run_in_executor(None, os.read, fd, 65536)


async def test_sigterm_during_a_digest_exits_0_and_a_restart_posts_every_paper_once(
    db_url: str, arxiv: FakeArxivServer, tmp_path: Path
) -> None:
    env = bot_env(db_url, arxiv, tmp_path)
    # The console posts to stdout: a 4 KiB pipe that we stop reading is a publisher endpoint that stalls mid-post.
    read_fd, write_fd = os.pipe()
    fcntl.fcntl(write_fd, F_SETPIPE_SZ, PIPE_BYTES)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adapters.cli", "run", cwd=ROOT, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=write_fd, stderr=asyncio.subprocess.PIPE,
    )
    os.close(write_fd)
    try:
        assert proc.stdin is not None
        proc.stdin.write(
            f"/arxiv subscribe cs.AI cs.CL cs.DC cs.LG\n/arxiv keywords add {KEYWORDS}\n/arxiv set max 25\n"
            "/arxiv digest now\n".encode()
        )
        await proc.stdin.drain()
        out = b""
        while b"[#1] " not in out:
            chunk = await asyncio.wait_for(read_some(read_fd), timeout=60)
            assert chunk, f"the bot ended early: {out.decode()}"
            out += chunk
        await wait_until(lambda: blocked_writing_to_a_full_pipe(proc.pid, read_fd), within_s=30)
        proc.send_signal(signal.SIGTERM)
        # The timeouts only guard against a hang; how fast the bot exits is not this test's business.
        while chunk := await asyncio.wait_for(read_some(read_fd), timeout=60):
            out += chunk
        code = await asyncio.wait_for(proc.wait(), timeout=60)
        assert proc.stderr is not None
        first_err = (await proc.stderr.read()).decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        os.close(read_fd)
    assert code == 0, first_err
    assert "Traceback" not in first_err
    first_ids = CARD_ID.findall(out.decode())
    assert 0 < len(first_ids) < 25, "SIGTERM should land in the middle of posting"

    # The restart: the same core on the same database, the console's posts recorded by a FakePublisher.
    restarted = build_services(make_settings(db_url, arxiv))
    console = FakePublisher()
    restarted.router.add("console", console)
    try:
        record = await restarted.channels.get(CONSOLE_CHANNEL)
        assert record is not None
        recorded = {r.paper.versioned_id for r in await restarted.ledger.posted_papers(record.id)}
        assert recorded == set(first_ids)  # every card printed was recorded, the one in flight at SIGTERM too
        reply = await restarted.commands.execute(ctx(channel=CONSOLE_CHANNEL), "digest now")
        assert await restarted.ledger.unfinished(record.id) == []
        rows = await restarted.ledger.posted_papers(record.id)
    finally:
        await restarted.aclose()
    second_ids = [c.paper.versioned_id for c in console.cards]
    every = first_ids + second_ids
    assert len(every) == len(set(every)) == len(rows) == 25, (first_ids, second_ids, reply.text)
    assert {r.paper.versioned_id for r in rows} == set(every)
    assert len(console.threads) == 25  # no thread was posted before the SIGTERM; each is posted once now


async def test_sigterm_during_digest_channel_finishes_the_post_in_flight_and_exits_0(
    db_url: str, arxiv: FakeArxivServer, tmp_path: Path
) -> None:
    setup = build_services(make_settings(db_url, arxiv))
    try:
        for line in ("subscribe cs.AI cs.CL cs.DC cs.LG", f"keywords add {KEYWORDS}", "set max 25"):
            await setup.commands.execute(ctx(channel=CONSOLE_CHANNEL), line)
    finally:
        await setup.aclose()
    read_fd, write_fd = os.pipe()
    fcntl.fcntl(write_fd, F_SETPIPE_SZ, PIPE_BYTES)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adapters.cli", "digest", "--channel", "console:console", cwd=ROOT,
        env=bot_env(db_url, arxiv, tmp_path), stdin=asyncio.subprocess.DEVNULL, stdout=write_fd,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    os.close(write_fd)
    try:
        out = b""
        while b"[#1] " not in out:
            chunk = await asyncio.wait_for(read_some(read_fd), timeout=60)
            assert chunk, f"the digest ended early: {out.decode()}"
            out += chunk
        await wait_until(lambda: blocked_writing_to_a_full_pipe(proc.pid, read_fd), within_s=30)
        proc.send_signal(signal.SIGTERM)  # the digest sits in the middle of printing a card
        while chunk := await asyncio.wait_for(read_some(read_fd), timeout=60):
            out += chunk
        code = await asyncio.wait_for(proc.wait(), timeout=60)
        assert proc.stderr is not None
        err = (await proc.stderr.read()).decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        os.close(read_fd)
    text = out.decode()
    assert code == 0, err
    assert "Traceback" not in err
    printed = CARD_ID.findall(text)
    summary = text.strip().splitlines()[-1]
    assert re.fullmatch(
        rf"console:console: {len(printed)} posted, 0 failed, \d+ listed; stopped by SIGTERM: 25 papers with a card"
        r" or thread still to post stay pending for the next run",  # no thread went out: all 25 are unfinished
        summary,
    ), summary
    assert 0 < len(printed) < 25

    after = build_services(make_settings(db_url, arxiv))
    try:
        record = await after.channels.get(CONSOLE_CHANNEL)
        assert record is not None and record.last_digest_at is None  # not done: rows are left
        recorded = {r.paper.versioned_id for r in await after.ledger.posted_papers(record.id)}
        assert recorded == set(printed)  # the card in flight at SIGTERM was finished and recorded
        left = await after.ledger.unfinished(record.id)
        assert len(left) == 25 and all(r.state is not DeliveryState.SENDING for r in left)
    finally:
        await after.aclose()
