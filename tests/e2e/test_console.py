"""The console adapter, driven through stdin of a real ``arxiv-bot run`` subprocess."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from adapters.composition import Services
from adapters.console.adapter import CONSOLE_CHANNEL, ConsoleChat, ConsoleProgress, ConsolePublisher
from adapters.console.render import CommandLine, NotForUs, Quit, Reaction, Unknown, clean, to_input
from bot.arxiv.http import RetryNotice
from bot.models import Reply, SignalKind
from tests.cli_process import bot_env, run_bot
from tests.conftest import FEED_0105, ZONE_MISTAKES
from tests.fakes.arxiv_server import FakeArxivServer
from tests.parse_count import count_parses


async def test_piped_session_posts_the_right_papers_and_a_restart_posts_nothing_new(
    tmp_path: Path, arxiv: FakeArxivServer
) -> None:
    body = (Path(__file__).parents[1] / "fixtures/arxiv-rss/2026-01-05_cs.AI+cs.CL+cs.DC+cs.LG.xml").read_bytes()
    arxiv.feeds[frozenset({"cs.DC", "cs.LG"})] = body
    env = bot_env(tmp_path, arxiv)
    script = "/arxiv subscribe cs.DC cs.LG\n/arxiv keywords add RL, LLM\n/arxiv digest now\nreact 1\n/arxiv saved\n"
    code, out, err = await run_bot(script, env)
    assert code == 0, err
    assert "Traceback" not in out + err
    cards = re.findall(r"^\[#(\d+)\] .*$", out, re.MULTILINE)
    ids = re.findall(r"^    (cs\.\w+)(?: \(cross-list\))? · (\d{4}\.\d{5}v\d+) · score", out, re.MULTILINE)
    # Primary cs.DC / cs.LG papers of the day that mention LLM(s) or RL as a word: best first, ties by id.
    assert [i for _, i in ids] == ["2601.00397v1", "2601.00644v1", "2601.00088v1", "2601.00747v1"], out
    assert all(cat in ("cs.DC", "cs.LG") for cat, _ in ids)
    assert cards == ["1", "2", "3", "4"]
    assert out.count("── thread (thread of #") == 4
    # Once each thread is posted, its card is reprinted with the summary's TL;DR (a terminal cannot edit it).
    updated = re.findall(r"^\[#(\d+), updated\] .*\n    TL;DR: \S", out, re.MULTILINE)
    assert sorted(updated) == ["1", "2", "3", "4"], out
    assert "Posted 4 of 15 papers listed today" in out  # 3 listed in cs.DC, 12 in cs.LG
    assert "Saved 2601.00397v1" in out
    assert "Your saved papers (1)" in out

    code, out2, err2 = await run_bot("/arxiv digest now\n/arxiv saved\n", env)
    assert code == 0, err2
    assert "[#" not in out2
    assert "Nothing new to post: 4 matching papers were already posted" in out2
    assert "Your saved papers (1)" in out2


async def test_console_saves_marks_not_for_us_explains_and_shows_the_ranking(
    tmp_path: Path, arxiv: FakeArxivServer
) -> None:
    arxiv.feeds[frozenset({"cs.DC", "cs.LG"})] = FEED_0105.read_bytes()
    env = bot_env(tmp_path, arxiv)
    script = (
        "/arxiv subscribe cs.DC cs.LG\n/arxiv keywords add RL, LLM\n/arxiv digest now\n"
        "react 1\nreact 2 👎\n/arxiv why 2601.00644\n/arxiv why 2601.00192\n/arxiv ranking\n"
        "down 3\ndown 3\n/arxiv ranking reset\n"
    )
    code, out, err = await run_bot(script, env)
    assert code == 0, err
    assert "Traceback" not in out + err
    assert "Saved 2601.00397v1" in out
    assert "Marked as not for this channel: 2601.00644v1" in out
    # Picked and explained: the keywords it matched, in keyword mode (one positive is not enough to learn).
    why = out[out.index("\n2601.00644v1 FlexSpec") :].splitlines()[1:4]
    assert why[1:] == ["Ranked by keyword ranking, score 1.5", "Matched keywords: LLM"]
    # Listed today but not picked (it matches no keyword): explained all the same, from the stored listing.
    not_picked = out[out.index("\n2601.00192v1 ") :].splitlines()[1:4]
    assert not_picked[1:] == ["Ranked by keyword ranking, score 0", "Matched keywords: none"]
    assert "Ranking: by keywords until the channel has 5 positive signals (1 so far)" in out
    assert "Signals: 1 positive (saves, likes, imports), 1 negative (👎, Not for us)" in out
    assert "Marked as not for this channel: 2601.00088v1" in out and "(press Not for us again to undo)" in out
    assert "No longer marked as not for this channel: 2601.00088v1" in out
    assert "This forgets what the ranking learned in this channel: 1 positive and 1 negative signals" in out
    assert "To go ahead, type: /arxiv ranking reset confirm" in out


async def test_console_cli_bad_command_is_one_line_and_no_traceback(tmp_path: Path, arxiv: FakeArxivServer) -> None:
    code, out, err = await run_bot("/arxiv set max 99\nhello\n", bot_env(tmp_path, arxiv), "console")
    assert code == 0
    assert "Max must be from 1 to 50, not 99" in out
    assert "Not a command: 'hello'" in out
    assert "Traceback" not in out + err


async def test_quit_ends_the_session_and_the_lines_after_it_are_not_run(
    tmp_path: Path, arxiv: FakeArxivServer
) -> None:
    code, out, err = await run_bot("/arxiv set max 7\nquit\n/arxiv set max 9\n", bot_env(tmp_path, arxiv), "console")
    assert code == 0, err
    assert "Up to 7 papers a day" in out
    assert "Up to 9" not in out and "Not a command" not in out
    assert "Traceback" not in out + err


async def test_a_console_line_is_parsed_once_and_run(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    parses = count_parses(monkeypatch)
    out = io.StringIO()
    chat = ConsoleChat(commands=services.commands, publisher=ConsolePublisher(out=out), stream=io.StringIO())
    await chat.handle_line("/arxiv set max 7\n")
    await chat.handle_line("hello\n")
    assert "Up to 7 papers a day" in out.getvalue() and "Not a command: 'hello'" in out.getvalue()
    assert parses == ["/arxiv set max 7"]


def test_to_input() -> None:
    assert to_input("/arxiv help") == CommandLine("/arxiv help")
    assert to_input("react 3") == Reaction(3, True)
    assert to_input("unreact #12") == Reaction(12, False)
    assert to_input("react 2 👎") == to_input("react 2 :-1:") == Reaction(2, True, SignalKind.DOWN)
    assert to_input("react 2 \U0001f44e\ufe0f") == Reaction(2, True, SignalKind.DOWN)
    assert to_input("unreact 2 thumbsdown") == Reaction(2, False, SignalKind.DOWN)
    assert to_input("react 2 🔖") == Reaction(2, True)
    assert to_input("down 4") == to_input("DOWN #4") == NotForUs(4)
    assert to_input("down 4 please") == Unknown("down 4 please")
    assert to_input("   ") is None
    assert to_input("hi") == Unknown("hi")
    assert to_input("quit") == to_input(" EXIT ") == to_input("/quit") == Quit()
    assert to_input("quit now") == Unknown("quit now")


def test_clean_removes_terminal_escape_sequences() -> None:
    assert clean("title\x1b[2J\x1b]0;pwned\x07 ok") == "title[2J]0;pwned ok"


def test_clean_removes_bidi_controls_and_zero_width_characters() -> None:
    assert clean("Safe\u202eexe.txt\u2066x\u2069 in\u200bvis\u200c\u200d\u2060ible\ufeff") == "Safeexe.txtx invisible"


async def test_every_zone_mistake_in_set_time_is_one_line_with_the_right_form(
    tmp_path: Path, arxiv: FakeArxivServer
) -> None:
    script = "".join(f"/arxiv set time 09:30 {zone}\n" for zone in ZONE_MISTAKES) + "/arxiv set time 9:30 berlin\n"
    code, out, err = await run_bot(script + "/arxiv settings\n", bot_env(tmp_path, arxiv), "console")
    assert code == 0, err
    refusals = [line for line in out.splitlines() if "time zone" in line]
    assert len(refusals) == len(ZONE_MISTAKES) + 1, out
    assert all("set time 09:30 Europe/Berlin" in line for line in refusals)
    assert "did you mean Europe/Berlin?" in refusals[-1]
    assert "went wrong" not in out and "Traceback" not in out + err
    assert "Posts at 09:00 UTC" in out  # nothing was changed


async def test_console_help_and_saved_say_react_n_the_consoles_way_of_saving(
    tmp_path: Path, arxiv: FakeArxivServer
) -> None:
    code, out, err = await run_bot("/arxiv help\n/arxiv saved\n/arxiv keywords\n", bot_env(tmp_path, arxiv), "console")
    assert code == 0, err
    assert "Type react N to save paper card #N, unreact N to unsave it; down N" in out
    assert "You have no saved papers: type react N to save card #N" in out
    assert "bookmark emoji" not in out
    assert "Keywords needs what to do: add, remove, set or clear\n  keywords add|remove|set <terms>" in out


async def test_arxiv_retries_show_as_a_progress_line_not_as_warnings_in_the_chat(
    tmp_path: Path, arxiv: FakeArxivServer
) -> None:
    arxiv.feeds[frozenset({"cs.DC"})] = FEED_0105.read_bytes()
    env = bot_env(tmp_path, arxiv)
    script = "/arxiv subscribe cs.DC\n/arxiv keywords add LLM\n/arxiv digest now\n"
    arxiv.fail((503, {"Retry-After": "0"}), (503, {"Retry-After": "0"}))
    code, out, err = await run_bot(script, env, "console")
    assert code == 0, err
    assert "arXiv did not answer, retrying 2/5 in 0 s\narXiv did not answer, retrying 3/5 in 0 s\n" in out
    assert "Posted 2 of 30 papers listed today" in out
    assert err == ""  # no log line at all: the chat shows the progress instead

    # An explicit [log] level is honoured in the console too: the retries are then also logged.
    arxiv.fail((503, {"Retry-After": "0"}))
    code, out, err = await run_bot("/arxiv digest now\n", env | {"ARXIVBOT_LOG__LEVEL": "INFO"}, "console")
    assert code == 0, err
    assert "arXiv did not answer, retrying 2/5 in 0 s" in out
    assert " INFO bot.arxiv.http: arXiv GET " in err and "retrying in 0.0 s" in err
    assert " WARNING " not in err


class Terminal(io.StringIO):
    """What the console writes to, as a terminal."""

    def isatty(self) -> bool:
        return True


async def test_on_a_terminal_the_progress_line_is_rewritten_in_place_and_wiped_before_the_next_output() -> None:
    out = Terminal()
    progress = ConsoleProgress(out=out)
    progress.arxiv_retrying(RetryNotice("u", "HTTP 503", 2, 5, 6.0))
    progress.arxiv_retrying(RetryNotice("u", "HTTP 503", 3, 5, 12.0))
    publisher = ConsolePublisher(out=out, progress=progress)
    await publisher.send_reply(Reply(text="Posted 1 of 1 paper listed today"), channel=CONSOLE_CHANNEL, user_id=None)
    first, second = "arXiv did not answer, retrying 2/5 in 6 s", "arXiv did not answer, retrying 3/5 in 12 s"
    shown, rest = out.getvalue().split(f"\r{' ' * len(second)}\r")
    assert shown == f"\r{first}\r{second}" and "Posted 1 of 1 paper listed today" in rest and "\r" not in rest


async def test_console_personal_digest_is_printed_as_such_and_me_off_stops_it(
    tmp_path: Path, arxiv: FakeArxivServer
) -> None:
    arxiv.feeds[frozenset({"cs.DC"})] = FEED_0105.read_bytes()
    env = bot_env(tmp_path, arxiv)
    script = (
        "/arxiv me subscribe cs.DC\n/arxiv me keywords add LLM\n/arxiv me time 08:30 Europe/Berlin\n"
        "/arxiv me digest now\nreact 1\n/arxiv me\n/arxiv settings\n/arxiv me subscribe cs.XX\n"
        "/arxiv me off\n/arxiv me digest now\n"
    )
    code, out, err = await run_bot(script, env)
    assert code == 0, err
    assert "Traceback" not in out + err
    personal = re.findall(r"^\[#(\d+)\] personal digest for you: .*$", out, re.MULTILINE)
    assert personal and personal[0] == "1"
    assert f"Sent you {len(personal)} of 30 papers listed today by direct message" in out
    assert out.count("── thread (thread of #") == len(personal)
    assert "Saved 2601.00" in out  # a card of the personal digest saves like any other
    assert "Your own digest, sent to you by direct message: on\nCategories: cs.DC\nKeywords: LLM" in out
    assert "Comes at 08:30 Europe/Berlin, Monday to Friday" in out
    assert "Categories: none" in out  # the console channel's own settings are untouched
    assert "'cs.XX' is not an arXiv category" in out
    assert "Your digest is off: nothing more is sent; your settings are kept (/arxiv me on resumes it)" in out
    assert "Your digest is off: /arxiv me on resumes it, then /arxiv me digest now sends it" in out

    code, out2, err2 = await run_bot("/arxiv me on\n/arxiv me digest now\n", env)
    assert code == 0, err2
    assert "Your digest is on again" in out2
    assert "[#" not in out2 and "Nothing new to post" in out2  # exactly once, across a restart
