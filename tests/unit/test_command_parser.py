"""The /arxiv grammar: one parser for every platform."""

from __future__ import annotations

import pytest

from bot.commands import parser as cp
from bot.errors import UnknownCommand, UserInputError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", cp.Help()),
        ("/arxiv help", cp.Help()),
        ("/arxiv subscribe cs.DC", cp.Subscribe(("cs.DC",))),
        ("subscribe CS.dc, cs.LG cs.DC", cp.Subscribe(("cs.DC", "cs.LG"))),
        ("unsubscribe hep-th", cp.Unsubscribe(("hep-th",))),
        ('keywords add "speculative decoding"', cp.Keywords("add", (cp.WeightedTerm("speculative decoding"),))),
        (
            'keywords add RL, "MoE, sparse", LLM^2.5',
            cp.Keywords("add", (cp.WeightedTerm("RL"), cp.WeightedTerm("MoE, sparse"), cp.WeightedTerm("LLM", 2.5))),
        ),
        ("keywords set  a  b ,c", cp.Keywords("set", (cp.WeightedTerm("a b"), cp.WeightedTerm("c")))),
        ("keywords clear", cp.Keywords("clear", ())),
        ("exclude add survey, review", cp.Exclude("add", ("survey", "review"))),
        ("exclude clear", cp.Exclude("clear", ())),
        ("authors follow Yann LeCun", cp.Authors("follow", "Yann LeCun")),
        ("settings", cp.ShowSettings()),
        ("set time 09:30", cp.SetTime("09:30", None)),
        ("set time 21:05 Asia/Shanghai", cp.SetTime("21:05", "Asia/Shanghai")),
        ("set max 25", cp.SetMax(25)),
        ("set min-score 2.5", cp.SetMinScore(2.5)),
        ("set cross ON", cp.SetCross(True)),
        ("set language zh", cp.SetLanguage("zh")),
        ("digest now", cp.DigestNow()),
        ("digest-now", cp.DigestNow()),
        ("preview", cp.Preview()),
        ("summarize 2601.00644", cp.Summarize("2601.00644", None)),
        ("summarize https://arxiv.org/pdf/2601.00644v2", cp.Summarize("2601.00644", 2)),
        ("summarize hep-th/9901001", cp.Summarize("hep-th/9901001", None)),
        ("saved", cp.Saved()),
        ("unsave 2601.00644v1", cp.Unsave("2601.00644")),
    ],
)
def test_parses(text: str, expected: cp.Command) -> None:
    assert cp.parse_command(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("subscribe", "no category given"),
        ("subscribe cs.FAKE", "'cs.FAKE' is not an arXiv category; did you mean"),
        ("keywords", "unknown keywords action 'nothing'"),
        ("keywords add", "no terms given"),
        ("keywords add ,,", "no terms given"),
        ("keywords add LLM^0", "out of range"),
        ("keywords add LLM^11", "out of range"),
        ("exclude set x", "unknown exclude action 'set'"),
        ("authors follow", "use authors follow|unfollow <name>"),
        ("set", "set what?"),
        ("set time 9am", "bad time '9am'"),
        ("set time 24:00", "bad time '24:00'"),
        ("set time 09:00 Nowhere/City", "unknown time zone"),
        ("set max 51", "max must be from 1 to 50"),
        ("set max 2.5", "whole number"),
        ("set min-score nan", "min-score must be"),
        ("set colour red", "unknown setting 'colour'"),
        ("digest later", "use digest now"),
        ("summarize", "use summarize <arXiv id or URL>"),
        ("summarize not-an-id", "not an arXiv id"),
        ("unsave", "use unsave <arXiv id>"),
    ],
)
def test_bad_input_is_one_clear_line(text: str, message: str) -> None:
    with pytest.raises(UserInputError) as err:
        cp.parse_command(text)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_subcommand_carries_help() -> None:
    with pytest.raises(UnknownCommand) as err:
        cp.parse_command("/arxiv subscrbe cs.DC")
    assert str(err.value).splitlines()[0] == "unknown command 'subscrbe'."
    assert cp.HELP_TEXT in str(err.value)


def test_split_terms_keeps_quoted_commas() -> None:
    assert cp.split_terms('a, "b, c", “d e”,  f ') == ["a", "b, c", "d e", "f"]
