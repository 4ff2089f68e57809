"""The README is true: every setting is documented, and every command it shows is one that works.

Commands in the README's code blocks are checked against what runs them: ``arxiv-bot ...`` (directly or
through ``docker compose run``) against the CLI's parser, ``make X`` against the Makefile's targets,
``docker compose ... SERVICE`` against docker-compose.yml, and ``ARXIVBOT_...`` names against the settings.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import re
import shlex
import tomllib
from collections.abc import Iterator

import pytest
import yaml

from adapters.cli import build_parser
from bot.config import ENV_PREFIX, Settings
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
ROW = re.compile(r"^\| `\[(\w+)\] (\w+)` \| `(ARXIVBOT_\w+)` \|", re.MULTILINE)
REGENERATE = "run `.venv/bin/python scripts/config_reference.py --write` to refresh the README table"
CODE_BLOCK = re.compile(r"^ *```[\w-]*\n(.*?)^ *```", re.MULTILINE | re.DOTALL)
SHELL_CUT = {">", ">>", "|", "&&", ";", "2>"}
ARXIV_BOT = ".venv/bin/arxiv-bot"
"""How a fresh shell runs the command ``make run`` installs (nothing has put it on the PATH)."""
COMPOSE_FLAGS = {"--rm", "-d", "--detach", "-f", "--follow", "-T", "--no-deps", "--build", "-i", "-t"}


def settings_keys() -> set[tuple[str, str]]:
    return {
        (section.name, key.name)
        for section in dataclasses.fields(Settings)
        for key in dataclasses.fields(getattr(Settings(), section.name))
    }


def command_lines() -> Iterator[list[str]]:
    """Each command line of the README's code blocks, as words: comments, descriptions and redirections cut."""
    for block in CODE_BLOCK.findall(README):
        for line in block.splitlines():
            # A reference line gives its description after a run of spaces; a shell line, after `#`.
            text = re.split(r" {2,}", line.strip())[0]
            try:
                words = shlex.split(text, comments=True)
            except ValueError:
                continue  # not shell (sample output)
            cut = next((i for i, word in enumerate(words) if word in SHELL_CUT), len(words))
            if words[:cut]:
                yield words[:cut]


def cli_invocations() -> Iterator[list[str]]:
    """The arguments of every ``arxiv-bot`` the README runs, directly or as the compose service's command."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for words in command_lines():
        if words[0] in ("arxiv-bot", ARXIV_BOT):
            yield words[1:]
        elif words[:2] == ["docker", "compose"]:
            verb, rest = words[2], words[3:]
            while rest and rest[0].startswith("-"):  # options before the service
                rest = rest[1:] if rest[0] in COMPOSE_FLAGS or "=" in rest[0] else rest[2:]
            if verb in ("run", "exec", "logs"):
                assert rest and rest[0] in services, f"README: {shlex.join(words)} names no compose service"
            if verb == "run":
                yield rest[1:]


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_setting_is_in_the_readme_with_its_environment_variable() -> None:
    rows = {(s, k): env for s, k, env in ROW.findall(README)}
    missing = sorted(settings_keys() - set(rows))
    assert not missing, f"settings missing from README.md: {missing}; {REGENERATE}"
    stale = sorted(set(rows) - settings_keys())
    assert not stale, f"README.md lists settings that do not exist: {stale}; {REGENERATE}"
    for (section, key), env in rows.items():
        assert env == f"{ENV_PREFIX}{section.upper()}__{key.upper()}"


def test_every_config_toml_key_is_a_setting() -> None:
    data = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    assert {(s, k) for s, values in data.items() for k in values} == settings_keys()


def test_the_readme_table_is_what_the_generator_writes() -> None:
    spec = importlib.util.spec_from_file_location("config_reference", ROOT / "scripts" / "config_reference.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    start, end = README.index(generator.START), README.index(generator.END)
    assert README[start + len(generator.START) : end].strip() == generator.table(), REGENERATE


def test_every_arxiv_bot_command_in_the_readme_parses_and_every_subcommand_is_shown() -> None:
    known = subcommands()
    shown = set()
    for args in cli_invocations():
        assert args, "arxiv-bot without a subcommand"
        assert args[0] in known, f"README runs `arxiv-bot {args[0]}`, which the CLI does not have"
        shown.add(args[0])
        options = known[args[0]]._option_string_actions
        for word in args[1:]:
            flag = word.strip("[]").split("=")[0]
            if flag.startswith("-"):
                assert flag in options, f"`arxiv-bot {args[0]}` has no option {flag}"
        if not any("[" in word or word.endswith("...") for word in args):  # a real command, not a synopsis
            try:
                build_parser().parse_args(args)
            except SystemExit:
                pytest.fail(f"`arxiv-bot {shlex.join(args)}` from the README does not parse")
    assert shown == set(known), f"subcommands missing from the README: {sorted(set(known) - shown)}"


def test_the_readme_opens_with_make_run_and_make_test_and_every_make_target_exists() -> None:
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.MULTILINE))
    lines = list(command_lines())
    assert lines[:2] == [["make", "run"], ["make", "test"]]
    for words in lines:
        if words[0] == "make":
            assert set(words[1:]) <= targets, words
        if words[0] == ".venv/bin/python":
            assert (ROOT / words[1]).is_file(), words


def test_every_command_in_the_readme_runs_as_written_in_a_fresh_shell() -> None:
    shown = list(command_lines())
    bare = [" ".join(words) for words in shown if words[0] == "arxiv-bot"]
    assert not bare, f"a fresh shell has no arxiv-bot on its PATH: write {ARXIV_BOT} in {bare}"
    assert any(words[0] == ARXIV_BOT for words in shown)
    for words in shown:
        if words[0].startswith(".venv/bin/"):
            assert words[0] == ARXIV_BOT or words[0] == ".venv/bin/python", words  # what pyproject installs
    assert "Python 3.11 or newer" in README[: README.index("## ")]  # said up front, before the first section


def test_the_backup_command_names_the_default_database_file() -> None:
    database = Settings().database.url.removeprefix("sqlite+aiosqlite:///")
    backups = [words for words in command_lines() if words[0] == "sqlite3"]
    assert backups and all(words[1] == database for words in backups), (backups, database)


def test_every_environment_variable_the_readme_names_is_read() -> None:
    settings = {f"{ENV_PREFIX}{s}__{k}".upper() for s, k in settings_keys()}
    sources = "\n".join(
        p.read_text() for folder in ("bot", "adapters", "tests") for p in (ROOT / folder).rglob("*.py")
    )
    for name in set(re.findall(r"\bARXIVBOT_[A-Z0-9_]*[A-Z0-9]\b", README)):
        if "__" in name:
            assert name in settings, f"README names {name}, which is no setting"
        else:
            assert f'"{name}"' in sources, f"README names {name}, which nothing reads"
