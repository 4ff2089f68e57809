"""Migrations create exactly the schema the code uses, and go down and up cleanly (SQLite, and PostgreSQL when set)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot.db import create_engine, metadata
from bot.migrations import downgrade_database, upgrade_database


async def test_upgrade_matches_models_and_downgrade_is_clean(empty_db_url: str) -> None:
    engine = create_engine(empty_db_url)
    try:
        await upgrade_database(engine)
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}), metadata)
            )
            assert diff == []
            if engine.dialect.name == "sqlite":
                mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
                assert mode == "wal"
                assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
            else:
                assert engine.dialect.name == "postgresql"
        await downgrade_database(engine, "base")
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
            assert tables == {"alembic_version"}
        await upgrade_database(engine)
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
            assert set(metadata.tables) <= tables
    finally:
        await engine.dispose()
