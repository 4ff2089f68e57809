"""Benchmark of bot.ranking.keywords.score_papers against the reference bot's loop and the tokeniser pass.

Run as ``.venv/bin/python bench/score.py``. Two kinds of data, each 2,000 papers and 1,000 channels of 30
keywords, generated deterministically from fixed seeds:

* the clustered mode: synthetic papers and channels that lean on topic clusters of a few hundred keywords;
* the distinct-terms mode, twice: 2,000 real papers (``/work/shared/fixtures/ranking/papers.jsonl.gz``, or
  ``ARXIVBOT_BENCH_PAPERS``) and channels whose 30,000 keyword slots hold 15,000 and then 30,000 distinct
  terms drawn from the text of other real papers: words and phrases of two and three words, as people type
  them.

Three contenders are timed on each, taking turns (9 rounds, wall clock), so a busy moment on a shared
machine hits them alike:

1. ``score_papers`` over all 1,000 channels, profile compilation included (its first call in the process is
   timed as well and printed: the compiled keyword index is kept between calls with the same vocabulary);
2. the reference bot's selection loop (substring tests), on 50 channels, scaled linearly to 1,000;
3. a lower bound: the tokeniser pass ``score_papers`` itself makes (``bot.ranking.terms.text_words`` over every
   title and abstract), which any matcher of whole words has to make.

The ratios are the median over the rounds of each round's own ratio (ours against the lower bound and the
reference timed back to back), not a ratio of separate minimums: this machine runs its work at two speeds some
30% apart and switches between them within a second, so the 25 ms tokeniser pass often has a round wholly in the
fast state that the 130 ms ``score_papers`` does not, and best-of ratios swung from 4.0 to 5.9 between repeats on
the same data. The best-of times are printed as well.

It then checks the selections (an independent regex oracle must agree exactly on a sample of channels; no
false positives for us; the reference's substring defects are counted) and prints, as its last line,
``ratio_vs_reference=<x> ratio_vs_lower_bound=<y> peak_mb=<z>`` for the clustered mode, then
``distinct_ratio_vs_reference=<x> distinct_ratio_vs_lower_bound=<y>`` for the 30,000-term mode. Exits non-zero
only when a sanity check fails, never because of timing.
"""

from __future__ import annotations

import gc
import gzip
import json
import os
import random
import re
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.models import AnnounceType, ChannelRef, Paper, ScoredPaper
from bot.ranking.keywords import ChannelProfile, KeywordRule, score_papers
from bot.ranking.terms import text_words

SEED = 20260105
N_PAPERS = 2_000
N_CHANNELS = 1_000
KEYWORDS_PER_CHANNEL = 30
REFERENCE_SAMPLE = 50
RUNS = 9
ORACLE_SAMPLE = 25
TARGET_VS_REFERENCE = 50.0
TARGET_VS_LOWER_BOUND = 5.0
T = TypeVar("T")
# Most channels keep the default of 10 papers a day; some want fewer, some many more.
MAX_PAPERS = (5, 10, 10, 10, 10, 10, 15, 20, 30)

# fmt: off
# Topic clusters of keywords as users write them; channels and papers each lean on one or two clusters.
CLUSTERS: dict[str, list[str]] = {
    "llm-systems": [
        "LLM", "inference", "MoE", "speculative decoding", "FP8", "prefill", "throughput", "KV cache",
        "quantization", "serving", "latency", "batching", "paged attention", "tensor parallelism",
        "pipeline parallelism", "GPU", "CUDA", "kernel", "FlashAttention", "INT4", "memory bandwidth",
        "disaggregated serving", "continuous batching", "long context", "context window", "vLLM",
        "decoding", "draft model", "attention", "offloading", "token", "TPU", "compiler",
    ],
    "llm-training": [
        "RLHF", "DPO", "PPO", "RL", "reward model", "preference optimization", "instruction tuning",
        "fine-tuning", "LoRA", "pretraining", "scaling law", "data mixture", "distillation", "alignment",
        "GPT-4", "chain-of-thought", "reasoning", "test-time compute", "mixture of experts", "BF16",
        "ZeRO", "FSDP", "checkpointing", "optimizer", "Adam", "learning rate", "large language model",
        "tokenizer", "synthetic data", "curriculum learning", "catastrophic forgetting",
    ],
    "nlp": [
        "machine translation", "NER", "question answering", "RAG", "retrieval-augmented generation",
        "summarization", "sentiment analysis", "BERT", "embedding", "multilingual", "low-resource",
        "hallucination", "factuality", "in-context learning", "prompt", "dialogue", "evaluation",
        "benchmark", "text classification", "parsing", "speech recognition", "code generation", "agent",
        "tool use", "information extraction", "knowledge graph", "semantic search", "tokenization",
    ],
    "vision": [
        "diffusion", "ViT", "vision transformer", "image segmentation", "object detection", "3D",
        "NeRF", "Gaussian splatting", "video generation", "text-to-image", "CLIP", "SAM", "GAN",
        "super-resolution", "depth estimation", "point cloud", "optical flow", "pose estimation",
        "image classification", "visual question answering", "multimodal", "VLM", "autoencoder",
        "latent diffusion", "denoising", "flow matching", "image editing", "contrastive learning",
    ],
    "rl-robotics": [
        "reinforcement learning", "policy gradient", "Q-learning", "model-based RL", "offline RL",
        "multi-agent", "reward shaping", "exploration", "imitation learning", "robot", "manipulation",
        "locomotion", "sim-to-real", "MPC", "motion planning", "navigation", "world model", "bandit",
        "Markov decision process", "actor-critic", "SLAM", "embodied", "humanoid", "trajectory",
    ],
    "theory": [
        "generalization", "convergence", "SGD", "stochastic optimization", "kernel method",
        "PAC-Bayes", "sample complexity", "regret", "Bayesian", "variational inference", "MCMC",
        "Gaussian process", "causal inference", "conformal prediction", "uncertainty quantification",
        "overparameterization", "implicit bias", "neural tangent kernel", "minimax", "convex",
        "non-convex", "lower bound", "high-dimensional", "sparse", "matrix factorization",
    ],
    "graphs-data": [
        "GNN", "graph neural network", "message passing", "link prediction", "node classification",
        "recommender system", "collaborative filtering", "time series", "forecasting", "anomaly detection",
        "tabular", "clustering", "dimensionality reduction", "federated learning", "differential privacy",
        "privacy", "fairness", "interpretability", "explainability", "active learning", "AutoML",
        "neural architecture search", "database", "query optimization", "vector database",
    ],
    "systems-hw": [
        "distributed training", "RDMA", "NVLink", "interconnect", "scheduling", "cluster", "cloud",
        "serverless", "edge computing", "FPGA", "ASIC", "accelerator", "sparsity", "pruning",
        "energy efficiency", "power consumption", "fault tolerance", "straggler", "all-reduce",
        "collective communication", "HPC", "MPI", "storage", "network", "compression", "RISC-V",
        "systolic array", "in-memory computing", "processing-in-memory", "SSD",
    ],
    "security-se": [
        "adversarial attack", "jailbreak", "backdoor", "watermarking", "membership inference",
        "prompt injection", "red teaming", "robustness", "certified defense", "malware", "fuzzing",
        "vulnerability detection", "program synthesis", "static analysis", "formal verification",
        "software testing", "bug", "code review", "smart contract", "blockchain", "LLM agent",
    ],
    "signal-audio": [
        "speech", "TTS", "speaker verification", "audio", "music generation", "EEG", "ECG", "radar",
        "beamforming", "channel estimation", "MIMO", "OFDM", "compressed sensing", "denoising",
        "source separation", "spectrogram", "wireless", "5G", "signal processing", "medical imaging",
        "MRI", "CT",
    ],
}
CLUSTER_CATEGORIES: dict[str, list[str]] = {
    "llm-systems": ["cs.DC", "cs.LG", "cs.CL", "cs.PF", "cs.AR"],
    "llm-training": ["cs.CL", "cs.LG", "cs.AI"],
    "nlp": ["cs.CL", "cs.AI", "cs.IR"],
    "vision": ["cs.CV", "cs.LG", "eess.IV"],
    "rl-robotics": ["cs.RO", "cs.LG", "cs.AI", "cs.MA"],
    "theory": ["stat.ML", "cs.LG", "math.OC", "stat.ME"],
    "graphs-data": ["cs.LG", "cs.IR", "cs.DB", "cs.SI"],
    "systems-hw": ["cs.DC", "cs.AR", "cs.PF", "cs.OS", "cs.NI"],
    "security-se": ["cs.CR", "cs.SE", "cs.AI"],
    "signal-audio": ["eess.SP", "eess.AS", "cs.SD", "eess.IV"],
}
EXCLUDES = ["survey", "review", "tutorial", "position paper", "workshop", "dataset"]

# Filler words drawn with Zipf-like weights: function words dominate, then common scientific words, then
# words that contain short keywords as substrings (world, early, exploration, average, preview, reviewer,
# Moebius...), which appear in real abstracts and trip the reference's substring matching.
FUNCTION_WORDS = """the of and to in a is that for we on with as by this are be an our from which it at can
these""".split()
COMMON_WORDS = """show propose method approach results model models paper work data performance based using new
task tasks problem framework training learning experiments demonstrate proposed existing however while both
also than more such each between into over under high low large small significant significantly compared
achieves state art baseline baselines improve improves improvement evaluate evaluation study analysis
across different multiple various number time towards key critical important recent recently effective
efficient efficiently simple novel first second finally further furthermore moreover thus therefore hence
specifically respectively here there their its they them where when how what who whose not no only even
still previous prior limited limitations challenge challenges address addresses enable enables provide
provides obtain obtained achieve achieved consistent consistently robust setting settings theoretical
empirical empirically practical practice application applications domain domains step steps process
structure structured input output inputs outputs function functions loss objective design designed
component components module modules layer layers feature features representation representations parameter
parameters value values set sets level levels scale scalable cost costs rate rates order orders quality
accuracy accurate precision gain gains reduce reduces reduced reduction increase increases increased
capture captures information context contexts environment environments""".split()
TRAP_WORDS = """world real-world early early-stage nearly overall particularly regularly clearly fairly overlap
exploration explore explored average leverage leverages storage same sample samples general generally
support supports activity vital preview reviewer reviewers organization began original origin controller
controllers Moebius""".split()
FILLER = FUNCTION_WORDS + COMMON_WORDS + TRAP_WORDS
FILLER_WEIGHTS = [30.0] * len(FUNCTION_WORDS) + [4.0] * len(COMMON_WORDS) + [1.0] * len(TRAP_WORDS)

CATEGORY_POOL = sorted({c for cats in CLUSTER_CATEGORIES.values() for c in cats})
FIRST = ["Wei", "Yann", "Anna", "José", "Li", "Maria", "Chen", "Ahmed", "Sofia", "Hiroshi", "Élodie", "Raj",
         "Olga", "Tom", "Ines", "Kwame", "Mei", "Lars", "Priya", "Diego"]
LAST = ["Zhang", "LeCun", "Müller", "García", "Wang", "Smith", "Kim", "Nguyen", "Rossi", "Tanaka", "Dubois",
        "Patel", "Ivanova", "Brown", "Silva", "Mensah", "Liu", "Berg", "Sharma", "Lopez"]
# fmt: on


def surface(term: str, rng: random.Random) -> str:
    """How a keyword shows up in running text: case, plural, hyphen or line-break variants."""
    out = term
    roll = rng.random()
    if roll < 0.15:
        out = out.lower()
    elif roll < 0.25:
        out = out.title() if not any(ch.isupper() for ch in out) else out
    if " " in out:
        roll = rng.random()
        if roll < 0.1:
            out = out.replace(" ", "-", 1)
        elif roll < 0.2:
            out = out.replace(" ", "\n", 1)
    if out[-1].isalpha() and rng.random() < 0.2:
        out += "es" if out.endswith(("s", "x", "ch", "sh")) else "s"
    return out


def make_papers(rng: random.Random) -> list[Paper]:
    """2,000 synthetic papers with titles, abstracts, authors and categories."""
    types = (
        [AnnounceType.NEW] * 11 + [AnnounceType.CROSS] * 4 + [AnnounceType.REPLACE] * 4 + [AnnounceType.REPLACE_CROSS]
    )
    clusters = list(CLUSTERS)
    papers = []
    for i in range(N_PAPERS):
        topics = rng.sample(clusters, rng.choice((1, 1, 2)))
        vocab = [t for c in topics for t in CLUSTERS[c]]
        cats = list(dict.fromkeys(rng.choice(CLUSTER_CATEGORIES[c]) for c in topics))
        extra = rng.choice(CATEGORY_POOL) if rng.random() < 0.5 else None
        if extra and extra not in cats:
            cats.append(extra)
        title_words = rng.choices(FILLER, FILLER_WEIGHTS, k=rng.randint(6, 9))
        for term in rng.sample(vocab, rng.randint(1, 3)):
            title_words.insert(rng.randrange(len(title_words) + 1), surface(term, rng))
        words = rng.choices(FILLER, FILLER_WEIGHTS, k=rng.randint(140, 230))
        for term in rng.choices(vocab, k=rng.randint(4, 14)):
            words.insert(rng.randrange(len(words) + 1), surface(term, rng))
        if rng.random() < 0.04:
            words.insert(rng.randrange(len(words) + 1), rng.choice(["survey", "review", "tutorial"]))
        for j in range(20, len(words), rng.randint(12, 16)):  # line breaks as in the API's abstracts
            words[j] = "\n" + words[j]
        abstract = " ".join(words).replace(" \n", "\n")
        abstract = ". ".join(s.strip().capitalize() for s in abstract.split(" the ", 8)) + "."
        authors = tuple(f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(rng.randint(1, 8)))
        papers.append(
            Paper(
                arxiv_id=f"2601.{i:05d}",
                version=rng.choice((1, 1, 1, 2)),
                title=" ".join(title_words).capitalize(),
                abstract=abstract,
                authors=authors,
                categories=tuple(cats),
                primary_category=cats[0],
                announce_type=rng.choice(types),
            )
        )
    return papers


def make_profiles(rng: random.Random) -> list[ChannelProfile]:
    """1,000 channels with 30 keywords each, mostly from one or two topic clusters."""
    clusters = list(CLUSTERS)
    all_terms = sorted({t for terms in CLUSTERS.values() for t in terms})
    profiles = []
    for i in range(N_CHANNELS):
        topics = rng.sample(clusters, rng.choice((1, 2, 2)))
        pool = list(dict.fromkeys(t for c in topics for t in CLUSTERS[c]))
        rng.shuffle(pool)
        terms = pool[:24]
        while len(terms) < KEYWORDS_PER_CHANNEL:
            term = rng.choice(all_terms)
            if term not in terms:
                terms.append(term)
        weighted = rng.random() < 0.15
        include = tuple(
            KeywordRule(term=t, weight=rng.choice((0.5, 1.0, 1.0, 2.0)) if weighted else 1.0) for t in terms
        )
        cats = {c for t in topics for c in rng.sample(CLUSTER_CATEGORIES[t], 2)}
        categories = frozenset(rng.sample(sorted(cats), min(len(cats), rng.randint(1, 4))))
        authors = ()
        if rng.random() < 0.2:
            authors = tuple(f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(rng.randint(1, 3)))
        profiles.append(
            ChannelProfile(
                channel=ChannelRef("slack", "T0BENCH", f"C{i:05d}"),
                categories=categories,
                include=include,
                exclude=tuple(rng.sample(EXCLUDES, rng.randint(0, 3))),
                authors=authors,
                include_cross=rng.random() < 0.3,
                max_papers=rng.choice(MAX_PAPERS),
                min_score=rng.choice((1.0, 1.0, 1.5, 2.0)),
            )
        )
    return profiles


@dataclass
class RefPick:
    """One paper the reference loop selected for a channel."""

    paper: Paper
    score: float


def reference_select(papers: Sequence[Paper], profile: ChannelProfile) -> list[RefPick]:
    """The reference bot's selection for one channel, as its code does it.

    It sees every NEW/CROSS paper with any category among the channel's (cross-lists included, no
    opt-in); lower-cases title+abstract per check; keeps a paper if any keyword is a substring and no
    exclude keyword is; scores +1 per keyword substring and +0.5 per keyword substring of the title;
    sorts by score and keeps ``max_papers``. It has no weights, no authors and never applies min_score.
    """
    keywords = [rule.term for rule in profile.include]
    picks = []
    seen: set[str] = set()
    for paper in papers:
        if paper.announce_type not in (AnnounceType.NEW, AnnounceType.CROSS):
            continue
        if not any(c in profile.categories for c in paper.categories):
            continue
        text = f"{paper.title} {paper.abstract}".lower()
        if keywords and not any(kw.lower() in text for kw in keywords):
            continue
        if any(kw.lower() in text for kw in profile.exclude):
            continue
        # its duplicate check, by id and by normalised title
        title_key = paper.title.lower().strip()
        if paper.arxiv_id in seen or title_key in seen:
            continue
        seen.update((paper.arxiv_id, title_key))
        text = f"{paper.title} {paper.abstract}".lower()
        score = 0.0
        for kw in keywords:
            if kw.lower() in text:
                score += 1.0
        title = paper.title.lower()
        for kw in keywords:
            if kw.lower() in title:
                score += 0.5
        picks.append(RefPick(paper, score))
    picks.sort(key=lambda p: p.score, reverse=True)
    return picks[: profile.max_papers]


def term_regex(term: str) -> re.Pattern[str]:
    """The oracle's own statement of the matching rule: whole words, plural (+s, +es, y->ies) on the last."""
    words = re.findall(r"[^\W_]+", term.lower())
    last = words[-1]
    forms = [last]
    if len(last) > 1:
        forms.append(last + "s")
        if last.endswith(("s", "x", "z", "ch", "sh", "o")):
            forms.append(last + "es")
        elif last.endswith("y") and last[-2] not in "aeiou":
            forms.append(last[:-1] + "ies")
    head = "".join(re.escape(word) + r"[\W_]+" for word in words[:-1])
    tail = "|".join(re.escape(form) for form in forms)
    return re.compile(rf"(?<![^\W_]){head}(?:{tail})(?![^\W_])", re.IGNORECASE)


class Oracle:
    """Slow, independent re-implementation of the rules, used to check our picks on a sample of channels."""

    def __init__(self) -> None:
        self._cache: dict[str, re.Pattern[str]] = {}

    def has(self, term: str, text: str) -> bool:
        """Whether ``term`` occurs in ``text`` as whole words."""
        rx = self._cache.get(term)
        if rx is None:
            rx = self._cache[term] = term_regex(term)
        return rx.search(text) is not None

    def select(self, papers: Sequence[Paper], profile: ChannelProfile) -> list[tuple[str, float]]:
        """The (versioned id, score) picks the rules call for, in order."""
        follow = {" ".join(a.split()).casefold() for a in profile.authors}
        scored = []
        seen = set()
        for paper in papers:
            if paper.announce_type not in (AnnounceType.NEW, AnnounceType.CROSS) or paper.arxiv_id in seen:
                continue
            seen.add(paper.arxiv_id)
            cats = set(paper.categories) | {paper.primary_category}
            if not cats & profile.categories:
                continue
            if paper.primary_category not in profile.categories and not profile.include_cross:
                continue
            if any(self.has(x, paper.title) or self.has(x, paper.abstract) for x in profile.exclude):
                continue
            score = 0.0
            done = set()
            for rule in profile.include:
                key = " ".join(re.findall(r"[^\W_]+", rule.term.lower()))
                if key in done:
                    continue
                done.add(key)
                if self.has(rule.term, paper.title):
                    score += 1.5 * rule.weight
                elif self.has(rule.term, paper.abstract):
                    score += rule.weight
            if follow & {" ".join(a.split()).casefold() for a in paper.authors}:
                score += profile.author_bonus
            if (profile.include or profile.authors) and (score <= 0 or score < profile.min_score):
                continue
            scored.append((round(score, 9), paper.versioned_id))
        scored.sort(key=lambda s: (-s[0], s[1]))
        return [(vid, score) for score, vid in scored[: profile.max_papers]]


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    """Wall time of one call after a full collection, and its result."""
    gc.collect()
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def tokeniser_pass(papers: Sequence[Paper]) -> int:
    """The lower bound: ``score_papers``' own tokenisation of every title and abstract; the number of words."""
    return sum(len(text_words(p.title)) + len(text_words(p.abstract)) for p in papers)


@dataclass
class Figures:
    """One mode's timings and ratios."""

    ours_s: float
    first_s: float
    lower_s: float
    ref_s: float
    peak_mb: float
    failures: int
    ratio_ref: float
    """How many times faster than the reference loop: the median of the rounds' own ratios."""
    ratio_low: float
    """How many times the tokeniser pass: the median of the rounds' own ratios."""


def measure(
    label: str, papers: list[Paper], profiles: list[ChannelProfile], *, oracle_sample: int, clustered: bool
) -> Figures:
    """Time the three contenders on one data set, check the selections, print the figures."""
    n_text = sum(len(p.title) + len(p.abstract) for p in papers)
    n_terms = len({r.term for p in profiles for r in p.include})
    n_slots = sum(len(p.include) for p in profiles)
    print(
        f"[{label}] data: {len(papers)} papers ({n_text / 1e6:.1f} MB of title+abstract), {len(profiles)} channels, "
        f"{n_slots} keyword slots holding {n_terms} distinct terms"
    )
    sample = profiles[:: N_CHANNELS // REFERENCE_SAMPLE][:REFERENCE_SAMPLE]
    first_s, _ = timed(lambda: score_papers(papers, profiles))
    # The three contenders take turns, so a busy moment on this shared machine hits them alike.
    ours_runs: list[float] = []
    lower_runs: list[float] = []
    ref_runs: list[float] = []
    for _ in range(RUNS):
        elapsed, ours = timed(lambda: score_papers(papers, profiles))
        ours_runs.append(elapsed)
        elapsed, n_words = timed(lambda: tokeniser_pass(papers))
        lower_runs.append(elapsed)
        elapsed, reference = timed(lambda: [reference_select(papers, p) for p in sample])
        ref_runs.append(elapsed)
    scale = N_CHANNELS / len(sample)
    ours_s, lower_s, ref_sample_s = min(ours_runs), min(lower_runs), min(ref_runs)
    ref_s = ref_sample_s * scale
    ratio_ref = statistics.median(r * scale / o for r, o in zip(ref_runs, ours_runs, strict=True))
    ratio_low = statistics.median(o / lo for o, lo in zip(ours_runs, lower_runs, strict=True))

    gc.collect()
    tracemalloc.start()
    score_papers(papers, profiles)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak_mb = peak / 2**20

    print(f"[{label}] ours: score_papers over all {N_CHANNELS} channels, best of {RUNS}: {ours_s * 1000:.1f} ms "
          f"(first call in this process, building the keyword index: {first_s * 1000:.1f} ms)")
    print(
        f"[{label}] lower bound: score_papers' tokeniser pass (text_words) over every title and abstract "
        f"({n_words:,} words), best of {RUNS}: {lower_s * 1000:.1f} ms"
    )
    print(
        f"[{label}] reference loop: {len(sample)} channels, best of {RUNS}: {ref_sample_s * 1000:.1f} ms, SCALED "
        f"linearly x{N_CHANNELS // len(sample)} to {N_CHANNELS} channels: {ref_s * 1000:.1f} ms (each "
        "channel tests every keyword against every NEW/CROSS paper listed in one of its categories)"
    )
    print(f"[{label}] peak memory of one score_papers call (tracemalloc): {peak_mb:.1f} MB")
    failures = check(papers, profiles, ours, sample, reference, oracle_sample=oracle_sample, clustered=clustered)
    figures = Figures(ours_s, first_s, lower_s, ref_s, peak_mb, failures, ratio_ref, ratio_low)
    rounds = " ".join(f"{o / lo:.2f}" for o, lo in zip(ours_runs, lower_runs, strict=True))
    print(f"[{label}] each round's ours / lower bound: {rounds}; of the best-of times: {ours_s / lower_s:.2f}")
    met_ref = "met" if figures.ratio_ref >= TARGET_VS_REFERENCE else "NOT met"
    met_low = "met" if figures.ratio_low <= TARGET_VS_LOWER_BOUND else "NOT met"
    print(f"[{label}] ratio_vs_reference={figures.ratio_ref:.1f} (target >= {TARGET_VS_REFERENCE:g}: {met_ref}) "
          f"ratio_vs_lower_bound={figures.ratio_low:.2f} (target <= {TARGET_VS_LOWER_BOUND:g}: {met_low})")
    return figures


def main() -> int:
    """Generate the data, time the three contenders in each mode, check the selections and print the figures."""
    rng = random.Random(SEED)
    papers = make_papers(rng)
    profiles = make_profiles(rng)
    clustered = measure("clustered", papers, profiles, oracle_sample=ORACLE_SAMPLE, clustered=True)

    real = load_real_papers()
    listed, pool = real[:N_PAPERS], real[N_PAPERS:]
    distinct: dict[int, Figures] = {}
    for n_terms in DISTINCT_TERMS:
        terms = draw_terms(pool, n_terms, random.Random(SEED + n_terms))
        channels = distinct_profiles(listed, terms, random.Random(SEED + 1 + n_terms))
        distinct[n_terms] = measure(
            f"{n_terms} distinct", listed, channels, oracle_sample=DISTINCT_ORACLE_SAMPLE, clustered=False
        )
    failures = clustered.failures + sum(f.failures for f in distinct.values())
    if failures:
        print(f"SANITY CHECKS FAILED: {failures}")
    last = distinct[DISTINCT_TERMS[-1]]
    print(
        f"ratio_vs_reference={clustered.ratio_ref:.1f} ratio_vs_lower_bound={clustered.ratio_low:.2f} "
        f"peak_mb={clustered.peak_mb:.1f} distinct_ratio_vs_reference={last.ratio_ref:.1f} "
        f"distinct_ratio_vs_lower_bound={last.ratio_low:.2f}"
    )
    return 1 if failures else 0


# --- the distinct-terms mode: real papers, terms drawn from real text --------------------------------------------

DISTINCT_TERMS = (15_000, 30_000)
DISTINCT_ORACLE_SAMPLE = 10
REAL_PAPERS = Path(os.environ.get("ARXIVBOT_BENCH_PAPERS", "/work/shared/fixtures/ranking/papers.jsonl.gz"))
REAL_READ = 30_000
STOPWORDS = frozenset(FUNCTION_WORDS) | frozenset(
    """also an as at be been being but by can could do does each for from has have how if in into is it its
    may more most not of on or our over such than that the their them then there these they this those through
    to two under up use used using via was we were what when where which while who will with within without
    would yet one new show shows shown paper propose proposed results method methods approach based""".split()
)


def load_real_papers() -> list[Paper]:
    """The first ``REAL_READ`` real papers of the ranking data, shuffled with the seed."""
    papers = []
    with gzip.open(REAL_PAPERS, "rt", encoding="utf-8") as lines:
        for n, line in enumerate(lines):
            if n >= REAL_READ:
                break
            raw = json.loads(line)
            categories = tuple(raw["categories"]) or (raw["primary_category"],)
            papers.append(
                Paper(
                    arxiv_id=raw["id"],
                    version=1,
                    title=" ".join(raw["title"].split()),
                    abstract=raw["abstract"],
                    authors=tuple(raw.get("authors") or ()),
                    categories=categories,
                    primary_category=raw["primary_category"],
                    announce_type=AnnounceType.NEW,
                )
            )
    random.Random(SEED).shuffle(papers)
    return papers


def draw_terms(pool: Sequence[Paper], n: int, rng: random.Random) -> list[str]:
    """``n`` distinct keywords as people type them, drawn from real titles and abstracts: words and phrases of two
    and three words that neither start nor end with a function word, seen in at least two papers."""
    word = re.compile(r"[^\W_]+")
    seen: dict[str, int] = {}
    for paper in pool:
        words = word.findall(f"{paper.title} {paper.abstract}")
        grams: set[str] = set()
        for i in range(len(words)):
            for size in (1, 2, 3):
                gram = words[i : i + size]
                if len(gram) < size or gram[0].lower() in STOPWORDS or gram[-1].lower() in STOPWORDS:
                    continue
                if len(gram[0]) < 2 or gram[0].isdigit() or gram[-1].isdigit():
                    continue
                grams.add(" ".join(gram))
        for gram in grams:
            seen[gram] = seen.get(gram, 0) + 1
    by_size: dict[int, list[str]] = {1: [], 2: [], 3: []}
    for gram, count in sorted(seen.items()):
        if count >= 2:
            by_size[gram.count(" ") + 1].append(gram)
    for grams in by_size.values():
        rng.shuffle(grams)
    # About a third single words, half two-word phrases, the rest three-word ones.
    want = {1: n * 35 // 100, 2: n * 50 // 100}
    want[3] = n - want[1] - want[2]
    terms: list[str] = []
    lowered: set[str] = set()
    for size, count in want.items():
        for gram in by_size[size]:
            if count == 0:
                break
            if gram.lower() not in lowered:
                lowered.add(gram.lower())
                terms.append(gram)
                count -= 1
    if len(terms) < n:
        raise SystemExit(f"only {len(terms)} distinct terms in the pool, {n} wanted")
    rng.shuffle(terms)
    return terms


def distinct_profiles(papers: Sequence[Paper], terms: Sequence[str], rng: random.Random) -> list[ChannelProfile]:
    """1,000 channels filling their 30,000 keyword slots with ``terms``, each term in about as many channels; each
    follows one to four of the listing's categories (weighted by how many papers they list)."""
    slots = N_CHANNELS * KEYWORDS_PER_CHANNEL
    ordered: list[str] = []
    while len(ordered) < slots:  # each pass over the terms in another order; a channel's 30 fall in one pass
        ordered.extend(rng.sample(list(terms), len(terms)))
    categories = [c for p in papers for c in p.categories]
    profiles = []
    for i in range(N_CHANNELS):
        mine = ordered[i * KEYWORDS_PER_CHANNEL : (i + 1) * KEYWORDS_PER_CHANNEL]
        cats = frozenset(rng.choice(categories) for _ in range(rng.randint(1, 4)))
        weighted = rng.random() < 0.15
        profiles.append(
            ChannelProfile(
                channel=ChannelRef("slack", "T0REAL", f"C{i:05d}"),
                categories=cats,
                include=tuple(
                    KeywordRule(term=t, weight=rng.choice((0.5, 1.0, 2.0)) if weighted else 1.0) for t in mine
                ),
                exclude=tuple(rng.sample(EXCLUDES, rng.randint(0, 2))),
                include_cross=rng.random() < 0.3,
                max_papers=rng.choice(MAX_PAPERS),
                min_score=rng.choice((1.0, 1.0, 1.5)),
            )
        )
    return profiles


def check(
    papers: list[Paper],
    profiles: list[ChannelProfile],
    ours: dict[ChannelRef, list[ScoredPaper]],
    sample: list[ChannelProfile],
    reference: list[list[RefPick]],
    *,
    oracle_sample: int,
    clustered: bool,
) -> int:
    """Compare both selections with the oracle; print the findings and return the number of failures."""
    failures = 0
    oracle = Oracle()
    picked = sum(len(v) for v in ours.values())
    empty = sum(1 for v in ours.values() if not v)
    print(f"ours picked {picked} papers over {len(ours)} channels ({empty} channels got none)")
    if len(ours) != len(profiles) or picked == 0:
        print("FAIL: result does not cover every channel, or picked nothing")
        failures += 1

    # 1. Exact agreement with the independent oracle on a sample of channels.
    mismatched = 0
    for profile in profiles[:: N_CHANNELS // oracle_sample][:oracle_sample]:
        got = [(s.paper.versioned_id, round(s.score, 9)) for s in ours[profile.channel]]
        want = oracle.select(papers, profile)
        if got != want:
            mismatched += 1
            if mismatched <= 3:
                print(f"FAIL: {profile.channel}: ours {got[:5]} ... oracle {want[:5]} ...")
    print(f"oracle check: {oracle_sample - mismatched}/{oracle_sample} sampled channels match exactly")
    failures += mismatched

    # 2. False positives on the reference sample: picks with no keyword as a whole word, or hit by an exclude.
    def false_positive(paper: Paper, profile: ChannelProfile) -> bool:
        hit = any(oracle.has(r.term, paper.title) or oracle.has(r.term, paper.abstract) for r in profile.include)
        follow = {" ".join(a.split()).casefold() for a in profile.authors}
        by_author = bool(follow & {" ".join(a.split()).casefold() for a in paper.authors})
        excluded = any(oracle.has(x, paper.title) or oracle.has(x, paper.abstract) for x in profile.exclude)
        return (not hit and not by_author) or excluded

    ours_fp = sum(false_positive(s.paper, p) for p in sample for s in ours[p.channel])
    ours_n = sum(len(ours[p.channel]) for p in sample)
    ref_fp = sum(false_positive(r.paper, p) for p, picks in zip(sample, reference, strict=True) for r in picks)
    ref_n = sum(len(picks) for picks in reference)
    # What the reference accepts before its max_papers cut ("Total Papers Found"): in a quieter channel or
    # on a quieter day, these are what it shows.
    accepted = [reference_select(papers, replace(p, max_papers=10**9)) for p in sample]
    accepted_n = sum(len(picks) for picks in accepted)
    substring_only = sum(
        not any(oracle.has(k.term, r.paper.title) or oracle.has(k.term, r.paper.abstract) for k in p.include)
        for p, picks in zip(sample, accepted, strict=True)
        for r in picks
    )
    wrongly_excluded = 0
    for p in sample:
        for paper in papers:
            if paper.announce_type not in (AnnounceType.NEW, AnnounceType.CROSS):
                continue
            if not p.categories.intersection(paper.categories):
                continue
            text = f"{paper.title} {paper.abstract}".lower()
            subs = [x for x in p.exclude if x in text]
            if subs and not any(oracle.has(x, paper.title) or oracle.has(x, paper.abstract) for x in subs):
                wrongly_excluded += 1
    print(
        f"on the {len(sample)} reference channels: ours picked {ours_n}, {ours_fp} of them false positives; "
        f"the reference picked {ref_n}, {ref_fp} false positives (no keyword as a whole word, or an "
        f"exclude present)"
    )
    print(
        f"  the reference accepts {accepted_n} papers before its max_papers cut, {substring_only} of them "
        f"only through substrings (RL in 'world', LoRA in 'exploration', RAG in 'average'...); its "
        f"substring excludes wrongly drop {wrongly_excluded} (channel, paper) pairs ('review' in "
        f"'reviewer', 'preview')"
    )
    if ours_fp != 0 or (clustered and substring_only == 0):
        print("FAIL: ours should pick no false positive, and the reference should show its substring defect")
        failures += 1

    # 3. Every pick of every channel is eligible and carries a reason.
    bad = 0
    for profile in profiles:
        for s in ours[profile.channel]:
            p = s.paper
            if p.announce_type not in (AnnounceType.NEW, AnnounceType.CROSS):
                bad += 1
            elif p.primary_category not in profile.categories and not (
                profile.include_cross and set(p.categories) & profile.categories
            ):
                bad += 1
            elif not s.matched:
                bad += 1
    ordered_ok = all(
        [(-s.score, s.paper.versioned_id) for s in v] == sorted((-s.score, s.paper.versioned_id) for s in v)
        for v in ours.values()
    )
    print(f"eligibility/reason check: {bad} bad picks; ranking order ok: {ordered_ok}")
    failures += bad + (not ordered_ok)
    return failures


if __name__ == "__main__":
    sys.exit(main())
