"""The learned ranker as the rest of the core sees it: the digest's rerank step, explanations and status.

Fits never run on a caller's time: ``signals_changed`` schedules a refit (debounced), the digest refits stale
channels before it ranks, and every fit runs in a worker thread. Until a channel has ``min_positives`` positives
(stored papers), or after ``/arxiv ranking off``, its digest is exactly the keyword one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from scipy import sparse

from bot.arxiv.taxonomy import visible_categories
from bot.models import (
    AnnounceType,
    ChannelRecord,
    ChannelRef,
    ChannelSignals,
    Paper,
    PickExplanation,
    RankingStatus,
    ScoredPaper,
)
from bot.ports import Clock, PaperCorpus, SignalReader
from bot.ranking.features import TextSpace
from bot.ranking.keywords import profile_of, score_papers
from bot.ranking.learned import QUALITY_MIN_POSITIVES, ChannelModel, LikedPapers, fit_channel
from bot.ranking.picks import eligible_papers, learned_picks

log = logging.getLogger(__name__)

KEYWORDS = "keywords"
LEARNED = "learned"
OFF = "off"
CORPUS_PAPERS = 20000
"""Stored papers (the newest) the shared vocabulary is fit on and backgrounds are drawn from."""
VOCABULARY_PAPERS = 8000
"""Papers the vocabulary and its idf are fit on: counting every phrase of 20,000 papers first would cost hundreds
of MB for the same 32k most frequent ones."""
SPACE_MAX_AGE = timedelta(hours=20)
"""The shared vocabulary is refit at most this often: once a listing day."""
MIN_BACKGROUND = 20
"""Fewer stored papers than this in a channel's categories: its background is drawn from every stored paper."""


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


@dataclass(slots=True)
class Corpus:
    """The stored papers the shared space was fit on, as rows of it."""

    space: TextSpace
    papers: list[Paper]
    rows: sparse.csr_matrix
    built_at: datetime
    by_category: dict[str, list[int]] = field(default_factory=dict)
    row_of: dict[str, int] = field(default_factory=dict)
    """Row of each stored paper, by arXiv id."""
    _of_categories: dict[tuple[str, ...], np.ndarray] = field(default_factory=dict)

    @classmethod
    def build(cls, papers: list[Paper], *, built_at: datetime) -> Corpus | None:
        """Fit the space on (a sample of) ``papers``, make rows of them all and index them by primary category; None
        when they hold no word."""
        sample = papers if len(papers) <= VOCABULARY_PAPERS else random.Random(0).sample(papers, VOCABULARY_PAPERS)
        space = TextSpace.fit(sample)
        if space is None:
            return None
        by_category: dict[str, list[int]] = {}
        row_of: dict[str, int] = {}
        for i, paper in enumerate(papers):
            by_category.setdefault(paper.primary_category, []).append(i)
            row_of.setdefault(paper.arxiv_id, i)
        rows = space.transform(papers)
        return cls(space=space, papers=papers, rows=rows, built_at=built_at, by_category=by_category, row_of=row_of)

    def background(
        self, categories: Iterable[str], *, size: int, leave_out: set[str], seed: int
    ) -> sparse.csr_matrix:
        """Up to ``size`` stored papers of these categories (of all, when they have too few), none of ``leave_out``,
        drawn the same way for the same seed."""
        key = tuple(sorted(set(categories)))
        picked = self._of_categories.get(key)
        if picked is None:
            found = sorted({i for c in key for i in self.by_category.get(c, ())})
            if len(found) < MIN_BACKGROUND:
                found = list(range(len(self.papers)))
            picked = self._of_categories[key] = np.array(found, dtype=np.int64)
        left_out = [row for row in map(self.row_of.get, leave_out) if row is not None]
        usable = np.setdiff1d(picked, np.array(left_out, dtype=np.int64), assume_unique=True) if left_out else picked
        if len(usable) > size:
            usable = np.sort(np.random.default_rng(seed).choice(usable, size=size, replace=False))
        return self.rows[usable]

    def stored_row(self, paper: Paper) -> int | None:
        """The row of this paper (same id and version) in ``rows``, or None when the corpus lacks it."""
        row = self.row_of.get(paper.arxiv_id)
        return row if row is not None and self.papers[row].version == paper.version else None

    def rows_of(self, papers: Sequence[Paper]) -> sparse.csr_matrix:
        """These papers as rows, in their order: stored ones read from ``rows`` (the same text), others transformed."""
        known = [self.stored_row(p) for p in papers]
        inside = [i for i, row in enumerate(known) if row is not None]
        outside = [i for i, row in enumerate(known) if row is None]
        parts = [self.rows[[known[i] for i in inside]]]
        if outside:
            parts.append(self.space.transform([papers[i] for i in outside]))
        stacked = sparse.vstack(parts, format="csr")
        position = {at: n for n, at in enumerate(inside + outside)}
        return stacked[[position[i] for i in range(len(papers))]]

    def liked(self, papers: Sequence[Paper]) -> LikedPapers:
        """These liked papers for explanations: stored ones by row index, the rest as rows of their own."""
        known = [(p, self.stored_row(p)) for p in papers]
        stored = [(p, row) for p, row in known if row is not None]
        others = [p for p, row in known if row is None]
        extra = self.space.transform(others) if others else sparse.csr_matrix((0, len(self.space.terms)))
        return LikedPapers(
            source=self.rows,
            index=np.array([row for _, row in stored], dtype=np.int64),
            extra=extra,
            titles=tuple(p.title for p, _ in stored) + tuple(p.title for p in others),
        )


def fit_from_papers(
    corpus: Corpus,
    *,
    positives: Sequence[Paper],
    negatives: Sequence[Paper],
    categories: Iterable[str],
    background_size: int,
    min_positives: int,
    leave_out: Iterable[str] = (),
    seed: int,
    fitted_at: datetime,
    signals_at: datetime | None = None,
    measure: bool = True,
) -> ChannelModel | None:
    """One channel's model from its positive and negative papers (oldest first) and a background sample.

    Positives with no abstract (a title only) are left out of the fit when the channel has ``min_positives`` with
    one: a title is out of kind with the abstracts the model scores. They still serve as "like: <title>".
    None when fewer than ``min_positives`` positives are given.
    """
    if len(positives) < min_positives:
        return None
    full = [p for p in positives if p.abstract.strip()]
    fit_on = full if len(full) >= min_positives else list(positives)
    skip = {p.arxiv_id for p in positives} | {p.arxiv_id for p in negatives} | set(leave_out)
    background = corpus.background(categories, size=background_size, leave_out=skip, seed=seed)
    return fit_channel(
        corpus.space,
        positives=corpus.rows_of(fit_on),
        liked=corpus.liked(positives),  # title-only positives too: they still explain ("like: <title>")
        negatives=corpus.rows_of(negatives),
        background=background,
        fitted_at=fitted_at,
        signals_at=signals_at,
        measure=measure,
    )


class LearnedRanking:
    """``ChannelRanking`` and ``Reranker``: each channel's ranking, learned from its signals once it has enough."""

    def __init__(
        self,
        *,
        signals: SignalReader,
        corpus: PaperCorpus,
        clock: Clock,
        min_positives: int,
        author_bonus: float,
        background_size: int = 1000,
        refit_delay_s: float = 30.0,
        corpus_papers: int = CORPUS_PAPERS,
    ) -> None:
        self._signals = signals
        self._store = corpus
        self._clock = clock
        self._min_positives = min_positives
        self._author_bonus = author_bonus
        self._background_size = background_size
        self._refit_delay_s = refit_delay_s
        self._corpus_papers = corpus_papers
        self._corpus: Corpus | None = None
        self._models: dict[int, ChannelModel] = {}
        self._categories: dict[int, tuple[str, ...]] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._fitting = asyncio.Lock()

    # -- the digest ---------------------------------------------------------------------------------------------

    async def rerank(
        self,
        records: Sequence[ChannelRecord],
        papers: Sequence[Paper],
        picks: dict[ChannelRef, list[ScoredPaper]],
    ) -> dict[ChannelRef, list[ScoredPaper]]:
        """``picks`` with each learned channel's list replaced by its learned picks among ``papers``."""
        learned: list[tuple[ChannelRecord, ChannelSignals]] = []
        for record in records:
            self._categories[record.id] = record.categories
            if record.ref not in picks:
                continue
            signals = await self._signals.channel_signals(record.id)
            if mode_of(signals, min_positives=self._min_positives) == LEARNED:
                learned.append((record, signals))
        if not learned:
            return picks
        today = {p.arxiv_id for p in papers}
        async with self._fitting:  # a listing day later, a new vocabulary: every learned channel is then stale
            await self._fresh_corpus()
        # Quality (a second fit) is left to the background refits: the digest waits only for what ranks.
        await self._refit([(r, s) for r, s in learned if self._stale(r.id, s)], leave_out=today, measure=False)
        models = {r.ref: self._models[r.id] for r, _ in learned if r.id in self._models}
        if not models:
            return picks
        chosen = [r for r, _ in learned if r.ref in models]
        listed = [p.categories for p in papers]
        profiles = [
            profile_of(r, author_bonus=self._author_bonus, categories=visible_categories(r.categories, listed))
            for r in chosen
        ]

        def rank() -> dict[ChannelRef, list[ScoredPaper]]:
            eligible = eligible_papers(papers, profiles)
            # The day's papers go through the vocabulary once, for every channel fit in the same space.
            spaces = {id(m.space): m.space for m in models.values()}
            day = {key: (space.transform(papers), space) for key, space in spaces.items()}
            row_of = {p.versioned_id: i for i, p in enumerate(papers)}
            picks: dict[ChannelRef, list[ScoredPaper]] = {}
            for r in chosen:
                model, choice = models[r.ref], eligible[r.ref]
                rows = day[id(model.space)][0][[row_of[s.paper.versioned_id] for s in choice]]
                picks[r.ref] = learned_picks(
                    model, choice, min_score=r.min_score, max_papers=r.max_papers, rows=rows
                )
            return picks

        return picks | await asyncio.to_thread(rank)

    # -- commands -----------------------------------------------------------------------------------------------

    async def explain(self, record: ChannelRecord, paper: Paper) -> PickExplanation:
        """Why this paper would be ranked where it is for this channel (picked or not)."""
        self._categories[record.id] = record.categories
        signals = await self._signals.channel_signals(record.id)
        score, matched = keyword_explanation(record, paper, author_bonus=self._author_bonus)
        model = self._models.get(record.id)
        if mode_of(signals, min_positives=self._min_positives) != LEARNED:
            return PickExplanation(arxiv_id=paper.arxiv_id, mode=KEYWORDS, score=score, matched_keywords=matched)
        if model is None or self._stale(record.id, signals):
            self.signals_changed(record.id)
        if model is None:
            return PickExplanation(arxiv_id=paper.arxiv_id, mode=KEYWORDS, score=score, matched_keywords=matched)
        row = model.space.transform([paper])
        return PickExplanation(
            arxiv_id=paper.arxiv_id,
            mode=LEARNED,
            score=round(float(model.margins(row)[0]), 3),
            matched_keywords=matched,
            top_terms=model.top_terms(row),
            nearest_liked_title=model.nearest_liked(row),
        )

    async def status(self, record: ChannelRecord) -> RankingStatus:
        """The channel's ranking mode, signal counts, last fit and own quality."""
        self._categories[record.id] = record.categories
        signals = await self._signals.channel_signals(record.id)
        mode = mode_of(signals, min_positives=self._min_positives)
        model = self._models.get(record.id)
        unmeasured = model is not None and model.quality_ap is None and model.positives >= QUALITY_MIN_POSITIVES
        if mode == LEARNED and (model is None or unmeasured or self._stale(record.id, signals)):
            self.signals_changed(record.id)  # a refit in the background measures the channel's own quality
        return RankingStatus(
            mode=mode,
            positives=len(set(signals.positives)),
            negatives=len(set(signals.negatives)),
            min_positives=self._min_positives,
            last_fit_at=None if model is None else model.fitted_at,
            quality_ap=None if model is None else model.quality_ap,
        )

    def signals_changed(self, channel_id: int) -> None:
        """Note that a channel's signals changed: refit ``refit_delay_s`` after the last change, never now."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a script): the next digest refits it, as it is stale
            return
        timer = self._timers.pop(channel_id, None)
        if timer is not None:
            timer.cancel()
        self._timers[channel_id] = loop.call_later(self._refit_delay_s, self._start_refit, channel_id)

    async def idle(self) -> None:
        """Wait until no refit is running (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def aclose(self) -> None:
        """Drop pending refits and wait for the one running, if any."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        await self.idle()

    def refits_pending(self) -> set[int]:
        """The channels whose debounced refit is waiting for its delay."""
        return set(self._timers)

    def model_of(self, channel_id: int) -> ChannelModel | None:
        """The channel's fitted model, if any (for tests and the bench)."""
        return self._models.get(channel_id)

    # -- fitting ------------------------------------------------------------------------------------------------

    def _start_refit(self, channel_id: int) -> None:
        self._timers.pop(channel_id, None)
        task = asyncio.get_running_loop().create_task(self._refit_one(channel_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refit_one(self, channel_id: int) -> None:
        try:
            signals = await self._signals.channel_signals(channel_id)
            if mode_of(signals, min_positives=self._min_positives) != LEARNED:
                self._models.pop(channel_id, None)
                return
            stale = [(channel_id, self._categories.get(channel_id, ()), signals)]
            await self._refit_ids(stale, leave_out=set(), measure=True)
        except Exception:  # a background refit must not die silently, nor take the loop with it
            log.exception("refitting the ranking of channel %s failed", channel_id)

    def _stale(self, channel_id: int, signals: ChannelSignals) -> bool:
        model = self._models.get(channel_id)
        if model is None or self._corpus is None or model.space is not self._corpus.space:
            return True
        return model.signals_at != signals.changed_at

    async def _refit(
        self, stale: Sequence[tuple[ChannelRecord, ChannelSignals]], *, leave_out: set[str], measure: bool
    ) -> None:
        await self._refit_ids([(r.id, r.categories, s) for r, s in stale], leave_out=leave_out, measure=measure)

    async def _refit_ids(
        self, stale: Sequence[tuple[int, tuple[str, ...], ChannelSignals]], *, leave_out: set[str], measure: bool
    ) -> None:
        async with self._fitting:
            corpus = await self._fresh_corpus()
            if corpus is None:
                return
            jobs = []
            for channel_id, categories, signals in stale:
                found = await self._store.newest([*signals.positives, *signals.negatives])
                positives = [found[i] for i in dict.fromkeys(signals.positives) if i in found]
                liked = set(signals.positives)
                negatives = [found[i] for i in dict.fromkeys(signals.negatives) if i in found and i not in liked]
                jobs.append((channel_id, categories, signals.changed_at, positives, negatives))
            now = self._clock.now()

            def fit_all() -> dict[int, ChannelModel | None]:
                return {
                    channel_id: fit_from_papers(
                        corpus,
                        positives=positives,
                        negatives=negatives,
                        categories=categories,
                        background_size=self._background_size,
                        min_positives=self._min_positives,
                        leave_out=leave_out,
                        seed=channel_id,
                        fitted_at=now,
                        signals_at=changed_at,
                        measure=measure,
                    )
                    for channel_id, categories, changed_at, positives, negatives in jobs
                }

            for channel_id, model in (await asyncio.to_thread(fit_all)).items():
                if model is None:
                    self._models.pop(channel_id, None)
                else:
                    self._models[channel_id] = model

    async def _fresh_corpus(self) -> Corpus | None:
        """The shared space, refit from the stored papers when it is missing or a listing day old."""
        now = self._clock.now()
        if self._corpus is not None and now - self._corpus.built_at < SPACE_MAX_AGE:
            return self._corpus
        papers = await self._store.recent(self._corpus_papers)
        built = await asyncio.to_thread(Corpus.build, papers, built_at=now)
        if built is not None:
            self._corpus = built
        return self._corpus

