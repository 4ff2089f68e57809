"""Card updates: the posted card shows its summary's TL;DR once the summary is ready, done once per card.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-01

``card_update`` is NULL while the card has nothing to show (and for every row written before this revision),
``pending`` once the thread is posted with a TL;DR, then ``done`` (the platform confirmed the edit) or ``refused``
(the platform will not take it; the card stays as posted). ``tldr`` is the text to show, kept with the row so that
an interrupted update is retried with the same text. Indexed: a row whose card update is pending is unfinished.
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("card_update", sa.String(16), nullable=True))
        batch.add_column(sa.Column("tldr", sa.Text, nullable=True))
        batch.create_index("ix_deliveries_card_update", ["card_update"])


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_index("ix_deliveries_card_update")
        batch.drop_column("tldr")
        batch.drop_column("card_update")
