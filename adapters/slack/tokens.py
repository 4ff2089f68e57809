"""Slack's secrets from the environment, checked for presence and shape before Slack is called (no Slack library).

``start_slack`` and ``arxiv-bot check-config`` both use ``slack_secrets``, so a token ``check-config`` accepts is one
``run`` accepts. Values are never put in a message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from bot.config import SlackSettings
from bot.errors import ConfigError

BOT_TOKEN_FORM = "the Bot User OAuth Token (xoxb-...) of your Slack app"
APP_TOKEN_FORM = "an app-level token (xapp-...) with the connections:write scope, from Basic Information"
CLIENT_ID_FORM = "the Client ID from your Slack app's Basic Information page (digits.digits, e.g. 1234567890.987654321)"
_CLIENT_ID_RE = re.compile(r"^\d+\.\d+$")


@dataclass(frozen=True, slots=True)
class SlackSecrets:
    """What one Slack connection needs: the bot token (one workspace) or the OAuth client id and secret (many), and
    the app token (Socket Mode) or the signing secret (HTTP mode)."""

    bot_token: str = ""
    app_token: str = ""
    signing_secret: str = ""
    client_id: str = ""
    client_secret: str = ""

    @property
    def oauth(self) -> bool:
        """Whether workspaces install the app through OAuth (else: the one workspace of ``bot_token``)."""
        return bool(self.client_id)


def _env(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


def _shape(name: str, token: str, prefix: str, form: str) -> None:
    if token.startswith(prefix):
        return
    if any(ch.isspace() for ch in token) or not token.isascii():
        raise ConfigError(f"{name} is malformed (spaces or non-ASCII characters): expected {form}")
    kind = {"xoxb-": "a bot token", "xapp-": "an app-level token", "xoxp-": "a user token"}.get(token[:5])
    got = f"it looks like {kind} ({token[:5]}...)" if kind else f"it does not start with {prefix}"
    raise ConfigError(f"{name} has the wrong shape ({got}): expected {form}")


def slack_bot_token(env: Mapping[str, str]) -> str:
    """SLACK_BOT_TOKEN from the environment, or a one-line ConfigError when it is missing or not ``xoxb-...``."""
    token = _env(env, "SLACK_BOT_TOKEN")
    if not token:
        raise ConfigError(f"SLACK_BOT_TOKEN is not set: expected {BOT_TOKEN_FORM}")
    _shape("SLACK_BOT_TOKEN", token, "xoxb-", BOT_TOKEN_FORM)
    return token


def uses_oauth(env: Mapping[str, str]) -> bool:
    """Whether Slack workspaces install the app through OAuth (SLACK_CLIENT_ID is set)."""
    return bool(_env(env, "SLACK_CLIENT_ID"))


def _oauth_credentials(env: Mapping[str, str], *, http_server: bool) -> tuple[str, str]:
    """SLACK_CLIENT_ID and SLACK_CLIENT_SECRET, checked; a one-line ConfigError for the first one wrong."""
    client_id, client_secret = oauth_credentials(env)
    if not http_server:
        raise ConfigError(
            "installing through OAuth (SLACK_CLIENT_ID is set) needs our HTTP server for the install and redirect "
            "pages: expected [http] enabled = true"
        )
    return client_id, client_secret


def oauth_credentials(env: Mapping[str, str]) -> tuple[str, str]:
    """SLACK_CLIENT_ID and SLACK_CLIENT_SECRET, checked (what posting to installed workspaces needs, without the
    install pages); a one-line ConfigError for the first one wrong."""
    if _env(env, "SLACK_BOT_TOKEN"):
        raise ConfigError(
            "SLACK_BOT_TOKEN and SLACK_CLIENT_ID are both set: expected one of them, SLACK_BOT_TOKEN for one "
            "workspace or SLACK_CLIENT_ID with SLACK_CLIENT_SECRET for workspaces that install the app through OAuth"
        )
    client_id = _env(env, "SLACK_CLIENT_ID")
    if not _CLIENT_ID_RE.match(client_id):
        raise ConfigError(f"SLACK_CLIENT_ID has the wrong shape: expected {CLIENT_ID_FORM}")
    client_secret = _env(env, "SLACK_CLIENT_SECRET")
    if not client_secret:
        raise ConfigError(
            "SLACK_CLIENT_SECRET is not set: installing through OAuth (SLACK_CLIENT_ID is set) needs the Client "
            "Secret from your Slack app's Basic Information page"
        )
    return client_id, client_secret


def slack_secrets(settings: SlackSettings, env: Mapping[str, str], *, http_server: bool) -> SlackSecrets:
    """Every secret the configured mode needs, checked; a one-line ConfigError for the first one wrong.

    ``http_server``: whether our HTTP server runs (HTTP mode receives Slack's requests on it, OAuth its installs).
    """
    client_id = client_secret = bot_token = ""
    if uses_oauth(env):
        client_id, client_secret = _oauth_credentials(env, http_server=http_server)
    else:
        bot_token = slack_bot_token(env)
    if settings.mode == "socket":
        app_token = _env(env, "SLACK_APP_TOKEN")
        if not app_token:
            raise ConfigError(
                'SLACK_APP_TOKEN is not set: Socket Mode ([slack] mode = "socket") needs an app-level token '
                '(xapp-...); or set [slack] mode = "http" with SLACK_SIGNING_SECRET'
            )
        _shape("SLACK_APP_TOKEN", app_token, "xapp-", APP_TOKEN_FORM)
        return SlackSecrets(
            bot_token=bot_token, app_token=app_token, client_id=client_id, client_secret=client_secret
        )
    signing_secret = _env(env, "SLACK_SIGNING_SECRET")
    if not signing_secret:
        raise ConfigError(
            'SLACK_SIGNING_SECRET is not set: [slack] mode = "http" needs the Signing Secret from your Slack '
            "app's Basic Information page"
        )
    if not http_server:
        raise ConfigError('[slack] mode = "http" needs our HTTP server: expected [http] enabled = true')
    return SlackSecrets(
        bot_token=bot_token, signing_secret=signing_secret, client_id=client_id, client_secret=client_secret
    )
