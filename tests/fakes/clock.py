"""A clock tests move by hand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass
class FixedClock:
    """A clock tests move by hand."""

    current: datetime = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)

    def now(self) -> datetime:
        """The set time."""
        return self.current
