"""The README documents every setting (with its environment variable) and the operations it promises."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys

from bot.config import ENV_PREFIX, Settings
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
ROW = re.compile(r"^\| `\[(\w+)\] (\w+)` \| `(ARXIVBOT_\w+)` \|", re.MULTILINE)
REGENERATE = "run `.venv/bin/python scripts/config_reference.py --write` to refresh the README table"


def settings_keys() -> set[tuple[str, str]]:
    return {
        (section.name, key.name)
        for section in dataclasses.fields(Settings)
        for key in dataclasses.fields(getattr(Settings(), section.name))
    }


def test_every_setting_is_in_the_readme_with_its_environment_variable() -> None:
    rows = {(s, k): env for s, k, env in ROW.findall(README)}
    missing = sorted(settings_keys() - set(rows))
    assert not missing, f"settings missing from README.md: {missing}; {REGENERATE}"
    stale = sorted(set(rows) - settings_keys())
    assert not stale, f"README.md lists settings that do not exist: {stale}; {REGENERATE}"
    for (section, key), env in rows.items():
        assert env == f"{ENV_PREFIX}{section.upper()}__{key.upper()}"


def test_every_config_toml_key_is_a_setting() -> None:
    import tomllib

    data = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    assert {(s, k) for s, values in data.items() for k in values} == settings_keys()


def test_the_generator_prints_the_table_the_readme_holds() -> None:
    printed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "config_reference.py")], capture_output=True, text=True, check=True
    ).stdout
    assert set(ROW.findall(printed)) == set(ROW.findall(README)), REGENERATE


def test_operations_and_troubleshooting_are_documented() -> None:
    for heading in ("## Configuration reference", "## Operations", "### Backups", "### Switching to PostgreSQL",
                    "### Upgrading", "### Docker", "## Troubleshooting"):
        assert f"\n{heading}\n" in README, heading
    for promise in (".backup", "-wal", "postgresql+asyncpg://", "--profile postgres", "Saturdays and Sundays",
                    "holidays", "429", "Retry-After", "/healthz", "/metrics", "/feeds/<token>.xml",
                    "arxiv-bot export --channel", "SIGTERM"):
        assert promise in README, promise
    assert README.index("make run") < README.index("## Configuration reference")  # the top stays first
