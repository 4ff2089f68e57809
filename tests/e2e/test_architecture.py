"""Importing the core loads no platform library, and litellm only when a summary is written.

The static rules (``bot`` imports no adapter or platform library; arXiv access and the stores know nothing of
delivery, commands or ranking; Slack and Discord adapters are independent) are import-linter contracts in
pyproject.toml, checked by ``lint-imports`` in ``make test``. This test checks what they cannot: what an
import actually loads at run time, in a fresh interpreter (this one has loaded the adapters long ago).
"""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

PLATFORM = ("adapters", "slack_bolt", "slack_sdk", "discord", "aiohttp")
NOT_AT_IMPORT = (*PLATFORM, "litellm")
"""litellm costs seconds and hundreds of MB to import: the core may only import it lazily, inside a function."""

_PROBE = f"""
import importlib, pkgutil, sys, bot
names = sorted(m.name for m in pkgutil.walk_packages(bot.__path__, "bot."))
for name in names:
    importlib.import_module(name)
print(" ".join(names))
print(" ".join(sorted({{n.split(".")[0] for n in sys.modules}} & {set(NOT_AT_IMPORT)!r})))
"""


def test_importing_every_core_module_loads_no_platform_library_and_not_litellm() -> None:
    result = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    names, loaded = [*result.stdout.splitlines(), "", ""][:2]
    expected = sorted(
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for path in (ROOT / "bot").rglob("*.py")
        if path != ROOT / "bot" / "__init__.py"
    )
    assert names.split() == expected  # every module of every sub-package was imported
    assert loaded == ""
