"""Recording fakes of the ranking ports: a signal reader fed by hand and a ranker that explains from a table."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from bot.models import ChannelRecord, ChannelSignals, Paper, PickExplanation, RankingStatus


@dataclass
class FakeSignalReader:
    """``SignalReader`` over a dict the test fills: channel id -> signals."""

    signals: dict[int, ChannelSignals] = field(default_factory=dict)

    def like(self, channel_id: int, *arxiv_ids: str, at: datetime | None = None) -> None:
        """Add positives to a channel."""
        now = self.signals.get(channel_id, ChannelSignals())
        self.signals[channel_id] = replace(now, positives=now.positives + arxiv_ids, changed_at=at or now.changed_at)

    def down(self, channel_id: int, *arxiv_ids: str, at: datetime | None = None) -> None:
        """Add negatives to a channel."""
        now = self.signals.get(channel_id, ChannelSignals())
        self.signals[channel_id] = replace(now, negatives=now.negatives + arxiv_ids, changed_at=at or now.changed_at)

    async def channel_signals(self, channel_id: int) -> ChannelSignals:
        """The channel's signals, or none."""
        return self.signals.get(channel_id, ChannelSignals())


@dataclass
class FakeChannelRanking:
    """``ChannelRanking`` that answers from what the test set, and records which channels changed."""

    status_of: dict[int, RankingStatus] = field(default_factory=dict)
    explanations: dict[str, PickExplanation] = field(default_factory=dict)
    changed: list[int] = field(default_factory=list)

    async def explain(self, record: ChannelRecord, paper: Paper) -> PickExplanation:
        """The explanation set for this paper, else a keyword-mode one with score 0."""
        default = PickExplanation(arxiv_id=paper.arxiv_id, mode="keywords", score=0.0)
        return self.explanations.get(paper.arxiv_id, default)

    async def status(self, record: ChannelRecord) -> RankingStatus:
        """The status set for this channel, else keyword mode with no signals."""
        return self.status_of.get(record.id, RankingStatus(mode="keywords", positives=0, negatives=0, min_positives=5))

    def signals_changed(self, channel_id: int) -> None:
        """Record the channel."""
        self.changed.append(channel_id)
