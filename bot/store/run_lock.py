"""PostgreSQL: the ``arxiv-bot run`` processes on one database announce themselves with a session advisory lock,
held on a connection of their own for their whole life (the server drops it when the process dies, SIGKILL too).

A replica (``[database] replicas = true``, the default) holds it shared, so any number run side by side; a bot
that said it runs alone (``replicas = false``) holds it exclusively, and a second bot of either kind is refused with
one line. A replica that finds itself alone at start (no other live process holds the lock) frees every lease left
by processes that died, so a restarted single bot resumes its unfinished rows at once instead of after the leases.
The lock is per schema (``current_schema()``), so bots on other schemas of the same database do not meet.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.errors import ConfigError, StoreError
from bot.store import schema as db
from bot.store.database import create_engine

log = logging.getLogger(__name__)

LOCK_CLASS = 0x41425254
"""The first half of the advisory lock's key (arbitrary, ours); the second is the hash of the schema's name."""
_KEY = f"{LOCK_CLASS}, hashtext(current_schema())"
WAIT_S = 15.0
"""How long a starting replica waits for another starting one to finish its check."""


class PostgresInUse(ConfigError):
    """Another running bot holds the database in a way this one may not share."""


SINGLE_REFUSED = (
    "another arxiv-bot is already running on this PostgreSQL database and this one has [database] replicas = false: "
    "stop the other, or set replicas = true (ARXIVBOT_DATABASE__REPLICAS=true) on every bot sharing the database"
)
REPLICA_REFUSED = (
    "an arxiv-bot with [database] replicas = false is running on this PostgreSQL database (it must be the only one): "
    "stop it, or set replicas = true (ARXIVBOT_DATABASE__REPLICAS=true) on it too, to run several replicas"
)


async def free_every_lease(conn: AsyncConnection) -> int:
    """Release every lease on ledger rows and slot runs (only when no other bot is alive); how many rows were held."""
    d, c = db.deliveries.c, db.slot_claims.c
    freed = await conn.execute(
        sa.update(db.deliveries).where(d.lease_holder.is_not(None)).values(lease_holder=None, lease_until=None)
    )
    await conn.execute(
        sa.update(db.slot_claims)
        .where(c.finished_at.is_(None), c.lease_until > sa.func.now())
        .values(lease_until=sa.func.now())
    )
    return int(freed.rowcount or 0)


class RunLock:
    """This process's hold on the database as a running bot, from ``acquire()`` to ``release()``."""

    def __init__(self, *, url: str, replicas: bool, wait_s: float = WAIT_S) -> None:
        self._url = url
        self.replicas = replicas
        self._wait_s = wait_s
        self._engine: AsyncEngine | None = None
        self._conn: AsyncConnection | None = None

    async def acquire(self) -> bool:
        """Take the lock (``PostgresInUse`` when this bot may not run beside those running); True when no other bot
        was running, so the leases of dead ones were freed."""
        self._engine = create_engine(self._url, pool_size=1)
        try:
            try:
                conn = await self._engine.connect()
            except SQLAlchemyError as err:
                raise StoreError(f"database error: {type(err).__name__}: {err.args[0] if err.args else ''}") from err
            self._conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            alone = bool(await self._scalar(f"SELECT pg_try_advisory_lock({_KEY})"))
            if alone:
                freed = await free_every_lease(self._conn)
                if freed:
                    log.info("no other arxiv-bot is running: took back %d ledger row(s) leased by one that died", freed)
            elif not self.replicas:
                raise PostgresInUse(SINGLE_REFUSED)
            if self.replicas:
                await self._share(alone)
            return alone
        except BaseException:
            await self.release()
            raise

    async def _share(self, exclusive: bool) -> None:
        assert self._conn is not None
        if exclusive:  # ours already: share it, then let others in
            await self._scalar(f"SELECT pg_advisory_lock_shared({_KEY})")
            await self._scalar(f"SELECT pg_advisory_unlock({_KEY})")
            return
        await self._scalar(f"SET lock_timeout = '{int(self._wait_s * 1000)}ms'")
        try:
            await self._scalar(f"SELECT pg_advisory_lock_shared({_KEY})")
        except StoreError as err:
            if not isinstance(err.__cause__, DBAPIError) or "lock timeout" not in str(err.__cause__):
                raise
            raise PostgresInUse(REPLICA_REFUSED) from None
        await self._scalar("RESET lock_timeout")

    async def _scalar(self, sql: str) -> object:
        assert self._conn is not None
        try:
            result = await self._conn.execute(sa.text(sql))
        except SQLAlchemyError as err:
            raise StoreError(f"database error: {type(err).__name__}: {err.args[0] if err.args else ''}") from err
        return result.scalar() if result.returns_rows else None

    async def release(self) -> None:
        """Let the lock go (closing its connection does)."""
        if self._conn is not None:
            try:
                await self._conn.close()
            except SQLAlchemyError as err:
                log.warning("could not close the run lock's connection: %s", err)
            self._conn = None
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None
