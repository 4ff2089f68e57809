"""The learned ranker as the rest of the core sees it: explanations, status, and refits off the caller's time."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from bot.models import AnnounceType, ChannelRecord, ChannelSignals, Paper, PickExplanation, RankingStatus
from bot.ports import SignalReader
from bot.ranking.keywords import profile_of, score_papers

KEYWORDS = "keywords"
LEARNED = "learned"
OFF = "off"


def mode_of(signals: ChannelSignals, *, min_positives: int) -> str:
    """How a channel is ranked: "off" (ranking turned off), "learned" (enough positives) or "keywords"."""
    if not signals.ranking_enabled:
        return OFF
    return LEARNED if len(set(signals.positives)) >= min_positives else KEYWORDS


def keyword_explanation(record: ChannelRecord, paper: Paper, *, author_bonus: float) -> tuple[float, tuple[str, ...]]:
    """A paper's keyword score for a channel and what matched, whatever its category, exclusions or ``min_score``."""
    profile = dataclasses.replace(
        profile_of(record, author_bonus=author_bonus),
        categories=frozenset({paper.primary_category}),
        exclude=(),
        include_cross=False,
        max_papers=1,
        min_score=0.0,
    )
    listed = dataclasses.replace(paper, announce_type=AnnounceType.NEW)
    picks = score_papers([listed], [profile])[record.ref]
    if not picks:
        return 0.0, ()
    return picks[0].score, picks[0].matched


class LearnedRanking:
    """``ChannelRanking``: each channel's ranking, learned from its signals once it has enough of them."""

    def __init__(self, *, signals: SignalReader, min_positives: int, author_bonus: float) -> None:
        self._signals = signals
        self._min_positives = min_positives
        self._author_bonus = author_bonus
        self._last_fit: dict[int, datetime] = {}
        self._changed: set[int] = set()

    async def explain(self, record: ChannelRecord, paper: Paper) -> PickExplanation:
        """Why this paper would be ranked where it is for this channel (picked or not)."""
        signals = await self._signals.channel_signals(record.id)
        score, matched = keyword_explanation(record, paper, author_bonus=self._author_bonus)
        mode = LEARNED if mode_of(signals, min_positives=self._min_positives) == LEARNED else KEYWORDS
        return PickExplanation(arxiv_id=paper.arxiv_id, mode=mode, score=score, matched_keywords=matched)

    async def status(self, record: ChannelRecord) -> RankingStatus:
        """The channel's ranking mode, signal counts, last fit and own quality."""
        signals = await self._signals.channel_signals(record.id)
        return RankingStatus(
            mode=mode_of(signals, min_positives=self._min_positives),
            positives=len(set(signals.positives)),
            negatives=len(set(signals.negatives)),
            min_positives=self._min_positives,
            last_fit_at=self._last_fit.get(record.id),
        )

    def signals_changed(self, channel_id: int) -> None:
        """Note that a channel's signals changed: refit later (debounced), never now."""
        self._changed.add(channel_id)
