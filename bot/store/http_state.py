"""What the HTTP server must remember between requests, kept in the database so that any replica behind a load
balancer can answer any request: the Slack requests and events already handled (``SeenKeys``) and the exported files
waiting for their one download (``FileLinkStore``). Both are short-lived; expired rows go as new ones come."""

from __future__ import annotations

import secrets
from datetime import timedelta
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from bot.models import ExportFile
from bot.store import schema as db
from bot.store.database import Database

REPLAY_WINDOW = timedelta(minutes=5)
"""Slack refuses (and we reject) a request timestamp older than this; a replay can only come within it."""

LINK_TTL = timedelta(minutes=15)
MAX_FILES = 200
"""At most this many files wait at once; the oldest link is dropped first."""


class SeenKeys:
    """Keys handled within a window, shared by every replica: ``first(key)`` is True once per key per window."""

    def __init__(self, *, database: Database, window: timedelta = REPLAY_WINDOW) -> None:
        self._db = database
        self._window = window

    async def first(self, key: str) -> bool:
        """Record ``key``; False if any replica recorded it within the window."""
        c = db.slack_seen.c
        now = self._db.clock.now()
        dialect = postgresql if self._db.engine.dialect.name == "postgresql" else sqlite
        async with self._db.transaction() as conn:
            await conn.execute(sa.delete(db.slack_seen).where(c.expires_at <= now))
            inserted = await conn.execute(
                dialect.insert(db.slack_seen).values(key=key, expires_at=now + self._window).on_conflict_do_nothing()
            )
            return bool(inserted.rowcount)

    async def forget(self, key: str) -> None:
        """Drop ``key`` (its handling failed: a retry of it must run, on whichever replica it reaches)."""
        async with self._db.transaction() as conn:
            await conn.execute(sa.delete(db.slack_seen).where(db.slack_seen.c.key == key))


class FileLinkStore:
    """Issues a link per file (``FileLinks``) and hands each file out once (``take``), until it expires, on
    whichever replica the link reaches."""

    def __init__(
        self, *, database: Database, base_url: str, ttl: timedelta = LINK_TTL, max_files: int = MAX_FILES
    ) -> None:
        self._db = database
        self._base_url = base_url.rstrip("/")
        self._ttl = ttl
        self._max_files = max_files

    @property
    def ttl(self) -> timedelta:
        """How long a link works."""
        return self._ttl

    async def issue(self, file: ExportFile) -> str:
        """Keep ``file`` for one download within the time to live; returns its address."""
        c = db.export_links.c
        now = self._db.clock.now()
        token = secrets.token_urlsafe(24)
        async with self._db.transaction() as conn:
            await conn.execute(sa.delete(db.export_links).where(c.expires_at <= now))
            await conn.execute(
                sa.insert(db.export_links).values(
                    token=token,
                    name=file.name,
                    media_type=file.media_type,
                    title=file.title,
                    content=file.content,
                    expires_at=now + self._ttl,
                )
            )
            kept = sa.select(c.token).order_by(c.expires_at.desc(), c.token).limit(self._max_files)
            await conn.execute(sa.delete(db.export_links).where(c.token.not_in(kept.scalar_subquery())))
        return f"{self._base_url}/files/{token}/{quote(file.name)}"

    async def take(self, token: str) -> ExportFile | None:
        """The file of ``token``, once (across every replica): None if it is unknown, was taken or has expired."""
        c = db.export_links.c
        now = self._db.clock.now()
        async with self._db.transaction() as conn:
            row = (
                (await conn.execute(sa.select(db.export_links).where(c.token == token, c.expires_at > now)))
                .mappings()
                .first()
            )
            # Only the transaction whose delete removed the row hands the file out: a concurrent take gets None.
            deleted = await conn.execute(sa.delete(db.export_links).where(c.token == token))
            if row is None or not deleted.rowcount:
                return None
        return ExportFile(
            name=row["name"], content=bytes(row["content"]), media_type=row["media_type"], title=row["title"]
        )
