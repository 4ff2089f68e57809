"""Version alerts: a ledger of notes about new versions of saved papers, and who turned them off.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

``version_alerts`` has one row per (kind, target, paper, version): a private note to one saver, or a reply in the
card's thread of a channel where the paper was saved. The row is written before the platform call (``sending``
with ``post_key``), so a restart never sends the same version twice. ``alert_optouts`` lists who said
``/arxiv alerts off``.
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "version_alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("target", sa.String(160), nullable=False),
        sa.Column("arxiv_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column(
            "channel_id",
            sa.Integer,
            sa.ForeignKey("channels.id", ondelete="CASCADE", name="fk_version_alerts_channel_id_channels"),
            nullable=False,
        ),
        sa.Column("user_id", sa.String(64), nullable=True),
        sa.Column("message_id", sa.String(64), nullable=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("comments", sa.Text, nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("post_key", sa.String(25), nullable=True),
        sa.Column("sending_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_version_alerts"),
        sa.UniqueConstraint("kind", "target", "arxiv_id", "version", name="uq_version_alerts_target_paper_version"),
    )
    op.create_index("ix_version_alerts_state", "version_alerts", ["state"])
    op.create_table(
        "alert_optouts",
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("workspace", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("platform", "workspace", "user_id", name="pk_alert_optouts"),
    )


def downgrade() -> None:
    op.drop_table("alert_optouts")
    op.drop_index("ix_version_alerts_state", table_name="version_alerts")
    op.drop_table("version_alerts")
