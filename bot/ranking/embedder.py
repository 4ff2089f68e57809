"""An ``Embedder`` over ``litellm.aembedding``: each paper version embedded once, on a quota, never failing a digest.

* Vectors are kept in an ``EmbeddingCache`` per paper version and model: a paper is embedded (and paid for) once.
* At most ``max_per_run`` new vectors per ``embed`` call (the digest makes one call per run), requested in batches,
  each within the daily LLM budget shared with summaries; papers past the quota are left out (TF-IDF ranks them).
* Connection errors, 429 and 5xx are retried with a backoff; after that, on a timeout (the digest waits for this:
  a hanging model costs it one ``timeout_s``) or on any other error, the run makes no further call and one WARNING
  says why (secrets masked). Whatever was embedded before is kept.

litellm is imported on the first call only, as the summarizer does (``bot.summarizers.llm.load_litellm``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import numpy as np

from bot.delivery.cards import shorten
from bot.errors import EmbeddingError, StoreError
from bot.logs import mask_secrets, secret_values
from bot.metrics import LLM_CALLS, LLM_COST, LLM_TOKENS
from bot.models import Paper
from bot.ports import EmbeddingCache, LlmUsage
from bot.ranking.features import paper_text
from bot.summarizers.llm import RETRYABLE_STATUS, load_litellm

log = logging.getLogger(__name__)

BATCH_SIZE = 96
"""Texts per request: providers take up to a few hundred inputs a request, and a failure loses one batch only."""
MAX_TEXT_CHARS = 6000
"""A paper's title and abstract are cut here: about 1,500 tokens, well inside every embedding model's window."""
MAX_ERROR_CHARS = 300


class _CallFailed(EmbeddingError):
    """One embedding request failed; ``retryable`` for connection errors, 429 and 5xx."""

    def __init__(self, message: str, *, retryable: bool, outcome: str) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.outcome = outcome


def describe(err: BaseException) -> str:
    """An error on one line, shortened, with every secret of the environment and credential-shaped text masked."""
    text = " ".join(str(err).split()) or type(err).__name__
    text = f"{type(err).__name__}: {text}" if type(err).__name__ not in text else text
    return shorten(mask_secrets(text, secret_values()), MAX_ERROR_CHARS)


def unit_rows(rows: Sequence[Sequence[float]]) -> np.ndarray:
    """The vectors of an answer as unit-length float32 rows; ``EmbeddingError`` when they are ragged, empty, not
    finite or zero."""
    try:
        matrix = np.asarray(rows, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise EmbeddingError(f"the model answered vectors that are not lists of numbers ({err})") from err
    if matrix.ndim != 2 or matrix.shape[1] == 0:
        raise EmbeddingError("the model answered vectors of different or no length")
    norms = np.linalg.norm(matrix, axis=1)
    if not np.all(np.isfinite(matrix)) or np.any(norms == 0):
        raise EmbeddingError("the model answered a vector that is zero or not finite")
    return np.asarray(matrix / norms[:, None], dtype=np.float32)


def answer_vectors(response: Any, count: int) -> np.ndarray:
    """The ``count`` vectors of an embedding response, in the order of the inputs (by each item's ``index``)."""
    items = list(getattr(response, "data", None) or [])
    if len(items) != count:
        raise EmbeddingError(f"the model answered {len(items)} vectors for {count} texts")

    def field(item: Any, name: str) -> Any:
        return item.get(name) if isinstance(item, dict) else getattr(item, name, None)

    def position(pair: tuple[int, Any]) -> tuple[int, int]:
        index = field(pair[1], "index")
        return (index if isinstance(index, int) else pair[0], pair[0])

    ordered = sorted(enumerate(items), key=position)
    return unit_rows([field(item, "embedding") or [] for _, item in ordered])


class LitellmEmbedder:
    """``Embedder`` through litellm, each paper version's vector stored once per model."""

    def __init__(
        self,
        *,
        model: str,
        cache: EmbeddingCache,
        usage: LlmUsage,
        max_per_run: int,
        api_base: str = "",
        timeout_s: float = 60.0,
        batch_size: int = BATCH_SIZE,
        max_retries: int = 2,
        backoff_s: float = 0.5,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not model:
            raise ValueError("LitellmEmbedder needs [ranking] embedding_model")
        self._model = model
        self._cache = cache
        self._usage = usage
        self._max_per_run = max_per_run
        self._api_base = api_base
        self._timeout_s = timeout_s
        self._batch_size = max(1, batch_size)
        self._max_retries = max_retries
        self._backoff_s = backoff_s
        self._sleep = sleep

    @property
    def model(self) -> str:
        """The embedding model (vectors are stored under it)."""
        return self._model

    async def embed(self, papers: Sequence[Paper]) -> dict[str, np.ndarray]:
        """The stored vector of each paper, else a new one while the run's quota and the budget last, by versioned id.

        Papers are embedded in the order given (the caller puts first those that matter most).
        """
        unique = list({p.versioned_id: p for p in papers}.values())
        if not unique:
            return {}
        try:
            stored = await self._cache.get_many(self._model, [(p.arxiv_id, p.version) for p in unique])
        except StoreError as err:
            log.warning("stored embeddings could not be read (embedding anew within the quota): %s", err)
            stored = {}
        found = {p.versioned_id: stored[(p.arxiv_id, p.version)] for p in unique if (p.arxiv_id, p.version) in stored}
        missing = [p for p in unique if p.versioned_id not in found]
        if len(missing) > self._max_per_run:
            log.info(
                "embedding quota of this run reached: %d of %d papers rank by TF-IDF alone",
                len(missing) - self._max_per_run,
                len(missing),
            )
            missing = missing[: self._max_per_run]
        unstored = 0
        for start in range(0, len(missing), self._batch_size):
            batch = missing[start : start + self._batch_size]
            left = len(missing) - start
            if not await self._within_budget(left):
                break
            try:
                vectors = await self._embed_batch([paper_text(p)[:MAX_TEXT_CHARS] for p in batch])
            except EmbeddingError as err:
                log.warning("embeddings unavailable for this run (%d papers rank by TF-IDF alone): %s", left, err)
                break
            made = {(p.arxiv_id, p.version): vectors[i] for i, p in enumerate(batch)}
            found.update({p.versioned_id: vectors[i] for i, p in enumerate(batch)})
            try:
                await self._cache.put_many(self._model, made)
            except StoreError as err:
                if not unstored:  # once a run: the database is down for every batch alike
                    log.warning("new embeddings could not be stored (used anyway, embedded again later): %s", err)
                unstored += len(made)
        if unstored:
            log.info("%d new embeddings of this run were not stored", unstored)
        return found

    async def _within_budget(self, left: int) -> bool:
        """Whether today's spend leaves room for more; says why not (once: the run stops there)."""
        try:
            within = await self._usage.within_budget()
        except StoreError as err:  # the budget cannot be read: no new spend
            log.warning("LLM budget could not be read: %d papers are not embedded this run: %s", left, err)
            return False
        if not within:
            log.warning("daily LLM budget reached: %d papers are not embedded and rank by TF-IDF alone", left)
        return within

    async def _count(self, recording: Awaitable[None]) -> None:
        """Record usage; a database fault loses a count (logged), never a vector."""
        try:
            await recording
        except StoreError as err:
            log.warning("embedding usage not recorded: %s", err)

    async def _embed_batch(self, texts: list[str]) -> np.ndarray:
        """One batch's vectors, retrying connection errors, 429 and 5xx; ``EmbeddingError`` after that."""
        attempt = 0
        while True:
            try:
                vectors, tokens, cost = await self._call(texts)
            except _CallFailed as err:
                LLM_CALLS.labels(model=self._model, outcome=err.outcome).inc()
                await self._count(self._usage.record_failure(model=self._model))
                if err.retryable and attempt < self._max_retries:
                    await self._sleep(self._backoff_s * 2**attempt)
                    attempt += 1
                    continue
                raise
            LLM_CALLS.labels(model=self._model, outcome="ok").inc()
            LLM_TOKENS.labels(model=self._model, direction="input").inc(tokens)
            LLM_COST.labels(model=self._model).inc(cost)
            await self._count(
                self._usage.record_call(model=self._model, input_tokens=tokens, output_tokens=0, cost_usd=cost)
            )
            return vectors

    async def _call(self, texts: list[str]) -> tuple[np.ndarray, int, float]:
        """One request: the vectors, the input tokens and the cost; every litellm error becomes ``_CallFailed``."""
        kwargs: dict[str, Any] = {
            "model": self._model,
            "input": texts,
            "timeout": self._timeout_s,
            "max_retries": 0,
            "drop_params": True,
        }
        if self._api_base:
            kwargs["api_base"] = self._api_base
        try:
            litellm = await load_litellm()
            # litellm's OpenAI embedding path reads ``max_retries or DEFAULT_MAX_RETRIES``: our 0 would become 2 and
            # the SDK would retry under our own retries. Its only other reader is Azure's embedding path.
            litellm.DEFAULT_MAX_RETRIES = 0
            async with asyncio.timeout(self._timeout_s + 1):
                response = await litellm.aembedding(**kwargs)
            vectors = answer_vectors(response, len(texts))
        except TimeoutError as err:
            raise _CallFailed(f"no answer within {self._timeout_s:g} s", retryable=False, outcome="timeout") from err
        except EmbeddingError as err:
            raise _CallFailed(str(err), retryable=False, outcome="invalid") from err
        except Exception as err:  # litellm raises many exception types; all of them stop here
            status = getattr(err, "status_code", None)
            timed_out = "timeout" in type(err).__name__.lower()
            retryable = not timed_out and (status is None or status in RETRYABLE_STATUS)
            raise _CallFailed(describe(err), retryable=retryable, outcome="timeout" if timed_out else "error") from err
        usage = getattr(response, "usage", None)
        tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        try:
            cost = float(litellm.completion_cost(completion_response=response) or 0.0)
        except Exception:  # models missing from litellm's cost map have no known price
            cost = 0.0
        return vectors, tokens, cost
