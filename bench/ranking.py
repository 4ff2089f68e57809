"""Ranking quality and cost of the learned ranker, through the product's own ranking functions.

Quality (the protocol of the ranking fixture's README): for each interest profile, the profile's history goes in
as the channel's saves (history papers the corpus lacks come from ``--titles`` as title-only papers), the corpus
papers listed before the split in the profile's categories are the stored papers (the newest 20,000 of them fit
the shared vocabulary, as ``LearnedRanking`` does), and each weekly pool's candidates are ranked by the same
functions the digest calls (``Corpus.build``, ``fit_from_papers``, ``eligible_papers``, ``learned_order``), the
profile's keywords as the channel's keywords. Average precision and nDCG@10 per pool, averaged per profile, then
over profiles. Two baselines in the same run: the keywords alone through today's keyword scorer, and the cosine
to the TF-IDF centroid of the same positives. One row per profile, then, last:
``ap=<macro AP> ndcg10=<macro nDCG@10> keyword_ap=<..> baseline_ap=<..> fit_s=<..>``.

Cost (``--scale``): 1,000 channels with 20-500 signals each (a fifth of them 👎) over 20,000 stored papers and a
2,000-paper day, through ``LearnedRanking.rerank`` (the shared space, every fit, every channel's scoring), timed
and its peak memory (the process's maximum resident size) printed against the targets (60 s, 600 MB).

    .venv/bin/python bench/ranking.py [--strict] [--corpus F] [--profiles F] [--titles F] [--scale]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import math
import random
import resource
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import RankingSettings  # noqa: E402
from bot.models import (  # noqa: E402
    AnnounceType,
    ChannelRecord,
    ChannelRef,
    ChannelSignals,
    Paper,
    Rule,
    RuleKind,
)
from bot.ranking.keywords import ChannelProfile, KeywordRule, profile_of, score_papers  # noqa: E402
from bot.ranking.learned import ChannelModel  # noqa: E402
from bot.ranking.picks import eligible_papers, learned_order  # noqa: E402
from bot.ranking.service import CORPUS_PAPERS, Corpus, LearnedRanking, fit_from_papers  # noqa: E402

REF = ChannelRef("bench", "w", "c")
SCALE_CHANNELS = 1000
SCALE_DAY = 2000
SCALE_TARGET_S = 60.0
SCALE_TARGET_MB = 600.0
SEED = 20261201


def default(name: str) -> Path | None:
    """The fixture file where a checkout beside ``shared/`` has it, or None."""
    for base in (Path.cwd().parent, ROOT.parent, ROOT.parent.parent):
        path = base / "shared" / "fixtures" / "ranking" / name
        if path.exists():
            return path
    return None


def read_papers(path: Path, limit: int | None = None) -> Iterator[Paper]:
    """The corpus as papers, the listing day as ``published``."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f):
            if limit is not None and n >= limit:
                return
            item = json.loads(line)
            yield Paper(
                arxiv_id=item["id"],
                version=1,
                title=item["title"],
                abstract=item.get("abstract") or "",
                authors=tuple(item.get("authors") or ()),
                categories=tuple(item.get("categories") or ()),
                primary_category=item["primary_category"],
                announce_type=AnnounceType.NEW,
                published=date.fromisoformat(item["date"]),
            )


def read_titles(path: Path | None) -> dict[str, dict[str, str]]:
    """Each profile's liked papers known by title only (history_titles.jsonl): profile -> id -> title."""
    titles_of: dict[str, dict[str, str]] = {}
    if path is not None:
        for line in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            titles_of.setdefault(item["profile"], {})[item["id"]] = item["title"]
    return titles_of


def title_only(arxiv_id: str, title: str) -> Paper:
    """A liked paper known by its title only."""
    return Paper(
        arxiv_id=arxiv_id, version=1, title=title, abstract="", authors=(), categories=(), primary_category=""
    )


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """AP of ranking by ``scores`` (ties: the given order)."""
    ranked = labels[np.argsort(-scores, kind="stable")]
    hits = np.cumsum(ranked)
    return float((hits / np.arange(1, len(ranked) + 1) * ranked).sum() / ranked.sum())


def ndcg_at_10(scores: np.ndarray, labels: np.ndarray) -> float:
    """nDCG@10 of ranking by ``scores`` (binary gains)."""
    discounts = 1.0 / np.log2(np.arange(2, 12))
    ranked = labels[np.argsort(-scores, kind="stable")][:10]
    ideal = np.sort(labels)[::-1][:10]
    return float((ranked * discounts[: len(ranked)]).sum() / (ideal * discounts[: len(ideal)]).sum())


@dataclass(frozen=True, slots=True)
class ProfileResult:
    """One profile's figures, averaged over its pools."""

    name: str
    pools: int
    positives: int
    ap: float
    ndcg10: float
    keyword_ap: float
    keyword_ndcg10: float
    baseline_ap: float
    baseline_ndcg10: float
    fit_s: float


@dataclass(frozen=True, slots=True)
class FittedProfile:
    """One profile's channel as the digest sees it: its liked papers, its fitted model and its keyword profile."""

    by_id: dict[str, Paper]
    positives: list[Paper]
    shared: Corpus
    model: ChannelModel
    profile: ChannelProfile
    fit_s: float


def fit_profile(
    name: str, spec: dict[str, object], corpus: Sequence[Paper], titles: dict[str, str], *, strict: bool
) -> FittedProfile:
    """The protocol's set-up for one profile: its history as saves, the corpus before the split as stored
    background, one fit through the product's ranking functions."""
    settings = RankingSettings()
    split = date.fromisoformat(str(spec["split_date"]))
    categories = tuple(str(c) for c in spec["categories"])  # type: ignore[attr-defined]
    keywords = tuple(str(k) for k in spec["keywords"])  # type: ignore[attr-defined]
    by_id = {p.arxiv_id: p for p in corpus}
    stored = sorted(
        (p for p in corpus if p.published and p.published < split and p.primary_category in categories),
        key=lambda p: (p.published or split, p.arxiv_id),
    )
    history = spec["history_strict_added_before_split" if strict else "history"]
    liked = [by_id.get(i) or (title_only(i, titles[i]) if i in titles else None) for i in history]  # type: ignore[attr-defined]
    positives = [p for p in liked if p is not None]
    started = time.perf_counter()
    shared = Corpus.build(stored[-CORPUS_PAPERS:][::-1], built_at=datetime.now(UTC))
    assert shared is not None
    model = fit_from_papers(
        shared,
        positives=positives,
        negatives=[],
        categories=categories,
        background_size=settings.background_size,
        min_positives=settings.min_positives,
        seed=SEED,
        fitted_at=datetime.now(UTC),
        measure=False,
    )
    fit_s = time.perf_counter() - started
    assert model is not None, f"{name}: fewer than {settings.min_positives} positives"
    profile = ChannelProfile(
        channel=REF,
        categories=frozenset(categories),
        include=tuple(KeywordRule(term=k) for k in keywords),
        max_papers=10,
        min_score=0.0,
    )
    return FittedProfile(by_id, positives, shared, model, profile, fit_s)


def run_profile(
    name: str, spec: dict[str, object], corpus: Sequence[Paper], titles: dict[str, str], *, strict: bool
) -> ProfileResult:
    """The protocol for one profile, through the product's ranking functions."""
    fitted = fit_profile(name, spec, corpus, titles, strict=strict)
    by_id, positives, model, profile, fit_s = fitted.by_id, fitted.positives, fitted.model, fitted.profile, fitted.fit_s
    with_abstract = [p for p in positives if p.abstract]
    centroid = np.asarray(fitted.shared.space.transform(with_abstract or positives).mean(axis=0)).ravel()
    figures: list[tuple[float, float, float, float, float, float]] = []
    for pool in spec["pools"]:  # type: ignore[attr-defined]
        candidates = [by_id[i] for i in pool["candidates"] if i in by_id]
        eligible = eligible_papers(candidates, [profile])[REF]
        wanted = set(pool["positives"])
        labels = np.array([s.paper.arxiv_id in wanted for s in eligible], dtype=np.float64)
        if not labels.any():
            continue
        rows, _margins, order = learned_order(model, eligible)
        keyword = np.array([s.score for s in eligible])
        cosine = np.asarray(rows @ centroid).ravel()
        figures.append(
            (
                average_precision(order, labels),
                ndcg_at_10(order, labels),
                average_precision(keyword, labels),
                ndcg_at_10(keyword, labels),
                average_precision(cosine, labels),
                ndcg_at_10(cosine, labels),
            )
        )
    mean = np.mean(np.array(figures), axis=0)
    return ProfileResult(name, len(figures), len(positives), *map(float, mean), fit_s)


def quality(args: argparse.Namespace) -> None:
    """Every profile's row, then the macro figures."""
    corpus = list(read_papers(args.corpus))
    specs = json.loads(args.profiles.read_text(encoding="utf-8"))["profiles"]
    titles_of = read_titles(args.titles)
    history = "history_strict_added_before_split" if args.strict else "history"
    print(f"{len(corpus)} papers, {len(specs)} profiles, history = {history}")
    print(f"{'profile':24s} {'pools':>5s} {'liked':>5s} {'ap':>6s} {'ndcg10':>6s} {'kw_ap':>6s} {'kw_nd':>6s} "
          f"{'cen_ap':>6s} {'cen_nd':>6s} {'vs_cen':>6s} {'fit_s':>6s}")
    results = []
    for name, spec in specs.items():
        if not spec[history]:
            print(f"{name:24s} no {history}: skipped")
            continue
        r = run_profile(name, spec, corpus, titles_of.get(name, {}), strict=args.strict)
        results.append(r)
        print(f"{r.name:24s} {r.pools:5d} {r.positives:5d} {r.ap:6.3f} {r.ndcg10:6.3f} {r.keyword_ap:6.3f} "
              f"{r.keyword_ndcg10:6.3f} {r.baseline_ap:6.3f} {r.baseline_ndcg10:6.3f} {r.ap / r.baseline_ap:6.2f} "
              f"{r.fit_s:6.2f}")
    ap = float(np.mean([r.ap for r in results]))
    ndcg = float(np.mean([r.ndcg10 for r in results]))
    keyword_ap = float(np.mean([r.keyword_ap for r in results]))
    baseline_ap = float(np.mean([r.baseline_ap for r in results]))
    fit_s = sum(r.fit_s for r in results)
    met = {True: "met", False: "NOT met"}
    print(f"ratio_vs_centroid={ap / baseline_ap:.2f} ratio_vs_keywords={ap / keyword_ap:.2f} "
          f"targets: ap>=0.55 {met[ap >= 0.55]}, ndcg10>=0.60 {met[ndcg >= 0.60]}")
    print(f"ap={ap:.3f} ndcg10={ndcg:.3f} keyword_ap={keyword_ap:.3f} baseline_ap={baseline_ap:.3f} fit_s={fit_s:.1f}")


@dataclass
class MemorySignals:
    """``SignalReader`` over a dict."""

    signals: dict[int, ChannelSignals]

    async def channel_signals(self, channel_id: int) -> ChannelSignals:
        """The channel's signals."""
        return self.signals.get(channel_id, ChannelSignals())


@dataclass
class MemoryCorpus:
    """``PaperCorpus`` over a list, newest first."""

    papers: list[Paper]
    by_id: dict[str, Paper] = field(init=False)

    def __post_init__(self) -> None:
        self.by_id = {p.arxiv_id: p for p in self.papers}

    async def recent(self, limit: int) -> list[Paper]:
        """The newest ``limit`` papers."""
        return self.papers[:limit]

    async def newest(self, arxiv_ids: Iterable[str]) -> dict[str, Paper]:
        """These ids' papers."""
        return {i: self.by_id[i] for i in arxiv_ids if i in self.by_id}


@dataclass
class BenchClock:
    """Now."""

    def now(self) -> datetime:
        """The wall clock."""
        return datetime.now(UTC)


def peak_mb() -> float:
    """The process's maximum resident size so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def scale(args: argparse.Namespace) -> None:
    """1,000 channels' fits and scoring over a 2,000-paper day, timed, with the peak memory."""
    rng = random.Random(SEED)
    papers = list(read_papers(args.corpus, limit=CORPUS_PAPERS + SCALE_DAY))
    stored, day = papers[:CORPUS_PAPERS][::-1], papers[CORPUS_PAPERS:]
    categories = sorted({p.primary_category for p in stored})
    common = [c for c in categories if sum(p.primary_category == c for p in day) >= 50]
    words = sorted({w.lower() for p in stored[:2000] for w in p.title.split() if w.isalpha() and len(w) > 5})
    records, signals = [], {}
    for n in range(1, SCALE_CHANNELS + 1):
        cats = tuple(sorted(rng.sample(common, rng.randint(1, min(3, len(common))))))
        rules = tuple(Rule(kind=RuleKind.INCLUDE, term=w) for w in rng.sample(words, rng.randint(2, 8)))
        records.append(
            ChannelRecord(
                id=n, ref=ChannelRef("bench", "w", f"c{n}"), post_time="09:00", timezone="UTC", max_papers=10,
                min_score=1.0, include_cross=False, language="en", last_digest_at=None,
                created_at=datetime.now(UTC), feed_token=f"t{n}", categories=cats, rules=rules,
            )
        )
        pool = [p.arxiv_id for p in stored if p.primary_category in cats] or [p.arxiv_id for p in stored]
        picked = rng.sample(pool, min(len(pool), rng.randint(20, 500)))
        cut = math.ceil(len(picked) * 0.8)
        signals[n] = ChannelSignals(
            positives=tuple(picked[:cut]), negatives=tuple(picked[cut:]), changed_at=datetime.now(UTC)
        )
    total_signals = sum(len(s.positives) + len(s.negatives) for s in signals.values())
    settings = RankingSettings()
    ranking = LearnedRanking(
        signals=MemorySignals(signals),
        corpus=MemoryCorpus(stored),
        clock=BenchClock(),
        min_positives=settings.min_positives,
        author_bonus=2.0,
        background_size=settings.background_size,
    )
    before_mb = peak_mb()
    started, cpu_started = time.perf_counter(), time.process_time()
    profiles = [profile_of(r, author_bonus=2.0) for r in records]
    keyword_picks = score_papers(day, profiles)
    keyword_s = time.perf_counter() - started
    picks = asyncio.run(ranking.rerank(records, day, keyword_picks))
    total_s = time.perf_counter() - started
    cpu_s = time.process_time() - cpu_started
    learned = sum(1 for r in records if ranking.model_of(r.id) is not None)
    assert learned == SCALE_CHANNELS, f"only {learned} channels were fitted"
    assert all(len(picks[r.ref]) <= r.max_papers for r in records)
    mb = peak_mb()
    print(f"scale: channels={SCALE_CHANNELS} signals={total_signals} stored={len(stored)} day={len(day)}")
    print(f"keyword_s={keyword_s:.1f} cpu_s={cpu_s:.1f} total_s={total_s:.1f} (target {SCALE_TARGET_S:g} s, "
          f"ratio {total_s / SCALE_TARGET_S:.2f}) peak_mb={mb:.0f} (target {SCALE_TARGET_MB:g} MB, "
          f"ratio {mb / SCALE_TARGET_MB:.2f}; {before_mb:.0f} MB before the run)")


def main(argv: list[str] | None = None) -> int:
    """Parse the options and run the quality protocol, or the cost run with ``--scale``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=default("papers.jsonl.gz"))
    parser.add_argument("--profiles", type=Path, default=default("profiles.json"))
    parser.add_argument("--titles", type=Path, default=default("history_titles.jsonl"))
    parser.add_argument("--strict", action="store_true", help="use history_strict_added_before_split (no leak)")
    parser.add_argument("--scale", action="store_true", help="the cost run: 1,000 channels, a 2,000-paper day")
    args = parser.parse_args(argv)
    if args.corpus is None or (args.profiles is None and not args.scale):
        parser.error("the ranking fixture was not found: give --corpus and --profiles")
    if args.scale:
        scale(args)
    else:
        quality(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
