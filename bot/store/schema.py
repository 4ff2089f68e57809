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
    # True after the owner of a personal digest (channel "@<user id>") stopped it with /arxiv me off: no digest,
    # settings kept for /arxiv me on.
    sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()),
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

# Slack HTTP mode behind a load balancer: the requests and events any replica handled within Slack's 5-minute
# replay window (``bot.store.http_state``), so a replay or a retry reaching another replica changes nothing.
slack_seen = sa.Table(
    "slack_seen",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
)

# Exported files waiting for their one download (``/files/<token>/<name>``): any replica can hand one out, once.
export_links = sa.Table(
    "export_links",
    metadata,
    sa.Column("token", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("media_type", sa.String(100), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
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
    # The update of the posted card with its summary's TL;DR: NULL (nothing to show), pending, done or refused.
    # Indexed: a row whose card update is pending is unfinished too.
    sa.Column("card_update", sa.String(16), nullable=True, index=True),
    sa.Column("tldr", sa.Text, nullable=True),
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
    # Indexed: a channel's saves are its ranker's positives.
    sa.Column(
        "channel_id", sa.Integer, sa.ForeignKey("channels.id", ondelete="SET NULL"), nullable=True, index=True
    ),
    sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("platform", "workspace", "user_id", "arxiv_id", name="uq_saves_user_paper"),
)

# A channel's learned-ranking switches, a row once one is set (no row: on, never reset, never changed). Its own
# table: SQLite can only drop a column of ``channels`` by rebuilding it, which would cascade to every child row.
channel_ranking = sa.Table(
    "channel_ranking",
    metadata,
    sa.Column("channel_id", sa.Integer, sa.ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True),
    # Off after ``/arxiv ranking off``.
    sa.Column("ranking_enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    # Saves made before the last ``/arxiv ranking reset`` no longer teach the ranker.
    sa.Column("signals_reset_at", sa.DateTime(timezone=True), nullable=True),
    # When a signal was last added or removed (a removal leaves no row behind to date it).
    sa.Column("signals_changed_at", sa.DateTime(timezone=True), nullable=True),
)

# What a channel's people told the ranker besides saves: likes and imports (kind "like"), 👎 and "Not for us"
# (kind "down"). One row per channel, paper, kind, source and person: a repeat is kept once, and removing a 👎
# reaction leaves the same person's "Not for us" button in place.
ranking_signals = sa.Table(
    "ranking_signals",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("channel_id", sa.Integer, sa.ForeignKey("channels.id", ondelete="CASCADE"), nullable=False),
    sa.Column("arxiv_id", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint(
        "channel_id",
        "arxiv_id",
        "kind",
        "source",
        "user_id",
        name="uq_ranking_signals_channel_paper_kind_source_user",
    ),
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

# Each paper version's embedding, once per embedding model: float32 values, little-endian, ``dimensions`` of them.
paper_embeddings = sa.Table(
    "paper_embeddings",
    metadata,
    sa.Column("arxiv_id", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("model", sa.String(255), nullable=False),
    sa.Column("dimensions", sa.Integer, nullable=False),
    sa.Column("vector", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("arxiv_id", "version", "model", name="pk_paper_embeddings"),
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

# New versions of saved papers: one row per (kind, target, paper, version), written before the platform call, so that
# no saver hears of a version twice whatever restarts happen. kind "note": a private note to one saver (target
# "platform:workspace:user"); kind "thread": a reply in the card's thread of a channel where it was saved
# (target "channel:<id>").
version_alerts = sa.Table(
    "version_alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("target", sa.String(160), nullable=False),
    sa.Column("arxiv_id", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("channel_id", sa.Integer, sa.ForeignKey("channels.id", ondelete="CASCADE"), nullable=False),
    sa.Column("user_id", sa.String(64), nullable=True),
    sa.Column("message_id", sa.String(64), nullable=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("comments", sa.Text, nullable=True),
    # pending -> sending (intent recorded with post_key, just before the platform call) -> sent; "failed" after
    # too many refused attempts.
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("post_key", sa.String(25), nullable=True),
    sa.Column("sending_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    sa.UniqueConstraint("kind", "target", "arxiv_id", "version", name="uq_version_alerts_target_paper_version"),
)

# People who turned version alerts off (/arxiv alerts off), per platform and workspace.
alert_optouts = sa.Table(
    "alert_optouts",
    metadata,
    sa.Column("platform", sa.String(16), primary_key=True),
    sa.Column("workspace", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(64), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
