"""The learned ranker on a small fixture cut from the dev data: fit, order, cuts, explanations, quality."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import numpy as np
from scipy import sparse
from sklearn.metrics import average_precision_score

from bot.models import ChannelRef, Paper, ScoredPaper
from bot.ranking.features import TextSpace
from bot.ranking.keywords import ChannelProfile, KeywordRule
from bot.ranking.learned import ChannelModel, TrainingRows, blend
from bot.ranking.picks import eligible_papers, learned_picks, short_title, why_learned
from bot.ranking.service import Corpus, fit_from_papers
from tests.fakes.ranking_data import RankingFixture, gui_agents

REF = ChannelRef("test", "w1", "c1")
NOW = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def model_of(data: RankingFixture, **changes: object) -> ChannelModel:
    corpus = Corpus.build(list(data.background), built_at=NOW)
    assert corpus is not None
    model = fit_from_papers(
        corpus,
        positives=list(data.liked),
        negatives=[],
        categories=data.categories,
        background_size=1000,
        min_positives=5,
        seed=1,
        fitted_at=NOW,
        **changes,  # type: ignore[arg-type]
    )
    assert model is not None
    return model


def eligible(
    data: RankingFixture, *, keywords: tuple[str, ...] = (), exclude: tuple[str, ...] = ()
) -> list[ScoredPaper]:
    profile = ChannelProfile(
        channel=REF,
        categories=frozenset(data.categories),
        include=tuple(KeywordRule(term=k) for k in keywords),
        exclude=exclude,
    )
    return eligible_papers(list(data.candidates), [profile])[REF]


def average_precision(order: list[ScoredPaper], positives: frozenset[str]) -> float:
    labels = [p.paper.arxiv_id in positives for p in order]
    return float(average_precision_score(labels, -np.arange(len(order))))


def test_the_learned_order_finds_what_the_channel_liked_without_any_keyword() -> None:
    data = gui_agents()
    candidates = eligible(data)
    assert len(candidates) == len(data.candidates) and all(s.score == 0.0 for s in candidates)
    model = model_of(data)
    order = blend(model.margins(model.space.transform([s.paper for s in candidates])), np.zeros(len(candidates)))
    ranked = [candidates[i] for i in np.argsort(-order, kind="stable")]
    assert average_precision(candidates, data.positives) < 0.2  # the listing order
    assert average_precision(ranked, data.positives) > 0.7
    # With no keyword to match, what qualifies is what the model rates as the channel's kind: mostly liked ones.
    picks = learned_picks(model, candidates, min_score=0.0, max_papers=len(candidates))
    liked = [p.paper.arxiv_id in data.positives for p in picks]
    assert len(picks) < len(candidates) / 4 and sum(liked) >= 0.6 * len(picks)
    assert [p.paper for p in picks] == [s.paper for s in ranked[: len(picks)]]
    top = picks[0]
    assert top.paper.arxiv_id in data.positives
    assert any(m.startswith("learned: ") for m in top.matched) and any(m.startswith("like: ") for m in top.matched)


def test_keywords_still_count_in_the_blend_and_excludes_still_drop() -> None:
    data = gui_agents()
    model = model_of(data)
    with_keywords = eligible(data, keywords=data.keywords)
    assert any(s.score > 0 for s in with_keywords)
    picks = learned_picks(model, with_keywords, min_score=0.0, max_papers=10)
    assert all(p.matched[0] in data.keywords for p in picks if p.score > 0 and p.matched and "GUI" in p.paper.title)
    excluded = eligible(data, keywords=data.keywords, exclude=("GUI",))
    assert not any("gui" in (p.paper.title + p.paper.abstract).lower().split() for p in excluded)
    assert {p.paper.arxiv_id for p in learned_picks(model, excluded, min_score=0.0, max_papers=200)} <= {
        p.paper.arxiv_id for p in excluded
    }


def test_min_score_keeps_keyword_matches_above_it_and_what_the_model_rates_as_its_kind() -> None:
    data = gui_agents()
    model = model_of(data)
    candidates = eligible(data, keywords=data.keywords)
    picks = learned_picks(model, candidates, min_score=99.0, max_papers=len(candidates))
    margins = model.margins(model.space.transform([p.paper for p in picks]))
    assert picks and all(margins > 0)  # no keyword score reaches 99: only the model's own kind is left
    assert len(picks) < len(candidates)
    assert (
        learned_picks(model, candidates, min_score=0.0, max_papers=3)
        == learned_picks(model, candidates, min_score=0.0, max_papers=len(candidates))[:3]
    )
    assert learned_picks(model, candidates, min_score=0.0, max_papers=0) == []


def test_title_only_positives_are_left_out_of_the_fit_but_still_explain() -> None:
    data = gui_agents()
    with_titles = dataclasses.replace(data, liked=data.liked + data.liked_titles_only)
    model = model_of(with_titles)
    assert model.positives == len(data.liked) + len(data.liked_titles_only)
    assert model.liked.titles[-len(data.liked_titles_only) :] == tuple(p.title for p in data.liked_titles_only)
    plain = model_of(data)
    assert np.allclose(model.weights, plain.weights, atol=1e-4)  # the same fit


def test_the_channel_quality_is_measured_on_a_time_split_when_it_has_enough_positives() -> None:
    data = gui_agents()
    assert model_of(data).quality_ap is not None and 0.3 < (model_of(data).quality_ap or 0) <= 1.0
    few = dataclasses.replace(data, liked=data.liked[:6])
    assert model_of(few).quality_ap is None


def test_fewer_positives_than_the_minimum_fit_nothing() -> None:
    data = gui_agents()
    corpus = Corpus.build(list(data.background), built_at=NOW)
    assert corpus is not None
    got = fit_from_papers(
        corpus,
        positives=list(data.liked[:4]),
        negatives=[],
        categories=data.categories,
        background_size=100,
        min_positives=5,
        seed=1,
        fitted_at=NOW,
    )
    assert got is None


def test_a_down_vote_lowers_a_paper_like_it() -> None:
    data = gui_agents()
    target = next(p for p in data.candidates if p.arxiv_id in data.positives)
    before = model_of(data)
    corpus = Corpus.build(list(data.background), built_at=NOW)
    assert corpus is not None
    after = fit_from_papers(
        corpus,
        positives=list(data.liked),
        negatives=[target],
        categories=data.categories,
        background_size=1000,
        min_positives=5,
        seed=1,
        fitted_at=NOW,
    )
    assert after is not None and after.negatives == 1
    row = before.space.transform([target])
    assert after.margins(row)[0] < before.margins(row)[0]


def test_blend_is_the_model_order_when_no_keyword_matched_and_is_stable_for_equal_scores() -> None:
    margins = np.array([0.3, -1.0, 2.0])
    assert list(np.argsort(-blend(margins, np.zeros(3)))) == [2, 0, 1]
    assert np.all(blend(np.zeros(3), np.zeros(3)) == 0)
    boosted = blend(np.array([1.0, 1.01, -5.0]), np.array([3.0, 0.0, 0.0]))
    assert boosted[0] > boosted[1]  # a keyword match breaks a near tie


def test_a_long_liked_title_is_cut_at_a_word() -> None:
    assert short_title("A " * 10) == " ".join(["A"] * 10)
    cut = short_title("word " * 40, limit=20)
    assert len(cut) <= 20 and cut.endswith("…") and "  " not in cut


def test_corpus_rows_are_the_papers_as_the_space_reads_them_when_the_vocabulary_is_fit_on_a_sample() -> None:
    papers = list(gui_agents().background)
    corpus = Corpus.build(papers, built_at=NOW, vocabulary_papers=80)
    assert corpus is not None and corpus.rows.shape[0] == len(papers)
    # The sampled papers' rows come from the fit, the others from a second reading: both as transform gives them.
    assert abs(corpus.rows - corpus.space.transform(papers)).max() < 1e-12
    whole = Corpus.build(papers, built_at=NOW)
    assert whole is not None and len(whole.space.terms) > len(corpus.space.terms)  # 80 papers hold fewer terms


def test_training_rows_split_by_time_within_each_kind() -> None:
    rows = sparse.csr_matrix(np.arange(20, dtype=np.float64).reshape(20, 1))
    training = TrainingRows(rows=rows, positives=10, negatives=4)
    assert training.background == 6
    assert list(training.labels()) == [1.0] * 10 + [0.0] * 10
    older, newer = training.time_split()
    assert (older.positives, older.negatives, older.background) == (7, 2, 3)
    assert (newer.positives, newer.negatives, newer.background) == (3, 2, 3)
    assert older.rows.toarray().ravel().tolist() == [0, 1, 2, 3, 4, 5, 6, 10, 11, 14, 15, 16]
    assert newer.rows.toarray().ravel().tolist() == [7, 8, 9, 12, 13, 17, 18, 19]


def test_each_pick_is_explained_by_its_own_terms_and_nearest_liked_paper() -> None:
    data = gui_agents()
    model = model_of(data)
    candidates = eligible(data)
    picks = learned_picks(model, candidates, min_score=0.0, max_papers=10)
    assert len(picks) == 10
    for pick in picks:
        row = model.space.transform([pick.paper])
        assert pick.matched == why_learned(model, row, liked=model.nearest_liked(row))


def titled(titles: list[str]) -> list[Paper]:
    """Papers with these titles and no abstract."""
    return [
        Paper(arxiv_id=f"2601.{n:05d}", version=1, title=t, abstract="", authors=(), categories=(), primary_category="")
        for n, t in enumerate(titles)
    ]


def test_the_space_reads_the_forms_of_a_word_as_one_term_and_shows_it_as_most_often_written() -> None:
    texts = ["Video diffusion models", "Video diffusion model", "Diffused videos", "Speculative decoding", "A decoder"]
    space = TextSpace.fit(titled(texts))
    assert space is not None
    terms = space.terms.tolist()
    assert "diffusion" in terms and "video diffusion" in terms and "model" in terms
    assert not {"diffused", "videos", "models", "video diffusion models"} & set(terms)
    rows = space.transform_texts(["diffusions", "diffusion", "models"]).toarray()
    assert (rows[0] == rows[1]).all() and rows[0][terms.index("diffusion")] == 1.0
    assert rows[2][terms.index("model")] == 1.0


def test_words_of_the_stop_list_that_name_things_are_read_in_every_form() -> None:
    texts = ["Full-duplex spoken dialogue systems", "A full-duplex system", "Tool calls of the system", "A tool call"]
    space = TextSpace.fit(titled(texts))
    assert space is not None
    terms = set(space.terms.tolist())
    assert {"full", "full duplex", "system", "call", "tool call"} <= terms
    assert not {"the", "of", "a"} & terms
