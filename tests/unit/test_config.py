"""Settings from config.toml and the environment; bad values stop start-up with one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings, load_settings
from bot.errors import ConfigError
from tests.conftest import ROOT


def test_shipped_config_equals_the_defaults() -> None:
    assert load_settings(ROOT / "config.toml", env={}) == Settings()


def test_defaults_are_the_documented_ones() -> None:
    s = load_settings(Path("/nonexistent.toml"), env={})
    assert s.arxiv.rss_url == "https://rss.arxiv.org/rss"
    assert s.arxiv.api_url == "https://export.arxiv.org/api/query"
    assert s.arxiv.min_interval_s == 3.0
    assert s.database.url.startswith("sqlite+aiosqlite:///data/")
    assert (s.channel.max_papers, s.channel.include_cross_lists, s.channel.language) == (10, False, "en")


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[arxiv]\nrss_url = "http://file.example/rss"\nmin_interval_s = 5\n[channel]\nmax_papers = 7\n')
    s = load_settings(
        path, env={"ARXIVBOT_ARXIV__RSS_URL": "http://127.0.0.1:9/rss", "ARXIVBOT_CHANNEL__INCLUDE_CROSS_LISTS": "true"}
    )
    assert s.arxiv.rss_url == "http://127.0.0.1:9/rss"
    assert s.arxiv.min_interval_s == 5.0
    assert s.channel.max_papers == 7 and s.channel.include_cross_lists is True


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"ARXIVBOT_ARXIV__MIN_INTERVAL_S": "soon"},
            "ARXIVBOT_ARXIV__MIN_INTERVAL_S = 'soon' is invalid: expected a number",
        ),
        ({"ARXIVBOT_ARXIV__RSS_URL": "ftp://x"}, "expected an http:// or https:// URL"),
        (
            {"ARXIVBOT_CHANNEL__MAX_PAPERS": "500"},
            "ARXIVBOT_CHANNEL__MAX_PAPERS = 500 is invalid: expected a number from 1 to 50",
        ),
        ({"ARXIVBOT_CHANNEL__TIMEZONE": "Moon/Base"}, "expected an IANA time zone"),
        ({"ARXIVBOT_CHANNEL__TIMEZONE": "America"}, "(did you mean America/New_York?)"),  # a tzdata folder
        ({"ARXIVBOT_CHANNEL__TIMEZONE": "berlin"}, "(did you mean Europe/Berlin?)"),
        ({"ARXIVBOT_CHANNEL__TIMEZONE": "Europe/../Berlin"}, "expected an IANA time zone"),
        ({"ARXIVBOT_CHANNEL__TIMEZONE": "x" * 300}, "expected an IANA time zone"),
        ({"ARXIVBOT_CHANNEL__POST_TIME": "9"}, "expected a 24-hour time HH:MM"),
        ({"ARXIVBOT_DATABASE__URL": "mysql://x"}, "expected a sqlite+aiosqlite:/// or postgresql+asyncpg:// URL"),
        ({"ARXIVBOT_NOPE__X": "1"}, "ARXIVBOT_NOPE__X names no known section"),
        ({"ARXIVBOT_LOG__LEVEL": "LOUD"}, "expected one of DEBUG, INFO, WARNING, ERROR"),
    ],
)
def test_bad_environment_value_names_key_value_and_form(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(Path("/nonexistent.toml"), env=env)
    assert message in str(err.value)


def test_bad_file_values(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[arxiv]\ntimeout_s = "long"\n')
    with pytest.raises(ConfigError, match=r"\[arxiv\] timeout_s = 'long' is invalid: expected a number"):
        load_settings(path, env={})
    path.write_text("[arxiv]\ntimeot_s = 3\n")
    with pytest.raises(ConfigError, match=r"\[arxiv\] timeot_s is not a known setting"):
        load_settings(path, env={})
    path.write_text("[arxiv\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_settings(path, env={})
