"""Shared HTTP state: Slack's replay window and the one-time export links live in the database, not in a process.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

Behind a load balancer each request may reach another replica: ``slack_seen`` holds the signed requests and event
ids handled within Slack's 5-minute replay window, ``export_links`` the exported files waiting for their one
download. Both are short-lived: expired rows are deleted as new ones come. Going down loses only waiting links.
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_seen",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_slack_seen"),
    )
    op.create_index("ix_slack_seen_expires_at", "slack_seen", ["expires_at"])
    op.create_table(
        "export_links",
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token", name="pk_export_links"),
    )
    op.create_index("ix_export_links_expires_at", "export_links", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_export_links_expires_at", table_name="export_links")
    op.drop_table("export_links")
    op.drop_index("ix_slack_seen_expires_at", table_name="slack_seen")
    op.drop_table("slack_seen")
