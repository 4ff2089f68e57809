"""A counting spy on the one parse entry point, so adapter tests can show that a command is parsed exactly once."""

from __future__ import annotations

import pytest

from bot.commands import prepared
from bot.commands.prepared import PreparedCommand


def count_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Wrap ``bot.commands.prepared.prepare`` (the real one still runs); the list grows by each text it parses."""
    real = prepared.prepare
    texts: list[str] = []

    def counting(text: str) -> PreparedCommand:
        texts.append(text)
        return real(text)

    monkeypatch.setattr(prepared, "prepare", counting)
    return texts
