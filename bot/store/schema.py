"""The database schema: every table arxiv-bot keeps, on one MetaData (alembic migrations are written from it)."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

papers = sa.Table(
    "papers",
    metadata,
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
    sa.UniqueConstraint("arxiv_id", "version", name="uq_papers_arxiv_id_version"),
)

channels = sa.Table(
    "channels",
    metadata,
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
    # False while the workspace has uninstalled the app: no digest, no catch-up; settings and rows are kept.
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.UniqueConstraint("platform", "workspace", "channel", name="uq_channels_platform_workspace_channel"),
    sa.UniqueConstraint("feed_token", name="uq_channels_feed_token"),
)

# The workspaces an app installation covers (Slack teams installed through OAuth), and the organization each belongs
# to (a Slack Enterprise Grid org: an org-wide install has one token for all its teams).
workspaces = sa.Table(
    "workspaces",
    metadata,
    sa.Column("platform", sa.String(16), primary_key=True),
    sa.Column("workspace", sa.String(64), primary_key=True),
    sa.Column("organization", sa.String(64), nullable=True),
    sa.Column("org_install", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("installed", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
)

# Several replicas (PostgreSQL): each scheduled slot's run of a day is claimed by one replica, with a lease its
# heartbeat renews; a claim whose lease ran out unfinished is taken over by another replica (bot.store.leases).
slot_claims = sa.Table(
    "slot_claims",
    metadata,
    sa.Column("slot", sa.String(80), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("holder", sa.String(64), nullable=False),
    sa.Column("lease_until", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
)

FOREIGN_TABLES = frozenset({"slack_bots", "slack_installations", "slack_oauth_states"})
"""Tables other libraries create and own in our database (slack_sdk's installation and OAuth state stores): not ours
to migrate, and left out of alembic's autogenerate."""

channel_categories = sa.Table(
    "channel_categories",
    metadata,
    sa.Column("channel_id", sa.Integer, sa.ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("category", sa.String(32), primary_key=True),
)

keyword_rules = sa.Table(
    "keyword_rules",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("channel_id", sa.Integer, sa.ForeignKey("channels.id", ondelete="CASCADE"), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("term", sa.String(128), nullable=False),
    sa.Column("term_key", sa.String(128), nullable=False),
    sa.Column("weight", sa.Float, nullable=False, server_default="1.0"),
    sa.UniqueConstraint("channel_id", "kind", "term_key", name="uq_keyword_rules_channel_kind_term"),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("channel_id", sa.Integer, sa.ForeignKey("channels.id", ondelete="CASCADE"), nullable=False),
    sa.Column("arxiv_id", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("rank", sa.Integer, nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("matched", sa.JSON, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("message_id", sa.String(64), nullable=True),
    # Indexed: a row is unfinished exactly while its thread is not posted (catch-up looks for those).
    sa.Column("thread_state", sa.String(16), nullable=False, index=True),
    sa.Column("thread_message_id", sa.String(64), nullable=True),
    sa.Column("thread_parts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=True),
    # The client-generated key every message of the row carries (Discord nonce, Slack metadata).
    sa.Column("post_key", sa.String(25), nullable=True),
    # When the part now "sending" was announced: the lower bound of the search for it on the platform.
    sa.Column("sending_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True),
    # Several replicas (PostgreSQL): the replica posting the row, until when (bot.store.leases).
    sa.Column("lease_holder", sa.String(64), nullable=True),
    sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
    sa.UniqueConstraint("channel_id", "arxiv_id", name="uq_deliveries_channel_paper"),
)

card_messages = sa.Table(
    "card_messages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("channel_id", sa.Integer, sa.ForeignKey("channels.id", ondelete="CASCADE"), nullable=False),
    sa.Column("message_id", sa.String(64), nullable=False),
    sa.Column("arxiv_id", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("channel_id", "message_id", name="uq_card_messages_channel_message"),
)

saves = sa.Table(
    "saves",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("platform", sa.String(16), nullable=False),
    sa.Column("workspace", sa.String(64), nullable=False),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("arxiv_id", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("channel_id", sa.Integer, sa.ForeignKey("channels.id", ondelete="SET NULL"), nullable=True),
    sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("platform", "workspace", "user_id", "arxiv_id", name="uq_saves_user_paper"),
)


# Each summary is stored once per paper version, model, language and prompt.
summaries = sa.Table(
    "summaries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("arxiv_id", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("model", sa.String(255), nullable=False),
    sa.Column("language", sa.String(16), nullable=False),
    sa.Column("prompt_version", sa.String(16), nullable=False),
    sa.Column("answered_by", sa.String(255), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("tldr", sa.Text, nullable=False),
    sa.Column("sections", sa.JSON, nullable=False),
    sa.Column("input_tokens", sa.Integer, nullable=False),
    sa.Column("output_tokens", sa.Integer, nullable=False),
    sa.Column("cost_usd", sa.Float, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint(
        "arxiv_id", "version", "model", "language", "prompt_version", name="uq_summaries_paper_model_language_prompt"
    ),
)

llm_usage = sa.Table(
    "llm_usage",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("model", sa.String(255), primary_key=True),
    sa.Column("calls", sa.Integer, nullable=False, server_default="0"),
    sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("input_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("output_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("cost_usd", sa.Float, nullable=False, server_default="0"),
    sa.Column("cache_hits", sa.Integer, nullable=False, server_default="0"),
    sa.Column("cache_misses", sa.Integer, nullable=False, server_default="0"),
)
