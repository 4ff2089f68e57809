"""SQLite serves one running bot: an OS file lock beside the database file, held for the life of the process.

A second ``arxiv-bot run`` on the same SQLite file is refused with one line (several replicas need PostgreSQL). The
lock is the kernel's (``flock``): it goes away with the process however it ends, SIGKILL included, so a crash never
leaves a stale lock behind. One-shot commands (``digest``, ``preview``, ``export``) do not take it.
"""

from __future__ import annotations

import os
from pathlib import Path

from bot.errors import ConfigError
from bot.store.database import sqlite_path


class SqliteInUse(ConfigError):
    """Another running bot holds the SQLite database."""


def lock_path(database: Path) -> Path:
    """The lock file of a SQLite database: ``bot.db`` -> ``bot.db.lock``."""
    return database.with_name(database.name + ".lock")


class ProcessLock:
    """The exclusive lock of one SQLite database, held from ``acquire()`` to ``release()`` (or the process's end)."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.path = lock_path(database)
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise ``SqliteInUse`` naming the process that holds it."""
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise SqliteInUse(
                f"another arxiv-bot is already running on {self.database}{who}: SQLite serves one process; stop it, "
                "or set [database] url = postgresql+asyncpg://... to run several replicas"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        """Give the lock up (the file stays: removing it could race with a starting process)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def single_process_lock(database_url: str) -> ProcessLock | None:
    """The held lock of a SQLite database file (``SqliteInUse`` when another bot holds it); None for PostgreSQL
    or an in-memory database, which need none."""
    path = sqlite_path(database_url)
    if path is None:
        return None
    lock = ProcessLock(path)
    lock.acquire()
    return lock
