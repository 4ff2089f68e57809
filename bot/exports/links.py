"""One-time download links for files that could not be sent privately: random, short-lived, gone once fetched.

The files live in this process's memory: a link works on the replica that made it (behind a load balancer with
several replicas, route ``/files/`` to one, or rely on private delivery) and not after a restart.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from bot.models import ExportFile
from bot.ports import Clock

LINK_TTL = timedelta(minutes=15)
MAX_FILES = 200
"""At most this many files wait at once; the oldest link is dropped first."""


@dataclass(frozen=True, slots=True)
class _Waiting:
    file: ExportFile
    expires_at: datetime


class OneTimeLinks:
    """Issues a link per file (``FileLinks``) and hands each file out once (``take``), until it expires."""

    def __init__(self, *, base_url: str, clock: Clock, ttl: timedelta = LINK_TTL, max_files: int = MAX_FILES) -> None:
        self._base_url = base_url.rstrip("/")
        self._clock = clock
        self.ttl = ttl
        self._max_files = max_files
        self._files: dict[str, _Waiting] = {}

    def issue(self, file: ExportFile) -> str:
        """Keep ``file`` for one download within the time to live; returns its address."""
        now = self._clock.now()
        for token in [t for t, w in self._files.items() if w.expires_at <= now]:
            del self._files[token]
        while len(self._files) >= self._max_files:
            del self._files[next(iter(self._files))]
        token = secrets.token_urlsafe(24)
        self._files[token] = _Waiting(file, now + self.ttl)
        return f"{self._base_url}/files/{token}/{quote(file.name)}"

    def take(self, token: str) -> ExportFile | None:
        """The file of ``token``, once: None if it is unknown, was taken already or has expired."""
        waiting = self._files.pop(token, None)
        if waiting is None or waiting.expires_at <= self._clock.now():
            return None
        return waiting.file
