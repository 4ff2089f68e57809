"""The small interfaces through which the core reaches the outside world."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Protocol, runtime_checkable

import numpy as np

from bot.models import (
    AlertState,
    ChannelRecord,
    ChannelRef,
    ChannelSignals,
    Delivery,
    DeliveryMark,
    ExportFile,
    Listing,
    MessageRef,
    Paper,
    PaperCard,
    PickExplanation,
    PostedPaper,
    PostKey,
    RankingStatus,
    Reply,
    Rule,
    RuleKind,
    SavedPaper,
    ScoredPaper,
    SignalSource,
    StoredSummary,
    SummaryKey,
    ThreadSummary,
    UsageReport,
    VersionAlert,
)


class PaperSource(Protocol):
    """Where papers come from (arXiv's RSS listing and export API)."""

    async def fetch_listing(self, categories: Collection[str]) -> Listing:
        """Return today's announcement for these categories (empty on weekends and holidays)."""
        ...

    async def lookup(self, paper_id: str) -> Paper:
        """Return one paper by id; raise ``PaperNotFound`` if there is none."""
        ...


class PaperLookup(Protocol):
    """Many papers by id at once (arXiv's export API with many ids per request), for likes and imports."""

    async def lookup_many(self, arxiv_ids: Sequence[str]) -> list[Paper]:
        """The newest version of each paper arXiv has among these unversioned ids, in the order asked; ids it does
        not know are left out. Raises ``SourceError`` when arXiv does not answer."""
        ...


class Publisher(Protocol):
    """Where posts go: one platform's channels."""

    async def post_card(self, card: PaperCard, *, channel: ChannelRef, key: PostKey | None = None) -> MessageRef:
        """Post a paper card as a top-level message and return its reference.

        With ``key`` the message carries it; when ``key.sending_since`` is set, a message of ours with that key
        created since then is looked for first and returned instead of posting a second one.
        """
        ...

    async def post_thread(
        self, summary: ThreadSummary, *, parent: MessageRef, journal: ThreadJournal | None = None
    ) -> MessageRef:
        """Post a summary in the thread of ``parent`` (one or more messages); return the first reply's reference.

        With ``journal`` every part is recorded before and after it is sent, parts already posted are skipped and
        a part that may exist is looked for first (``ThreadJournal.resume``).
        """
        ...

    async def update_card(self, card: PaperCard, *, message: MessageRef, key: PostKey | None = None) -> None:
        """Show ``card`` (now with its ``tldr``) in place of the card posted as ``message``; never posts a message.

        Repeating it changes nothing. ``PublishError`` when it did not happen (``PublishOutcomeUnknown`` when it
        may have), ``PublishRefused`` when the platform will not take it (the message is gone, no access).
        """
        ...

    async def send_reply(self, reply: Reply, *, channel: ChannelRef, user_id: str | None) -> None:
        """Send a command reply outside an interaction (ephemeral to ``user_id`` when set)."""
        ...


@runtime_checkable
class PrivateFiles(Protocol):
    """Sends a file to one person only (a Slack DM, a Discord ephemeral follow-up, a file on the console)."""

    async def send_file(self, file: ExportFile, *, channel: ChannelRef, user_id: str) -> str:
        """Send ``file`` privately to ``user_id`` (who typed a command in ``channel``); returns where it went, as
        the answer names it ("in a direct message"). Raises ``PublishError`` when the platform does not take it."""
        ...


class FileLinks(Protocol):
    """Download links for a file that could not be sent privately (one download each, short-lived)."""

    @property
    def ttl(self) -> timedelta:
        """How long a link works."""
        ...

    async def issue(self, file: ExportFile) -> str:
        """Keep ``file`` for one download; returns the link."""
        ...


@runtime_checkable
class VersionNotices(Protocol):
    """Where version alerts go: a private note to a person, a reply in a card's thread. Both carry ``key``; when
    ``key.sending_since`` is set the message may exist already and is looked for first."""

    async def send_note(self, text: str, *, channel: ChannelRef, user_id: str, key: PostKey) -> str:
        """Send plain ``text`` privately to ``user_id`` (a direct message on ``channel``'s platform); its id."""
        ...

    async def reply_in_thread(self, text: str, *, parent: MessageRef, key: PostKey) -> str:
        """Reply plain ``text`` in the thread of ``parent``; the reply's id."""
        ...


class ThreadJournal(Protocol):
    """The ledger's record of one thread reply posted part by part, so that each part is posted exactly once."""

    def resume(self) -> tuple[int, PostKey]:
        """The first part not recorded as posted, and its key (``sending_since`` set when it may exist)."""
        ...

    async def sending(self, part: int) -> PostKey:
        """Record the intent to send ``part``; returns the key it must carry."""
        ...

    async def sent(self, part: int, message_id: str, *, last: bool) -> None:
        """Record ``part`` as posted (``last``: the whole thread is)."""
        ...


class Summarizer(Protocol):
    """Turns a paper into the text that goes in its thread."""

    async def summarize(self, paper: Paper, *, language: str) -> ThreadSummary:
        """Summarise ``paper`` in ``language``; never raises for provider faults, falls back instead."""
        ...


class Embedder(Protocol):
    """Dense vectors of papers' titles and abstracts, for the learned ranker. Optional: without one, TF-IDF alone."""

    @property
    def model(self) -> str:
        """The embedding model the vectors come from (vectors of different models are never compared)."""
        ...

    async def embed(self, papers: Sequence[Paper]) -> dict[str, np.ndarray]:
        """A unit-length float32 vector for each of ``papers`` it has or can make now, by versioned id; papers it
        could not embed (over the run's quota or the budget, the model failing) are left out. Never raises for
        provider or database faults."""
        ...


class EmbeddingCache(Protocol):
    """Embeddings paid for once: one vector per paper version and model."""

    async def get_many(self, model: str, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], np.ndarray]:
        """The stored vectors of ``model`` among these (arxiv id, version) keys, by key."""
        ...

    async def put_many(self, model: str, vectors: Mapping[tuple[str, int], np.ndarray]) -> None:
        """Store vectors of ``model`` by (arxiv id, version); one already stored under a key is kept as it is."""
        ...


class Clock(Protocol):
    """The current time, so tests can move it."""

    def now(self) -> datetime:
        """Timezone-aware current time."""
        ...


# The repositories, one Protocol per role. A consumer that reaches several roles through one field (e.g.
# ``CommandPorts.channels``) is typed with a named union of role Protocols: Python has no intersection types.


class ChannelReader(Protocol):
    """Reads stored channels: by chat reference, by row id, or every channel subscribed to a category."""

    async def get(self, ref: ChannelRef) -> ChannelRecord | None:
        """The channel's record, or None if it never spoke to us."""
        ...

    async def by_id(self, channel_id: int) -> ChannelRecord | None:
        """A channel by its row id, or None."""
        ...

    async def all_active(self) -> list[ChannelRecord]:
        """Every active channel subscribed to at least one category (a personal digest not stopped by its owner), by
        row id."""
        ...


class ChannelLookup(Protocol):
    """Finds a channel from outside a chat: by platform and channel id (the CLI), or by feed token (RSS)."""

    async def find(self, platform: str, channel: str) -> ChannelRecord | None:
        """A channel by platform and channel id, whatever its workspace (the lowest row id if several)."""
        ...

    async def by_feed_token(self, token: str) -> ChannelRecord | None:
        """The channel whose RSS feed has this token, or None."""
        ...


class ChannelSettings(Protocol):
    """A channel's settings: created with the defaults on first use, then changed by commands."""

    async def get_or_create(self, ref: ChannelRef) -> ChannelRecord:
        """The channel's record, created with the defaults (a fresh feed token, created now) on first use."""
        ...

    async def update(self, channel_id: int, **values: str | int | float | bool) -> None:
        """Change settings of one channel (``post_time``, ``timezone``, ``max_papers``, ``min_score``,
        ``include_cross``, ``language``); an unknown channel id changes nothing, an unknown name is a ValueError."""
        ...

    async def set_paused(self, channel_id: int, paused: bool) -> bool:
        """Stop (``paused``) or resume a personal digest, keeping its settings; False if it already was so."""
        ...


class ChannelTopics(Protocol):
    """What a channel follows: its categories and its keyword, exclude and author rules."""

    async def add_categories(self, channel_id: int, categories: Iterable[str]) -> None:
        """Subscribe to categories (already subscribed ones are kept once)."""
        ...

    async def remove_categories(self, channel_id: int, categories: Iterable[str]) -> None:
        """Unsubscribe from categories (ones not subscribed are ignored)."""
        ...

    async def replace_rules(self, channel_id: int, kind: RuleKind, rules: Sequence[Rule]) -> None:
        """Set the channel's rules of one kind to exactly ``rules``, in order, atomically (two rules with one
        ``term_key`` are a ``StoreError`` and change nothing)."""
        ...


class DigestLog(Protocol):
    """Remembers when each channel's digest last ran, for the catch-up of a run missed while down."""

    async def set_last_digest(self, channel_id: int, at: datetime) -> None:
        """Record that the channel's digest ran at ``at``."""
        ...


class CommandChannels(ChannelReader, ChannelSettings, ChannelTopics, Protocol):
    """The channel roles the command handlers use, together."""


class Papers(Protocol):
    """Papers at each version we have seen: stored once, read back by id."""

    async def add_many(self, papers: Iterable[Paper]) -> None:
        """Store papers; a version already stored is kept as it is (in one batch, the first one wins)."""
        ...

    async def get(self, arxiv_id: str, version: int | None = None) -> Paper | None:
        """A stored paper at ``version``, or its newest stored version; None if there is none."""
        ...

    async def get_many(self, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], Paper]:
        """The stored papers among these (id, version) keys, in the order of ``keys``."""
        ...


class PaperCorpus(Protocol):
    """The stored papers as the ranker's corpus: the shared vocabulary and each channel's background."""

    async def recent(self, limit: int) -> list[Paper]:
        """Papers of the last ``limit`` versions stored, newest first, each once (its newest version among them)."""
        ...

    async def newest(self, arxiv_ids: Iterable[str]) -> dict[str, Paper]:
        """The newest stored version of each of these ids that is stored, by id."""
        ...


class DeliveryPlanning(Protocol):
    """The digest's plan in the ledger: pending rows written before posting, read back until they are done."""

    async def plan(self, channel_id: int, selected: Sequence[ScoredPaper]) -> int:
        """Record selected papers as pending (rank: position in ``selected``); papers the channel already has a
        row for, at any version, are left alone. Returns how many rows were written."""
        ...

    async def unfinished(self, channel_id: int) -> list[Delivery]:
        """Rows whose card or thread is not posted yet (pending or sending): oldest plan first, then by rank, then
        by row id."""
        ...

    async def unfinished_channels(self, *, planned_before: datetime) -> list[int]:
        """Ids of the channels that have an unfinished row planned at or before ``planned_before``, ascending."""
        ...


class DeliveryMarks(Protocol):
    """Marks a ledger row around each platform call: the intent (``sending`` with the row's key) before it, the
    outcome (posted, failed: back to pending, or unconfirmed: still ``sending``) after it."""

    async def mark(self, delivery: Delivery, mark: DeliveryMark) -> Delivery:
        """Record ``mark`` on the row (a posted card also goes in the card index); returns the row as marked."""
        ...


class DeliveryRuns(Protocol):
    """The plan and the unfinished rows of many channels at once: one transaction for a whole digest."""

    async def plan_many(self, plans: Mapping[int, Sequence[ScoredPaper]]) -> int:
        """``DeliveryPlanning.plan`` of every channel in ``plans`` (channel id -> selected), together."""
        ...

    async def unfinished_many(self, channel_ids: Iterable[int]) -> dict[int, list[Delivery]]:
        """``DeliveryPlanning.unfinished`` of each of these channels (each one a key, its list maybe empty)."""
        ...


class DeliveryBatches(Protocol):
    """Marks of many rows written together (the marks of channels posting side by side)."""

    async def mark_many(self, items: Sequence[tuple[Delivery, DeliveryMark]]) -> list[Delivery]:
        """``DeliveryMarks.mark`` of each (row, mark), at most one per row, in one transaction; the rows as marked."""
        ...


class DigestLedger(DeliveryPlanning, DeliveryMarks, DeliveryRuns, DeliveryBatches, Protocol):
    """The ledger roles the digest runner uses, together."""


class DeliveredPapers(Protocol):
    """Which papers a channel has already been given (posted or still pending)."""

    async def delivered_ids(self, channel_id: int, arxiv_ids: Iterable[str]) -> set[str]:
        """Which of these papers the channel already has a ledger row for."""
        ...


class CardIndex(Protocol):
    """Which of our messages is the card of which paper, so that a reaction on it can save the paper."""

    async def record_card(self, channel_id: int, message_id: str, paper: Paper) -> None:
        """Remember a card posted outside the digest (``summarize``); the first card of a message id wins."""
        ...

    async def card_paper(self, channel: ChannelRef, message_id: str) -> tuple[int, str, int] | None:
        """(channel id, arxiv id, version) of our card with this message reference, or None if it is not ours."""
        ...


class CommandLedger(DeliveredPapers, CardIndex, Protocol):
    """The ledger roles the command handlers use, together."""


class PostedHistory(Protocol):
    """What was posted to a channel, newest first: its RSS feed and its markdown export."""

    async def posted_papers(
        self, channel_id: int, *, since: datetime | None = None, limit: int | None = None
    ) -> list[PostedPaper]:
        """Cards posted (at or after ``since``) whose paper version is stored: newest first, then by rank, then
        by row id; at most ``limit``."""
        ...

    async def posted_since(self, channel_id: int, since: date | None = None) -> list[Delivery]:
        """Posted rows of a channel (posted on or after the UTC day ``since``): newest first, then by rank, then
        by row id."""
        ...


class SavedPapers(Protocol):
    """Papers users saved, one save per user, workspace and paper."""

    async def save(
        self, *, channel: ChannelRef, channel_id: int | None, user_id: str, arxiv_id: str, version: int
    ) -> bool:
        """Save a paper for a user in the channel's workspace; False (and the first save kept) if already saved."""
        ...

    async def unsave(self, *, channel: ChannelRef, user_id: str, arxiv_id: str) -> bool:
        """Remove a save; False if there was none."""
        ...

    async def list(self, *, channel: ChannelRef, user_id: str, limit: int = 50) -> list[SavedPaper]:
        """A user's saves in this workspace, newest first (ties: the later save first), at most ``limit``."""
        ...


class SavedLibrary(Protocol):
    """Saved papers whole, each at its newest stored version: what the BibTeX and RIS exports hold."""

    async def user_saved_papers(self, *, channel: ChannelRef, user_id: str) -> list[Paper]:
        """A user's saved papers in the channel's workspace whose paper is stored, newest save first."""
        ...

    async def channel_saved_papers(self, channel_id: int, *, since: datetime | None = None) -> list[Paper]:
        """Every paper saved in one channel (saved at or after ``since``) that is stored, each once, newest save
        first."""
        ...


class AlertLedger(Protocol):
    """The version-alert ledger: one row per new version and saver (or card thread), written before sending."""

    async def plan_alerts(self, papers: Iterable[Paper]) -> int:
        """Record an alert for each replacement among ``papers`` (announce type replace or replace-cross) of a paper
        saved at an older version: a note per saver who did not turn alerts off, a thread reply per channel where
        it was saved and its card is known. Rows that exist (same kind, target, paper and version) are left alone.
        Returns how many rows were written."""
        ...

    async def unsent_alerts(self) -> list[VersionAlert]:
        """Alerts pending or sending, oldest first."""
        ...

    async def mark_alert(
        self,
        alert: VersionAlert,
        state: AlertState,
        *,
        key: str | None = None,
        error: str | None = None,
        comments: str | None = None,
    ) -> VersionAlert:
        """Record an alert's state: ``sending`` with its key (the intent, now; ``comments`` kept with it), ``sent``,
        back to ``pending`` or ``failed`` after a refusal (``error`` counts an attempt), or ``sending`` again after
        an unknown outcome."""
        ...


class AlertPreferences(Protocol):
    """Who wants version alerts (everyone, until they say ``/arxiv alerts off``)."""

    async def set_alerts(self, *, channel: ChannelRef, user_id: str, on: bool) -> bool:
        """Turn a person's alerts on or off in the channel's workspace; False if they already were."""
        ...


class SummaryCache(Protocol):
    """Summaries paid for once: stored under their ``SummaryKey``, the first one stored for a key kept."""

    async def get(self, key: SummaryKey) -> StoredSummary | None:
        """The stored summary for ``key``, or None."""
        ...

    async def put(self, key: SummaryKey, summary: StoredSummary) -> None:
        """Store a summary; one already stored under ``key`` is kept as it is."""
        ...


class LatestSummaries(Protocol):
    """The newest stored summary of each paper, whatever model wrote it: for feeds and exports."""

    async def newest_for(self, papers: Iterable[Paper], *, language: str) -> dict[str, ThreadSummary]:
        """The newest stored model summary in ``language`` of each paper that has one, by versioned id."""
        ...


class UsageRecorder(Protocol):
    """Counts LLM calls, their tokens and cost, and summary lookups, per UTC day and model."""

    async def record_call(
        self, *, model: str, input_tokens: int, output_tokens: int, cost_usd: float, cache_miss: bool = False
    ) -> None:
        """Count one answered model call (and, in the same write, the cache miss that led to it)."""
        ...

    async def record_failure(self, *, model: str, cache_miss: bool = False) -> None:
        """Count one model call that failed (it is a call too), and the cache miss that led to it."""
        ...

    async def record_lookup(self, *, hit: bool) -> None:
        """Count one summary lookup under the configured model, served from the store (hit) or not (miss)."""
        ...


class UsageBudget(Protocol):
    """The daily LLM budget."""

    async def within_budget(self) -> bool:
        """Whether today's (UTC) spend is still below the daily budget."""
        ...


class LlmUsage(UsageRecorder, UsageBudget, Protocol):
    """The usage roles the LLM summarizer uses, together."""


class UsageReports(Protocol):
    """LLM usage as ``/arxiv stats`` shows it."""

    async def report(self) -> UsageReport:
        """Today's and this month's (UTC) usage, every model together, with the model and the budget."""
        ...


class SignalReader(Protocol):
    """Reads what a channel's people told the ranker (saves, likes, imports, 👎)."""

    async def channel_signals(self, channel_id: int) -> ChannelSignals:
        """The channel's positives and negatives, oldest first, and whether learning is on."""
        ...


class SignalRecorder(Protocol):
    """Writes what a channel's people tell the ranker: 👎 given and taken back, papers liked or imported."""

    async def record_down(self, *, channel_id: int, arxiv_id: str, user_id: str, source: SignalSource) -> bool:
        """Mark a paper not relevant for the channel; False (the first one kept) if this person already did so
        from this source. An unknown channel id is a ``StoreError``."""
        ...

    async def remove_down(self, *, channel_id: int, arxiv_id: str, user_id: str, source: SignalSource) -> bool:
        """Take back this person's 👎 from this source; False if there was none."""
        ...

    async def record_likes(
        self, *, channel_id: int, arxiv_ids: Sequence[str], user_id: str, source: SignalSource
    ) -> int:
        """Add papers to the channel's taste (repeats kept once); returns how many were new for this person and
        source. An unknown channel id is a ``StoreError`` and stores nothing."""
        ...


class RankingControls(Protocol):
    """The switches of a channel's learned ranking."""

    async def reset_signals(self, channel_id: int) -> None:
        """Forget what the channel taught the ranker: likes, imports and 👎 go, saves made so far stop counting
        (they stay saved); keywords and settings are kept."""
        ...

    async def set_ranking_enabled(self, channel_id: int, enabled: bool) -> None:
        """Switch the learned ranking on or off for a channel; an unknown channel id changes nothing."""
        ...


class ChannelSignalStore(SignalReader, SignalRecorder, RankingControls, Protocol):
    """The signal roles the command handlers and the import use, together."""


class Reranker(Protocol):
    """Reorders the digest's keyword picks for the channels whose ranking has learned."""

    async def rerank(
        self,
        records: Sequence[ChannelRecord],
        papers: Sequence[Paper],
        picks: dict[ChannelRef, list[ScoredPaper]],
    ) -> dict[ChannelRef, list[ScoredPaper]]:
        """``picks`` with each learned channel's list replaced by its learned picks among ``papers``."""
        ...


class ChannelRanking(Protocol):
    """The learned ranker as commands see it: explanations and status, never a fit on the caller's time."""

    async def explain(self, record: ChannelRecord, paper: Paper) -> PickExplanation:
        """Why this paper would be ranked where it is for this channel (picked or not)."""
        ...

    async def status(self, record: ChannelRecord) -> RankingStatus:
        """The channel's ranking mode, signal counts, last fit and own quality."""
        ...

    def signals_changed(self, channel_id: int) -> None:
        """Note that a channel's signals changed: refit later (debounced), never now."""
        ...


class SlotClaims(Protocol):
    """Which replica runs each scheduled slot of a day, when several run on one database."""

    async def claim_slot(self, slot: str, day: date) -> bool:
        """True when this replica runs ``slot`` on ``day`` (first, or taking over a claim whose lease ran out)."""
        ...

    async def finish_slot(self, slot: str, day: date) -> None:
        """Record that the run is done: no replica runs it again."""
        ...

    async def abandoned_slots(self) -> list[tuple[str, date]]:
        """Runs claimed but never finished whose lease ran out (their replica died)."""
        ...
