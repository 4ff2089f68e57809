"""The database: the engine (SQLite by default, with WAL, a busy timeout and foreign keys; PostgreSQL by URL),
transactions, and the one place where driver errors become ``StoreError``."""

from __future__ import annotations

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


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """Create the async engine; on SQLite switch on WAL, a busy timeout and foreign keys for every connection.

    On PostgreSQL a ``?search_path=SCHEMA`` in the URL puts the tables in that (existing) schema.
    """
    parsed = make_url(url)
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql" and "search_path" in parsed.query:
        connect_args["server_settings"] = {"search_path": str(parsed.query["search_path"])}
        parsed = parsed.difference_update_query(["search_path"])
    engine = create_async_engine(parsed, echo=echo, pool_pre_ping=not is_sqlite(url), connect_args=connect_args)
    if is_sqlite(url):

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=5000")
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


class Database:
    """Owns the engine and turns driver errors into ``StoreError``."""

    def __init__(self, *, engine: AsyncEngine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside one transaction, committed on success."""
        try:
            async with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as err:
            raise StoreError(
                f"database error: {type(err).__name__}: {err.args[0] if err.args else ''}"
            ) from err

    async def ping(self) -> None:
        """Raise ``StoreError`` unless the database answers."""
        async with self.transaction() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
