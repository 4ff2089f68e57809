"""The version alerter: intent before the call, one message per row whatever fails, refusals retried then dropped."""

from __future__ import annotations

from bot.delivery.alerts import MAX_ATTEMPTS, VersionAlerter, alert_text
from bot.delivery.router import PublisherRouter
from bot.models import AlertKind, AlertState, ChannelRef, VersionAlert
from tests.fakes.alerts import FakeAlertLedger, FakeNotices

CHANNEL = ChannelRef("slack", "T1", "C1")


def row(n: int, kind: AlertKind = AlertKind.NOTE) -> VersionAlert:
    return VersionAlert(
        id=n,
        kind=kind,
        channel=CHANNEL,
        arxiv_id="2601.00644",
        version=3,
        title="FlexSpec",
        comments="14 pages\nnew results",
        user_id=f"U{n}" if kind is AlertKind.NOTE else None,
        message_id="1.2" if kind is AlertKind.THREAD else None,
    )


def setup(*rows: VersionAlert) -> tuple[FakeAlertLedger, FakeNotices, VersionAlerter]:
    ledger, notices = FakeAlertLedger(rows={r.id: r for r in rows}), FakeNotices()
    return ledger, notices, VersionAlerter(ledger=ledger, notices=notices)


def test_the_text_names_version_title_link_and_comments_on_one_line() -> None:
    assert alert_text(row(1)) == (
        "v3 of FlexSpec is out: https://arxiv.org/abs/2601.00644v3; comments: 14 pages new results"
    )


async def test_each_row_is_sent_once_with_its_key_recorded_first() -> None:
    ledger, notices, alerter = setup(row(1), row(2), row(3, AlertKind.THREAD))
    assert await alerter.deliver() == 3
    assert [where for where, _, _ in notices.sent] == ["note:U1", "note:U2", "thread:1.2"]
    assert all(a.state is AlertState.SENT and a.key for a in ledger.rows.values())
    assert [k.value for _, _, k in notices.sent] == [ledger.rows[n].key for n in (1, 2, 3)]
    assert await alerter.deliver() == 0 and len(notices.sent) == 3


async def test_a_lost_answer_is_looked_for_by_its_key_not_sent_again() -> None:
    ledger, notices, alerter = setup(row(1))
    notices.lose = 1
    assert await alerter.deliver() == 0
    assert (ledger.rows[1].state, ledger.rows[1].attempts) == (AlertState.SENDING, 1)
    restarted = VersionAlerter(ledger=ledger, notices=notices)
    assert await restarted.deliver() == 1
    assert len(notices.sent) == 1 and ledger.rows[1].state == AlertState.SENT


async def test_refusals_go_back_to_pending_then_the_row_is_given_up() -> None:
    ledger, notices, alerter = setup(row(1))
    notices.refuse = MAX_ATTEMPTS
    for attempt in range(1, MAX_ATTEMPTS):
        assert await alerter.deliver() == 0
        assert (ledger.rows[1].state, ledger.rows[1].attempts) == (AlertState.PENDING, attempt)
    assert await alerter.deliver() == 0
    assert ledger.rows[1].state is AlertState.FAILED and notices.sent == []
    assert await alerter.deliver() == 0


async def test_after_stop_nothing_is_sent() -> None:
    ledger, notices, alerter = setup(row(1))
    alerter.stop()
    assert await alerter.deliver() == 0 and notices.sent == [] and ledger.rows[1].state is AlertState.PENDING


async def test_a_platform_not_connected_here_costs_no_attempt() -> None:
    ledger = FakeAlertLedger(rows={1: row(1)})
    alerter = VersionAlerter(ledger=ledger, notices=PublisherRouter(publishers={}))
    for _ in range(MAX_ATTEMPTS + 1):
        assert await alerter.deliver() == 0
    assert (ledger.rows[1].state, ledger.rows[1].attempts) == (AlertState.PENDING, 0)
