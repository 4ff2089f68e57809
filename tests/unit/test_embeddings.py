"""Embeddings in the learned order: the boost's maths, the rerank hook over fake embedders, and the answer checks."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from bot.errors import EmbeddingError
from bot.ranking.embedder import answer_vectors, describe, unit_rows
from bot.ranking.embeddings import EMBEDDING_WEIGHT, centroid, similarity_boost
from tests.fakes.embeddings import BrokenEmbedder, HashedEmbedder
from tests.fakes.ranking_data import gui_agents
from tests.unit.test_ranking_service import learned_setup, ranking_of, runner_of


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def test_the_boost_favours_candidates_near_the_liked_papers_and_leaves_unembedded_ones_at_zero() -> None:
    liked = [unit(1, 0, 0), unit(1, 0.1, 0), unit(1, 0, 0.1)]
    candidates = [unit(0, 1, 0), unit(1, 0, 0), None, unit(1, 1, 0), unit(0, 0, 1)]
    boost = similarity_boost(liked, candidates)
    assert boost is not None and boost.shape == (5,)
    assert boost[2] == 0.0  # no vector: its TF-IDF order stands
    assert boost[1] > boost[3] > max(boost[0], boost[4])
    present = boost[[0, 1, 3, 4]]
    assert abs(present.mean()) < 1e-9 and present.std() == pytest.approx(EMBEDDING_WEIGHT)


def test_no_boost_with_too_few_liked_vectors_or_candidates_that_have_one() -> None:
    liked = [unit(1, 0), unit(1, 0.2), unit(1, -0.2)]
    assert similarity_boost(liked[:2], [unit(1, 0), unit(0, 1)]) is None
    assert similarity_boost(liked, [unit(1, 0), None, None]) is None
    assert similarity_boost(liked, [unit(1, 0, 0), unit(0, 1, 0)]) is None  # another model's length
    assert similarity_boost([unit(1, 0), unit(-1, 0), unit(0, 0.0001) * 0], [unit(1, 0), unit(0, 1)]) is None


def test_the_centroid_is_the_unit_mean_of_the_vectors_of_the_most_common_length() -> None:
    center = centroid([unit(1, 0), unit(0, 1), unit(1, 0, 0)])
    assert center is not None and np.allclose(center, unit(1, 1))
    assert centroid([]) is None and centroid([unit(1, 0), -unit(1, 0)]) is None


async def test_a_candidate_close_to_the_liked_papers_rises_into_the_picks() -> None:
    core, record, reader, plain_ranking = await learned_setup()
    data = gui_agents()
    wide = dataclasses.replace(record, max_papers=50)
    everything = (await runner_of(core, plain_ranking).select([wide])).picks[record.ref]
    plain = (await runner_of(core, plain_ranking).select([record])).picks[record.ref]
    target = everything[-1].paper  # qualifies, but far below the channel's cut
    assert target.arxiv_id not in {p.paper.arxiv_id for p in plain}
    near = unit(1, *([0] * 63))
    embedder = HashedEmbedder(vectors={p.versioned_id: near for p in data.liked} | {target.versioned_id: near})
    ranking = ranking_of(core, reader, embedder=embedder)
    picks = (await runner_of(core, ranking).select([record])).picks[record.ref]
    assert picks[0].paper.arxiv_id == target.arxiv_id and len(picks) == len(plain)
    assert any(m.startswith("like: ") for m in picks[0].matched)  # still explained by the TF-IDF model
    # One call per digest, the liked papers first: with a quota they are embedded before the candidates.
    assert len(embedder.asked) == 1
    liked_ids = {p.versioned_id for p in data.liked}
    assert set(embedder.asked[0][: len(liked_ids)]) == liked_ids
    await ranking.aclose()
    await plain_ranking.aclose()


async def test_without_vectors_for_the_candidates_or_with_a_broken_embedder_the_order_is_tf_idf_alone() -> None:
    core, record, reader, plain_ranking = await learned_setup()
    data = gui_agents()
    plain = (await runner_of(core, plain_ranking).select([record])).picks
    none_embedded = HashedEmbedder(leave_out={p.versioned_id for p in data.candidates})
    broken = BrokenEmbedder()
    for embedder in (none_embedded, broken):
        ranking = ranking_of(core, reader, embedder=embedder)
        assert (await runner_of(core, ranking).select([record])).picks == plain
        await ranking.aclose()
    assert broken.calls == 1 and len(none_embedded.asked) == 1
    await plain_ranking.aclose()


def test_an_answer_is_read_by_index_as_unit_rows_and_a_bad_one_is_an_embedding_error() -> None:
    response = SimpleNamespace(data=[{"index": 1, "embedding": [0.0, 2.0]}, {"index": 0, "embedding": [3.0, 4.0]}])
    vectors = answer_vectors(response, 2)
    assert vectors.dtype == np.float32 and np.allclose(vectors, [[0.6, 0.8], [0.0, 1.0]])
    objects = SimpleNamespace(data=[SimpleNamespace(index=0, embedding=[1.0, 0.0])])
    assert np.allclose(answer_vectors(objects, 1), [[1.0, 0.0]])
    with pytest.raises(EmbeddingError, match="1 vectors for 2 texts"):
        answer_vectors(objects, 2)
    bad_answers: list[list[list[Any]]] = [[[1.0, 0.0], [1.0]], [[0.0, 0.0]], [[float("nan"), 1.0]], [["x", 1.0]], [[]]]
    for bad in bad_answers:
        with pytest.raises(EmbeddingError):
            unit_rows(bad)


def test_an_error_is_described_on_one_line_with_secrets_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "plain-secret-value-42")
    text = describe(ValueError("Incorrect API key provided: plain-secret-value-42\nand sk-abcdefghijklmnopqrstu"))
    assert "plain-secret-value-42" not in text and "sk-abcdefghijklmnopqrstu" not in text
    assert text.startswith("ValueError: Incorrect API key provided: ***") and "\n" not in text
