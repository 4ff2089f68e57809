"""Migrations create exactly the schema the code uses, and go down and up cleanly (SQLite, and PostgreSQL when set)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.database import create_engine
from bot.store.migrations import downgrade_database, upgrade_database
from bot.store.schema import metadata


async def _insert_channel(conn: AsyncConnection) -> None:
    """Channel 1, written as the schema of any revision takes it."""
    await conn.execute(
        sa.text(
            "INSERT INTO channels (platform, workspace, channel, post_time, timezone, max_papers, min_score,"
            " include_cross, language, feed_token, created_at) VALUES ('test', 'w', 'c', '09:00', 'UTC', 10,"
            " 1.0, false, 'en', 'tok', '2026-01-05 10:00:00')"
        )
    )


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


async def test_rule_keys_follow_matching_and_duplicates_collapse(empty_db_url: str) -> None:
    engine = create_engine(empty_db_url)
    try:
        await upgrade_database(engine, "0002")
        async with engine.begin() as conn:
            await _insert_channel(conn)
            for term, key in (("KV-cache", "kv-cache"), ("kv cache", "kv cache"), ("LLM", "llm")):
                await conn.execute(
                    sa.text(
                        "INSERT INTO keyword_rules (channel_id, kind, term, term_key, weight)"
                        " VALUES (1, 'include', :term, :key, 1.0)"
                    ),
                    {"term": term, "key": key},
                )
        await upgrade_database(engine)
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.text("SELECT term, term_key FROM keyword_rules ORDER BY id"))).all()
        assert [tuple(r) for r in rows] == [("KV-cache", "kv cache"), ("LLM", "llm")]
    finally:
        await engine.dispose()


async def test_delivery_intent_columns_and_a_downgrade_sends_sending_parts_back_to_pending(empty_db_url: str) -> None:
    engine = create_engine(empty_db_url)
    try:
        await upgrade_database(engine, "0003")
        async with engine.begin() as conn:
            await _insert_channel(conn)
            for arxiv_id in ("2601.00001", "2601.00002"):
                await conn.execute(
                    sa.text(
                        "INSERT INTO deliveries (channel_id, arxiv_id, version, rank, score, matched, state,"
                        " thread_state, created_at) VALUES (1, :id, 1, 0, 1.0, '[]', 'pending', 'pending',"
                        " '2026-01-05 10:00:00')"
                    ),
                    {"id": arxiv_id},
                )
        await upgrade_database(engine)
        async with engine.begin() as conn:
            rows = (await conn.execute(sa.text("SELECT thread_parts, post_key, sending_at FROM deliveries"))).all()
            assert [tuple(r) for r in rows] == [(0, None, None), (0, None, None)]
            await conn.execute(
                sa.text(
                    "UPDATE deliveries SET state = 'sending', post_key = 'k1', sending_at = '2026-01-05 10:00:01'"
                    " WHERE arxiv_id = '2601.00001'"
                )
            )
            await conn.execute(
                sa.text(
                    "UPDATE deliveries SET state = 'posted', thread_state = 'sending' WHERE arxiv_id = '2601.00002'"
                )
            )
        await downgrade_database(engine, "0003")
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.text("SELECT state, thread_state FROM deliveries ORDER BY id"))).all()
        assert [tuple(r) for r in rows] == [("pending", "pending"), ("posted", "pending")]
    finally:
        await engine.dispose()


async def test_ranking_signals_come_and_go_without_touching_channels_rules_or_saves(empty_db_url: str) -> None:
    engine = create_engine(empty_db_url)
    try:
        await upgrade_database(engine, "0004")
        async with engine.begin() as conn:
            await _insert_channel(conn)
            await conn.execute(
                sa.text(
                    "INSERT INTO keyword_rules (channel_id, kind, term, term_key, weight)"
                    " VALUES (1, 'include', 'LLM', 'llm', 1.0)"
                )
            )
            await conn.execute(
                sa.text(
                    "INSERT INTO saves (platform, workspace, user_id, arxiv_id, version, channel_id, saved_at)"
                    " VALUES ('test', 'w', 'U1', '2601.00001', 1, 1, '2026-01-05 10:00:00')"
                )
            )
        await upgrade_database(engine)
        signal = (
            "INSERT INTO ranking_signals (channel_id, arxiv_id, kind, source, user_id, created_at)"
            " VALUES (1, '2601.00002', 'down', 'reaction', 'U1', '2026-01-05 10:00:00')"
        )
        async with engine.begin() as conn:
            await conn.execute(sa.text(signal))
            await conn.execute(sa.text("INSERT INTO channel_ranking (channel_id) VALUES (1)"))
            enabled = (await conn.execute(sa.text("SELECT ranking_enabled FROM channel_ranking"))).scalar_one()
            assert bool(enabled)
        async with engine.connect() as conn:
            # A repeat of the same person's signal from the same source is refused by the table itself.
            try:
                await conn.execute(sa.text(signal))
            except sa.exc.IntegrityError:
                await conn.rollback()
            else:
                raise AssertionError("a repeated signal was stored twice")
        await downgrade_database(engine, "0004")
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
            assert "ranking_signals" not in tables and "channel_ranking" not in tables
            counts = [
                (await conn.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar_one()
                for table in ("channels", "keyword_rules", "saves")
            ]
        assert counts == [1, 1, 1]
    finally:
        await engine.dispose()


async def test_workspaces_keep_every_channel_row_and_slack_sdks_tables_stay_out_of_autogenerate(
    empty_db_url: str,
) -> None:
    from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
    from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore

    from bot.store.migrations import include_name

    engine = create_engine(empty_db_url)
    try:
        await upgrade_database(engine, "0004")
        async with engine.begin() as conn:
            await _insert_channel(conn)
            await conn.execute(sa.text("INSERT INTO channel_categories (channel_id, category) VALUES (1, 'cs.DC')"))
        await upgrade_database(engine)
        async with engine.begin() as conn:
            rows = (await conn.execute(sa.text("SELECT active FROM channels"))).scalars().all()
            assert [bool(r) for r in rows] == [True]
            assert (await conn.execute(sa.text("SELECT count(*) FROM channel_categories"))).scalar() == 1
        await AsyncSQLAlchemyInstallationStore(client_id="1.2", engine=engine).create_tables()  # type: ignore[no-untyped-call]
        await AsyncSQLAlchemyOAuthStateStore(expiration_seconds=60, engine=engine).create_tables()  # type: ignore[no-untyped-call]
        async with engine.connect() as conn:
            opts = {"compare_type": True, "include_name": include_name}
            diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c, opts=opts), metadata))
            assert diff == []
        await downgrade_database(engine, "0004")
        async with engine.connect() as conn:
            assert (await conn.execute(sa.text("SELECT count(*) FROM channel_categories"))).scalar() == 1
            columns = await conn.run_sync(lambda c: {col["name"] for col in sa.inspect(c).get_columns("channels")})
            assert "active" not in columns
    finally:
        await engine.dispose()
