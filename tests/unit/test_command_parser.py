"""The /arxiv grammar and the command table: one parser for every platform, parsed once per command."""

from __future__ import annotations

import pytest

from bot.commands import model as cm
from bot.commands import parser as cp
from bot.commands import table
from bot.commands.prepared import PreparedCommand, prepare
from bot.errors import MissingArguments, UnknownCommand, UserInputError

HELP_TEXT = """arxiv-bot commands (type them after /arxiv):
  help                                  this list
  subscribe <cat> [<cat>...]            follow arXiv categories or archives, e.g. subscribe cs.DC cs.LG, or cs
  unsubscribe <cat> [<cat>...]          stop following categories
  keywords add|remove|set <terms>       comma separated; "quotes" keep a phrase; term^2 doubles its weight
  keywords clear                        remove every keyword
  exclude add|remove <terms>            drop papers that mention these terms
  exclude clear                         remove every exclude term
  authors follow|unfollow <name>        papers by followed authors score higher
  settings                              show this channel's settings
  set time HH:MM [Area/City]            daily post time (Monday to Friday), e.g. set time 09:30 Europe/Berlin
  set max <1-50>                        papers per day
  set min-score <0-100>                 keywords reach it, or (learning on) the model rates it as the channel's
  set cross on|off                      include papers cross-listed into your categories
  set language <code>                   summary language, e.g. en, zh, de
  digest now                            post today's papers now
  preview                               show what "digest now" would post, without posting
  summarize <id or arXiv URL>           post one paper with its summary
  saved                                 list the papers you saved
  saved export bibtex|ris               your saved papers as a file for your reference manager, privately
  channel-saves export bibtex|ris       every paper saved in this channel, as a file, privately
  alerts on|off                         a private note when a paper you saved gets a new version (on by default)
  unsave <id>                           forget a saved paper
  stats                                 LLM calls, tokens, cost and summary cache hits, today and this month
  feed                                  the RSS feed address of this channel's papers
  like <id or URL> [<id or URL>...]     papers this channel likes: the ranking learns from them
  why <id or URL>                       why the ranking places a paper where it does, picked or not
  ranking                               how this channel's papers are ranked: mode, signals, last fit, quality
  ranking on|off                        learn from saves, likes and thumbs-down, or rank by keywords only
  ranking reset                         forget what the ranking learned (keywords stay); asks to confirm
  me [settings]                         your own digest, sent to you by direct message: its settings
  me subscribe|unsubscribe <cat>...     what your digest follows, e.g. me subscribe cs.LG
  me keywords|exclude|authors ...       your keywords, exclude terms and authors, as for a channel
  me time HH:MM [Area/City]             when it comes, e.g. me time 08:30 Europe/Berlin; also me max, me cross
  me digest now | me preview            send your digest now, or show what it would send
  me like|why|ranking ...               its ranking learns from your saves in every channel and your likes
  me off | me on                        stop your digest (its settings are kept), or resume it
React with the bookmark emoji on a paper to save it; thumbs-down or Not for us if it is not for this channel."""
"""The help page in the text form (Slack; the console with its own last line)."""

HELP_DISCORD = """arxiv-bot commands (type them after /arxiv):
  help                                          this list
  subscribe categories:<cat> [<cat>...]         follow categories or archives, e.g. categories:cs.DC cs.LG, or cs
  unsubscribe categories:<cat> [<cat>...]       stop following categories
  keywords action:add|remove|set terms:<terms>  comma separated; "quotes" keep a phrase; term^2 doubles its weight
  keywords action:clear                         remove every keyword
  exclude action:add|remove terms:<terms>       drop papers that mention these terms
  exclude action:clear                          remove every exclude term
  authors action:follow|unfollow name:<name>    papers by followed authors score higher
  settings                                      show this channel's settings
  set time:HH:MM [timezone:Area/City]           daily post time, Monday to Friday, e.g. time:09:30 timezone:Asia/Tokyo
  set max:<1-50>                                papers per day
  set min-score:<0-100>                         keywords reach it, or (learning on) the model rates it as the channel's
  set cross:True|False                          include papers cross-listed into your categories
  set language:<code>                           summary language, e.g. en, zh, de
  digest-now                                    post today's papers now
  preview                                       show what digest-now would post, without posting
  summarize paper:<id or arXiv URL>             post one paper with its summary
  saved                                         list the papers you saved
  saved export:bibtex|ris                       your saved papers as a file for your reference manager
  channel-saves export:bibtex|ris               every paper saved in this channel, as a file
  alerts state:on|off                           a private note when a paper you saved gets a new version
  unsave paper:<id>                             forget a saved paper
  stats                                         LLM calls, tokens, cost and summary cache hits, today and this month
  feed                                          the RSS feed address of this channel's papers
  like papers:<ids or URLs>                     papers this channel likes: the ranking learns from them
  why paper:<id or URL>                         why the ranking places a paper where it does, picked or not
  ranking                                       how this channel's papers are ranked: mode, signals, last fit, quality
  ranking action:on|off                         learn from saves, likes and 👎, or rank by keywords only
  ranking action:reset                          forget what the ranking learned (keywords stay); asks to confirm
  me settings                                   your own digest, sent to you by direct message
  me subscribe categories:<cat> [<cat>...]      what your digest follows
  me unsubscribe categories:<cat> [<cat>...]    stop following categories
  me keywords action:add|remove|set|clear       your keywords (terms: as for keywords)
  me exclude action:add|remove|clear            your exclude terms
  me authors action:follow|unfollow name:<n>    authors you follow
  me set time:HH:MM [timezone:Area/City]        when it comes; max, min-score, cross, language
  me digest-now                                 send it at once
  me preview                                    what it would send
  me like papers:<ids or URLs>                  it learns from these, your saves and likes
  me ranking [action:on|off|reset]              how it is ranked, and its switches
  me off                                        stop it (its settings are kept)
  me on                                         resume it
React with 🔖 or press Save on a paper card to save it; 👎 or Not for us if it is not for this channel."""
"""The help page on Discord: the app-command form its users type (``tests/unit/test_discord_help.py`` checks each
line against the real ``/arxiv`` command group)."""


def parsed(text: str) -> cm.Command:
    """The typed command of a line that must parse."""
    command = prepare(text)
    assert command.error is None and command.command is not None, command.error
    return command.command


def rejected(text: str) -> Exception:
    """The error of a line that must not parse."""
    command = prepare(text)
    assert command.command is None and command.error is not None, command.command
    return command.error


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", cm.Help()),
        ("/arxiv help", cm.Help()),
        ("/arxiv subscribe cs.DC", cm.Subscribe(("cs.DC",))),
        ("subscribe CS.dc, cs.LG cs.DC", cm.Subscribe(("cs.DC", "cs.LG"))),
        ("unsubscribe hep-th", cm.Unsubscribe(("hep-th",))),
        ("subscribe cs", cm.Subscribe(("cs",))),
        ("subscribe Math astro-ph", cm.Subscribe(("math", "astro-ph"))),
        ("subscribe cs.DC,cs.LG", cm.Subscribe(("cs.DC", "cs.LG"))),
        ("subscribe cs.DC,,cs.LG, cs.dc", cm.Subscribe(("cs.DC", "cs.LG"))),
        ("unsubscribe cs,math", cm.Unsubscribe(("cs", "math"))),
        ('keywords add "speculative decoding"', cm.Keywords("add", (cm.WeightedTerm("speculative decoding"),))),
        (
            'keywords add RL, "MoE, sparse", LLM^2.5',
            cm.Keywords("add", (cm.WeightedTerm("RL"), cm.WeightedTerm("MoE, sparse"), cm.WeightedTerm("LLM", 2.5))),
        ),
        ("keywords set  a  b ,c", cm.Keywords("set", (cm.WeightedTerm("a b"), cm.WeightedTerm("c")))),
        ("keywords add LLM ^ 2", cm.Keywords("add", (cm.WeightedTerm("LLM", 2.0),))),
        ('keywords add "C^2 algebra"', cm.Keywords("add", (cm.WeightedTerm("C^2 algebra"),))),
        ("keywords clear", cm.Keywords("clear", ())),
        ("exclude add survey, review", cm.Exclude("add", ("survey", "review"))),
        ("exclude clear", cm.Exclude("clear", ())),
        ("authors follow Yann LeCun", cm.Authors("follow", "Yann LeCun")),
        ("settings", cm.ShowSettings()),
        ("set time 09:30", cm.SetTime("09:30", None)),
        ("set time 21:05 Asia/Shanghai", cm.SetTime("21:05", "Asia/Shanghai")),
        ("set time 9:30", cm.SetTime("09:30", None)),
        ("set time 7:05 europe/BERLIN", cm.SetTime("07:05", "Europe/Berlin")),
        ("set time 0:00 utc", cm.SetTime("00:00", "UTC")),
        ("set max 25", cm.SetMax(25)),
        ("set min-score 2.5", cm.SetMinScore(2.5)),
        ("set cross ON", cm.SetCross(True)),
        ("set language zh", cm.SetLanguage("zh")),
        ("digest now", cm.DigestNow()),
        ("digest-now", cm.DigestNow()),
        ("preview", cm.Preview()),
        ("summarize 2601.00644", cm.Summarize("2601.00644", None)),
        ("summarize https://arxiv.org/pdf/2601.00644v2", cm.Summarize("2601.00644", 2)),
        ("summarize hep-th/9901001", cm.Summarize("hep-th/9901001", None)),
        ("saved", cm.Saved()),
        ("unsave 2601.00644v1", cm.Unsave("2601.00644")),
    ],
)
def test_parses(text: str, expected: cm.Command) -> None:
    assert parsed(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("subscribe cs.FAKE", "'cs.FAKE' is not an arXiv category; did you mean"),
        ("subscribe maths", "'maths' is not an arXiv category; did you mean math,"),
        ("keywords add", "no terms given"),
        ("keywords add ,,", "no terms given"),
        ("keywords add LLM^0", "out of range"),
        ("keywords add LLM^11", "out of range"),
        ("keywords add foo^-2", "bad weight in 'foo^-2': use term^w with w a number from 0.1 to 10, e.g. foo^2"),
        ("keywords add foo^x", "bad weight in 'foo^x': use term^w with w a number from 0.1 to 10, e.g. foo^2"),
        ("keywords add foo^0", "weight 0 is out of range: use term^w with w a number from 0.1 to 10, e.g. foo^2"),
        ("keywords set RL, foo^", "bad weight in 'foo^'"),
        ("keywords add foo^1e3", "bad weight in 'foo^1e3'"),
        ("keywords add a^2^3", "bad weight in 'a^2^3'"),
        ("exclude set x", "unknown exclude action 'set'"),
        ("authors follow", "use authors follow|unfollow <name>"),
        ("authors like Ada", "use authors follow|unfollow <name>"),
        ("summarize a b", "use summarize <arXiv id or URL>"),
        ("unsave a b", "use unsave <arXiv id>"),
        ("set time 9am", "bad time '9am'"),
        ("set time 24:00", "bad time '24:00'"),
        ("set time 09:00 Nowhere/City", "unknown time zone"),
        ("set max 51", "max must be from 1 to 50"),
        ("set max 2.5", "whole number"),
        ("set min-score nan", "min-score must be"),
        ("set colour red", "unknown setting 'colour'"),
        ("digest later", "use digest now"),
        ("summarize not-an-id", "not an arXiv id"),
    ],
)
def test_bad_input_is_one_clear_line(text: str, message: str) -> None:
    err = rejected(text)
    assert isinstance(err, UserInputError)
    assert message in str(err)
    assert "\n" not in str(err)


@pytest.mark.parametrize(
    ("zone", "suggested"),
    [
        ("berlin", "(did you mean Europe/Berlin?)"),
        ("Berlin", "(did you mean Europe/Berlin?)"),
        ("new york", None),  # two words: the zone is one word (a bad time line names both)
        ("Europe/Berln", "(did you mean Europe/Berlin,"),
        ("shanghai", "(did you mean Asia/Shanghai?)"),
        ("America", "(did you mean America/New_York?)"),  # a region, a folder in tzdata: IsADirectoryError
        ("Europe/../Berlin", None),  # ValueError in ZoneInfo
        ("x" * 300, None),  # OSError (file name too long) in ZoneInfo
        ("/etc/passwd", None),
        ("Mars/Olympus", None),
        ("Europe/Berlin/", None),
    ],
)
def test_every_zone_mistake_is_the_one_line_refusal_with_the_right_form(zone: str, suggested: str | None) -> None:
    err = rejected(f"set time 09:30 {zone}")
    assert isinstance(err, UserInputError) and "\n" not in str(err) and len(str(err)) < 200
    assert "set time 09:30 Europe/Berlin" in str(err)
    if suggested is not None:
        assert suggested in str(err)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("subscribe", "subscribe needs at least one category or archive, e.g. subscribe cs.DC cs.LG"),
        ("subscribe , ,", "subscribe needs at least one category"),
        ("unsubscribe", "unsubscribe needs at least one category"),
        ("keywords", "keywords needs what to do: add, remove, set or clear"),
        ("exclude", "exclude needs what to do: add, remove or clear"),
        ("authors", "authors needs follow or unfollow and a name"),
        ("set", "set needs a setting and its value"),
        ("digest", "digest needs now: digest now"),
        ("summarize", "summarize needs an arXiv id or URL, e.g. summarize 2601.00644"),
        ("unsave", "unsave needs an arXiv id, e.g. unsave 2601.00644"),
    ],
)
def test_a_command_without_its_arguments_is_answered_with_its_usage(text: str, message: str) -> None:
    err = rejected(text)
    assert isinstance(err, MissingArguments) and str(err).startswith(message)  # the service adds the usage lines


def test_unknown_subcommand_is_named_and_labelled_other() -> None:
    command = prepare("/arxiv subscrbe cs.DC")
    assert isinstance(command.error, UnknownCommand)
    # The service adds the platform's help page.
    assert str(command.error) == "unknown command 'subscrbe' (did you mean subscribe?)"
    assert str(rejected("frobnicate")) == "unknown command 'frobnicate'"
    assert command.spec is None and command.name == table.OTHER
    assert not command.slow and not command.mutating


def test_split_terms_keeps_quoted_commas() -> None:
    assert cp.split_terms('a, "b, c", “d e”,  f ') == ["a", "b, c", "d e", "f"]


def test_help_is_derived_from_the_table_in_each_platforms_own_syntax() -> None:
    assert table.help_text() == table.help_text("slack") == HELP_TEXT
    console = table.help_text("console").splitlines()
    assert console[:-1] == HELP_TEXT.splitlines()[:-1]
    assert console[-1] == (
        "Type react N to save paper card #N, unreact N to unsave it; down N (or react N 👎) if it is not for this"
        " channel."
    )
    assert table.help_text("discord") == HELP_DISCORD
    usages = [line.usage for command in table.COMMANDS for line in command.help]
    assert [u.split()[0] for u in usages] == [line.split()[0] for line in HELP_TEXT.splitlines()[1:-1]]


def test_a_commands_usage_is_its_lines_of_the_help_page() -> None:
    keywords = table.find_command("keywords")
    assert keywords is not None
    assert table.usage_text(keywords) == "\n".join(HELP_TEXT.splitlines()[4:6])
    assert table.usage_text(keywords, "discord").split() == " ".join(HELP_DISCORD.splitlines()[4:6]).split()


def test_a_platform_help_override_replaces_only_that_platforms_lines() -> None:
    row = next(c for c in table.COMMANDS if c.name == "digest")
    discord_line = table.HelpLine("digest-now", "post today's papers now")
    overridden = table.CommandSpec(
        name=row.name, parse=row.parse, help=row.help, help_by_platform={"discord": (discord_line,)}
    )
    assert overridden.help_for("discord") == (discord_line,)
    assert overridden.help_for("slack") == overridden.help_for(None) == row.help


@pytest.mark.parametrize(
    ("typed", "name"),
    [
        ("?", "help"),
        ("keyword add x", "keywords"),
        ("author follow Ada", "authors"),
        ("summarise 2601.00644", "summarize"),
        ("digest-now", "digest"),
        ("DIGEST now", "digest"),
        ("set minscore 2", "set"),
        ("set max 99", "set"),  # bad input still counts under its command's name
        ("", "help"),
    ],
)
def test_aliases_select_their_row_and_metrics_see_the_canonical_name(typed: str, name: str) -> None:
    command = prepare(typed)
    assert command.name == name and command.spec is table.find_command(name)
    assert name in table.COMMAND_NAMES


@pytest.mark.parametrize("setting", ["min_score", "minscore", "min-score", "MIN-SCORE"])
def test_set_aliases_name_the_same_setting(setting: str) -> None:
    assert parsed(f"set {setting} 2.5") == cm.SetMinScore(2.5)


def test_every_name_and_alias_selects_exactly_its_own_row() -> None:
    words = [w for c in table.COMMANDS for w in (c.name, *c.aliases)]
    assert len(words) == len(set(words))
    for command in table.COMMANDS:
        assert all(table.find_command(w) is command for w in (command.name, *command.aliases))
    settings = [w for s in table.SETTINGS for w in (s.name, *s.aliases)]
    assert len(settings) == len(set(settings))
    assert table.SET_USAGE == (
        "set time HH:MM [Area/City] | set max <n> | set min-score <x> | set cross on|off | set language <code>"
    )


def test_mutating_and_slow_are_derived_from_the_rows() -> None:
    assert table.MUTATING == {"subscribe", "unsubscribe", "keywords", "exclude", "authors", "set", "ranking"}
    assert table.SLOW == {"digest", "preview", "summarize", "like", "why", "channel-saves"}
    assert prepare("saved export ris").slow and not prepare("saved").slow
    assert table.MUTATING == {c.name for c in table.COMMANDS if c.mutating or c.mutating_if is not None}
    assert table.COMMAND_NAMES == {c.name for c in table.COMMANDS}


@pytest.mark.parametrize(
    ("text", "slow", "mutating"),
    [
        ("digest now", True, False),
        ("summarize 2601.00644", True, False),
        ("preview", True, False),
        ("subscribe cs.DC", False, True),
        ("set cross on", False, True),
        ("unsave 2601.00644", False, False),  # the caller's own saves, not the channel's settings
        ("settings", False, False),
        ("summarize not-an-id", False, False),  # bad input is answered at once and changes nothing
        ("subscribe cs.FAKE", False, False),
    ],
)
def test_a_prepared_command_says_whether_it_is_slow_or_mutating(text: str, slow: bool, mutating: bool) -> None:
    command = prepare(text)
    assert isinstance(command, PreparedCommand) and command.text == text
    assert (command.slow, command.mutating) == (slow, mutating)


def test_a_crashing_parser_is_carried_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(values: list[str]) -> cm.Command:
        raise RuntimeError("a bug")

    row = next(s for s in table.SETTINGS if s.name == "max")
    crashing = table.SettingSpec(name=row.name, parse=broken, usage=row.usage, help=row.help)
    monkeypatch.setitem(table._SETTINGS_BY_WORD, "max", crashing)
    command = prepare("set max 3")
    assert isinstance(command.error, RuntimeError) and command.command is None
    assert command.name == "set" and not command.mutating
