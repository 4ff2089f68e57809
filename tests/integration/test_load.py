"""Under load: many channels' `digest now` at once, commands during a digest, writers taking turns on SQLite."""

from __future__ import annotations

import asyncio

from adapters.composition import Services
from bot.models import ChannelRef
from bot.store.database import BACKGROUND, COMMANDS, WriteTurns
from tests.conftest import ctx
from tests.fakes.arxiv_server import FakeArxivServer
from tests.fakes.publisher import FakePublisher

CATEGORIES = ("cs.AI", "cs.CL", "cs.DC", "cs.LG")


async def test_writers_take_turns_commands_first_and_a_cancelled_waiter_leaves_the_queue() -> None:
    turns = WriteTurns()
    order: list[str] = []
    release = asyncio.Event()

    async def write(name: str, priority: int, *, hold: asyncio.Event | None = None) -> None:
        async with turns.turn(priority):
            order.append(name)
            if hold is not None:
                await hold.wait()

    first = asyncio.create_task(write("digest 1", BACKGROUND, hold=release))
    await asyncio.sleep(0)
    queued = [
        asyncio.create_task(write("digest 2", BACKGROUND)),
        asyncio.create_task(write("command 1", COMMANDS)),
        asyncio.create_task(write("digest 3", BACKGROUND)),
        asyncio.create_task(write("command 2", COMMANDS)),
    ]
    await asyncio.sleep(0)
    queued[2].cancel()
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(first, *queued, return_exceptions=True)
    assert order == ["digest 1", "command 1", "command 2", "digest 2"]
    async with turns.turn(COMMANDS):  # nobody holds it any more
        order.append("after")
    assert order[-1] == "after"


async def test_150_channels_sending_digest_now_at_once_all_post_from_one_fetch_per_category(
    services: Services, arxiv: FakeArxivServer, publisher: FakePublisher
) -> None:
    refs = [ChannelRef("test", "w1", f"c{n:03d}") for n in range(150)]
    for n, ref in enumerate(refs):
        cats = " ".join(CATEGORIES[: 1 + n % len(CATEGORIES)])
        for line in (f"subscribe {cats}", "keywords add LLM, RL, agents", "set max 2"):
            await services.commands.execute(ctx(channel=ref), line)
    arxiv.latency_s = 0.05  # the fetches overlap the first requests
    digests = []
    for ref in refs:  # one request after another, none waiting for the others
        digests.append(asyncio.create_task(services.commands.execute(ctx(channel=ref), "digest now")))
        await asyncio.sleep(0)
    # Meanwhile, the channels' people change settings and read them.
    during = await asyncio.gather(
        *(services.commands.execute(ctx(channel=ref), "keywords add speculative decoding") for ref in refs[:50]),
        *(services.commands.execute(ctx(channel=ref), "settings") for ref in refs[50:100]),
    )
    replies = await asyncio.gather(*digests)
    assert [r.posted for r in replies if not r.posted] == []
    assert all(r.text.startswith("Posted ") for r in replies), {r.text for r in replies}
    assert all("went wrong" not in r.text for r in during)
    assert all(r.text.startswith("Added to keywords") for r in during[:50])
    rss = sorted(r.path for r in arxiv.requests if r.path.startswith("/rss/"))
    assert rss == [f"/rss/{c}" for c in sorted(CATEGORIES)]  # one fetch per category for all 150 runs
    assert {message.channel for message in publisher.by_key.values()} == set(refs)
