"""Workspaces: installations through OAuth, and channels paused while their workspace has uninstalled the app.

Revision ID: 0008
Revises: 0004
Create Date: 2026-12-02

``channels.active`` is false while the channel's workspace has uninstalled the app (or revoked its bot token): no
digest and no catch-up there, settings and ledger rows kept for when it comes back. ``workspaces`` records each
workspace an installation covers and its organization (a Slack Enterprise Grid org), so a post finds the token of
an org-wide install. slack_sdk's own tables (slack_bots, slack_installations, slack_oauth_states) are created by
its stores, not here.
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0008"
down_revision = "0004"
branch_labels = None
depends_on = None


# Plain ADD/DROP COLUMN, never batch mode: on SQLite batch mode copies and drops ``channels``, and with foreign keys
# on, dropping it would cascade to every channel's categories, rules and deliveries.


def upgrade() -> None:
    op.add_column("channels", sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()))
    op.create_table(
        "workspaces",
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("workspace", sa.String(64), nullable=False),
        sa.Column("organization", sa.String(64), nullable=True),
        sa.Column("org_install", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("installed", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("platform", "workspace", name="pk_workspaces"),
    )


def downgrade() -> None:
    op.drop_table("workspaces")
    op.drop_column("channels", "active")
