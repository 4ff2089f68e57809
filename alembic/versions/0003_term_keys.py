"""Keyword rules keyed by their matching form ("KV-cache" and "kv cache" are one keyword).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

The key used to be the term lower-cased with its whitespace collapsed, while matching cut terms into runs of
letters and digits. Keys are recomputed the way matching sees them; where a channel now holds two rules of one
kind with the same key, the older rule (lowest id) is kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import sqlalchemy as sa

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_WORD = re.compile(r"[^\W_]+")
_rules = sa.table(
    "keyword_rules",
    sa.column("id", sa.Integer),
    sa.column("channel_id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("term", sa.String),
    sa.column("term_key", sa.String),
)


def _rekey(key_of: Callable[[str], str]) -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(_rules.c.id, _rules.c.channel_id, _rules.c.kind, _rules.c.term).order_by(_rules.c.id))
    seen: set[tuple[int, str, str]] = set()
    keep: dict[int, str] = {}
    drop: list[int] = []
    for rule_id, channel_id, kind, term in rows:
        key = key_of(term)
        if (channel_id, kind, key) in seen:
            drop.append(rule_id)
        else:
            seen.add((channel_id, kind, key))
            keep[rule_id] = key
    if drop:
        conn.execute(sa.delete(_rules).where(_rules.c.id.in_(drop)))
    # Clear first so that no intermediate state breaks the unique constraint, then write the new keys.
    for rule_id in keep:
        conn.execute(sa.update(_rules).where(_rules.c.id == rule_id).values(term_key=f"#{rule_id}"))
    for rule_id, key in keep.items():
        conn.execute(sa.update(_rules).where(_rules.c.id == rule_id).values(term_key=key))


def upgrade() -> None:
    _rekey(lambda term: " ".join(_WORD.findall(term.lower())))


def downgrade() -> None:
    _rekey(lambda term: " ".join(term.lower().split()))
