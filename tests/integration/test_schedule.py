"""Schedule maths (pure) and the APScheduler-driven daily run with its missed-run catch-up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from adapters.composition import build_services
from bot.delivery.schedule import missed_run, previous_slot
from tests.conftest import ctx, make_settings
from tests.fakes.arxiv_server import FakeArxivServer
from tests.fakes.clock import FixedClock
from tests.fakes.publisher import FakePublisher


def test_previous_slot_skips_weekends_and_respects_zones() -> None:
    monday_early = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)  # Monday 06:00 UTC
    slot = previous_slot(monday_early, post_time="09:00", timezone="UTC")
    assert slot == datetime(2026, 1, 2, 9, 0, tzinfo=UTC)  # the Friday before
    berlin = previous_slot(monday_early, post_time="07:00", timezone="Europe/Berlin")
    assert berlin.isoformat() == "2026-01-05T07:00:00+01:00"
    saturday = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    assert previous_slot(saturday, post_time="09:00", timezone="UTC").weekday() == 4
    exact = datetime(2026, 1, 6, 9, 0, tzinfo=UTC)
    assert previous_slot(exact, post_time="09:00", timezone="UTC") == exact


def test_missed_run() -> None:
    now = datetime(2026, 1, 6, 12, 0, tzinfo=UTC)  # Tuesday, after the 09:00 slot
    created = datetime(2026, 1, 1, tzinfo=UTC)
    assert missed_run(now=now, post_time="09:00", timezone="UTC", last_run=None, since=created)
    assert missed_run(now=now, post_time="09:00", timezone="UTC", last_run=now - timedelta(days=1), since=created)
    assert not missed_run(now=now, post_time="09:00", timezone="UTC", last_run=now - timedelta(hours=1), since=created)
    assert not missed_run(now=now, post_time="13:00", timezone="UTC", last_run=now - timedelta(hours=20), since=created)
    assert not missed_run(now=now, post_time="09:00", timezone="UTC", last_run=None, since=now - timedelta(hours=1))
    # Stored naive timestamps (SQLite) are UTC.
    naive = (now - timedelta(hours=1)).replace(tzinfo=None)
    assert not missed_run(now=now, post_time="09:00", timezone="UTC", last_run=naive, since=created)


async def test_start_runs_a_missed_digest_once_and_schedules_a_weekday_job(db_url: str, arxiv: FakeArxivServer) -> None:
    clock = FixedClock(datetime(2026, 1, 5, 8, 0, tzinfo=UTC))  # Monday, before the 09:00 slot
    publisher = FakePublisher()
    settings = make_settings(db_url, arxiv, ARXIVBOT_SCHEDULER__ENABLED="true")
    services = build_services(settings, clock=clock)
    services.router.add("test", publisher)
    for line in ("subscribe cs.AI cs.CL cs.DC cs.LG", "keywords add LLM", "set max 4"):
        await services.commands.execute(ctx(), line)
    await services.aclose()
    assert publisher.cards == []

    # The service was down at Monday's 09:00; it comes back at 11:00.
    clock.current = datetime(2026, 1, 5, 11, 0, tzinfo=UTC)
    services = build_services(settings, clock=clock)
    services.router.add("test", publisher)
    try:
        await services.scheduler.start()
        await services.scheduler.wait_idle()
        assert len(publisher.cards) == 4
        jobs = services.scheduler.jobs()
        assert sorted(jobs) == ["catch-up", "digest 09:00 UTC"]
        next_run = datetime.fromisoformat(jobs["digest 09:00 UTC"])
        assert next_run.weekday() < 5 and (next_run.hour, next_run.minute) == (9, 0)
        # A settings change moves the job.
        await services.commands.execute(ctx(), "set time 07:30 Asia/Tokyo")
        await services.scheduler.wait_idle()
        assert sorted(services.scheduler.jobs()) == ["catch-up", "digest 07:30 Asia/Tokyo"]
    finally:
        await services.aclose()

    # Restarted again the same day: nothing was missed, nothing is posted twice.
    services = build_services(settings, clock=clock)
    services.router.add("test", publisher)
    try:
        await services.scheduler.start()
        await services.scheduler.wait_idle()
    finally:
        await services.aclose()
    assert len(publisher.cards) == 4
