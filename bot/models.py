"""Plain data the core passes around: papers, channels and their rules, ledger rows, cards and replies."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from enum import StrEnum

_WORD = re.compile(r"[^\W_]+")  # letters and digits of any script; "kv_cache" splits like "kv-cache"


class AnnounceType(StrEnum):
    """How a paper appears in a daily listing."""

    NEW = "new"
    CROSS = "cross"
    REPLACE = "replace"
    REPLACE_CROSS = "replace-cross"


@dataclass(frozen=True, slots=True, kw_only=True)
class Paper:
    """One arXiv paper at one version, as listed or looked up."""

    arxiv_id: str
    """Unversioned id: ``2601.00644`` or ``hep-th/9901001``."""
    version: int
    title: str
    abstract: str
    authors: tuple[str, ...]
    categories: tuple[str, ...]
    primary_category: str
    announce_type: AnnounceType = AnnounceType.NEW
    published: date | None = None
    doi: str | None = None
    journal_ref: str | None = None
    comments: str | None = None
    """arXiv's comments field ("12 pages, accepted at ..."), when the source gave it; not kept in the papers table."""

    @property
    def versioned_id(self) -> str:
        """The id with its version, e.g. ``2601.00644v1``."""
        return f"{self.arxiv_id}v{self.version}"

    @property
    def abs_url(self) -> str:
        """Link to the abstract page of this version."""
        return f"https://arxiv.org/abs/{self.versioned_id}"

    @property
    def pdf_url(self) -> str:
        """Link to the PDF of this version."""
        return f"https://arxiv.org/pdf/{self.versioned_id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Listing:
    """One daily announcement for a set of categories; ``papers`` is empty on weekends and holidays."""

    categories: frozenset[str]
    announced: date | None
    papers: tuple[Paper, ...]
    skipped_entries: int = 0


@dataclass(frozen=True, slots=True, order=True)
class ChannelRef:
    """A chat channel on one platform: ``slack``/``discord``/``console``, workspace or guild, channel id."""

    platform: str
    workspace: str
    channel: str

    def __str__(self) -> str:
        return f"{self.platform}:{self.workspace}:{self.channel}"


@dataclass(frozen=True, slots=True)
class MessageRef:
    """The platform's reference to a message we posted (Slack ``ts``, Discord message id)."""

    channel: ChannelRef
    message_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ScoredPaper:
    """A paper selected for a channel, with why it was selected."""

    paper: Paper
    score: float
    matched: tuple[str, ...]
    """Keywords (as the channel wrote them) and followed authors that matched."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PaperCard:
    """What a channel sees for one paper: the top-level message. All text is untrusted."""

    paper: Paper
    score: float
    matched: tuple[str, ...]
    teaser: str
    is_cross_list: bool
    requested_by: str | None = None
    """User name that asked for it with ``summarize``, or None for the daily digest."""
    tldr: str | None = None
    """The summary's one-line TL;DR, shown on the card once the summary is ready (untrusted text)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SummarySection:
    """One titled section of a summary."""

    title: str
    body: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ThreadSummary:
    """What goes in the card's thread: a summary (or the abstract), in sections. All text is untrusted."""

    paper: Paper
    heading: str
    sections: tuple[SummarySection, ...]
    note: str | None = None
    """E.g. "summary unavailable" or "extractive summary"; shown in small print."""
    tldr: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """A command's answer to the caller. ``text`` is plain text (no markup); adapters escape it."""

    text: str
    ephemeral: bool = True
    cards: tuple[PaperCard, ...] = ()
    posted: int = 0
    """How many cards the command posted into the channel (digest, summarize)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandContext:
    """Who typed a command, and where."""

    channel: ChannelRef
    user_id: str
    user_name: str
    can_manage: bool = True
    """Whether the caller may change this channel's settings (the adapter decides from platform roles)."""
    refusal: str | None = None
    """The platform's wording when the core refuses a settings change (None: the core's own wording)."""
    extra: dict[str, str] = field(default_factory=dict)


class RuleKind(enum.StrEnum):
    """The three kinds of per-channel rule."""

    INCLUDE = "include"
    EXCLUDE = "exclude"
    AUTHOR = "author"


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One keyword or author rule of a channel."""

    kind: RuleKind
    term: str
    weight: float = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelRecord:
    """A channel's stored settings and rules."""

    id: int
    ref: ChannelRef
    post_time: str
    timezone: str
    max_papers: int
    min_score: float
    include_cross: bool
    language: str
    last_digest_at: datetime | None
    created_at: datetime
    feed_token: str
    categories: tuple[str, ...]
    rules: tuple[Rule, ...]
    active: bool = True
    """False while its workspace has uninstalled the app: no digest there until it is installed again."""

    def terms(self, kind: RuleKind) -> tuple[Rule, ...]:
        """The channel's rules of one kind, in the order they were added."""
        return tuple(r for r in self.rules if r.kind is kind)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelDefaults:
    """Settings a new channel starts with."""

    post_time: str
    timezone: str
    max_papers: int
    min_score: float
    include_cross: bool
    language: str


CHANNEL_SETTINGS = frozenset(f.name for f in fields(ChannelDefaults))
"""The settings a command may change: ``post_time``, ``timezone``, ``max_papers``, ``min_score``,
``include_cross``, ``language``."""


class DeliveryState(enum.StrEnum):
    """Where a ledger row's card, or its thread reply, stands.

    ``pending`` -> ``sending`` (intent recorded with the row's key, just before the platform call) -> ``posted``.
    A ``sending`` part may already exist on the platform: recovery looks for it by key before posting again.
    """

    PENDING = "pending"
    SENDING = "sending"
    POSTED = "posted"


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """One row of the delivery ledger: one paper for one channel."""

    id: int
    channel_id: int
    arxiv_id: str
    version: int
    rank: int
    score: float
    matched: tuple[str, ...]
    state: DeliveryState
    message_id: str | None
    thread_state: DeliveryState
    attempts: int
    key: str | None = None
    """The row's client-generated post key (``PostKey``): the card carries it, thread part ``n`` carries
    ``key.n``. Set when the first intent is recorded, kept for the row's life."""
    sending_since: datetime | None = None
    """When the intent of the part now ``sending`` (the card, or thread part ``thread_parts``) was recorded:
    the platform may hold it from then on."""
    thread_parts: int = 0
    """How many parts of the thread reply are posted (a long summary is several messages)."""
    card_update: CardUpdateState | None = None
    """Whether the posted card still has to show the summary's TL;DR (None: it has nothing to show)."""
    tldr: str | None = None
    """The TL;DR the card is to show (kept with the row so that an interrupted update is retried as it was)."""

    @property
    def finished(self) -> bool:
        """Whether card and thread are both posted and the card shows its TL;DR if it has one (a thread is only
        ever posted after its card, the TL;DR update after the thread)."""
        return self.thread_state is DeliveryState.POSTED and self.card_update is not CardUpdateState.PENDING


class CardUpdateState(enum.StrEnum):
    """Where the update of a posted card with its summary's TL;DR stands.

    An edit creates no message and repeating it changes nothing, so it needs no ``sending`` step: ``pending`` until
    the platform confirms it, retried after any failure that may be passing, ``refused`` when the platform will not
    take it (the card was deleted, the bot lost access): the card stays as it was posted.
    """

    PENDING = "pending"
    DONE = "done"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class CardSending:
    """The card is about to be sent with this key: it may exist on the platform from now on."""

    key: str


@dataclass(frozen=True, slots=True)
class CardPosted:
    """A ledger row's card is posted as ``message_id``."""

    message_id: str


@dataclass(frozen=True, slots=True)
class ThreadSending:
    """Part ``part`` of the thread reply is about to be sent (its key is ``key.part``)."""

    key: str
    part: int = 0


@dataclass(frozen=True, slots=True)
class ThreadPosted:
    """Part ``part`` of a ledger row's thread reply is posted as ``message_id``; ``last``: the thread is done.

    With ``tldr`` (on the last part) the card is then due to show it (``CardUpdateState.PENDING``).
    """

    message_id: str
    part: int = 0
    last: bool = True
    tldr: str | None = None


@dataclass(frozen=True, slots=True)
class CardUpdated:
    """The posted card now shows its TL;DR."""


@dataclass(frozen=True, slots=True)
class CardUpdateFailed:
    """Updating the card failed: ``refused`` when the platform will not take it (given up), else retried later."""

    error: str
    refused: bool = False


@dataclass(frozen=True, slots=True)
class PostFailed:
    """Posting failed in a way that proves nothing was created: the part in flight goes back to pending."""

    error: str


@dataclass(frozen=True, slots=True)
class PostUnconfirmed:
    """Posting failed after the request may have reached the platform (reset, timeout, 5xx): the part stays
    ``sending``, and is looked for by its key before it is posted again."""

    error: str


DeliveryMark = (
    CardSending | CardPosted | ThreadSending | ThreadPosted | PostFailed | PostUnconfirmed
) | CardUpdated | CardUpdateFailed
"""What happened to a ledger row's post."""


@dataclass(frozen=True, slots=True)
class PostKey:
    """The key a message is created with (Discord nonce, Slack message metadata), at most 25 characters.

    ``sending_since`` is set when a message with this key may already exist (an earlier attempt's outcome is
    unknown): the publisher then looks for it, created at or after that time, before creating another.
    """

    value: str
    sending_since: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PostedPaper:
    """A paper as it was posted to one channel: what its RSS feed and its markdown export show."""

    paper: Paper
    rank: int
    score: float
    matched: tuple[str, ...]
    posted_at: datetime
    """Timezone-aware (UTC)."""


def as_utc(value: datetime) -> datetime:
    """A stored time as an aware UTC datetime (SQLite hands back naive UTC, PostgreSQL aware)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class SavedPaper:
    """A paper a user saved."""

    arxiv_id: str
    version: int
    title: str | None
    saved_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportFile:
    """A file made for one person (a BibTeX or RIS export of saved papers), sent to them privately."""

    name: str
    """The file name, e.g. ``arxiv-saved.bib``."""
    content: bytes
    media_type: str
    title: str
    """How the file is described where it is shared, e.g. "3 saved papers (BibTeX)"."""


class AlertKind(enum.StrEnum):
    """Who hears of a new version of a saved paper."""

    NOTE = "note"
    """A private note to one person who saved it."""
    THREAD = "thread"
    """A reply in the card's thread, in a channel where it was saved."""


class AlertState(enum.StrEnum):
    """Where a version alert stands: ``pending`` -> ``sending`` (intent recorded, the platform may hold it) ->
    ``sent``; ``failed`` after too many refusals."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionAlert:
    """One row of the version-alert ledger: one new version, told once to one saver or one card's thread."""

    id: int
    kind: AlertKind
    channel: ChannelRef
    """The channel where the paper was saved (a note goes to the saver's direct messages on its platform)."""
    arxiv_id: str
    version: int
    title: str
    comments: str | None
    user_id: str | None = None
    """The saver (notes)."""
    message_id: str | None = None
    """The card whose thread gets the reply (threads)."""
    state: AlertState = AlertState.PENDING
    key: str | None = None
    sending_since: datetime | None = None
    attempts: int = 0

    @property
    def abs_url(self) -> str:
        """The abstract page of the new version."""
        return f"https://arxiv.org/abs/{self.arxiv_id}v{self.version}"


def term_key(term: str) -> str:
    """A keyword's matching form, under which it is unique per channel: its lowercase runs of letters and
    digits joined by single spaces ("KV-cache", "kv cache" and "KV_Cache" are all ``kv cache``)."""
    return " ".join(_WORD.findall(term.lower()))


@dataclass(frozen=True, slots=True)
class SummaryKey:
    """What a summary is stored under: one per paper version, model, language and prompt version."""

    arxiv_id: str
    version: int
    model: str
    language: str
    prompt_version: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredSummary:
    """A model's summary as stored (already capped); ``answered_by`` is the model that wrote it."""

    tldr: str
    sections: tuple[SummarySection, ...]
    answered_by: str
    source: str
    """``fulltext`` or ``abstract``: what the model read."""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageTotals:
    """LLM usage summed over a period."""

    calls: int = 0
    failures: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cache_hits: int = 0
    cache_misses: int = 0

    @property
    def tokens(self) -> int:
        """Input and output tokens together."""
        return self.input_tokens + self.output_tokens

    @property
    def hit_rate(self) -> float | None:
        """Share of summary lookups served from the store, or None when there were none."""
        lookups = self.cache_hits + self.cache_misses
        return None if lookups == 0 else self.cache_hits / lookups


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageReport:
    """What ``/arxiv stats`` shows."""

    day: date
    today: UsageTotals
    month: UsageTotals
    model: str
    daily_budget_usd: float


class SignalKind(enum.StrEnum):
    """How a channel told the ranker what it thinks of a paper."""

    SAVE = "save"
    """A 🔖 reaction or the Save button (positive; the saves table)."""
    LIKE = "like"
    """``/arxiv like`` or ``arxiv-bot import`` (positive: the channel's taste)."""
    DOWN = "down"
    """A 👎 reaction or the "Not for us" button (negative)."""


class SignalSource(enum.StrEnum):
    """Where a stored like or 👎 came from (one row per source and person: removing a reaction keeps a button)."""

    REACTION = "reaction"
    """A 👎 reaction on a card (the console's ``react N 👎``)."""
    BUTTON = "button"
    """The "Not for us" button on a card (the console's ``down N``)."""
    LIKE = "like"
    """``/arxiv like``."""
    IMPORT = "import"
    """``arxiv-bot import``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelSignals:
    """Everything one channel's people told the ranker, as arXiv ids (unversioned), oldest first."""

    positives: tuple[str, ...] = ()
    negatives: tuple[str, ...] = ()
    changed_at: datetime | None = None
    """When a signal was last added or removed; None when the channel has none."""
    ranking_enabled: bool = True
    """False after ``/arxiv ranking off``: rank by keywords only."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PickExplanation:
    """Why the ranker placed a paper where it did, for cards and ``/arxiv why``."""

    arxiv_id: str
    mode: str
    """"keywords" (not enough signals yet, or ranking off) or "learned"."""
    score: float
    matched_keywords: tuple[str, ...] = ()
    top_terms: tuple[str, ...] = ()
    """Terms of the paper that pushed the learned score up most."""
    nearest_liked_title: str | None = None
    """Title of the paper the channel liked that is most similar to this one."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RankingStatus:
    """What ``/arxiv ranking`` shows for a channel."""

    mode: str
    """"keywords", "learned" or "off"."""
    positives: int
    negatives: int
    min_positives: int
    last_fit_at: datetime | None = None
    quality_ap: float | None = None
    """AP of a time split over the channel's own signals, when it has enough of them."""
