"""The database: the engine (SQLite by default, with WAL, a busy timeout and foreign keys; PostgreSQL by URL),
transactions, and the one place where driver errors become ``StoreError``.

Commands and background work (digests, catch-up) each get a ``Database`` of their own (``Database.pair``): an engine
and connection pool each, so a digest cannot use up the connections a command needs. SQLite takes one writer at a
time: the two share ``WriteTurns``, where writing transactions wait their turn in the event loop (commands first)
instead of inside SQLite, where a wait longer than the busy timeout is "database is locked". A transaction that
only reads (``reading``) does not wait: WAL lets it run beside the writer.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bot.errors import StoreError
from bot.ports import Clock


def is_sqlite(url: str) -> bool:
    """Whether a database URL points at SQLite."""
    return url.startswith("sqlite")


POOL_TIMEOUT_S = 120.0
"""How long a transaction waits for a pooled connection before it fails: a busy moment queues, it does not fail."""


def create_engine(url: str, *, echo: bool = False, pool_size: int | None = None) -> AsyncEngine:
    """Create the async engine; on SQLite switch on WAL, a busy timeout and foreign keys for every connection.

    On PostgreSQL a ``?search_path=SCHEMA`` in the URL puts the tables in that (existing) schema. ``pool_size``
    (with as many again in overflow) bounds the connections the engine opens.
    """
    parsed = make_url(url)
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql" and "search_path" in parsed.query:
        connect_args["server_settings"] = {"search_path": str(parsed.query["search_path"])}
        parsed = parsed.difference_update_query(["search_path"])
    pooling: dict[str, Any] = {}
    if is_sqlite(url):
        # Every use ends its transaction (``Database`` commits or rolls back), so a connection needs no rollback
        # on its way back to the pool: with aiosqlite that would be one more trip to its thread per transaction.
        pooling["pool_reset_on_return"] = None
    if pool_size is not None and ":memory:" not in url:
        pooling |= {"pool_size": pool_size, "max_overflow": pool_size, "pool_timeout": POOL_TIMEOUT_S}
    engine = create_async_engine(
        parsed, echo=echo, pool_pre_ping=not is_sqlite(url), connect_args=connect_args, **pooling
    )
    if is_sqlite(url):

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")  # another process writing (the CLI, a migration)
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    return engine


def insert_ignoring_conflicts(engine: AsyncEngine, table: sa.Table) -> Any:
    """An INSERT that silently skips rows violating a unique constraint, for the engine's dialect."""
    if engine.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()



def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite database URL, or None (PostgreSQL, or an in-memory SQLite database)."""
    if is_sqlite(url) and ":///" in url and ":memory:" not in url:
        return Path(url.split(":///", 1)[1]).expanduser()
    return None


COMMANDS = 0
BACKGROUND = 1
"""``WriteTurns`` priorities: commands go before background work."""


class WriteTurns:
    """One writing transaction at a time, in the event loop: waiters queue by priority, then in arrival order."""

    def __init__(self) -> None:
        self._busy = False
        self._waiting: tuple[deque[asyncio.Future[None]], ...] = (deque(), deque())

    @asynccontextmanager
    async def turn(self, priority: int) -> AsyncIterator[None]:
        """Hold the writer's turn (waiting for it first)."""
        if self._busy or any(self._waiting):
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiting[priority].append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._release()  # handed the turn just as we were cancelled: pass it on
                else:
                    self._waiting[priority].remove(waiter)
                raise
        else:
            self._busy = True
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        for queue in self._waiting:
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # the turn passes straight on: still busy
                    return
        self._busy = False


class Database:
    """Owns the engine and turns driver errors into ``StoreError``."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        clock: Clock,
        turns: WriteTurns | None = None,
        priority: int = BACKGROUND,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self._priority = priority
        # Only SQLite needs writers to take turns; PostgreSQL locks rows, not the database.
        self._turns = (turns or WriteTurns()) if engine.dialect.name == "sqlite" else None

    @classmethod
    def pair(
        cls, url: str, *, clock: Clock, command_pool: int = 5, background_pool: int = 5
    ) -> tuple[Database, Database]:
        """(commands', background work's): one database, a connection pool each, SQLite writers taking turns."""
        turns = WriteTurns()
        commands = cls(
            engine=create_engine(url, pool_size=command_pool), clock=clock, turns=turns, priority=COMMANDS
        )
        background = cls(
            engine=create_engine(url, pool_size=background_pool), clock=clock, turns=turns, priority=BACKGROUND
        )
        return commands, background

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside one transaction, committed on success; on SQLite it waits for the writer's turn."""
        if self._turns is None:
            async with self._begin() as conn:
                yield conn
            return
        async with self._turns.turn(self._priority), self._begin() as conn:
            yield conn

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that only reads: it needs no writer's turn (it must not write)."""
        async with self._begin() as conn:
            yield conn

    @asynccontextmanager
    async def _begin(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as err:
            raise StoreError(
                f"database error: {type(err).__name__}: {err.args[0] if err.args else ''}"
            ) from err

    async def ping(self) -> None:
        """Raise ``StoreError`` unless the database answers."""
        async with self.reading() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
