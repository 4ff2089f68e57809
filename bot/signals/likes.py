"""Liking papers for a channel (``/arxiv like``, ``arxiv-bot import``): each id once, papers not yet stored fetched
from arXiv in batches, the likes stored, the ranking told."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.models import Paper, SignalSource
from bot.ports import ChannelRanking, PaperLookup, Papers, SignalReader, SignalRecorder


class LikeSignals(SignalReader, SignalRecorder, Protocol):
    """The signal roles liking needs."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LikeOutcome:
    """What became of the ids given: liked now, already counted, unknown to arXiv."""

    liked: tuple[Paper, ...] = ()
    """Papers added to the channel's taste, in the order given."""
    duplicates: tuple[str, ...] = ()
    """Ids given twice, or already a positive of the channel (saved, liked or imported before)."""
    unknown: tuple[str, ...] = ()
    """Ids arXiv has no paper for (nothing is stored for them)."""

    @property
    def found(self) -> int:
        """How many of the ids name a paper (liked now or before)."""
        return len(self.liked) + len(self.duplicates)


class Liking:
    """Adds papers to a channel's taste."""

    def __init__(
        self, *, papers: Papers, lookup: PaperLookup, signals: LikeSignals, ranking: ChannelRanking
    ) -> None:
        self._papers = papers
        self._lookup = lookup
        self._signals = signals
        self._ranking = ranking

    async def like(
        self, *, channel_id: int, arxiv_ids: Sequence[str], user_id: str, source: SignalSource
    ) -> LikeOutcome:
        """Like these unversioned ids for a channel; papers not stored yet are fetched (``SourceError`` when arXiv
        does not answer: then nothing is stored)."""
        unique = list(dict.fromkeys(arxiv_ids))
        positives = set((await self._signals.channel_signals(channel_id)).positives)
        already = [i for i in unique if i in positives]
        wanted = [i for i in unique if i not in positives]
        found: dict[str, Paper] = {}
        for arxiv_id in wanted:
            stored = await self._papers.get(arxiv_id)
            if stored is not None:
                found[arxiv_id] = stored
        missing = [i for i in wanted if i not in found]
        fetched = [p for p in await self._lookup.lookup_many(missing) if p.arxiv_id in missing] if missing else []
        if fetched:
            await self._papers.add_many(fetched)
            found.update((p.arxiv_id, p) for p in fetched)
        liked = tuple(found[i] for i in wanted if i in found)
        if liked:
            await self._signals.record_likes(
                channel_id=channel_id, arxiv_ids=[p.arxiv_id for p in liked], user_id=user_id, source=source
            )
            self._ranking.signals_changed(channel_id)
        duplicates = (*already, *_repeats(arxiv_ids))
        return LikeOutcome(liked=liked, duplicates=duplicates, unknown=tuple(i for i in wanted if i not in found))


def _repeats(arxiv_ids: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    again: list[str] = []
    for arxiv_id in arxiv_ids:
        if arxiv_id in seen:
            again.append(arxiv_id)
        seen.add(arxiv_id)
    return again
