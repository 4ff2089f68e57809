"""Process-wide counters and histograms, rendered in Prometheus text format (no dependency needed)."""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value)) + ".0"


class Counter:
    """A monotonically increasing count, per label values."""

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str]) -> None:
        self.name, self.help, self.labelnames = name, help_text, tuple(labelnames)
        self._values: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        """Add ``amount`` (>= 0) to the series with these labels."""
        key = tuple(str(labels[n]) for n in self.labelnames)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        """The current value of one series (0 if never incremented)."""
        return self._values.get(tuple(str(labels[n]) for n in self.labelnames), 0.0)

    def render(self) -> list[str]:
        """Exposition lines."""
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        for key, value in sorted(self._values.items()):
            lines.append(f"{self.name}{_labels(self.labelnames, key)} {_number(value)}")
        return lines


class Histogram:
    """Observations in cumulative buckets, per label values."""

    def __init__(
        self, name: str, help_text: str, labelnames: Sequence[str], buckets: Sequence[float] = DEFAULT_BUCKETS
    ) -> None:
        self.name, self.help, self.labelnames = name, help_text, tuple(labelnames)
        self.buckets = (*tuple(sorted(buckets)), math.inf)
        self._series: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}
        self._lock = threading.Lock()

    def observe(self, value: float, **labels: str) -> None:
        """Record one observation."""
        key = tuple(str(labels[n]) for n in self.labelnames)
        with self._lock:
            counts, total = self._series.setdefault(key, ([0] * len(self.buckets), [0.0]))
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    counts[i] += 1
            total[0] += value

    def count(self, **labels: str) -> int:
        """How many observations one series has."""
        series = self._series.get(tuple(str(labels[n]) for n in self.labelnames))
        return 0 if series is None else series[0][-1]

    def render(self) -> list[str]:
        """Exposition lines."""
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        for key, (counts, total) in sorted(self._series.items()):
            for bound, count in zip(self.buckets, counts, strict=True):
                le = f'le="{_number(bound)}"'
                lines.append(f"{self.name}_bucket{_labels(self.labelnames, key, le)} {count}")
            lines.append(f"{self.name}_sum{_labels(self.labelnames, key)} {_number(total[0])}")
            lines.append(f"{self.name}_count{_labels(self.labelnames, key)} {counts[-1]}")
        return lines


class MetricsRegistry:
    """Holds every metric; ``render()`` is the body of ``/metrics``."""

    def __init__(self) -> None:
        self._metrics: list[Counter | Histogram] = []

    def counter(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> Counter:
        """Create and register a counter."""
        metric = Counter(name, help_text, labelnames)
        self._metrics.append(metric)
        return metric

    def histogram(
        self, name: str, help_text: str, labelnames: Sequence[str] = (), buckets: Sequence[float] = DEFAULT_BUCKETS
    ) -> Histogram:
        """Create and register a histogram."""
        metric = Histogram(name, help_text, labelnames, buckets)
        self._metrics.append(metric)
        return metric

    def render(self) -> str:
        """Everything in Prometheus text format 0.0.4."""
        lines: list[str] = []
        for metric in self._metrics:
            lines.extend(metric.render())
        return "\n".join(lines) + "\n"


REGISTRY = MetricsRegistry()
PAPERS_FETCHED = REGISTRY.counter("arxivbot_papers_fetched_total", "Papers read from arXiv listings.")
ARXIV_REQUESTS = REGISTRY.counter(
    "arxivbot_arxiv_requests_total", "Requests to arXiv by kind (listing, lookup) and outcome.", ("kind", "outcome")
)
POSTS = REGISTRY.counter(
    "arxivbot_posts_total",
    "Messages posted by platform, kind (card, thread) and outcome (sent, failed).",
    ("platform", "kind", "outcome"),
)
LLM_CALLS = REGISTRY.counter(
    "arxivbot_llm_calls_total", "Language model calls by model and outcome.", ("model", "outcome")
)
LLM_TOKENS = REGISTRY.counter(
    "arxivbot_llm_tokens_total", "Language model tokens by model and direction.", ("model", "direction")
)
LLM_COST = REGISTRY.counter("arxivbot_llm_cost_usd_total", "Language model spend in US dollars.", ("model",))
SUMMARY_CACHE = REGISTRY.counter("arxivbot_summary_cache_total", "Summary lookups by result (hit, miss).", ("result",))
COMMAND_SECONDS = REGISTRY.histogram(
    "arxivbot_command_duration_seconds", "Time to answer an /arxiv command, by subcommand.", ("command",)
)
