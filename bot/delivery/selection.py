"""Today's papers for many channels: each arXiv category fetched and parsed once per announcement, shared by every
run, then one scoring pass that selects each channel's picks from the union.

``SharedListings`` keeps the listing of each subscription code (a category such as ``cs.LG`` or an archive such as
``cs``) for the current announcement. Each code nobody has fetched yet is asked for once, on its own, so that one
code arXiv cannot serve costs only the channels that follow it; a category of an archive that is fetched (or held)
is cut from the archive's listing instead (``cs.LG`` from ``cs``: the papers listed in it). ``max_codes_per_request``
above 1 combines codes in one request (``/rss/cs.DC+cs.LG``, which arXiv answers with the union of those listings),
split back into one listing per code the same way. A code being fetched is not asked for again: a second run that
needs it waits for the same answer (single flight). Errors are not kept: the next run asks again.

arXiv rebuilds its RSS listings at midnight in New York, so a listing is kept until then when it is that day's
announcement; one that is not (arXiv had not rebuilt yet, or it names no date) is kept only ``stale_max_age_s``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.arxiv.taxonomy import archive_of, is_archive, visible_categories
from bot.errors import SourceError
from bot.models import ChannelRecord, ChannelRef, Listing, Paper, ScoredPaper
from bot.ports import Clock, Papers, PaperSource
from bot.ranking.keywords import ChannelProfile, profile_of, score_papers

log = logging.getLogger(__name__)

ANNOUNCEMENT_ZONE = ZoneInfo("America/New_York")
"""arXiv's RSS listings change at midnight here."""
MAX_CODES_PER_REQUEST = 1
"""Codes combined in one listing request: one, so that a failing code fails only its own channels."""


@dataclass(slots=True)
class Selection:
    """Each channel's picks from today's listings, plus what went wrong fetching."""

    picks: dict[ChannelRef, list[ScoredPaper]]
    listed: dict[ChannelRef, int]
    errors: dict[ChannelRef, str]
    papers: list[Paper] = field(default_factory=list)
    """Every paper of the listings these channels follow, each version once."""


@dataclass(slots=True)
class _Entry:
    listing: Listing
    fetched_at: datetime
    ids: frozenset[str]
    stored: bool = False


def listed_in(paper: Paper, code: str) -> bool:
    """Whether ``paper`` is in the listing of ``code``: one of its categories, or a category of that archive."""
    if code in paper.categories:
        return True
    return is_archive(code) and any(archive_of(c) == code for c in paper.categories)


def request_codes(codes: Collection[str]) -> list[str]:
    """The codes to ask arXiv for, sorted: a category whose archive is asked for too comes with the archive."""
    archives = {c for c in codes if is_archive(c)}
    return sorted(c for c in codes if c in archives or archive_of(c) not in archives)


class SharedListings:
    """Each code's listing of the current announcement, fetched once and shared; concurrent asks share one fetch."""

    def __init__(
        self,
        *,
        source: PaperSource,
        clock: Clock,
        stale_max_age_s: float = 600.0,
        max_codes_per_request: int = MAX_CODES_PER_REQUEST,
    ) -> None:
        self._source = source
        self._clock = clock
        self._stale_max_age = timedelta(seconds=stale_max_age_s)
        self._max_codes = max_codes_per_request
        self._entries: dict[str, _Entry] = {}
        self._in_flight: dict[str, asyncio.Future[_Entry]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def get(self, codes: Collection[str]) -> dict[str, _Entry | SourceError]:
        """The listing entry of each code, or the error that fetching it ended with."""
        now = self._clock.now()
        wanted = sorted(set(codes))
        missing = []
        for code in wanted:
            if code in self._in_flight or self._fresh(code, now):
                continue
            archive = archive_of(code)
            if archive != code and self._fresh(archive, now) and archive not in self._in_flight:
                self._entries[code] = _part(self._entries[archive], code)  # a category of an archive we hold
            else:
                missing.append(code)
        if missing:
            self._start(missing)
        waits = {code: self._in_flight[code] for code in wanted if code in self._in_flight}
        out: dict[str, _Entry | SourceError] = {}
        for code in wanted:
            pending = waits.get(code)
            if pending is None:
                out[code] = self._entries[code]
                continue
            try:
                out[code] = await asyncio.shield(pending)
            except SourceError as err:
                out[code] = err
        return out

    def _fresh(self, code: str, now: datetime) -> bool:
        entry = self._entries.get(code)
        if entry is None:
            return False
        fetched_day = _announcement_day(entry.fetched_at)
        if fetched_day != _announcement_day(now):
            return False
        return entry.listing.announced == fetched_day or now - entry.fetched_at < self._stale_max_age

    def _start(self, codes: Sequence[str]) -> None:
        loop = asyncio.get_running_loop()
        asked = request_codes(codes)
        for start in range(0, len(asked), self._max_codes):
            chunk = asked[start : start + self._max_codes]
            # The codes this request answers: those asked, and the categories that come with an asked archive.
            covered = [c for c in codes if c in chunk or archive_of(c) in chunk]
            futures = {code: loop.create_future() for code in covered}
            self._in_flight.update(futures)
            task = loop.create_task(self._fetch(chunk, futures))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _fetch(self, chunk: list[str], futures: dict[str, asyncio.Future[_Entry]]) -> None:
        try:
            listing = await self._source.fetch_listing(chunk)
        except BaseException as err:
            failure = err if isinstance(err, SourceError) else SourceError(f"arXiv listing failed: {err}")
            for code, future in futures.items():
                self._in_flight.pop(code, None)
                if not future.done():
                    future.set_exception(failure)
                    future.exception()  # retrieved here: a code nobody waits for must not warn
            if not isinstance(err, Exception):
                raise
            if not isinstance(err, SourceError):
                log.exception("fetching the arXiv listing of %s failed", "+".join(chunk))
            return
        whole = _Entry(listing, self._clock.now(), frozenset(p.versioned_id for p in listing.papers))
        for code, future in futures.items():
            # arXiv's answer for exactly this code is its listing as it is; other codes are cut from the answer.
            entry = self._entries[code] = whole if chunk == [code] else _part(whole, code)
            self._in_flight.pop(code, None)
            if not future.done():
                future.set_result(entry)


def _part(whole: _Entry, code: str) -> _Entry:
    """The entry of one code, cut from a listing that holds all of its papers (and maybe more)."""
    papers = tuple(p for p in whole.listing.papers if listed_in(p, code))
    listing = Listing(
        categories=frozenset({code}),
        announced=whole.listing.announced,
        papers=papers,
        skipped_entries=whole.listing.skipped_entries,
    )
    return _Entry(listing, whole.fetched_at, frozenset(p.versioned_id for p in papers))


def _announcement_day(when: datetime) -> date:
    return when.astimezone(ANNOUNCEMENT_ZONE).date()


class Selector:
    """Selects many channels' papers from the shared listings in one scoring pass."""

    def __init__(self, *, listings: SharedListings, papers: Papers, author_bonus: float) -> None:
        self._listings = listings
        self._papers = papers
        self._author_bonus = author_bonus

    async def select(self, records: Sequence[ChannelRecord]) -> Selection:
        """Fetch what is not fetched yet, store the new papers, score every channel together over the union."""
        codes = {c for r in records for c in r.categories}
        got = await self._listings.get(codes)
        union: dict[str, Paper] = {}
        unstored: list[_Entry] = []
        for _code, entry in sorted(got.items()):
            if isinstance(entry, SourceError):
                continue
            for paper in entry.listing.papers:
                union.setdefault(paper.versioned_id, paper)
            if not entry.stored:
                unstored.append(entry)
        if unstored:
            fresh = {p.versioned_id: p for entry in unstored for p in entry.listing.papers}
            await self._papers.add_many(fresh.values())
            for entry in unstored:
                entry.stored = True
        listed: dict[ChannelRef, int] = {}
        errors: dict[ChannelRef, str] = {}
        profiles: list[ChannelProfile] = []
        for record in records:
            if not record.categories:
                continue
            failed = [got[c] for c in sorted(record.categories) if isinstance(got[c], SourceError)]
            if failed:
                errors[record.ref] = str(failed[0])
                continue
            entries = [e for e in (got[c] for c in record.categories) if not isinstance(e, SourceError)]
            ids: set[str] = set()
            for entry in entries:
                ids |= entry.ids
            listed[record.ref] = len(ids)
            # An archive channel (``cs``) sees each of its categories, new ones of today's listing included.
            seen = visible_categories(record.categories, (p.categories for e in entries for p in e.listing.papers))
            profiles.append(profile_of(record, author_bonus=self._author_bonus, categories=seen))
        picks = score_papers(list(union.values()), profiles) if profiles else {}
        return Selection(
            picks={p.channel: picks.get(p.channel, []) for p in profiles},
            listed=listed,
            errors=errors,
            papers=list(union.values()),
        )
