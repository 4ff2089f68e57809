"""Delivery intent: a row is "sending" with a client-generated key before each platform call.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

``post_key`` is the key every message of the row carries (Discord nonce, Slack message metadata), ``sending_at``
when the part now ``sending`` was announced (the search for it on the platform starts there), ``thread_parts`` how
many messages of a split thread reply are posted. ``thread_state`` gets an index: a row is unfinished exactly while
its thread is not posted. On the way down a ``sending`` part becomes ``pending`` again (the old code knew no other
state and posts it again, as it always did).
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_deliveries = sa.table("deliveries", sa.column("state", sa.String), sa.column("thread_state", sa.String))


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("thread_parts", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("post_key", sa.String(25), nullable=True))
        batch.add_column(sa.Column("sending_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_deliveries_thread_state", ["thread_state"])


def downgrade() -> None:
    for column in ("state", "thread_state"):
        op.execute(
            sa.update(_deliveries).where(_deliveries.c[column] == "sending").values({column: "pending"})
        )
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_index("ix_deliveries_thread_state")
        batch.drop_column("sending_at")
        batch.drop_column("post_key")
        batch.drop_column("thread_parts")
