"""The Slack app manifest asks for exactly what the adapter uses."""

from __future__ import annotations

import re
from typing import Any

import yaml

from adapters.slack.app import COMMAND
from adapters.slack.installations import BOT_SCOPES
from bot.config import SlackSettings
from tests.conftest import ROOT

MANIFEST = ROOT / "adapters" / "slack" / "manifest.yml"


def load() -> dict[str, Any]:
    """The parsed manifest."""
    data = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_manifest_declares_the_command_minimal_scopes_events_socket_mode_and_interactivity() -> None:
    manifest = load()
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == COMMAND and command["should_escape"] is False
    scopes = sorted(manifest["oauth_config"]["scopes"]["bot"])
    assert scopes == [
        "channels:history",
        "chat:write",
        "commands",
        "files:write",
        "groups:history",
        "im:history",
        "im:write",
        "reactions:read",
        "users:read",
    ]
    assert sorted(BOT_SCOPES) == scopes  # what an OAuth install asks for
    settings = manifest["settings"]
    assert sorted(settings["event_subscriptions"]["bot_events"]) == [
        "app_uninstalled", "reaction_added", "reaction_removed", "tokens_revoked"
    ]
    assert settings["socket_mode_enabled"] is True and settings["interactivity"]["is_enabled"] is True


def test_every_web_api_method_the_adapter_calls_is_covered_by_a_scope() -> None:
    needed = {
        "chat.postMessage": "chat:write",
        "chat.postEphemeral": "chat:write",
        "chat.update": "chat:write",  # the card shows its TL;DR once the summary is ready
        "users.info": "users:read",
        "conversations.history": "channels:history",
        "conversations.replies": "channels:history",
        "conversations.open": "im:write",
        "files.upload_v2": "files:write",
        "files.uploadV2": "files:write",
        "files.completeUploadExternal": "files:write",
    }
    sources = "\n".join(p.read_text() for p in (ROOT / "adapters" / "slack").glob("*.py"))
    called = set(re.findall(r'"(chat\.\w+|users\.\w+|reactions\.\w+|conversations\.\w+|files\.\w+)"', sources))
    calls = re.findall(r"\.(users_info|chat_\w+|conversations_\w+|files_\w+)\(", sources)
    called |= {m.replace("_", ".", 1) for m in calls}
    assert set(needed) <= called <= set(needed), called
    scopes = set(load()["oauth_config"]["scopes"]["bot"])
    assert {needed[c] for c in called} <= scopes
    assert "groups:history" in scopes  # the same two methods in private channels


def test_readme_section_walks_through_the_setup() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "\n## Connect to Slack\n" in readme
    text = readme.split("\n## Connect to Slack\n", 1)[1].split("\n## ", 1)[0]
    for step in ("manifest.yml", "Install to Workspace", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "/invite @arxiv-bot",
                 "/arxiv subscribe cs.DC", SlackSettings().events_path):
        assert step in text
