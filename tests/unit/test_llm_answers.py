"""Reading a model's answer: the JSON asked for, or the sectioned markdown models write instead; nothing else."""

from __future__ import annotations

import json

import pytest

from bot.summarizers.llm import SECTIONS, parse_answer
from tests.fakes.openai_server import MARKDOWN_EN, MARKDOWN_ZH, PROSE_ANSWER

TITLES = [title for _, title in SECTIONS]


def bodies(text: str) -> list[str]:
    parsed = parse_answer(text)
    assert parsed is not None, text
    tldr, sections = parsed
    assert tldr and [s.title for s in sections] == TITLES
    return [s.body for s in sections]


def test_bold_titles_with_the_text_on_the_same_line() -> None:
    answer = (
        "**TL;DR**: A faster way to serve LLMs.\n\n**Main contributions and novelty:** FlexSpec.\n"
        "**Method and experimental setup:** Edge-cloud inference.\n**Key results**\n2x faster.\n"
        "**Conclusions, limitations and future work:** Decoder-only."
    )
    parsed = parse_answer(answer)
    assert parsed is not None and parsed[0] == "A faster way to serve LLMs."
    assert bodies(answer) == ["FlexSpec.", "Edge-cloud inference.", "2x faster.", "Decoder-only."]


def test_chinese_numerals_and_full_width_colons() -> None:
    answer = (
        "TL;DR：更快的 LLM 服务。\n一、主要贡献：提出 FlexSpec。\n二、方法与实验设置：边云协同。\n"
        "三、关键结果：快 2 倍。\n四、结论与局限：仅限 decoder-only。"
    )
    assert bodies(answer) == ["提出 FlexSpec。", "边云协同。", "快 2 倍。", "仅限 decoder-only。"]


def test_sections_go_where_their_words_say_and_numbered_list_items_stay_in_their_section() -> None:
    answer = (
        "TL;DR:\nA faster way.\n\n1. Key results\nFaster.\n2. Main contributions and novelty\n"
        "1. We freeze the draft\n2. We let the target evolve\n3. Method and experimental setup\nEdge-cloud.\n"
    )
    assert bodies(answer) == [
        "1. We freeze the draft\n2. We let the target evolve",
        "Edge-cloud.",
        "Faster.",
        "(not stated in the paper)",
    ]


def test_unnamed_headings_fill_the_sections_in_order_and_extra_ones_join_the_last() -> None:
    answer = "TL;DR: X.\n## A\na\n## B\nb\n## C\nc\n## D\nd\n## E\ne"
    assert bodies(answer) == ["a", "b", "c", "d\n\nE: e"]


@pytest.mark.parametrize(
    "answer",
    [
        PROSE_ANSWER,
        "TL;DR: a line, and nothing in sections.",
        "## 1. Main contributions\nFlexSpec.\n## 2. Method\nEdge.",  # sections without a TL;DR
        "TL;DR: X.\n## Only one section\nbody",
        json.dumps(["not", "an", "object"]),
        "",
    ],
)
def test_an_answer_in_neither_shape_is_none(answer: str) -> None:
    assert parse_answer(answer) is None


def test_the_fakes_markdown_answers_are_read_whole() -> None:
    english, chinese = bodies(MARKDOWN_EN), bodies(MARKDOWN_ZH)
    assert english[0].startswith("• A frozen on-device draft") and "**" not in " ".join(english)
    assert chinese[2] == "在 MT-Bench 上比 EAGLE 延迟降低 2.1 倍，带宽减少 35%。"
