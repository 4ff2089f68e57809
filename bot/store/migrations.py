"""Apply the alembic migrations in ``alembic/`` to a database, from sync or async code."""

from __future__ import annotations

import sysconfig
from pathlib import Path
from typing import Any

from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from alembic import command
from bot.store.schema import FOREIGN_TABLES


def _alembic_dir() -> Path:
    """The migration scripts: ``alembic/`` beside the ``bot`` package in a checkout (or an editable install), else
    the copy a wheel installs under ``<prefix>/share/arxiv-bot/alembic`` (pyproject.toml's data-files)."""
    checkout = Path(__file__).resolve().parents[2] / "alembic"
    if (checkout / "env.py").is_file() and (checkout / "versions").is_dir():
        return checkout
    return Path(sysconfig.get_path("data")) / "share" / "arxiv-bot" / "alembic"


ALEMBIC_DIR = _alembic_dir()


def include_name(name: str | None, type_: str, _parent_names: Any) -> bool:
    """alembic's name filter: the tables other libraries own (``FOREIGN_TABLES``) stay out of autogenerate."""
    return not (type_ == "table" and name in FOREIGN_TABLES)


def alembic_config(connection: Connection) -> Config:
    """An alembic Config that runs on ``connection`` (see alembic/env.py)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(ALEMBIC_DIR))
    cfg.attributes["connection"] = connection
    return cfg


async def upgrade_database(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrade the schema to ``revision`` (default: the newest)."""
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync_conn: command.upgrade(alembic_config(sync_conn), revision))


async def downgrade_database(engine: AsyncEngine, revision: str) -> None:
    """Downgrade the schema to ``revision`` (``base`` removes every table)."""
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync_conn: command.downgrade(alembic_config(sync_conn), revision))
