"""Settings: ``config.toml`` with an ``ARXIVBOT_<SECTION>__<KEY>`` environment override for every key.

Secrets (platform tokens, LLM keys) are never read from the file: only from the environment, by the code that
needs them. Every bad value raises ``ConfigError`` naming the key, the value and the expected form.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import tomllib
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints
from zoneinfo import ZoneInfo, available_timezones

from bot.errors import ConfigError

ENV_PREFIX = "ARXIVBOT_"
DEFAULT_CONFIG_PATH = Path("config.toml")
TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_LOOSE_TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})$")
_ZONE_RE = re.compile(r"^[A-Za-z0-9_+-]+(?:/[A-Za-z0-9_+-]+)*$")
MAX_ZONE_CHARS = 64
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")


def _http_url(value: Any) -> str | None:
    ok = isinstance(value, str) and re.match(r"^https?://[^\s/]+", value) is not None
    return None if ok else "an http:// or https:// URL"


def _db_url(value: Any) -> str | None:
    ok = (
        isinstance(value, str) and re.match(r"^(sqlite\+aiosqlite|postgresql\+asyncpg)://", value) is not None
    )
    return None if ok else "a sqlite+aiosqlite:/// or postgresql+asyncpg:// URL"


def _non_negative(value: Any) -> str | None:
    return None if value >= 0 else "a number >= 0"


def _positive(value: Any) -> str | None:
    return None if value > 0 else "a number > 0"


def _time(value: Any) -> str | None:
    return None if TIME_RE.match(value) else "a 24-hour time HH:MM, e.g. 09:30"


def normal_time(text: str) -> str | None:
    """A 24-hour time as ``HH:MM`` (``9:30`` -> ``09:30``), or None when ``text`` is no such time."""
    match = _LOOSE_TIME_RE.match(text.strip())
    if match is None:
        return None
    hour, minute = int(match[1]), int(match[2])
    return f"{hour:02d}:{minute:02d}" if hour <= 23 and minute <= 59 else None


@cache
def _zones_by_lower() -> dict[str, str]:
    """Every IANA zone name this machine can load, by its lower-cased spelling."""
    return {name.lower(): name for name in available_timezones() if name != "localtime"}


def canonical_timezone(name: str) -> str | None:
    """The IANA zone ``name`` spells, matched case-insensitively (``europe/berlin`` -> ``Europe/Berlin``), or None.

    Never raises: a region (``America``, a folder of tzdata), an over-long or odd name is simply no zone.
    """
    text = name.strip()
    if not text or len(text) > MAX_ZONE_CHARS or not _ZONE_RE.match(text):
        return None
    found = _zones_by_lower().get(text.lower())
    if found is None:
        return None
    try:
        ZoneInfo(found)
    except (ValueError, OSError, KeyError):  # ZoneInfoNotFoundError is a KeyError; a folder, an OSError
        return None
    return found


REGION_EXAMPLES: Mapping[str, str] = {
    "africa": "Africa/Lagos",
    "america": "America/New_York",
    "antarctica": "Antarctica/McMurdo",
    "asia": "Asia/Shanghai",
    "atlantic": "Atlantic/Reykjavik",
    "australia": "Australia/Sydney",
    "europe": "Europe/Berlin",
    "indian": "Indian/Maldives",
    "pacific": "Pacific/Auckland",
    "us": "US/Eastern",
}
"""A well-known zone of each large region, suggested when a region alone (``America``) is given as a zone."""


def closest_timezones(name: str, n: int = 3) -> list[str]:
    """Up to ``n`` zone names that look like ``name``, best first.

    A bare city (``berlin``, ``new york``) gives its zones; a region (``America``) one example zone in it.
    """
    wanted = "_".join(name.strip().lower().split())[:MAX_ZONE_CHARS].strip("/")
    if not wanted:
        return []
    zones = _zones_by_lower()
    in_region = sorted(zone for lower, zone in zones.items() if lower.startswith(wanted + "/"))
    if in_region:
        return [REGION_EXAMPLES.get(wanted, in_region[0])]
    by_city: dict[str, list[str]] = {}
    for lower, zone in sorted(zones.items()):
        by_city.setdefault(lower.rsplit("/", 1)[-1], []).append(zone)
    city = wanted.rsplit("/", 1)[-1]
    found = [zone for zone in by_city.get(city, []) if "/" in zone]
    found += [zones[match] for match in difflib.get_close_matches(wanted, list(zones), n=n, cutoff=0.6)]
    for close in difflib.get_close_matches(city, list(by_city), n=n, cutoff=0.75):
        found += by_city[close]
    return list(dict.fromkeys(found))[:n]


def timezone_problem(value: str) -> str | None:
    """None when ``value`` is an IANA zone name, else the expected form (with the closest names, if any)."""
    if canonical_timezone(value) == value:
        return None
    close = closest_timezones(value)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return f"an IANA time zone such as UTC or Europe/Berlin{hint}"


def _language(value: Any) -> str | None:
    return None if LANGUAGE_RE.match(value) else "a language code such as en, zh or pt-BR"


def _one_of(*choices: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if value in choices else "one of " + ", ".join(choices)

    return check


def _log_level(value: Any) -> str | None:
    ok = value in ("", "DEBUG", "INFO", "WARNING", "ERROR")
    return None if ok else "one of DEBUG, INFO, WARNING, ERROR, or empty (INFO; WARNING in the console)"


def _range(low: float, high: float) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if low <= value <= high else f"a number from {low:g} to {high:g}"

    return check


def _check(fn: Callable[[Any], str | None]) -> dict[str, Any]:
    return {"check": fn}


@dataclass(frozen=True, kw_only=True)
class ArxivSettings:
    """Where and how politely to ask arXiv."""

    rss_url: str = field(default="https://rss.arxiv.org/rss", metadata=_check(_http_url))
    api_url: str = field(default="https://export.arxiv.org/api/query", metadata=_check(_http_url))
    min_interval_s: float = field(default=3.0, metadata=_check(_non_negative))
    timeout_s: float = field(default=30.0, metadata=_check(_positive))
    max_retries: int = field(default=4, metadata=_check(_range(0, 10)))


@dataclass(frozen=True, kw_only=True)
class DatabaseSettings:
    """Where state lives."""

    url: str = field(default="sqlite+aiosqlite:///data/arxiv-bot.db", metadata=_check(_db_url))
    replicas: bool = True
    """On PostgreSQL, any number of ``arxiv-bot run`` may share the database: slots and ledger rows are claimed with
    leases. False only when exactly one bot ever runs on it (a restart after a crash then resumes at once instead
    of after the leases); SQLite ignores it (it serves one process)."""
    lease_s: float = field(default=120.0, metadata=_check(_range(1, 120)))


@dataclass(frozen=True, kw_only=True)
class ChannelSettings:
    """Defaults a channel starts with; each channel changes its own with ``/arxiv set``."""

    post_time: str = field(default="09:00", metadata=_check(_time))
    timezone: str = field(default="UTC", metadata=_check(timezone_problem))
    max_papers: int = field(default=10, metadata=_check(_range(1, 50)))
    min_score: float = field(default=1.0, metadata=_check(_range(0, 100)))
    include_cross_lists: bool = False
    language: str = field(default="en", metadata=_check(_language))
    author_bonus: float = field(default=2.0, metadata=_check(_range(0, 100)))


@dataclass(frozen=True, kw_only=True)
class SchedulerSettings:
    """The daily run."""

    enabled: bool = True
    misfire_grace_s: int = field(default=3600, metadata=_check(_positive))
    catch_up_interval_s: float = field(default=300.0, metadata=_check(_positive))


@dataclass(frozen=True, kw_only=True)
class SlackSettings:
    """Slack: Socket Mode or HTTP mode; one workspace (SLACK_BOT_TOKEN) or every one that installs the app through
    OAuth (SLACK_CLIENT_ID, SLACK_CLIENT_SECRET) at ``install_path`` of our HTTP server."""

    mode: str = field(default="socket", metadata=_check(_one_of("socket", "http")))
    api_url: str = field(default="https://slack.com/api/", metadata=_check(_http_url))
    events_path: str = "/slack/events"
    install_path: str = "/slack/install"
    redirect_path: str = "/slack/oauth_redirect"
    admins_only: bool = False
    save_emoji: str = "bookmark"
    max_concurrency: int = field(default=4, metadata=_check(_range(1, 64)))
    post_interval_s: float = field(default=1.0, metadata=_check(_range(0, 60)))
    post_timeout_s: float = field(default=30.0, metadata=_check(_positive))


@dataclass(frozen=True, kw_only=True)
class DiscordSettings:
    """Discord: one process runs every shard, or the slice ``shard_ids`` of ``shard_count``."""

    api_url: str = field(default="https://discord.com/api/v10", metadata=_check(_http_url))
    dev_guild_id: str = ""
    save_emoji: str = "🔖"
    post_timeout_s: float = field(default=30.0, metadata=_check(_positive))
    shard_count: int = field(default=0, metadata=_check(_range(0, 10000)))
    shard_ids: str = ""


@dataclass(frozen=True, kw_only=True)
class LlmSettings:
    """Summaries through litellm; an empty model means extractive summaries with no network call."""

    model: str = ""
    fallbacks: tuple[str, ...] = ()
    api_base: str = ""
    timeout_s: float = field(default=60.0, metadata=_check(_positive))
    max_output_tokens: int = field(default=1200, metadata=_check(_range(64, 32000)))
    concurrency: int = field(default=4, metadata=_check(_range(1, 64)))
    daily_budget_usd: float = field(default=5.0, metadata=_check(_non_negative))
    max_summaries_per_run: int = field(default=50, metadata=_check(_range(0, 10000)))
    fulltext: bool = True
    fulltext_max_tokens: int = field(default=12000, metadata=_check(_range(500, 500000)))
    fulltext_base_url: str = field(default="https://arxiv.org", metadata=_check(_http_url))


@dataclass(frozen=True, kw_only=True)
class RankingSettings:
    """The learned ranker: each channel's saves, likes and 👎 train its ranking once it has enough of them."""

    min_positives: int = field(default=5, metadata=_check(_range(1, 1000)))
    background_size: int = field(default=5000, metadata=_check(_range(100, 100000)))
    refit_delay_s: float = field(default=30.0, metadata=_check(_range(0, 86400)))
    embedding_model: str = ""
    max_embeddings_per_run: int = field(default=5000, metadata=_check(_range(0, 1000000)))


@dataclass(frozen=True, kw_only=True)
class HttpSettings:
    """Our one HTTP server: health, metrics, feeds, and Slack's HTTP mode."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = field(default=8080, metadata=_check(_range(0, 65535)))
    public_url: str = field(default="http://127.0.0.1:8080", metadata=_check(_http_url))


@dataclass(frozen=True, kw_only=True)
class LogSettings:
    """Logging."""

    level: str = field(default="", metadata=_check(_log_level))
    """Empty: INFO, but WARNING where the terminal is the console chat or a command's output (``level_for``)."""
    format: str = field(default="text", metadata=_check(_one_of("text", "json")))


def level_for(settings: LogSettings, *, terminal_is_output: bool) -> str:
    """The log level to use: ``[log] level`` when it is set, else INFO, or WARNING when the terminal shows the console
    chat or a command's answer (log lines would drown it)."""
    if settings.level:
        return settings.level
    return "WARNING" if terminal_is_output else "INFO"


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Every setting of arxiv-bot."""

    arxiv: ArxivSettings = field(default_factory=ArxivSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    channel: ChannelSettings = field(default_factory=ChannelSettings)
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    slack: SlackSettings = field(default_factory=SlackSettings)
    discord: DiscordSettings = field(default_factory=DiscordSettings)
    llm: LlmSettings = field(default_factory=LlmSettings)
    ranking: RankingSettings = field(default_factory=RankingSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    log: LogSettings = field(default_factory=LogSettings)


LIST_FORMS = 'a list of strings: a comma list (a/b, c/d) or a JSON array (["a/b", "c/d"], [] for none)'


def _describe(tp: Any) -> str:
    return {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}.get(tp, LIST_FORMS)


def _env_list(raw: str) -> list[Any] | None:
    """An environment value as a list: a JSON/TOML array (``[]``, ``["a/b", "c/d"]``), else a comma list.

    None when it starts like an array but is not one.
    """
    text = raw.strip()
    if not text.startswith("["):
        return [part.strip() for part in text.split(",") if part.strip()]
    try:
        value = tomllib.loads(f"value = {text}")["value"]  # TOML arrays take JSON's string arrays as they are
    except tomllib.TOMLDecodeError:
        return None
    return value if isinstance(value, list) else None


def _coerce(key: str, raw: Any, tp: Any, *, from_env: bool) -> Any:
    """Turn a TOML or environment value into ``tp``; raise ConfigError on a mismatch."""

    def bad() -> ConfigError:
        return ConfigError(f"{key} = {raw!r} is invalid: expected {_describe(tp)}")

    if tp is bool:
        if isinstance(raw, bool):
            return raw
        if (
            from_env
            and isinstance(raw, str)
            and raw.strip().lower() in {"true", "false", "1", "0", "yes", "no"}
        ):
            return raw.strip().lower() in {"true", "1", "yes"}
        raise bad()
    if tp is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if from_env and isinstance(raw, str) and re.fullmatch(r"-?\d+", raw.strip()):
            return int(raw)
        raise bad()
    if tp is float:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return float(raw)
        if from_env and isinstance(raw, str):
            try:
                return float(raw)
            except ValueError:
                raise bad() from None
        raise bad()
    if tp is str:
        if isinstance(raw, str):
            return raw
        raise bad()
    if get_origin(tp) is tuple:
        items = _env_list(raw) if from_env and isinstance(raw, str) else raw
        if isinstance(items, list) and all(isinstance(x, str) for x in items):
            return tuple(x.strip() for x in items if x.strip())
        raise bad()
    raise bad()


def _build_section(name: str, cls: type[Any], values: Mapping[str, Any], env: Mapping[str, str]) -> Any:
    hints = get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"[{name}] {unknown[0]} is not a known setting; known: {', '.join(sorted(known))}")
    kwargs: dict[str, Any] = {}
    for fname, fdef in known.items():
        tp = hints[fname]
        if isinstance(tp, types.UnionType):
            tp = next(a for a in get_args(tp) if a is not type(None))
        env_name = f"{ENV_PREFIX}{name.upper()}__{fname.upper()}"
        if env_name in env:
            value = _coerce(env_name, env[env_name], tp, from_env=True)
            key = env_name
        elif fname in values:
            value = _coerce(f"[{name}] {fname}", values[fname], tp, from_env=False)
            key = f"[{name}] {fname}"
        else:
            continue
        check = fdef.metadata.get("check")
        if check is not None:
            problem = check(value)
            if problem is not None:
                raise ConfigError(f"{key} = {value!r} is invalid: expected {problem}")
        kwargs[fname] = value
    return cls(**kwargs)


def _closest_setting(env_name: str, known: frozenset[str], section: str) -> str:
    """The setting an unknown ``ARXIVBOT_`` name most likely meant, or the section's settings."""
    key = env_name.split("__", 1)[1]
    ours = sorted(k for k in known if k.startswith(f"{ENV_PREFIX}{section.upper()}__"))
    close = difflib.get_close_matches(key, [k.split("__", 1)[1] for k in ours], n=1, cutoff=0.7)
    if close:
        return f"did you mean {ENV_PREFIX}{section.upper()}__{close[0]}?"
    elsewhere = sorted(k for k in known if k.endswith(f"__{key}"))
    if elsewhere:
        return f"did you mean {elsewhere[0]}?"
    return f"the [{section}] settings are {', '.join(ours)}"


def setting_env_names() -> frozenset[str]:
    """The environment variable of every setting, ``ARXIVBOT_<SECTION>__<KEY>``."""
    return frozenset(
        f"{ENV_PREFIX}{section.name.upper()}__{key.name.upper()}"
        for section in dataclasses.fields(Settings)
        for key in dataclasses.fields(get_type_hints(Settings)[section.name])
    )


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read ``path`` (default ./config.toml, optional) and apply environment overrides."""
    env = os.environ if env is None else env
    if path is None:
        path = Path(env.get("ARXIVBOT_CONFIG", str(DEFAULT_CONFIG_PATH)))
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{path} is not valid TOML: {err}") from None
    elif "ARXIVBOT_CONFIG" in env:
        raise ConfigError(
            f"ARXIVBOT_CONFIG = {str(path)!r} is invalid: expected the path of an existing file"
        )
    hints = get_type_hints(Settings)
    sections = {f.name for f in dataclasses.fields(Settings)}
    unknown = sorted(set(data) - sections)
    if unknown:
        raise ConfigError(f"[{unknown[0]}] is not a known section; known: {', '.join(sorted(sections))}")
    for env_name in sorted(env):
        if env_name.startswith(ENV_PREFIX) and "__" in env_name:
            section = env_name[len(ENV_PREFIX) :].split("__", 1)[0].lower()
            if section not in sections:
                raise ConfigError(f"{env_name} names no known section; known: {', '.join(sorted(sections))}")
            known = setting_env_names()
            if env_name not in known:
                hint = _closest_setting(env_name, known, section)
                raise ConfigError(f"{env_name} is not a known setting; {hint}")
    kwargs: dict[str, Any] = {}
    for name in sections:
        values = data.get(name, {})
        if not isinstance(values, dict):
            raise ConfigError(f"[{name}] must be a table of settings")
        kwargs[name] = _build_section(name, hints[name], values, env)
    return Settings(**kwargs)
