"""Workspaces and replicas: installations through OAuth, channels paused while their workspace has uninstalled
the app, and the leases several replicas on PostgreSQL share the work with.

Revision ID: 0008
Revises: 0004
Create Date: 2026-12-02

``channels.active`` is false while the channel's workspace has uninstalled the app (or revoked its bot token): no
digest and no catch-up there, settings and ledger rows kept for when it comes back. ``workspaces`` records each
workspace an installation covers and its organization (a Slack Enterprise Grid org), so a post finds the token of
an org-wide install. slack_sdk's own tables (slack_bots, slack_installations, slack_oauth_states) are created by
its stores, not here. ``deliveries.lease_holder``/``lease_until`` say which replica posts a row and until when;
``slot_claims`` which replica runs each scheduled slot of a day.
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0008"
down_revision = "0007"
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
    op.add_column("deliveries", sa.Column("lease_holder", sa.String(64), nullable=True))
    op.add_column("deliveries", sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "slot_claims",
        sa.Column("slot", sa.String(80), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("slot", "day", name="pk_slot_claims"),
    )


def downgrade() -> None:
    op.drop_table("slot_claims")
    op.drop_column("deliveries", "lease_until")
    op.drop_column("deliveries", "lease_holder")
    op.drop_table("workspaces")
    op.drop_column("channels", "active")
