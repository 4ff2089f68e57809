"""Process-wide counters and histograms, declared with prometheus_client on one registry that /metrics serves."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

REGISTRY = CollectorRegistry()
"""Our metrics only (not the client library's default process and platform collectors)."""
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""The Content-Type of what ``render()`` returns: the classic text format 0.0.4, which every scraper reads."""

PAPERS_FETCHED = Counter("arxivbot_papers_fetched", "Papers read from arXiv listings.", registry=REGISTRY)
ARXIV_REQUESTS = Counter(
    "arxivbot_arxiv_requests", "Requests to arXiv by kind (listing, lookup) and outcome.", ("kind", "outcome"),
    registry=REGISTRY,
)  # fmt: skip
POSTS = Counter(
    "arxivbot_posts",
    "Messages posted by platform, kind (card, thread, card_update) and outcome (sent, failed, refused; unconfirmed: "
    "the answer was lost).",
    ("platform", "kind", "outcome"),
    registry=REGISTRY,
)
LLM_CALLS = Counter(
    "arxivbot_llm_calls", "Language model calls by model and outcome.", ("model", "outcome"), registry=REGISTRY
)
LLM_TOKENS = Counter(
    "arxivbot_llm_tokens", "Language model tokens by model and direction.", ("model", "direction"), registry=REGISTRY
)
LLM_COST = Counter("arxivbot_llm_cost_usd", "Language model spend in US dollars.", ("model",), registry=REGISTRY)
SUMMARY_CACHE = Counter(
    "arxivbot_summary_cache", "Summary lookups by result (hit, miss).", ("result",), registry=REGISTRY
)
COMMAND_SECONDS = Histogram(
    "arxivbot_command_duration_seconds",
    "Time to answer an /arxiv command, by subcommand.",
    ("command",),
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


def render() -> bytes:
    """Every metric in the Prometheus text exposition format."""
    return generate_latest(REGISTRY)


def sample(name: str, **labels: str) -> float:
    """The current value of one sample (0 when it has none yet), e.g. ``sample("arxivbot_posts_total", ...)``."""
    return REGISTRY.get_sample_value(name, labels) or 0.0
