"""Personal digests: a person's own digest is a channel row whose channel id is ``@<user id>``, delivered to them
by direct message; ``channels.paused`` is true after they stopped it (``/arxiv me off``), its settings kept.

Revision ID: 0009_personal_digest
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


# Plain ADD/DROP COLUMN, never batch mode: on SQLite batch mode copies and drops ``channels``, and with foreign keys
# on, dropping it would cascade to every channel's categories, rules and deliveries.


def upgrade() -> None:
    op.add_column("channels", sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("channels", "paused")
