"""Ranking signals: what a channel's people told the learned ranker, and its per-channel switches.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

``ranking_signals`` holds likes and imports (kind ``like``) and 👎 / "Not for us" (kind ``down``), one row per
channel, paper, kind, source and person. Saves stay in ``saves`` (now indexed by channel: they are positives too).
``channel_ranking`` holds ``ranking_enabled`` (``/arxiv ranking off|on``), ``signals_reset_at`` (saves before the
last ``/arxiv ranking reset`` no longer teach the ranker) and ``signals_changed_at`` (a removal leaves no row to date
it). It is a table of its own rather than columns of ``channels``: on SQLite, dropping a column on the way down
rebuilds the table, and dropping the old ``channels`` would cascade to every channel's rules, saves and ledger.
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ranking_signals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("channel_id", sa.Integer, nullable=False),
        sa.Column("arxiv_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ranking_signals"),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name="fk_ranking_signals_channel_id_channels", ondelete="CASCADE"
        ),
        sa.UniqueConstraint(
            "channel_id",
            "arxiv_id",
            "kind",
            "source",
            "user_id",
            name="uq_ranking_signals_channel_paper_kind_source_user",
        ),
    )
    op.create_table(
        "channel_ranking",
        sa.Column("channel_id", sa.Integer, nullable=False),
        sa.Column("ranking_enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("signals_reset_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("signals_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("channel_id", name="pk_channel_ranking"),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name="fk_channel_ranking_channel_id_channels", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_saves_channel_id", "saves", ["channel_id"])


def downgrade() -> None:
    op.drop_index("ix_saves_channel_id", table_name="saves")
    op.drop_table("channel_ranking")
    op.drop_table("ranking_signals")
