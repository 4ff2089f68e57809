"""Alembic environment: runs on a connection handed over by bot.store.migrations (never opens its own)."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from alembic import context
from bot.store.migrations import include_name
from bot.store.schema import metadata

config = context.config
connection: Connection | None = config.attributes.get("connection")
if connection is None:
    raise SystemExit("run migrations with `arxiv-bot migrate`, which supplies the database connection")


context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    include_name=include_name,
)
with context.begin_transaction():
    context.run_migrations()
