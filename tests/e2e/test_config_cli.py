"""Bad settings and bad arguments stop the real ``arxiv-bot`` process with exit code 2 and one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_cli_bad_config_exits_2_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "adapters.cli", "check-config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "ARXIVBOT_CHANNEL__MAX_PAPERS": "zero", "HOME": str(tmp_path)},
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "arxiv-bot: config error: ARXIVBOT_CHANNEL__MAX_PAPERS = 'zero' is invalid: expected a whole number"
    ]
    assert "Traceback" not in result.stderr + result.stdout


def test_cli_bad_arguments_exit_2_with_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "adapters.cli", "preview"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "the following arguments are required: CAT" in result.stderr
