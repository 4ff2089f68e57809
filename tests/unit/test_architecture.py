"""Dependencies point one way: adapters -> bot. The core imports no platform library."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.conftest import ROOT

FORBIDDEN = ("adapters", "slack_bolt", "slack_sdk", "discord", "aiohttp")
NOT_AT_IMPORT = (*FORBIDDEN, "litellm")
"""litellm costs seconds and hundreds of MB to import: the core may only import it lazily, inside a function."""


def test_bot_imports_no_adapter_or_platform_library() -> None:
    offenders = []
    for path in sorted((ROOT / "bot").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []


def test_importing_the_whole_core_loads_no_platform_library() -> None:
    code = (
        "import importlib, pkgutil, sys, bot\n"
        "for m in pkgutil.iter_modules(bot.__path__): importlib.import_module('bot.' + m.name)\n"
        f"print(sorted(n for n in sys.modules if n.split('.')[0] in {NOT_AT_IMPORT!r}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
