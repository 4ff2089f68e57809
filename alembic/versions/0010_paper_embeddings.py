"""Paper embeddings: each paper version's vector, once per embedding model, for the learned ranker.

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-02

``paper_embeddings`` holds what ``[ranking] embedding_model`` returned for a paper's title and abstract, as float32
bytes (little-endian, ``dimensions`` values), so that no paper is embedded (and paid for) twice. Nothing else
refers to it: dropping it loses only vectors that can be fetched again.
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "paper_embeddings",
        sa.Column("arxiv_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("dimensions", sa.Integer, nullable=False),
        sa.Column("vector", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("arxiv_id", "version", "model", name="pk_paper_embeddings"),
    )


def downgrade() -> None:
    op.drop_table("paper_embeddings")
