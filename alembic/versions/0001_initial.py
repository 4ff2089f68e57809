"""Initial schema: papers, channels and their rules, the delivery ledger, card messages, saves.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "papers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("arxiv_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("abstract", sa.Text, nullable=False),
        sa.Column("authors", sa.JSON, nullable=False),
        sa.Column("categories", sa.JSON, nullable=False),
        sa.Column("primary_category", sa.String(32), nullable=False),
        sa.Column("announce_type", sa.String(16), nullable=False),
        sa.Column("published", sa.Date, nullable=True),
        sa.Column("doi", sa.String(255), nullable=True),
        sa.Column("journal_ref", sa.Text, nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_papers"),
        sa.UniqueConstraint("arxiv_id", "version", name="uq_papers_arxiv_id_version"),
    )
    op.create_table(
        "channels",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("workspace", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("post_time", sa.String(5), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("max_papers", sa.Integer, nullable=False),
        sa.Column("min_score", sa.Float, nullable=False),
        sa.Column("include_cross", sa.Boolean, nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("last_digest_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("feed_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_channels"),
        sa.UniqueConstraint(
            "platform", "workspace", "channel", name="uq_channels_platform_workspace_channel"
        ),
        sa.UniqueConstraint("feed_token", name="uq_channels_feed_token"),
    )
    op.create_table(
        "channel_categories",
        sa.Column("channel_id", sa.Integer, nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            ondelete="CASCADE",
            name="fk_channel_categories_channel_id_channels",
        ),
        sa.PrimaryKeyConstraint("channel_id", "category", name="pk_channel_categories"),
    )
    op.create_table(
        "keyword_rules",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("channel_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("term", sa.String(128), nullable=False),
        sa.Column("term_key", sa.String(128), nullable=False),
        sa.Column("weight", sa.Float, nullable=False, server_default="1.0"),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], ondelete="CASCADE", name="fk_keyword_rules_channel_id_channels"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_keyword_rules"),
        sa.UniqueConstraint("channel_id", "kind", "term_key", name="uq_keyword_rules_channel_kind_term"),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("channel_id", sa.Integer, nullable=False),
        sa.Column("arxiv_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("matched", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=True),
        sa.Column("thread_state", sa.String(16), nullable=False),
        sa.Column("thread_message_id", sa.String(64), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], ondelete="CASCADE", name="fk_deliveries_channel_id_channels"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.UniqueConstraint("channel_id", "arxiv_id", name="uq_deliveries_channel_paper"),
    )
    op.create_table(
        "card_messages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("channel_id", sa.Integer, nullable=False),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("arxiv_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], ondelete="CASCADE", name="fk_card_messages_channel_id_channels"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_card_messages"),
        sa.UniqueConstraint("channel_id", "message_id", name="uq_card_messages_channel_message"),
    )
    op.create_table(
        "saves",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("workspace", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("arxiv_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("channel_id", sa.Integer, nullable=True),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], ondelete="SET NULL", name="fk_saves_channel_id_channels"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_saves"),
        sa.UniqueConstraint("platform", "workspace", "user_id", "arxiv_id", name="uq_saves_user_paper"),
    )


def downgrade() -> None:
    for table in (
        "saves",
        "card_messages",
        "deliveries",
        "keyword_rules",
        "channel_categories",
        "channels",
        "papers",
    ):
        op.drop_table(table)
