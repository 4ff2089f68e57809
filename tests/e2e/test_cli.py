"""The arxiv-bot command line, run as a real subprocess against the local fake arXiv."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.cli_process import bot_env, run_bot
from tests.conftest import FEED_0105
from tests.fakes.arxiv_server import FakeArxivServer


async def migrated_env(tmp_path: Path, arxiv: FakeArxivServer) -> dict[str, str]:
    """The bot's environment, its database migrated by ``arxiv-bot migrate``, with arXiv listing cs.DC."""
    arxiv.feeds[frozenset({"cs.DC"})] = FEED_0105.read_bytes()
    env = bot_env(tmp_path, arxiv)
    code, _, err = await run_bot("", env, "migrate")
    assert code == 0, err
    return env


async def test_preview_json_lines(tmp_path: Path, arxiv: FakeArxivServer) -> None:
    arxiv.feeds[frozenset({"cs.DC"})] = FEED_0105.read_bytes()
    code, out, err = await run_bot(
        "",
        bot_env(tmp_path, arxiv),
        "preview",
        "cs.DC",
        "--keywords",
        'LLM, "speculative decoding"',
        "--exclude",
        "survey",
        "--limit",
        "3",
        "--json",
    )
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in rows] == ["2601.00644v1", "2601.00397v1"]
    assert rows[0]["matched"] == ["LLM", "speculative decoding"] and rows[0]["score"] == 3.0
    for row in rows:
        assert {"id", "title", "authors", "score", "matched", "announce_type", "categories", "primary_category"} <= set(
            row
        )
        assert row["primary_category"] == "cs.DC" and row["announce_type"] == "new"
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    assert not (tmp_path / "bot.db").exists()  # preview records nothing


async def test_preview_rejects_bad_category_with_one_line(tmp_path: Path, arxiv: FakeArxivServer) -> None:
    code, _, err = await run_bot("", bot_env(tmp_path, arxiv), "preview", "cs.FAKE")
    assert code == 2
    assert err.strip().splitlines() == [
        "arxiv-bot: error: 'cs.FAKE' is not an arXiv category; closest: cs.SE, cs.PF, cs.NE"
    ]


async def test_digest_for_one_channel_then_nothing_new(tmp_path: Path, arxiv: FakeArxivServer) -> None:
    arxiv.feeds[frozenset({"cs.DC"})] = FEED_0105.read_bytes()
    env = bot_env(tmp_path, arxiv)
    code, _, err = await run_bot("/arxiv subscribe cs.DC\n/arxiv keywords add LLM\n", env, "console")
    assert code == 0, err
    code, out, err = await run_bot("", env, "digest", "--channel", "console:console")
    assert code == 0, err
    assert len(re.findall(r"^\[#\d+\] ", out, re.MULTILINE)) == 2  # two cards, then each reprinted with its TL;DR
    assert len(re.findall(r"^\[#\d+, updated\] ", out, re.MULTILINE)) == 2
    assert out.strip().endswith("console:console: 2 posted, 0 failed, 30 listed")
    code, out, err = await run_bot("", env, "digest", "--channel", "console:console")
    assert "[#" not in out and out.strip().endswith("0 posted, 0 failed, 30 listed")
    code, out, err = await run_bot("", env, "digest", "--channel", "console:nowhere")
    assert code == 2 and err.strip() == (
        "arxiv-bot: error: no channel 'console:nowhere' is known: subscribe it to a category first"
    )


async def test_check_config_prints_settings_without_secrets(tmp_path: Path, arxiv: FakeArxivServer) -> None:
    env = bot_env(tmp_path, arxiv) | {"SLACK_BOT_TOKEN": "xoxb-secret-value-123", "SLACK_APP_TOKEN": "xapp-secret-456"}
    code, out, err = await run_bot("", env, "check-config")
    assert code == 0, err
    assert f"[arxiv] rss_url = '{arxiv.rss_url}'" in out and out.strip().endswith("config OK")
    assert "run will start: Slack in Socket Mode, the HTTP server on 127.0.0.1:0" in out
    assert "xoxb-secret-value-123" not in out + err and "xapp-secret-456" not in out + err


async def test_digest_for_a_slack_channel_posts_through_the_slack_web_api(
    tmp_path: Path, arxiv: FakeArxivServer
) -> None:
    from adapters.composition import build_services
    from bot.models import ChannelRef, CommandContext
    from tests.conftest import make_settings
    from tests.fakes.slack_api import BOT_TOKEN, running_fake_slack

    env = await migrated_env(tmp_path, arxiv)
    services = build_services(make_settings(env["ARXIVBOT_DATABASE__URL"], arxiv))
    try:
        channel = CommandContext(channel=ChannelRef("slack", "T1", "C1"), user_id="U1", user_name="ann")
        for line in ("subscribe cs.DC", "keywords add LLM"):
            await services.commands.execute(channel, line)
        await services.commands.execute(
            CommandContext(channel=ChannelRef("discord", "G1", "D1"), user_id="U1", user_name="ann"), "subscribe cs.DC"
        )
    finally:
        await services.aclose()
    async with running_fake_slack() as slack:
        slack_env = env | {"SLACK_BOT_TOKEN": BOT_TOKEN, "ARXIVBOT_SLACK__API_URL": slack.api_url,
                           "ARXIVBOT_SLACK__POST_INTERVAL_S": "0"}
        code, out, err = await run_bot("", slack_env, "digest", "--channel", "slack:C1")
        assert code == 0, err
        assert out.strip() == "slack:C1: 2 posted, 0 failed, 30 listed"
        cards = [c for c in slack.calls_to("chat.postMessage") if "thread_ts" not in c.args]
        assert [c.args["channel"] for c in cards] == ["C1", "C1"]
        assert BOT_TOKEN not in out + err

        code, _, err = await run_bot("", slack_env | {"SLACK_BOT_TOKEN": ""}, "digest", "--channel", "slack:C1")
        assert code == 2 and err.strip().startswith("arxiv-bot: config error: SLACK_BOT_TOKEN is not set")
    code, _, err = await run_bot("", env, "digest", "--channel", "discord:D1")
    assert code == 2 and err.strip().startswith("arxiv-bot: error: digest --channel cannot post to discord")


async def test_digest_for_a_slack_channel_of_an_oauth_install_posts_with_that_workspaces_token(
    tmp_path: Path, arxiv: FakeArxivServer
) -> None:
    from slack_sdk.oauth.installation_store import Installation

    from adapters.composition import build_services
    from adapters.slack.installations import InstallationStore
    from bot.models import ChannelRef, CommandContext
    from bot.store.workspaces import WorkspaceStore
    from tests.conftest import make_settings
    from tests.fakes.slack_api import CLIENT_ID, CLIENT_SECRET, running_fake_slack

    env = await migrated_env(tmp_path, arxiv)
    services = build_services(make_settings(env["ARXIVBOT_DATABASE__URL"], arxiv))
    try:
        store = InstallationStore(
            client_id=CLIENT_ID,
            engine=services.database.engine,
            workspaces=WorkspaceStore(database=services.database),
            on_resumed=lambda: None,
        )
        await store.create_tables()  # type: ignore[no-untyped-call]
        for team in ("T1", "T2"):
            await store.async_save(
                Installation(app_id="A1", team_id=team, bot_token=f"xoxb-{team.lower()}-oauth", bot_id="B1",
                             bot_user_id="UBOT", user_id="UINSTALLER", bot_scopes=["chat:write"])
            )  # fmt: skip
        channel = CommandContext(channel=ChannelRef("slack", "T2", "C2"), user_id="U1", user_name="ann")
        for line in ("subscribe cs.DC", "keywords add LLM"):
            await services.commands.execute(channel, line)
    finally:
        await services.aclose()
    async with running_fake_slack() as slack:
        for team in ("T1", "T2"):
            slack.team_tokens[f"xoxb-{team.lower()}-oauth"] = slack.issued[f"xoxb-{team.lower()}-oauth"] = team
        oauth_env = env | {
            "SLACK_CLIENT_ID": CLIENT_ID,
            "SLACK_CLIENT_SECRET": CLIENT_SECRET,
            "ARXIVBOT_SLACK__API_URL": slack.api_url,
            "ARXIVBOT_SLACK__POST_INTERVAL_S": "0",
        }
        code, out, err = await run_bot("", oauth_env, "digest", "--channel", "slack:C2")
        assert code == 0, err
        assert out.strip() == "slack:C2: 2 posted, 0 failed, 30 listed"
        assert len(slack.posts_in("T2")) == 4 and slack.posts_in("T1") == []  # 2 cards and their threads
        assert "xoxb-t2-oauth" not in out + err


LIBRARY = r"""
% Exported by a reference manager
@article{flexspec,
  title = {FlexSpec: Frozen Drafts Meet {Evolving} Targets},
  author = {Someone, A. and Other, B.},
  eprint = {2601.00644v1},
  archivePrefix = {arXiv},
  primaryClass = {cs.DC},
  year = 2026
}
@misc{revati, title = "Revati", doi = {10.48550/arXiv.2601.00397}}
@inproceedings{fetched, title = {Not stored yet}, url = {https://arxiv.org/abs/2605.00001v3}}
@article{lora, journal = {arXiv preprint arXiv:2605.00002}}
@misc{ghost, eprint = {2605.99999}}
@book{knuth, title = {The Art of Computer Programming}, publisher = {Addison-Wesley}, year = 1968}
@misc{again, eprint = {2601.00644}}
@misc{badid, eprint = {not-an-id}}
@article{broken, title = {never closed
@misc{last, url = {https://arxiv.org/pdf/2601.00397}}
stray = {garbage} }}}
"""


async def test_import_a_bibtex_library_counts_found_unknown_duplicates_and_names_each_bad_entry(
    tmp_path: Path, arxiv: FakeArxivServer
) -> None:
    from adapters.composition import build_services
    from tests.conftest import make_settings
    from tests.fakes.arxiv_server import atom_entry

    arxiv.feeds[frozenset({"cs.DC"})] = FEED_0105.read_bytes()
    arxiv.papers["2605.00001v1"] = (200, atom_entry("2605.00001", "Imported paper one", "First."))
    arxiv.papers["2605.00002v1"] = (200, atom_entry("2605.00002", "Imported paper two", "Second."))
    env = bot_env(tmp_path, arxiv)
    code, _, err = await run_bot("/arxiv subscribe cs.DC\n/arxiv keywords add LLM\n/arxiv digest now\n", env, "console")
    assert code == 0, err
    library = tmp_path / "library.bib"
    library.write_text(LIBRARY, encoding="utf-8")

    code, out, err = await run_bot("", env, "import", "--channel", "console:console", str(library))

    assert code == 0, err
    assert "Traceback" not in out + err
    lines = out.strip().splitlines()
    assert lines == [
        f"{library}: line 17: entry 'badid': eprint 'not-an-id' is not an arXiv id",
        f"{library}: line 18: cannot read '@article{{broken': Unexpected block start: `@misc`. Was still looking for"
        " field-value closing `}`",
        f"{library}: line 20: text outside any entry, ignored: 'stray = {{garbage}} }}}}}}'",
        f"{library}: not on arXiv, nothing stored: 2605.99999",
        "console:console: 6 found (4 added to the channel's taste, 2 duplicates), 1 unknown; 1 without an arXiv id,"
        " 3 bad",
    ]
    # The two papers not stored yet were asked for in one request, with the unknown one.
    [batch] = [r for r in arxiv.requests if r.path == "/api/query"]
    assert batch.query["id_list"] == "2605.00001,2605.00002,2605.99999"
    services = build_services(make_settings(env["ARXIVBOT_DATABASE__URL"], arxiv))
    try:
        record = await services.channels.find("console", "console")
        assert record is not None
        signals = await services.signals.channel_signals(record.id)
        assert sorted(signals.positives) == ["2601.00397", "2601.00644", "2605.00001", "2605.00002"]
        stored = await services.papers.get("2605.00001")
        assert stored is not None and stored.versioned_id == "2605.00001v1" and stored.title == "Imported paper one"
    finally:
        await services.aclose()

    # The same library again: everything found is a duplicate now, nothing is fetched twice.
    requests = len(arxiv.requests)
    code, out, err = await run_bot("", env, "import", "--channel", "console:console", str(library))
    assert code == 0, err
    assert out.strip().splitlines()[-1] == (
        "console:console: 6 found (0 added to the channel's taste, 6 duplicates), 1 unknown; 1 without an arXiv id,"
        " 3 bad"
    )
    assert [r.query["id_list"] for r in arxiv.requests[requests:]] == ["2605.99999"]


async def test_import_of_garbage_or_a_plain_list_and_its_mistakes_are_one_line_each(
    tmp_path: Path, arxiv: FakeArxivServer
) -> None:
    arxiv.feeds[frozenset({"cs.DC"})] = FEED_0105.read_bytes()
    env = bot_env(tmp_path, arxiv)
    code, _, err = await run_bot("/arxiv subscribe cs.DC\n/arxiv digest now\n", env, "console")
    assert code == 0, err
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("lorem ipsum\n{{{ @@@ }}}\n\n", encoding="utf-8")
    code, out, err = await run_bot("", env, "import", "--channel", "console:console", str(garbage))
    assert code == 2 and "Traceback" not in out + err
    assert out.strip().splitlines() == [
        f"{garbage}: line 1: 'lorem ipsum' is not an arXiv id or arXiv URL",
        f"{garbage}: line 2: '{{{{{{ @@@ }}}}}}' is not an arXiv id or arXiv URL",
    ]
    assert err.strip() == (
        f"arxiv-bot: error: no arXiv ids in {garbage} (2 entries read: 0 without an arXiv id, 2 bad); nothing was"
        " stored"
    )
    binary = tmp_path / "paper.pdf"
    binary.write_bytes(b"%PDF-1.7\n\x00\xff\xfe binary")
    code, out, err = await run_bot("", env, "import", "--channel", "console:console", str(binary))
    assert code == 2 and out == "" and err.strip() == (
        f"arxiv-bot: error: {binary} is not a UTF-8 text file: give a BibTeX file, or a text file with one arXiv id"
        " or URL a line"
    )
    missing = tmp_path / "missing.bib"
    code, _, err = await run_bot("", env, "import", "--channel", "console:console", str(missing))
    assert code == 2 and err.strip() == f"arxiv-bot: error: cannot read {missing}: No such file or directory"
    listed = tmp_path / "ids.txt"
    listed.write_text("2601.00644\nhttps://arxiv.org/abs/2601.00397v1\n# a comment\n", encoding="utf-8")
    code, out, err = await run_bot("", env, "import", "--channel", "console:nowhere", str(listed))
    assert code == 2 and err.strip() == (
        "arxiv-bot: error: no channel 'console:nowhere' is known: subscribe it to a category first"
    )
    code, out, err = await run_bot("", env, "import", "--channel", "console:console", str(listed))
    assert code == 0, err
    assert out.strip() == (
        "console:console: 2 found (2 added to the channel's taste, 0 duplicates), 0 unknown; 0 without an arXiv id,"
        " 0 bad"
    )
    assert not [r for r in arxiv.requests if r.path == "/api/query"]  # both were stored from the listing
