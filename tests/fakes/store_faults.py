"""Faults in a real database: chosen SQL statements of a real engine fail as a busy database makes them fail.

``StatementFaults(engine).fail(r"UPDATE deliveries SET .*[^_]message_id", times=5)`` makes the next five statements
matching the pattern raise SQLAlchemy's ``OperationalError`` ("database is locked") before they reach the database,
through SQLAlchemy's own ``before_cursor_execute`` hook: the store's code, its transaction handling and its error
conversion all run for real, on SQLite or PostgreSQL. ``failed`` lists the statements failed so far.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine


@dataclass
class _Fault:
    pattern: re.Pattern[str]
    times: int


class StatementFaults:
    """Fails matching statements of ``engine`` a given number of times."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._faults: list[_Fault] = []
        self.failed: list[str] = []
        event.listen(engine.sync_engine, "before_cursor_execute", self._before)

    def fail(self, pattern: str, *, times: int) -> None:
        """Fail the next ``times`` statements matching ``pattern`` (a regex searched in the SQL text)."""
        self._faults.append(_Fault(re.compile(pattern, re.DOTALL), times))

    @property
    def pending(self) -> int:
        """Failures still to come."""
        return sum(f.times for f in self._faults)

    def _before(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        for fault in self._faults:
            if fault.times > 0 and fault.pattern.search(statement):
                fault.times -= 1
                self.failed.append(statement)
                raise OperationalError(statement, parameters, Exception("database is locked"))
