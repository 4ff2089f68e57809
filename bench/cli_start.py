"""Benchmark: how fast ``arxiv-bot --help`` answers, against a CLI that imports everything before parsing.

Run as ``.venv/bin/python bench/cli_start.py [RUNS]`` (default 5 runs each). Each run is a fresh process of this
interpreter: ``arxiv-bot --help`` as installed (``python -m adapters.cli --help``), and the baseline, the same
``--help`` after importing what the CLI imported before parsing until issue 12 (the composition root and the
runtime: SQLAlchemy, alembic, aiohttp, the stores). Both are measured here, in this run, on this machine. The last
line printed is ``help_median_s=<x> baseline_median_s=<y> ratio=<x/y> under_half_a_second=<true|false>``; the exit
code is 1 when the median is not under 0.5 s.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 0.5
HELP = [sys.executable, "-m", "adapters.cli", "--help"]
BASELINE = [
    sys.executable,
    "-c",
    "import adapters.composition, adapters.runtime, adapters.console.render, bot.exports.markdown; "
    "from adapters.cli import main; main(['--help'])",
]


def timed(command: list[str]) -> float:
    """Seconds from start to exit of one process (its output discarded; it must succeed)."""
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def main(argv: list[str]) -> int:
    """Measure both commands ``RUNS`` times, interleaved, and print the medians and their ratio."""
    runs = int(argv[0]) if argv else 5
    timed(HELP)  # warm the file cache and the bytecode of both before measuring
    timed(BASELINE)
    help_s, baseline_s = [], []
    for _ in range(runs):
        help_s.append(timed(HELP))
        baseline_s.append(timed(BASELINE))
    help_median, baseline_median = statistics.median(help_s), statistics.median(baseline_s)
    each = ", ".join(f"{t:.2f}" for t in help_s)
    print(f"arxiv-bot --help:         median {help_median:.3f} s over {runs} runs ({each})")
    each = ", ".join(f"{t:.2f}" for t in baseline_s)
    print(f"import-everything --help: median {baseline_median:.3f} s over {runs} runs ({each})")
    ok = help_median < TARGET_S
    print(
        f"help_median_s={help_median:.3f} baseline_median_s={baseline_median:.3f} "
        f"ratio={help_median / baseline_median:.2f} under_half_a_second={str(ok).lower()}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
