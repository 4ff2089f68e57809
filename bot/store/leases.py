"""Several replicas on one PostgreSQL database behave as one bot: leases on digest slots and ledger rows.

* Each scheduled slot's run of a day is claimed by one replica (a ``slot_claims`` row); the others skip it. A claim
  whose lease ran out unfinished (its replica died) is taken over by the next replica that looks (the catch-up).
* Ledger rows are claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` and a lease (``deliveries.lease_holder``,
  ``lease_until``): a replica posts only the rows it holds, so two replicas never post the same row; the rows of a
  replica that died are free again when their lease ends, and a survivor's catch-up takes them over on its own.
* A heartbeat renews every lease this replica holds each third of the lease, so the leases of a live replica never
  run out, however long its digest takes.

Lease times are the PostgreSQL server's ``now()``, so the replicas' clocks need not agree. SQLite serves one
process (``bot.store.process_lock``) and needs none of this: ``Leases`` is for PostgreSQL only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Iterable, Sequence
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from bot.errors import StoreError
from bot.models import Delivery, ScoredPaper, as_utc
from bot.store import schema as db
from bot.store.database import Database
from bot.store.ledger import DeliveryLedger, unfinished_rows

log = logging.getLogger(__name__)

MAX_LEASE_S = 120.0


def replica_name() -> str:
    """This process among the replicas: host, pid and a random part (containers often all run as pid 1)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


class Leases:
    """The claims of one replica (``holder``) on slots and ledger rows, each lasting ``lease_s`` unless renewed."""

    def __init__(self, *, database: Database, holder: str | None = None, lease_s: float = MAX_LEASE_S) -> None:
        self._db = database
        self.holder = holder or replica_name()
        self.lease_s = lease_s
        self._heartbeat: asyncio.Task[None] | None = None

    # Lease times are the database server's: the replicas' own clocks may disagree.
    def _until(self) -> sa.ColumnElement[datetime]:
        return sa.func.now() + sa.func.make_interval(0, 0, 0, 0, 0, 0, self.lease_s)

    @staticmethod
    def _now() -> sa.ColumnElement[datetime]:
        return sa.func.now()

    # ------------------------------------------------------------------------------------------ slots

    async def claim_slot(self, slot: str, day: date) -> bool:
        """Claim the run of ``slot`` on ``day``: True when this replica runs it (first, or taking over a claim whose
        lease ran out unfinished), False when another replica runs or ran it."""
        self.start_heartbeat()
        c = db.slot_claims.c
        async with self._db.transaction() as conn:
            inserted = await conn.execute(
                postgresql.insert(db.slot_claims)
                .values(slot=slot, day=day, holder=self.holder, lease_until=self._until())
                .on_conflict_do_nothing()
            )
            if inserted.rowcount:
                return True
            taken = await conn.execute(
                sa.update(db.slot_claims)
                .where(
                    c.slot == slot,
                    c.day == day,
                    c.finished_at.is_(None),
                    sa.or_(c.holder == self.holder, c.lease_until < self._now()),
                )
                .values(holder=self.holder, lease_until=self._until())
            )
            if taken.rowcount:
                log.info("took over the digest of slot %s on %s (its replica's lease ran out)", slot, day)
                return True
            return False

    async def finish_slot(self, slot: str, day: date) -> None:
        """Record that the run of ``slot`` on ``day`` is done: no replica runs it again."""
        c = db.slot_claims.c
        async with self._db.transaction() as conn:
            await conn.execute(
                sa.update(db.slot_claims)
                .where(c.slot == slot, c.day == day, c.holder == self.holder)
                .values(finished_at=self._db.clock.now())
            )

    async def abandoned_slots(self) -> list[tuple[str, date]]:
        """Slot runs claimed but never finished whose lease ran out (their replica died), oldest first."""
        c = db.slot_claims.c
        async with self._db.transaction() as conn:
            rows = await conn.execute(
                sa.select(c.slot, c.day)
                .where(c.finished_at.is_(None), c.lease_until < self._now())
                .order_by(c.day, c.slot)
            )
            return [(slot, day) for slot, day in rows]

    # ------------------------------------------------------------------------------------------ ledger rows

    async def claim_rows(self, channel_id: int) -> set[int]:
        """Claim the channel's unfinished rows no live replica holds (``FOR UPDATE SKIP LOCKED``: a row another
        replica is claiming right now is skipped); the ids this replica now holds."""
        return await self.claim_rows_of([channel_id])

    async def claim_rows_of(self, channel_ids: Sequence[int]) -> set[int]:
        """``claim_rows`` of several channels in one transaction; the ids this replica now holds."""
        if not channel_ids:
            return set()
        self.start_heartbeat()
        d = db.deliveries.c
        async with self._db.transaction() as conn:
            free = (
                await conn.execute(
                    sa.select(d.id)
                    .where(
                        d.channel_id.in_(sorted(set(channel_ids))),
                        unfinished_rows(),
                        sa.or_(d.lease_holder.is_(None), d.lease_holder == self.holder, d.lease_until < self._now()),
                    )
                    .order_by(d.id)
                    .with_for_update(skip_locked=True)
                )
            ).scalars()
            ids = set(free)
            if ids:
                await conn.execute(
                    sa.update(db.deliveries)
                    .where(d.id.in_(sorted(ids)))
                    .values(lease_holder=self.holder, lease_until=self._until())
                )
            # Rows this replica holds already stay its own even when SKIP LOCKED passed over them (its heartbeat
            # was renewing them at that moment).
            held = await conn.execute(
                sa.select(d.id).where(
                    d.channel_id.in_(sorted(set(channel_ids))),
                    unfinished_rows(),
                    d.lease_holder == self.holder,
                )
            )
            return ids | set(held.scalars())

    # ------------------------------------------------------------------------------------------ heartbeat

    async def renew(self) -> None:
        """Extend every lease this replica holds (rows still unfinished, slots still running)."""
        d, c = db.deliveries.c, db.slot_claims.c
        until = self._until()
        async with self._db.transaction() as conn:
            await conn.execute(
                sa.update(db.deliveries)
                .where(d.lease_holder == self.holder, unfinished_rows())
                .values(lease_until=until)
            )
            await conn.execute(
                sa.update(db.slot_claims)
                .where(c.holder == self.holder, c.finished_at.is_(None))
                .values(lease_until=until)
            )

    def start_heartbeat(self) -> None:
        """Renew this replica's leases every third of the lease, in the background, until ``stop_heartbeat`` (the
        first claim starts it)."""
        if self._heartbeat is None:
            self._heartbeat = asyncio.get_running_loop().create_task(self._beat(), name="lease-heartbeat")

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                await self.renew()
            except Exception as err:  # the database is away: the next beat tries again
                log.warning("could not renew this replica's leases: %s", err)

    async def stop_heartbeat(self, *, give_up: bool = True) -> None:
        """Stop renewing and (``give_up``) release every lease: a stopping replica's unfinished work goes to the
        others now rather than when the leases run out."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
            self._heartbeat = None
        if not give_up:
            return
        d, c = db.deliveries.c, db.slot_claims.c
        try:
            async with self._db.transaction() as conn:
                await conn.execute(
                    sa.update(db.deliveries)
                    .where(d.lease_holder == self.holder)
                    .values(lease_holder=None, lease_until=None)
                )
                await conn.execute(
                    sa.update(db.slot_claims)
                    .where(c.holder == self.holder, c.finished_at.is_(None))
                    .values(lease_until=self._now())
                )
        except StoreError as err:
            log.warning("could not give up this replica's leases (they run out on their own): %s", err)


class LeasedLedger(DeliveryLedger):
    """The delivery ledger of one replica among several: ``unfinished`` hands out only the rows this replica has
    claimed, so the runner posts a row only while it holds it; everything else is the ledger as it is."""

    def __init__(self, *, database: Database, leases: Leases) -> None:
        super().__init__(database=database)
        self.leases = leases

    async def plan(self, channel_id: int, selected: Sequence[ScoredPaper]) -> int:
        """The ledger's plan; when another replica planned the same papers at the same moment (``digest now`` there
        during the slot's run here), the second pass leaves its rows alone."""
        try:
            return await super().plan(channel_id, selected)
        except StoreError:
            return await super().plan(channel_id, selected)

    async def unfinished_channels(self, *, planned_before: datetime) -> list[int]:
        """The ledger's channels with unfinished rows, but only those with a row this replica holds or may claim: a
        channel another live replica is posting to is its business, and the catch-up does not even look at it."""
        d = db.deliveries.c
        claimable = sa.or_(
            d.lease_holder.is_(None), d.lease_holder == self.leases.holder, d.lease_until < sa.func.now()
        )
        async with self._db.reading() as conn:
            ids = await conn.execute(
                sa.select(d.channel_id)
                .where(unfinished_rows(), d.created_at <= as_utc(planned_before), claimable)
                .distinct()
                .order_by(d.channel_id)
            )
            return list(ids.scalars())

    async def unfinished(self, channel_id: int) -> list[Delivery]:
        """The channel's unfinished rows this replica holds (claiming the free ones first), in the ledger's order."""
        held = await self.leases.claim_rows(channel_id)
        rows: Sequence[Delivery] = await super().unfinished(channel_id) if held else []
        return [row for row in rows if row.id in held]

    async def unfinished_many(self, channel_ids: Iterable[int]) -> dict[int, list[Delivery]]:
        """``unfinished`` of several channels, claimed in one go: every channel asked for is a key (an empty list
        when this replica holds none of its rows). Any batched read of unfinished rows must come through here."""
        wanted = sorted(set(channel_ids))
        held = await self.leases.claim_rows_of(wanted)
        found: dict[int, list[Delivery]] = {}
        for channel_id in wanted:
            rows = await super().unfinished(channel_id) if held else []
            found[channel_id] = [row for row in rows if row.id in held]
        return found
