"""Pure schedule maths: when a channel's daily post falls, and whether one was missed."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = range(0, 5)
"""Monday (0) to Friday (4): arXiv announces on these days."""


def parse_post_time(text: str) -> time:
    """``HH:MM`` as a time of day."""
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def previous_slot(now: datetime, *, post_time: str, timezone: str) -> datetime:
    """The latest weekday post time at or before ``now``, in the channel's zone."""
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    at = parse_post_time(post_time)
    candidate = datetime.combine(local.date(), at, tzinfo=zone)
    if candidate > local:
        candidate -= timedelta(days=1)
    while candidate.weekday() not in WEEKDAYS:
        candidate -= timedelta(days=1)
    return candidate


def missed_run(
    *, now: datetime, post_time: str, timezone: str, last_run: datetime | None, since: datetime
) -> bool:
    """Whether the latest slot passed without a run (``since`` is when the channel started to exist)."""
    slot = previous_slot(now, post_time=post_time, timezone=timezone)
    reference = last_run if last_run is not None else since
    if reference.tzinfo is None:
        reference = reference.replace(tzinfo=ZoneInfo("UTC"))
    return reference < slot
