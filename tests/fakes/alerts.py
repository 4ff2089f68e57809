"""A hand-written version-alert ledger and a notices sink that can refuse or lose answers, for the alerter's tests."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from bot.errors import PublishError, PublishOutcomeUnknown
from bot.models import AlertState, ChannelRef, MessageRef, Paper, PostKey, VersionAlert


@dataclass
class FakeAlertLedger:
    """Alert rows in memory (``rows`` by id, as marked); ``plan_alerts`` records what it was given."""

    rows: dict[int, VersionAlert] = field(default_factory=dict)
    planned: list[list[Paper]] = field(default_factory=list)
    now: datetime = datetime(2026, 1, 6, 12, 0)

    async def plan_alerts(self, papers: Iterable[Paper]) -> int:
        """Remember the papers; rows are added by the test."""
        self.planned.append(list(papers))
        return 0

    async def unsent_alerts(self) -> list[VersionAlert]:
        """Rows pending or sending, by id."""
        return [a for _, a in sorted(self.rows.items()) if a.state in (AlertState.PENDING, AlertState.SENDING)]

    async def mark_alert(
        self,
        alert: VersionAlert,
        state: AlertState,
        *,
        key: str | None = None,
        error: str | None = None,
        comments: str | None = None,
    ) -> VersionAlert:
        """Record the state as the SQL ledger does."""
        marked = replace(alert, state=state)
        if state is AlertState.SENDING and key is not None:
            marked = replace(marked, key=key, sending_since=self.now, comments=comments or alert.comments)
        elif state in (AlertState.SENT, AlertState.PENDING):
            marked = replace(marked, sending_since=None)
        if error is not None:
            marked = replace(marked, attempts=alert.attempts + 1)
        self.rows[alert.id] = marked
        return marked


@dataclass
class FakeNotices:
    """Records every note and thread reply; ``refuse`` / ``lose`` make the next calls fail that way."""

    sent: list[tuple[str, str, PostKey]] = field(default_factory=list)
    """(where, text, key) of each message created: ``note:<user>`` or ``thread:<message id>``."""
    refuse: int = 0
    lose: int = 0

    async def send_note(self, text: str, *, channel: ChannelRef, user_id: str, key: PostKey) -> str:
        """A note, unless told to fail."""
        return self._create(f"note:{user_id}", text, key)

    async def reply_in_thread(self, text: str, *, parent: MessageRef, key: PostKey) -> str:
        """A thread reply, unless told to fail."""
        return self._create(f"thread:{parent.message_id}", text, key)

    def _create(self, where: str, text: str, key: PostKey) -> str:
        if self.refuse:
            self.refuse -= 1
            raise PublishError("refused")
        if key.sending_since is not None and any(k.value == key.value for _, _, k in self.sent):
            return key.value  # found: an earlier attempt created it
        self.sent.append((where, text, key))
        if self.lose:
            self.lose -= 1
            raise PublishOutcomeUnknown("answer lost")
        return key.value
