"""Network faults the local Slack and Discord fakes play on message-creating requests, and gates that hold one.

* ``LOST``: the message is created, then the connection is reset before the answer (the client sees a reset).
* ``HANG``: the message is created, then the answer waits ``hang_s`` (past the client's timeout).
* ``RESET``: the connection is reset before anything is created.
* 429 with ``Retry-After`` and 5xx statuses are the fakes' own ``fail``/``rate_limit`` faults.

``RandomFaults`` picks one of them per request from a seeded generator (``bench/faults.py``). A ``Gate`` holds the
n-th message-creating request (before or after creating the message) until the test releases it: a test kills the
bot while the gate holds, so the kill lands exactly there.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiohttp import web

LOST = "lost"
HANG = "hang"
RESET = "reset"
NETWORK_FAULTS = (LOST, HANG, RESET)


def reset_connection(request: web.Request) -> None:
    """Close the request's connection with a TCP RST (the client sees "Connection reset by peer"); whatever the
    handler returns afterwards is not sent."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


@dataclass
class RandomFaults:
    """Each request gets each fault with probability ``rate`` (at most one), from a seeded generator."""

    rng: random.Random
    rate: float
    kinds: Sequence[str | int] = (*NETWORK_FAULTS, 429, 500)
    picked: list[str | int] = field(default_factory=list)

    def pick(self) -> str | int | None:
        """A fault for the next request, or None."""
        roll = self.rng.random()
        for n, kind in enumerate(self.kinds):
            if roll < self.rate * (n + 1):
                self.picked.append(kind)
                return kind
        return None


@dataclass
class Gate:
    """Holds the message-creating request number ``at`` (counted from 0 when the gate is set)."""

    at: int
    create_first: bool
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)
    seen: int = 0
    drop: bool = False

    def release(self, *, drop: bool = False) -> None:
        """Let the held request go on (its client may be dead by now); ``drop``: a request held before creating
        is dropped instead, nothing created."""
        self.drop = drop
        self.released.set()

    async def hold(self) -> None:
        """Mark the gate reached and wait for the release."""
        self.reached.set()
        await self.released.wait()


class Gates:
    """The gates of one fake: ``check(create_first)`` holds the request when a gate's turn has come."""

    def __init__(self) -> None:
        self.active: list[Gate] = []
        self.held: list[Gate] = []
        """Gates whose request came (held or released)."""

    def add(self, *, at: int, create_first: bool) -> Gate:
        """Hold request number ``at`` from now: after creating its message (``create_first``) or before."""
        gate = Gate(at=at, create_first=create_first)
        self.active.append(gate)
        return gate

    def release_all(self) -> None:
        """Release every gate (the fake is stopping)."""
        for gate in self.active:
            gate.release()
        self.active.clear()
        for gate in self.held:
            gate.release()

    def due(self) -> Gate | None:
        """Count one message-creating request; the gate whose turn it is, if any (removed from the active ones)."""
        for gate in list(self.active):
            if gate.seen == gate.at:
                self.active.remove(gate)
                self.held.append(gate)
                return gate
            gate.seen += 1
        return None
