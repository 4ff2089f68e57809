"""New versions of saved papers: from a listing's replacements to one note per saver and one reply per card thread.

Exactly once, through the alert ledger: ``plan`` writes the rows (unique per kind, target, paper and version) as
soon as a listing is fetched; ``deliver`` records the intent (``sending`` with a post key) before each platform
call and the outcome after it. A row left ``sending`` by a crash is looked for by its key before it is sent again;
a refusal puts it back to ``pending`` (``failed`` after ``MAX_ATTEMPTS``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import replace

from bot.delivery.thread_parts import new_post_key
from bot.errors import PaperNotFound, PlatformNotConnected, PublishError, PublishOutcomeUnknown, SourceError
from bot.models import AlertKind, AlertState, MessageRef, Paper, PostKey, VersionAlert
from bot.ports import AlertLedger, PaperSource, VersionNotices

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
"""Refused this many times, an alert is given up (``failed``)."""
MAX_COMMENTS_CHARS = 500


def alert_text(alert: VersionAlert) -> str:
    """What a saver (and the card's thread) reads: plain text, escaped by the adapter as every post is."""
    comments = " ".join((alert.comments or "").split())
    if len(comments) > MAX_COMMENTS_CHARS:
        comments = comments[: MAX_COMMENTS_CHARS - 1] + "…"
    return f"v{alert.version} of {alert.title} is out: {alert.abs_url}; comments: {comments or 'none'}"


class VersionAlerter:
    """Plans alerts from listings and sends them, each once."""

    def __init__(self, *, ledger: AlertLedger, notices: VersionNotices, source: PaperSource | None = None) -> None:
        self._ledger = ledger
        self._notices = notices
        self._source = source  # arXiv's export API: the comments field, which listings do not carry
        self._sending = asyncio.Lock()
        self._stopping = False

    async def plan(self, papers: Iterable[Paper]) -> int:
        """Record the alerts a listing's replacements call for; never raises (a failure is logged)."""
        try:
            return await self._ledger.plan_alerts(papers)
        except Exception:
            log.exception("could not record the version alerts of a listing")
            return 0

    def stop(self) -> None:
        """Start no new alert (the one in flight finishes and is recorded)."""
        self._stopping = True

    async def deliver(self) -> int:
        """Send every unsent alert (one run at a time); returns how many were sent. Never raises."""
        sent = 0
        async with self._sending:
            try:
                alerts = await self._ledger.unsent_alerts()
            except Exception:
                log.exception("could not read the version alerts to send")
                return 0
            comments: dict[tuple[str, int], str | None] = {}
            for alert in alerts:
                if self._stopping:
                    break
                try:
                    if alert.state is AlertState.PENDING and alert.comments is None:
                        alert = replace(alert, comments=await self._comments(alert, comments))
                    sent += await asyncio.shield(self._send(alert))
                except Exception:
                    log.exception("version alert %s could not be sent or recorded", alert.id)
        return sent

    async def _comments(self, alert: VersionAlert, known: dict[tuple[str, int], str | None]) -> str | None:
        """arXiv's comments on the new version (looked up once per version and run; None when arXiv fails)."""
        version = (alert.arxiv_id, alert.version)
        if version not in known:
            known[version] = None
            if self._source is not None:
                try:
                    known[version] = (await self._source.lookup(f"{alert.arxiv_id}v{alert.version}")).comments
                except (SourceError, PaperNotFound) as err:
                    log.info("no comments for %sv%s: %s", alert.arxiv_id, alert.version, err)
        return known[version]

    async def _send(self, alert: VersionAlert) -> int:
        if alert.state is AlertState.SENDING and alert.key is not None:
            key = PostKey(alert.key, alert.sending_since)
        else:
            # The intent, with the text's every part (comments too): a retry sends (or looks for) the same text.
            alert = await self._ledger.mark_alert(
                alert, AlertState.SENDING, key=alert.key or new_post_key(), comments=alert.comments
            )
            key = PostKey(alert.key or "")
        text = alert_text(alert)
        try:
            if alert.kind is AlertKind.NOTE:
                assert alert.user_id is not None, "a note row names its saver"
                await self._notices.send_note(text, channel=alert.channel, user_id=alert.user_id, key=key)
            else:
                assert alert.message_id is not None, "a thread row names its card"
                await self._notices.reply_in_thread(text, parent=MessageRef(alert.channel, alert.message_id), key=key)
        except PlatformNotConnected as err:
            # Another process (the one connected to that platform) sends it; a row never sent stays pending.
            log.info("version alert %s waits for its platform: %s", alert.id, err)
            if alert.sending_since is not None and key.sending_since is None:
                await self._ledger.mark_alert(alert, AlertState.PENDING)
            return 0
        except PublishOutcomeUnknown as err:
            log.warning("version alert %s may have been sent; will look for it: %s", alert.id, err)
            await self._ledger.mark_alert(alert, AlertState.SENDING, error=str(err))
            return 0
        except PublishError as err:
            given_up = alert.attempts + 1 >= MAX_ATTEMPTS
            log.warning("version alert %s refused%s: %s", alert.id, " (giving up)" if given_up else "", err)
            await self._ledger.mark_alert(
                alert, AlertState.FAILED if given_up else AlertState.PENDING, error=str(err)
            )
            return 0
        await self._ledger.mark_alert(alert, AlertState.SENT)
        return 1
