"""Settings from config.toml and the environment; bad values stop start-up with one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings, level_for, load_settings
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


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("[]", ()),
        ('["openai/gpt-4o-mini", "deepseek/deepseek-chat"]', ("openai/gpt-4o-mini", "deepseek/deepseek-chat")),
        ("['a/b']", ("a/b",)),  # a TOML literal string
        ('[\n  "a/b",\n  "c/d",\n]', ("a/b", "c/d")),
        ("a/b, c/d", ("a/b", "c/d")),
        ("a/b", ("a/b",)),
        ("", ()),
    ],
)
def test_a_list_setting_from_the_environment_is_a_json_array_or_a_comma_list(
    raw: str, expected: tuple[str, ...]
) -> None:
    settings = load_settings(Path("/nonexistent.toml"), env={"ARXIVBOT_LLM__FALLBACKS": raw})
    assert settings.llm.fallbacks == expected


@pytest.mark.parametrize("raw", ["[1, 2]", '["a/b"', "[[]]", '["a", 2]'])
def test_a_bad_array_in_the_environment_is_one_line_with_both_forms(raw: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(Path("/nonexistent.toml"), env={"ARXIVBOT_LLM__FALLBACKS": raw})
    assert str(err.value).startswith(f"ARXIVBOT_LLM__FALLBACKS = {raw!r} is invalid: expected a list of strings")
    assert '["a/b", "c/d"]' in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("ARXIVBOT_ARXIV__RSS_URLL", "is not a known setting; did you mean ARXIVBOT_ARXIV__RSS_URL?"),
        ("ARXIVBOT_LLM__FALLBACK", "did you mean ARXIVBOT_LLM__FALLBACKS?"),
        ("ARXIVBOT_ARXIV__TIMEZONE", "did you mean ARXIVBOT_CHANNEL__TIMEZONE?"),
        ("ARXIVBOT_LOG__COLOUR", "the [log] settings are ARXIVBOT_LOG__FORMAT, ARXIVBOT_LOG__LEVEL"),
        ("ARXIVBOT_CHANNEL__", "the [channel] settings are " + ", ".join(
            f"ARXIVBOT_CHANNEL__{key}" for key in
            ("AUTHOR_BONUS", "INCLUDE_CROSS_LISTS", "LANGUAGE", "MAX_PAPERS", "MIN_SCORE", "POST_TIME", "TIMEZONE")
        )),
    ],
)
def test_an_unknown_environment_setting_is_refused_like_an_unknown_toml_key(name: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(Path("/nonexistent.toml"), env={name: "x"})
    assert str(err.value).startswith(f"{name} is not a known setting; ") and str(err.value).endswith(message)
    load_settings(Path("/nonexistent.toml"), env={"ARXIVBOT_CONFIG_NOTE": "x", "ARXIVBOT_TEST_DATABASE_URL": "y"})


def test_an_explicit_log_level_is_honoured_and_the_empty_default_spares_the_console() -> None:
    default = load_settings(Path("/nonexistent.toml"), env={}).log
    assert default.level == ""
    assert level_for(default, terminal_is_output=False) == "INFO"
    assert level_for(default, terminal_is_output=True) == "WARNING"
    chosen = load_settings(Path("/nonexistent.toml"), env={"ARXIVBOT_LOG__LEVEL": "DEBUG"}).log
    assert level_for(chosen, terminal_is_output=True) == level_for(chosen, terminal_is_output=False) == "DEBUG"
