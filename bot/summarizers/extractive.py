"""Summaries that need no language model, the notes every summarizer uses, and the digest run's summary quota."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from bot.delivery.cards import abstract_thread, shorten
from bot.models import Paper, SummarySection, ThreadSummary

NOTE_UNAVAILABLE = "summary unavailable: the language model did not answer, so this is the abstract"
NOTE_BUDGET = "daily LLM budget reached: this is the abstract instead of a summary"
NOTE_RUN_LIMIT = "summary limit of this digest reached: this is the abstract instead of a summary"
NOTE_EXTRACTIVE = "extractive summary: key sentences of the abstract (no language model is configured)"

KEY_SENTENCES = 3
TLDR_CHARS = 200

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"“])")
_ABBREVIATION = re.compile(r"\b(e\.g|i\.e|et al|etc|vs|cf|Fig|Eq|Sec|resp)\.$", re.I)
_CONTRIBUTION = re.compile(
    r"\b(we|this (paper|work|study)|our)\b.{0,40}\b(propose|present|introduce|develop|design|show|demonstrate|"
    r"find|achiev|outperform|improv|reduc)",
    re.I,
)
_RESULT = re.compile(r"\d+(\.\d+)?\s?(%|x|×|times)|\b(outperform|state-of-the-art|speedup|improv|accuracy)", re.I)


def split_sentences(text: str) -> list[str]:
    """Sentences of a (whitespace-normalised) text; abbreviations such as "e.g." do not end one."""
    sentences: list[str] = []
    for part in _SENTENCE_END.split(" ".join(text.split())):
        if sentences and _ABBREVIATION.search(sentences[-1]):
            sentences[-1] += " " + part
        else:
            sentences.append(part)
    return [s for s in sentences if s]


def key_sentences(text: str, limit: int = KEY_SENTENCES) -> list[str]:
    """The ``limit`` sentences that best say what a paper contributes and finds, in their original order."""
    sentences = split_sentences(text)
    if len(sentences) <= limit:
        return sentences

    def weight(item: tuple[int, str]) -> float:
        index, sentence = item
        score = 2.0 if _CONTRIBUTION.search(sentence) else 0.0
        score += 1.5 if _RESULT.search(sentence) else 0.0
        score += 0.5 if index in (0, len(sentences) - 1) else 0.0
        return score - index * 0.01

    best = sorted(enumerate(sentences), key=weight, reverse=True)[:limit]
    return [sentence for _, sentence in sorted(best)]


def extractive_summary(paper: Paper) -> ThreadSummary:
    """Key sentences of the abstract, labelled as an extractive summary."""
    chosen = key_sentences(paper.abstract)
    if not chosen:
        return abstract_thread(paper, note=NOTE_EXTRACTIVE)
    tldr = next((s for s in chosen if _CONTRIBUTION.search(s)), chosen[0])
    return ThreadSummary(
        paper=paper,
        heading="Key sentences",
        sections=(SummarySection(title="Key sentences of the abstract", body=" ".join(chosen)),),
        note=NOTE_EXTRACTIVE,
        tldr=shorten(tldr, TLDR_CHARS),
    )


class ExtractiveSummarizer:
    """The summarizer when no model is configured: key sentences of the abstract, with no network call."""

    async def summarize(self, paper: Paper, *, language: str) -> ThreadSummary:
        """Key sentences of the paper's abstract (the abstract's own language: nothing is translated)."""
        return extractive_summary(paper)


class AbstractSummarizer:
    """Puts the abstract in the thread."""

    async def summarize(self, paper: Paper, *, language: str) -> ThreadSummary:
        """The paper's abstract as its thread reply."""
        return abstract_thread(paper)


@dataclass(slots=True)
class SummaryRun:
    """How many new (paid) summaries one digest run has started, for ``[llm] max_summaries_per_run``."""

    started: int = 0

    def take(self, limit: int) -> bool:
        """Reserve one new summary; False when the run has used its ``limit``."""
        if self.started >= limit:
            return False
        self.started += 1
        return True


CURRENT_RUN: ContextVar[SummaryRun | None] = ContextVar("summary_run", default=None)
"""The digest run in progress in this task (tasks it starts inherit it); None outside a digest."""


@contextmanager
def summary_run() -> Iterator[SummaryRun]:
    """Count the summaries started inside the block (and the tasks it creates) as one digest run."""
    run = SummaryRun()
    token = CURRENT_RUN.set(run)
    try:
        yield run
    finally:
        CURRENT_RUN.reset(token)
