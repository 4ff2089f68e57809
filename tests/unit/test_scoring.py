"""Tests of bot.ranking (keywords, terms): whole-word matching, eligibility, scores, selection and validation."""

from __future__ import annotations

import gc
import math
import random
import re

import numpy as np
import pytest

from bot.errors import UserInputError
from bot.models import AnnounceType, ChannelRef, Paper
from bot.ranking.keywords import ChannelProfile, KeywordRule, score_papers
from bot.ranking.terms import (
    MAX_TERM_LENGTH,
    TOKEN_BLOCK,
    TermIndex,
    WordIds,
    distinct,
    find_terms,
    sorted_keys,
    validate_term,
)

CH = ChannelRef("slack", "T1", "C1")
OTHER = ChannelRef("slack", "T1", "C2")


def paper(
    pid: str,
    title: str = "Untitled",
    abstract: str = "Nothing to see.",
    *,
    cats: tuple[str, ...] = ("cs.LG",),
    primary: str | None = None,
    authors: tuple[str, ...] = ("A. Author",),
    kind: AnnounceType = AnnounceType.NEW,
    version: int = 1,
) -> Paper:
    return Paper(
        arxiv_id=pid,
        version=version,
        title=title,
        abstract=abstract,
        authors=authors,
        categories=cats,
        primary_category=primary or cats[0],
        announce_type=kind,
    )


def profile(
    *terms: str | tuple[str, float],
    channel: ChannelRef = CH,
    cats: tuple[str, ...] = ("cs.LG",),
    **kwargs: object,
) -> ChannelProfile:
    include = tuple(KeywordRule(term=t) if isinstance(t, str) else KeywordRule(term=t[0], weight=t[1]) for t in terms)
    return ChannelProfile(channel=channel, categories=frozenset(cats), include=include, **kwargs)  # type: ignore[arg-type]


def picks(papers: list[Paper], prof: ChannelProfile) -> list[tuple[str, float, tuple[str, ...]]]:
    """(versioned id, score, matched) of a single channel's selection, in order."""
    result = score_papers(papers, [prof])
    return [(s.paper.versioned_id, s.score, s.matched) for s in result[prof.channel]]


def ids(papers: list[Paper], prof: ChannelProfile) -> list[str]:
    return [vid for vid, _, _ in picks(papers, prof)]


# --- matching ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hit"),
    [
        ("We train with RL on Atari.", True),
        ("An RL-based controller.", True),
        ("rl, but lower case", True),
        ("A world model for planning.", False),
        ("Early stopping helps.", False),
        ("RLHF with human raters.", False),
        ("Overlapping windows, clearly.", False),
    ],
)
def test_short_keyword_matches_whole_words_only(text: str, hit: bool) -> None:
    assert find_terms(text, ["RL"]) == ({"RL"} if hit else set())
    assert ids([paper("2601.00001", abstract=text)], profile("RL")) == (["2601.00001v1"] if hit else [])


@pytest.mark.parametrize(
    ("term", "text", "hit"),
    [
        ("LLM", "Serving LLMs at scale", True),
        ("LLM", "an llm", True),
        ("KV cache", "paged KV caches", True),
        ("patch", "image patches", True),
        ("policy", "learned policies", True),
        ("loss", "two losses", True),
        ("MoE", "sparse MoE layers", True),
        ("MoE", "MoEs are sparse", True),
        ("MoE", "the Moebius strip", False),
        ("speculative decoding", "speculatives decoding", False),  # plural only on the last word
        ("LLM", "LLMish", False),
        ("time", "timestamps", False),
    ],
)
def test_plural_allowed_on_last_word_only(term: str, text: str, hit: bool) -> None:
    assert find_terms(text, [term]) == ({term} if hit else set())


@pytest.mark.parametrize(
    ("text", "hit"),
    [
        ("fast speculative decoding", True),
        ("fast speculative\ndecoding across a line break", True),
        ("Speculative-Decoding in caps", True),
        ("speculative   \t decoding", True),
        ("speculative and then decoding", False),
        ("decoding speculative", False),
    ],
)
def test_phrase_matches_across_whitespace_and_hyphens(text: str, hit: bool) -> None:
    assert find_terms(text, ["speculative decoding"]) == ({"speculative decoding"} if hit else set())


def test_phrase_does_not_span_title_and_abstract() -> None:
    p = paper("2601.00001", title="Faster speculative", abstract="Decoding is slow.")
    assert picks([p], profile("speculative decoding", min_score=0.1)) == []


@pytest.mark.parametrize(
    ("term", "text", "hit"),
    [
        ("FP8", "training in FP8 precision", True),
        ("FP8", "FP16 and BF16", False),
        ("GPT-4", "compared with GPT-4 and others", True),
        ("GPT-4", "gpt 4", True),
        ("GPT-4", "GPT-4o is newer", False),
        ("3D", "3D reconstruction", True),
        ("3D", "a 3DGS scene", False),
    ],
)
def test_keywords_with_digits(term: str, text: str, hit: bool) -> None:
    assert find_terms(text, [term]) == ({term} if hit else set())


def test_non_ascii_text_and_keywords() -> None:
    assert find_terms("Ein LLM für Übersetzung", ["LLM", "für"]) == {"LLM", "für"}
    assert find_terms("Schrödinger-Bridge models", ["Schrödinger bridge"]) == {"Schrödinger bridge"}
    assert find_terms("Schrödinger", ["Schr", "dinger"]) == set()


def test_find_terms_returns_terms_as_given_and_ignores_unusable_ones() -> None:
    assert find_terms("Serving LLMs with a KV-cache.", ["llm", "KV Cache", "GPU", "!!!", ""]) == {
        "llm",
        "KV Cache",
    }


# --- exclude, scores ----------------------------------------------------------------------------------


def test_exclude_is_whole_word() -> None:
    prof = profile("LLM", exclude=("review",))
    papers = [
        paper("2601.00001", "A review of LLM agents"),
        paper("2601.00002", "LLM reviews, compared"),
        paper("2601.00003", "LLM as a reviewer"),
        paper("2601.00004", "A preview of LLM serving"),
        paper("2601.00005", "LLM", abstract="We REVIEW the field."),
    ]
    assert ids(papers, prof) == ["2601.00003v1", "2601.00004v1"]


def test_overlapping_keywords_both_count() -> None:
    p = paper("2601.00001", abstract="We study speculative decoding.")
    assert picks([p], profile("speculative decoding", "decoding")) == [
        ("2601.00001v1", 2.0, ("speculative decoding", "decoding"))
    ]


def test_reference_example_eight_keywords_five_in_title_scores_10_5() -> None:
    terms = ["LLM", "RL", "RLHF", "inference", "MoE", "speculative decoding", "FP8", "prefill", "throughput"]
    p = paper(
        "2601.00001",
        title="LLM inference with MoE, FP8 and speculative decoding",
        abstract="We raise throughput and prefill speed for RLHF-trained models.",
    )
    assert picks([p], profile(*terms)) == [
        (
            "2601.00001v1",
            10.5,
            ("LLM", "RLHF", "inference", "MoE", "speculative decoding", "FP8", "prefill", "throughput"),
        )
    ]


def test_title_bonus_is_half_the_weight_once_per_keyword() -> None:
    papers = [
        paper("2601.00001", title="An LLM", abstract="The LLM, the LLM, the LLM."),
        paper("2601.00002", title="Untitled", abstract="An LLM and an LLM."),
    ]
    assert picks(papers, profile("LLM")) == [("2601.00001v1", 1.5, ("LLM",)), ("2601.00002v1", 1.0, ("LLM",))]


def test_weights_and_title_bonus() -> None:
    prof = profile(("LLM", 2.0), ("GPU", 0.5), "kernel")
    papers = [
        paper("2601.00001", title="LLM tricks", abstract="An LLM on one GPU."),  # 2*1.5 + 0.5
        paper("2601.00002", title="Kernels", abstract="A GPU kernel."),  # 0.5 + 1.5
        paper("2601.00003", title="Nothing", abstract="A GPU."),  # 0.5: below min_score 1.0
    ]
    assert picks(papers, prof) == [
        ("2601.00001v1", 3.5, ("LLM", "GPU")),
        ("2601.00002v1", 2.0, ("GPU", "kernel")),
    ]


def test_weights_that_are_not_powers_of_two_and_negative_weights() -> None:
    prof = profile(("LLM", 0.3), ("GPU", 0.7), ("survey", -1.0), min_score=0.1)
    papers = [
        paper("2601.00001", abstract="LLM on a GPU."),
        paper("2601.00002", title="GPU", abstract="Just a GPU."),
        paper("2601.00003", abstract="A survey of LLM and GPU work."),
        paper("2601.00004", abstract="An LLM."),
    ]
    assert picks(papers, prof) == [
        ("2601.00002v1", math.fsum([0.7, 0.35]), ("GPU",)),
        ("2601.00001v1", math.fsum([0.3, 0.7]), ("LLM", "GPU")),
        ("2601.00004v1", 0.3, ("LLM",)),
    ]


def test_repeated_keyword_counts_once_with_its_first_weight() -> None:
    prof = profile(("LLM", 2.0), ("llm", 5.0), "LLMs")
    assert picks([paper("2601.00001", abstract="An LLM.")], prof) == [("2601.00001v1", 2.0, ("LLM",))]


def test_author_bonus_and_matched_authors() -> None:
    prof = profile("LLM", authors=("Yann LeCun", "José García", "Nobody Here"), author_bonus=2.0)
    papers = [
        paper("2601.00001", abstract="An LLM.", authors=("yann  LECUN", "B. Other")),
        paper("2601.00002", abstract="No keyword.", authors=("Jose Garcia",)),
        paper("2601.00003", abstract="An LLM.", authors=("Yann Lecunn",)),
    ]
    assert picks(papers, prof) == [
        ("2601.00001v1", 3.0, ("LLM", "author: Yann LeCun")),
        ("2601.00002v1", 2.0, ("author: José García",)),
        ("2601.00003v1", 1.0, ("LLM",)),
    ]


def test_followed_author_alone_selects_and_excludes_still_apply() -> None:
    prof = profile(authors=("Ada Lovelace",), exclude=("tutorial",))
    papers = [
        paper("2601.00001", authors=("Ada Lovelace",)),
        paper("2601.00002", abstract="A tutorial.", authors=("Ada Lovelace",)),
        paper("2601.00003", authors=("Someone Else",)),
    ]
    assert picks(papers, prof) == [("2601.00001v1", 2.0, ("author: Ada Lovelace",))]


def test_min_score() -> None:
    papers = [
        paper("2601.00001", abstract="LLM"),  # 1.0
        paper("2601.00002", title="LLM", abstract="LLM"),  # 1.5
        paper("2601.00003", abstract="LLM on a GPU"),  # 2.0
    ]
    assert ids(papers, profile("LLM", "GPU", min_score=2.0)) == ["2601.00003v1"]
    assert ids(papers, profile("LLM", "GPU", min_score=1.5)) == ["2601.00003v1", "2601.00002v1"]
    assert ids(papers, profile("LLM", "GPU", min_score=0.0)) == ["2601.00003v1", "2601.00002v1", "2601.00001v1"]


def test_paper_without_a_match_is_never_selected_even_with_min_score_zero() -> None:
    assert picks([paper("2601.00001", abstract="Nothing relevant.")], profile("LLM", min_score=0.0)) == []


# --- selection --------------------------------------------------------------------------------------


def test_max_papers_keeps_the_best_in_score_order() -> None:
    papers = [
        paper("2601.00001", abstract="LLM"),
        paper("2601.00002", abstract="LLM GPU kernel"),
        paper("2601.00003", abstract="LLM GPU"),
        paper("2601.00004", title="LLM GPU kernel", abstract="-"),
        paper("2601.00005", abstract="GPU"),
    ]
    assert picks(papers, profile("LLM", "GPU", "kernel", max_papers=3)) == [
        ("2601.00004v1", 4.5, ("LLM", "GPU", "kernel")),
        ("2601.00002v1", 3.0, ("LLM", "GPU", "kernel")),
        ("2601.00003v1", 2.0, ("LLM", "GPU")),
    ]


def test_ties_break_by_versioned_id_whatever_the_input_order() -> None:
    papers = [
        paper("2601.00003", abstract="LLM"),
        paper("2601.00001", abstract="LLM", version=2),
        paper("2512.99999", abstract="LLM"),
        paper("2601.00002", abstract="LLM"),
    ]
    expected = ["2512.99999v1", "2601.00001v2", "2601.00002v1"]
    for seed in range(5):
        random.Random(seed).shuffle(papers)
        assert ids(papers, profile("LLM", max_papers=3)) == expected


def test_max_papers_zero_selects_nothing() -> None:
    assert picks([paper("2601.00001", abstract="LLM")], profile("LLM", max_papers=0)) == []
    assert picks([paper("2601.00001")], profile(max_papers=0)) == []


def test_replacements_are_never_eligible() -> None:
    papers = [
        paper("2601.00001", abstract="LLM", kind=AnnounceType.REPLACE),
        paper("2601.00002", abstract="LLM", kind=AnnounceType.REPLACE_CROSS),
        paper("2601.00003", abstract="LLM", kind=AnnounceType.NEW),
    ]
    assert ids(papers, profile("LLM", include_cross=True)) == ["2601.00003v1"]
    assert ids(papers, profile(include_cross=True)) == ["2601.00003v1"]


def test_cross_lists_need_the_opt_in_decided_by_primary_category() -> None:
    cross = paper("2601.00001", abstract="LLM", cats=("cs.AI", "cs.LG"), kind=AnnounceType.CROSS)
    # The same paper object, announced as a cross-list, is native to a cs.AI channel.
    own = paper("2601.00002", abstract="LLM", cats=("cs.LG", "cs.AI"), kind=AnnounceType.CROSS)
    papers = [cross, own]
    assert ids(papers, profile("LLM", cats=("cs.LG",))) == ["2601.00002v1"]
    assert ids(papers, profile("LLM", cats=("cs.LG",), include_cross=True)) == ["2601.00001v1", "2601.00002v1"]
    assert ids(papers, profile("LLM", cats=("cs.AI",))) == ["2601.00001v1"]


def test_paper_in_two_subscribed_categories_appears_once() -> None:
    p = paper("2601.00001", abstract="LLM", cats=("cs.LG", "cs.CL", "cs.AI"))
    assert picks([p], profile("LLM", cats=("cs.LG", "cs.CL", "cs.AI"), include_cross=True)) == [
        ("2601.00001v1", 1.0, ("LLM",))
    ]


def test_same_paper_listed_twice_is_considered_once() -> None:
    entry = paper("2601.00001", abstract="LLM")
    again = paper("2601.00001", abstract="LLM", cats=("cs.AI", "cs.LG"), kind=AnnounceType.CROSS)
    assert ids([entry, again], profile("LLM", cats=("cs.LG", "cs.AI"))) == ["2601.00001v1"]


def test_unseen_categories_are_not_eligible() -> None:
    assert picks([paper("2601.00001", abstract="LLM", cats=("math.CO",))], profile("LLM")) == []


def test_two_channels_get_different_picks_from_one_call() -> None:
    papers = [
        paper("2601.00001", abstract="Serving an LLM with a KV cache."),
        paper("2601.00002", abstract="A diffusion model for images.", cats=("cs.CV",)),
        paper("2601.00003", abstract="Diffusion for LLM decoding.", cats=("cs.LG", "cs.CV")),
    ]
    systems = profile("LLM", "KV cache", channel=CH, cats=("cs.LG",))
    vision = profile("diffusion", channel=OTHER, cats=("cs.CV",), include_cross=True)
    result = score_papers(papers, [systems, vision])
    assert {ch: [(s.paper.versioned_id, s.score, s.matched) for s in v] for ch, v in result.items()} == {
        CH: [("2601.00001v1", 2.0, ("LLM", "KV cache")), ("2601.00003v1", 1.0, ("LLM",))],
        OTHER: [("2601.00002v1", 1.0, ("diffusion",)), ("2601.00003v1", 1.0, ("diffusion",))],
    }


def test_channel_without_keywords_or_authors_gets_every_eligible_paper() -> None:
    papers = [
        paper("2601.00003"),
        paper("2601.00001", abstract="A survey."),
        paper("2601.00002"),
        paper("2601.00004", cats=("cs.AI", "cs.LG")),
        paper("2601.00005", kind=AnnounceType.REPLACE),
        paper("2601.00000"),
    ]
    prof = profile(exclude=("survey",), max_papers=3)
    assert picks(papers, prof) == [("2601.00000v1", 0.0, ()), ("2601.00002v1", 0.0, ()), ("2601.00003v1", 0.0, ())]
    assert ids(papers, profile(include_cross=True)) == [
        "2601.00000v1",
        "2601.00001v1",
        "2601.00002v1",
        "2601.00003v1",
        "2601.00004v1",
    ]


def test_every_channel_is_in_the_result_and_duplicates_are_refused() -> None:
    assert score_papers([], [profile("LLM"), profile(channel=OTHER)]) == {CH: [], OTHER: []}
    with pytest.raises(ValueError, match="same channel"):
        score_papers([], [profile("LLM"), profile("GPU")])


@pytest.mark.parametrize(("private_words", "channels"), [(0, 40), (2000, 200)], ids=["shared", "mostly-own"])
def test_matches_a_plain_reimplementation_on_random_channels(private_words: int, channels: int) -> None:
    """The summed selection agrees with a paper-by-paper loop, ties and all: with keywords many channels share
    (sums computed densely) and with most keywords followed by one channel only (one sparse product)."""
    rng = random.Random(7)
    vocab = ["LLM", "RL", "MoE", "GPU", "KV cache", "speculative decoding", "FP8", "agent", "diffusion", "RAG"]
    vocab += [f"w{n} x{n % 7}" if n % 3 else f"word{n}" for n in range(private_words)]
    cats = ["cs.LG", "cs.CL", "cs.AI", "cs.CV"]
    names = ["Ada Lovelace", "Alan Turing", "Grace Hopper"]
    papers = []
    for i in range(300):
        cs = rng.sample(cats, rng.randint(1, 3))
        papers.append(
            paper(
                f"2601.{i:05d}",
                title=" ".join(rng.choices([*vocab, "on", "the", "world"], k=4)),
                abstract=" ".join(rng.choices([*vocab, *["the", "a", "of", "early"] * 5], k=30)),
                cats=tuple(cs),
                authors=tuple(rng.sample(names, rng.randint(0, 2))),
                kind=rng.choice(list(AnnounceType)),
            )
        )
    # Uniform weights, small multiples of a power of two, and weights scored one by one (a negative one;
    # a multiple too large): all exact in binary, so both sides must agree to the last bit.
    weight_sets = [(1.0,), (0.5, 1.0, 2.0), (1.5,), (1.0, 3.0), (2.0, -1.0), (1.0, 32.0)]
    profiles = []
    for c in range(channels):
        weights = rng.choice(weight_sets)
        terms = rng.sample(vocab[:10] if c % 4 == 0 else vocab, rng.randint(0, 6))
        profiles.append(
            ChannelProfile(
                channel=ChannelRef("slack", "T", f"C{c}"),
                categories=frozenset(rng.sample(cats, rng.randint(1, 2))),
                include=tuple(KeywordRule(term=t, weight=rng.choice(weights)) for t in terms),
                exclude=tuple(rng.sample(["RAG", "agent", "survey"], rng.randint(0, 1))),
                authors=tuple(rng.sample(names, rng.randint(0, 1))),
                include_cross=rng.random() < 0.5,
                max_papers=rng.choice((1, 3, 10, 200)),
                min_score=rng.choice((0.0, 1.0, 1.5, 2.5)),
                author_bonus=rng.choice((2.0, 0.25)),
            )
        )
    result = score_papers(papers, profiles)
    assert sum(len(v) for v in result.values()) > 300
    for prof in profiles:
        assert [(s.paper.versioned_id, s.score) for s in result[prof.channel]] == _plain_selection(papers, prof)


def _plain_selection(papers: list[Paper], prof: ChannelProfile) -> list[tuple[str, float]]:
    """The selection rules written as the obvious loop over papers."""
    scored = []
    for p in papers:
        if p.announce_type not in (AnnounceType.NEW, AnnounceType.CROSS):
            continue
        if p.primary_category not in prof.categories and not (
            prof.include_cross and prof.categories.intersection(p.categories)
        ):
            continue
        text = [p.title, p.abstract]
        if any(find_terms(t, prof.exclude) for t in text):
            continue
        score = 0.0
        for rule in prof.include:
            if find_terms(p.title, [rule.term]):
                score += 1.5 * rule.weight
            elif find_terms(p.abstract, [rule.term]):
                score += rule.weight
        if set(prof.authors) & set(p.authors):
            score += prof.author_bonus
        if (prof.include or prof.authors) and (score <= 0 or score < prof.min_score):
            continue
        scored.append((score, p.versioned_id))
    scored.sort(key=lambda s: (-s[0], s[1]))
    return [(vid, score) for score, vid in scored[: max(prof.max_papers, 0)]]


# --- validate_term ----------------------------------------------------------------------------------


def test_validate_term_normalises_whitespace() -> None:
    assert validate_term("  speculative \n\t decoding ") == "speculative decoding"
    assert validate_term("GPT-4") == "GPT-4"
    assert validate_term("x" * MAX_TERM_LENGTH) == "x" * MAX_TERM_LENGTH


@pytest.mark.parametrize(
    ("term", "message"),
    [
        ("", "cannot be empty"),
        (" \n\t ", "cannot be empty"),
        ("!!! --- ???", "needs at least one letter or digit"),
        ("x" * (MAX_TERM_LENGTH + 1), "too long (61 characters); the limit is 60"),
    ],
)
def test_validate_term_rejects_unusable_keywords(term: str, message: str) -> None:
    with pytest.raises(UserInputError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        validate_term(term)
    assert "\n" not in str(err.value)


def test_scores_are_exact_floats() -> None:
    prof = profile(("a1", 0.1), ("b2", 0.2), ("c3", 0.3), min_score=0.0)
    result = picks([paper("2601.00001", abstract="c3 b2 a1"), paper("2601.00002", abstract="a1 b2 c3")], prof)
    assert [score for _, score, _ in result] == [math.fsum([0.1, 0.2, 0.3])] * 2
    assert [vid for vid, _, _ in result] == ["2601.00001v1", "2601.00002v1"]


def test_term_index_agrees_with_a_regex_statement_of_the_rules_on_random_texts() -> None:
    """Words, plurals on the last word only, phrases of one to five words, across punctuation, many texts at once."""
    rng = random.Random(11)
    base = ["cache", "kv", "box", "policy", "day", "a", "rl", "llm", "gas", "gase", "tie", "ty", "über", "x1"]

    def word() -> str:
        w = rng.choice(base)
        roll = rng.random()
        if roll < 0.15:
            w += "s"
        elif roll < 0.2:
            w += "es"
        elif roll < 0.25 and w.endswith("y"):
            w = w[:-1] + "ies"
        return w

    for _ in range(150):
        terms = list({" ".join(word() for _ in range(rng.choice((1, 1, 2, 2, 3, 4, 5)))) for _ in range(30)})
        texts = [
            rng.choice([" ", "-", ", ", "\n"]).join(
                rng.choice([word().upper(), word(), word().title(), "_", "."]) for _ in range(rng.randint(0, 30))
            )
            for _ in range(rng.randint(1, 6))
        ]
        for text in texts:
            want = {t for t in terms if _rule(t).search(text)}
            assert find_terms(text, terms) == want, (text, terms)


def test_texts_across_token_blocks_are_found_at_their_own_positions_and_no_phrase_spans_two() -> None:
    """Texts are tokenised a block at a time: hits after the first block keep their text's position, and a phrase
    whose words end one text and start the next (inside a block or across two) is not found."""
    keys = ["kv cache", "policy", "long context window size"]
    texts = [f"text {n}" for n in range(2 * TOKEN_BLOCK + 3)]
    texts[0] = "a kv cache"
    texts[TOKEN_BLOCK - 1] = "ends with kv"  # and the next text, the first of the second block, starts with cache
    texts[TOKEN_BLOCK] = "cache starts here; a policy"
    texts[TOKEN_BLOCK + 7] = "kv"
    texts[TOKEN_BLOCK + 8] = "caches"
    texts[2 * TOKEN_BLOCK + 2] = "a long-context window size and KV caches"
    at, ids = TermIndex(keys).scan_texts(texts)
    found = sorted(zip(at.tolist(), (keys[i] for i in ids.tolist()), strict=True))
    assert found == [
        (0, "kv cache"),
        (TOKEN_BLOCK, "policy"),
        (2 * TOKEN_BLOCK + 2, "kv cache"),
        (2 * TOKEN_BLOCK + 2, "long context window size"),
    ]


def _rule(term: str) -> re.Pattern[str]:
    """Whole words, case-insensitive, any non-word run between words, a plural (+s, +es, y->ies) on the last."""
    words = re.findall(r"[^\W_]+", term.lower())
    last = words[-1]
    forms = [last]
    if len(last) > 1:
        forms.append(last + "s")
        if last.endswith(("s", "x", "z", "ch", "sh", "o")):
            forms.append(last + "es")
        elif last.endswith("y") and last[-2] not in "aeiou":
            forms.append(last[:-1] + "ies")
    head = "".join(re.escape(w) + r"[\W_]+" for w in words[:-1])
    tail = "|".join(re.escape(f) for f in forms)
    return re.compile(rf"(?<![^\W_]){head}(?:{tail})(?![^\W_])", re.IGNORECASE)


@pytest.mark.parametrize(
    "values",
    [
        [5, 3, 3, 0, (1 << 32) - 1, 7],  # every key fits in 32 bits: sorted as such
        [5, 1 << 32, 3, 3],  # one does not: sorted as 64-bit keys
        [4, -1, 2, 2],  # a negative key: sorted as it is
        [9],
        [],
    ],
)
def test_sorted_keys_and_distinct_agree_with_numpy_whatever_the_keys_width(values: list[int]) -> None:
    keys = np.array(values, dtype=np.int64)
    ordered = sorted_keys(keys)
    assert ordered.dtype == np.int64
    assert ordered.tolist() == sorted(values)
    assert distinct(keys).tolist() == sorted(set(values))


def test_word_ids_agree_with_a_dict_for_short_long_and_non_ascii_words() -> None:
    """Words of up to 16 bytes are found by value, longer ones (sharing their first 16 or 24 bytes) by the dict."""
    words = ["a", "kv", "cache", "eightchr", "sixteencharacter", "sixteencharacters", "sixteencharacterz"]
    words += ["twentyfourbytesxxxxxxxxx", "twentyfourbytesxxxxxxxxxy", "twentyfourbytesxxxxxxxxxz", "über", "模型"]
    word_id = {word.encode(): n for n, word in enumerate(words, 1)}
    word_id.update({f"v{n}".encode(): 100 + n for n in range(3000)})  # enough to share slots and probe on
    tokens = [w.encode() for w in words] + [b"", b"caches", b"sixteencharacte", b"twentyfourbytesxxxxxxxxxq", b"ub"]
    tokens += [f"{letter}{n}".encode() for n in range(0, 6000, 7) for letter in "vw"]
    found = WordIds(word_id).find(tokens).tolist()
    assert found == [word_id.get(token, 0) for token in tokens]
    assert found[: len(words)] == list(range(1, len(words) + 1))
    assert WordIds({}).find([b"a", b""]).tolist() == [0, 0]
    assert WordIds(word_id).find([]).tolist() == []


@pytest.mark.parametrize("enabled", [True, False])
def test_garbage_collector_is_left_as_it_was_after_scoring_even_when_scoring_fails(enabled: bool) -> None:
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        assert picks([paper("2401.00001", "Graph networks")], profile("graph")) == [("2401.00001v1", 1.5, ("graph",))]
        assert gc.isenabled() is enabled
        with pytest.raises(ValueError, match="same channel"):
            score_papers([], [profile("graph"), profile("graph")])
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()
