"""Does an embedding boost help the learned order? The protocol of bench/ranking.py, with and without it.

The vectors come from a file (``--vectors F.npz``: an array ``ids`` of unversioned arXiv ids and an array
``vectors``, one row each), made by whatever embedding model is to be judged, offline: the bot itself only gets
vectors through litellm (``[ranking] embedding_model``). For each profile the learned model is fit exactly as in
bench/ranking.py; each pool's eligible candidates are then ordered by ``learned_order`` with the boost of
``bot.ranking.embeddings.similarity_boost`` at several weights (0: today's order, measured in the same run), and
by the embedding centroid alone. Papers without a vector get no boost, as in the digest. Last line:
``ap=<weight 0> emb_ap=<default weight> ndcg10=<..> emb_ndcg10=<..> centroid_ap=<..> ratio=<emb_ap / ap>``.

    python bench/embeddings.py --vectors F.npz [--last-pools N] [--corpus F] [--profiles F] [--titles F] [--strict]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import ranking as protocol  # noqa: E402  (bench/ranking.py: the fixture readers and the measures)

from bot.models import Paper  # noqa: E402
from bot.ranking.embeddings import EMBEDDING_WEIGHT, centroid, similarity_boost  # noqa: E402
from bot.ranking.picks import eligible_papers, learned_order  # noqa: E402

WEIGHTS = (0.0, 0.25, EMBEDDING_WEIGHT, 1.0, 2.0)


def unit(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.where(norms == 0, 1, norms), dtype=np.float32)


def run_profile(
    name: str,
    spec: dict[str, object],
    corpus: list[Paper],
    titles: dict[str, str],
    vectors: dict[str, np.ndarray],
    *,
    strict: bool,
    last_pools: int | None = None,
) -> tuple[int, np.ndarray]:
    """(pools, figures): per weight AP and nDCG@10, then the embedding centroid's AP and nDCG@10, over the pools."""
    fitted = protocol.fit_profile(name, spec, corpus, titles, strict=strict)
    by_id, positives, model, profile = fitted.by_id, fitted.positives, fitted.model, fitted.profile
    liked_vectors = [vectors[p.arxiv_id] for p in positives if p.arxiv_id in vectors]
    center = centroid(liked_vectors)
    figures = []
    pools = list(spec["pools"])  # type: ignore[call-overload]
    for pool in pools[-last_pools:] if last_pools else pools:
        candidates = [by_id[i] for i in pool["candidates"] if i in by_id]
        eligible = eligible_papers(candidates, [profile])[protocol.REF]
        wanted = set(pool["positives"])
        labels = np.array([s.paper.arxiv_id in wanted for s in eligible], dtype=np.float64)
        if not labels.any():
            continue
        candidate_vectors = [vectors.get(s.paper.arxiv_id) for s in eligible]
        row = []
        for weight in WEIGHTS:
            boost = similarity_boost(liked_vectors, candidate_vectors, weight=weight) if weight else None
            _rows, _margins, order = learned_order(model, eligible, boost=boost)
            row += [protocol.average_precision(order, labels), protocol.ndcg_at_10(order, labels)]
        cosine = np.array([-1.0 if v is None or center is None else float(v @ center) for v in candidate_vectors])
        row += [protocol.average_precision(cosine, labels), protocol.ndcg_at_10(cosine, labels)]
        figures.append(row)
    return len(figures), np.mean(np.array(figures), axis=0)


def main(argv: list[str] | None = None) -> int:
    """Every profile's row, then the macro figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=Path, required=True, help="an .npz with arrays ids and vectors")
    parser.add_argument("--corpus", type=Path, default=protocol.default("papers.jsonl.gz"))
    parser.add_argument("--profiles", type=Path, default=protocol.default("profiles.json"))
    parser.add_argument("--titles", type=Path, default=protocol.default("history_titles.jsonl"))
    parser.add_argument("--strict", action="store_true", help="use history_strict_added_before_split (no leak)")
    parser.add_argument("--last-pools", type=int, default=None, help="only each profile's last N weekly pools")
    args = parser.parse_args(argv)
    if args.corpus is None or args.profiles is None:
        parser.error("the ranking fixture was not found: give --corpus and --profiles")
    stored = np.load(args.vectors)
    vectors = dict(zip((str(i) for i in stored["ids"]), unit(stored["vectors"]), strict=True))
    corpus = list(protocol.read_papers(args.corpus))
    specs = json.loads(args.profiles.read_text(encoding="utf-8"))["profiles"]
    titles_of = protocol.read_titles(args.titles)
    history = "history_strict_added_before_split" if args.strict else "history"
    print(f"{len(corpus)} papers, {len(vectors)} vectors, {len(specs)} profiles, history = {history}")
    header = " ".join(f"ap@{w:g} nd@{w:g}" for w in WEIGHTS)
    print(f"{'profile':24s} {'pools':>5s} {header} cen_ap cen_nd")
    rows = []
    for name, spec in specs.items():
        if not spec[history]:
            continue
        pools, figures = run_profile(
            name, spec, corpus, titles_of.get(name, {}), vectors, strict=args.strict, last_pools=args.last_pools
        )
        rows.append(figures)
        print(f"{name:24s} {pools:5d} " + " ".join(f"{v:6.3f}" for v in figures))
    macro = np.mean(np.array(rows), axis=0)
    print(f"{'macro':24s} {'':5s} " + " ".join(f"{v:6.3f}" for v in macro))
    at = 2 * WEIGHTS.index(EMBEDDING_WEIGHT)
    ap, ndcg, emb_ap, emb_ndcg = macro[0], macro[1], macro[at], macro[at + 1]
    print(
        f"ap={ap:.3f} emb_ap={emb_ap:.3f} ndcg10={ndcg:.3f} emb_ndcg10={emb_ndcg:.3f} "
        f"centroid_ap={macro[-2]:.3f} ratio={emb_ap / ap:.2f} (weight {EMBEDDING_WEIGHT:g})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
