"""Summaries stored once (paid for once), and the per-day LLM usage behind the budget and ``/arxiv stats``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from datetime import UTC, date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from bot.models import Paper, StoredSummary, SummaryKey, SummarySection, ThreadSummary, UsageReport, UsageTotals
from bot.store import schema as db
from bot.store.database import Database, insert_ignoring_conflicts


def decode_sections(raw: Any) -> tuple[SummarySection, ...]:
    """A stored ``sections`` column (a JSON list of [title, body] pairs) as sections."""
    return tuple(SummarySection(title=str(title), body=str(body)) for title, body in raw)


class SummaryStore:
    """Summaries by ``SummaryKey``; the first one stored for a key is kept."""

    def __init__(self, *, database: Database) -> None:
        self._db = database

    async def get(self, key: SummaryKey) -> StoredSummary | None:
        """The stored summary for ``key``, or None."""
        s = db.summaries.c
        query = sa.select(db.summaries).where(
            s.arxiv_id == key.arxiv_id,
            s.version == key.version,
            s.model == key.model,
            s.language == key.language,
            s.prompt_version == key.prompt_version,
        )
        async with self._db.transaction() as conn:
            row = (await conn.execute(query)).mappings().first()
        if row is None:
            return None
        return StoredSummary(
            tldr=row["tldr"],
            sections=decode_sections(row["sections"]),
            answered_by=row["answered_by"],
            source=row["source"],
            input_tokens=row["input_tokens"],
            output_tokens=row["output_tokens"],
            cost_usd=row["cost_usd"],
        )

    async def newest_for(self, papers: Iterable[Paper], *, language: str) -> dict[str, ThreadSummary]:
        """The newest stored model summary in ``language`` of each paper that has one, by versioned id."""
        wanted = {(p.arxiv_id, p.version): p for p in papers}
        if not wanted:
            return {}
        s = db.summaries.c
        query = (
            sa.select(s.arxiv_id, s.version, s.tldr, s.sections)
            .where(s.arxiv_id.in_(sorted({k[0] for k in wanted})), s.language == language)
            .order_by(s.created_at, s.id)
        )
        async with self._db.transaction() as conn:
            rows = (await conn.execute(query)).all()
        found: dict[str, ThreadSummary] = {}
        for arxiv_id, version, tldr, sections in rows:
            paper = wanted.get((arxiv_id, version))
            if paper is not None:
                found[paper.versioned_id] = ThreadSummary(
                    paper=paper, heading="Summary", sections=decode_sections(sections), tldr=tldr or None
                )
        return found

    async def put(self, key: SummaryKey, summary: StoredSummary) -> None:
        """Store a summary; one already stored under ``key`` is kept as it is."""
        async with self._db.transaction() as conn:
            await conn.execute(
                insert_ignoring_conflicts(self._db.engine, db.summaries).values(
                    arxiv_id=key.arxiv_id,
                    version=key.version,
                    model=key.model,
                    language=key.language,
                    prompt_version=key.prompt_version,
                    answered_by=summary.answered_by,
                    source=summary.source,
                    tldr=summary.tldr,
                    sections=[[s.title, s.body] for s in summary.sections],
                    input_tokens=summary.input_tokens,
                    output_tokens=summary.output_tokens,
                    cost_usd=summary.cost_usd,
                    created_at=self._db.clock.now(),
                )
            )


_COUNTERS = tuple(f.name for f in fields(UsageTotals))


class UsageStore:
    """LLM calls, tokens, cost and summary cache hits per UTC day and model; the daily budget."""

    def __init__(self, *, database: Database, model: str, daily_budget_usd: float) -> None:
        self._db = database
        self.model = model
        self.daily_budget_usd = daily_budget_usd

    def today(self) -> date:
        """The current UTC day."""
        return self._db.clock.now().astimezone(UTC).date()

    async def record_call(
        self, *, model: str, input_tokens: int, output_tokens: int, cost_usd: float, cache_miss: bool = False
    ) -> None:
        """Count one answered model call (and, in the same write, the cache miss that led to it)."""
        await self._add(
            model,
            calls=1,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=cost_usd,
            cache_misses=int(cache_miss),
        )

    async def record_failure(self, *, model: str, cache_miss: bool = False) -> None:
        """Count one model call that failed (it is a call too), and the cache miss that led to it."""
        await self._add(model, calls=1, failures=1, cache_misses=int(cache_miss))

    async def record_lookup(self, *, hit: bool) -> None:
        """Count one summary lookup, served from the store (hit) or not (miss)."""
        await self._add(self.model, **({"cache_hits": 1} if hit else {"cache_misses": 1}))

    async def spent_today(self) -> float:
        """US dollars spent on model calls today."""
        return (await self.totals(self.today(), self.today())).cost_usd

    async def within_budget(self) -> bool:
        """Whether today's spend is still below ``daily_budget_usd``."""
        return await self.spent_today() < self.daily_budget_usd

    async def totals(self, first: date, last: date) -> UsageTotals:
        """Usage summed over the days ``first`` to ``last`` (inclusive), every model together."""
        u = db.llm_usage.c
        query = sa.select(*(sa.func.coalesce(sa.func.sum(u[name]), 0) for name in _COUNTERS)).where(
            u.day >= first, u.day <= last
        )
        async with self._db.transaction() as conn:
            row = (await conn.execute(query)).one()
        values: dict[str, Any] = {
            name: (float(v) if name == "cost_usd" else int(v)) for name, v in zip(_COUNTERS, row, strict=True)
        }
        return UsageTotals(**values)

    async def report(self) -> UsageReport:
        """Today's and this month's usage."""
        day = self.today()
        return UsageReport(
            day=day,
            today=await self.totals(day, day),
            month=await self.totals(day.replace(day=1), day),
            model=self.model,
            daily_budget_usd=self.daily_budget_usd,
        )

    async def _add(self, model: str, **amounts: float) -> None:
        table = db.llm_usage
        keys = {"day": self.today(), "model": model}
        dialect = postgresql if self._db.engine.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(table).values(**keys, **amounts)
        upsert = insert.on_conflict_do_update(
            index_elements=list(keys), set_={name: table.c[name] + insert.excluded[name] for name in amounts}
        )
        async with self._db.transaction() as conn:
            await conn.execute(upsert)
