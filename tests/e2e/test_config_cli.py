"""Bad settings and bad arguments stop the real ``arxiv-bot`` process with exit code 2 and one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def test_cli_bad_config_exits_2_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "adapters.cli", "check-config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "ARXIVBOT_CHANNEL__MAX_PAPERS": "zero", "HOME": str(tmp_path)},
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "arxiv-bot: config error: ARXIVBOT_CHANNEL__MAX_PAPERS = 'zero' is invalid: expected a whole number"
    ]
    assert "Traceback" not in result.stderr + result.stdout


def test_cli_bad_arguments_exit_2_with_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "adapters.cli", "preview"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "the following arguments are required: CAT" in result.stderr


HEAVY = (
    "sqlalchemy", "alembic", "aiohttp", "litellm", "slack_bolt", "slack_sdk", "discord", "httpx", "apscheduler",
    "bibtexparser",
)
REPORT_IMPORTS = f"""
import atexit, sys
loaded = lambda: sorted(set({HEAVY!r}) & {{m.split(".")[0] for m in sys.modules}})
atexit.register(lambda: print("heavy:", loaded(), file=sys.stderr))
from adapters.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["run", "--help"],
        ["preview"],
        ["nonsense"],
        ["export", "--format", "x"],
        ["import", "--help"],
        ["import", "lib.bib"],
    ],
)
def test_parsing_the_arguments_imports_no_database_platform_or_llm_library(args: list[str], tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", REPORT_IMPORTS, *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode in (0, 2), result.stderr
    assert result.stderr.strip().splitlines()[-1] == "heavy: []", result.stderr
    assert (result.returncode == 0) == ("--help" in args)


def run_cli(tmp_path: Path, env: dict[str, str], *args: str, piped: str | None = None
            ) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """``arxiv-bot ARGS`` in ``tmp_path`` with a clean environment plus ``env``; standard input is /dev/null, or a
    pipe carrying ``piped``."""
    base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ARXIVBOT_CONFIG": str(ROOT / "config.toml"),
            "ARXIVBOT_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", "ARXIVBOT_HTTP__PORT": "0"}
    stdin = {"stdin": subprocess.DEVNULL} if piped is None else {"input": piped}
    return subprocess.run([sys.executable, "-m", "adapters.cli", *args], cwd=ROOT, env=base | env, **stdin,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_run_detached_with_no_platform_says_so_in_one_line_and_exits_2(tmp_path: Path) -> None:
    result = run_cli(tmp_path, {}, "run")
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("arxiv-bot: no platform is configured") and "SLACK_BOT_TOKEN" in line, line
    assert "DISCORD_TOKEN" in line and "docker run -it" in line
    assert result.stdout == "" and not (tmp_path / "bot.db").exists()  # it stopped before touching anything
    closed = subprocess.run(
        [sys.executable, "-c", "import os, sys; os.close(0); sys.stdin = None; from adapters.cli import main; "
         "sys.exit(main(['run']))"],
        cwd=ROOT, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ARXIVBOT_HTTP__PORT": "0"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert closed.returncode == 2 and "no platform is configured" in closed.stderr
    # Asked for explicitly, the console chat runs on what it is given: nothing, so it ends at once.
    assert run_cli(tmp_path, {}, "console").returncode == 0
    piped = run_cli(tmp_path, {}, "run", piped="")  # a pipe is input, even an empty one: the console chat runs
    assert piped.returncode == 0, piped.stderr
    helped = run_cli(tmp_path, {}, "run", piped="/arxiv help\n")
    assert helped.returncode == 0 and "arxiv-bot commands" in helped.stdout


def test_check_config_says_what_run_will_start(tmp_path: Path) -> None:
    console = run_cli(tmp_path, {}, "check-config")
    assert console.returncode == 0, console.stderr
    assert (
        "run will start: the HTTP server on 127.0.0.1:0, the daily digest scheduler, "
        "the console chat on standard input (no SLACK_BOT_TOKEN or DISCORD_TOKEN is set)"
    ) in console.stdout
    assert "run would stop at once: no platform is configured" in console.stdout  # its stdin is /dev/null
    both = run_cli(tmp_path, {"SLACK_BOT_TOKEN": "xoxb-1-abc", "SLACK_APP_TOKEN": "xapp-1-abc",
                              "DISCORD_TOKEN": "MTA.abc.def", "ARXIVBOT_SCHEDULER__ENABLED": "false"}, "check-config")
    assert both.returncode == 0, both.stderr
    assert "run will start: Slack in Socket Mode, Discord, the HTTP server on 127.0.0.1:0\n" in both.stdout
    http = run_cli(tmp_path, {"SLACK_BOT_TOKEN": "xoxb-1-abc", "SLACK_SIGNING_SECRET": "s3cret-value",
                              "ARXIVBOT_SLACK__MODE": "http", "ARXIVBOT_HTTP__PUBLIC_URL": "https://bot.example.org"},
                   "check-config")  # fmt: skip
    assert "Slack in HTTP mode (requests to https://bot.example.org/slack/events)" in http.stdout, http.stderr
    assert all(secret not in both.stdout + both.stderr + http.stdout for secret in ("abc", "s3cret-value"))
    oauth = run_cli(tmp_path, {"SLACK_CLIENT_ID": "123.456", "SLACK_CLIENT_SECRET": "client-s3cret",
                               "SLACK_SIGNING_SECRET": "s3cret-value", "ARXIVBOT_SLACK__MODE": "http",
                               "ARXIVBOT_HTTP__PUBLIC_URL": "https://bot.example.org"}, "check-config")  # fmt: skip
    assert oauth.returncode == 0, oauth.stderr
    assert (
        "Slack in HTTP mode (requests to https://bot.example.org/slack/events) for every workspace that installs it "
        "at https://bot.example.org/slack/install"
    ) in oauth.stdout
    assert "client-s3cret" not in oauth.stdout + oauth.stderr and "s3cret-value" not in oauth.stdout


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SLACK_BOT_TOKEN": "xapp-1-abc", "SLACK_APP_TOKEN": "xapp-1-abc"},
         "SLACK_BOT_TOKEN has the wrong shape (it looks like an app-level token (xapp-...)): expected the Bot User"),
        ({"SLACK_BOT_TOKEN": "xoxb-1-abc"}, "SLACK_APP_TOKEN is not set: Socket Mode"),
        ({"SLACK_BOT_TOKEN": "xoxb-1-abc", "SLACK_APP_TOKEN": "xoxb-1-abc"},
         "SLACK_APP_TOKEN has the wrong shape (it looks like a bot token (xoxb-...)): expected an app-level token"),
        ({"SLACK_BOT_TOKEN": "xoxp-1-abc", "SLACK_APP_TOKEN": "xapp-1-abc"}, "it looks like a user token"),
        ({"SLACK_BOT_TOKEN": "xoxb-1-abc", "ARXIVBOT_SLACK__MODE": "http"}, "SLACK_SIGNING_SECRET is not set"),
        ({"SLACK_CLIENT_ID": "1.2", "SLACK_BOT_TOKEN": "xoxb-1-abc", "SLACK_APP_TOKEN": "xapp-1-abc"},
         "SLACK_BOT_TOKEN and SLACK_CLIENT_ID are both set: expected one of them"),
        ({"SLACK_CLIENT_ID": "abc", "SLACK_CLIENT_SECRET": "abc-secret"},
         "SLACK_CLIENT_ID has the wrong shape: expected the Client ID"),
        ({"SLACK_CLIENT_ID": "1.2", "SLACK_APP_TOKEN": "xapp-1-abc"}, "SLACK_CLIENT_SECRET is not set: installing"),
        ({"SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "abc-secret", "SLACK_APP_TOKEN": "xapp-1-abc",
          "ARXIVBOT_HTTP__ENABLED": "false"}, "needs our HTTP server for the install and redirect pages"),
        ({"DISCORD_TOKEN": "Bot MTA.abc.def"}, "DISCORD_TOKEN starts with 'Bot '"),
        ({"DISCORD_TOKEN": "MTA.abc.def", "ARXIVBOT_DISCORD__DEV_GUILD_ID": "my-server"},
         "[discord] dev_guild_id = 'my-server' is invalid"),
        ({"ARXIVBOT_ARXIV__RSS_URLL": "https://rss.arxiv.org/rss"},
         "ARXIVBOT_ARXIV__RSS_URLL is not a known setting; did you mean ARXIVBOT_ARXIV__RSS_URL?"),
    ],
)  # fmt: skip
def test_check_config_checks_tokens_as_run_does_and_refuses_unknown_settings(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    for command in ("check-config", "run"):
        result = run_cli(tmp_path, env, command)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("arxiv-bot: config error: ") and message in line, (command, line)
        assert "abc" not in line and not (tmp_path / "bot.db").exists()


def test_check_config_masks_the_password_of_a_database_url(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://arxivbot:hunter2-secret@db.example.org:5432/arxivbot"
    result = run_cli(tmp_path, {"ARXIVBOT_DATABASE__URL": url}, "check-config")
    assert result.returncode == 0, result.stderr
    assert "[database] url = 'postgresql+asyncpg://***@db.example.org:5432/arxivbot'" in result.stdout
    assert "hunter2" not in result.stdout + result.stderr
