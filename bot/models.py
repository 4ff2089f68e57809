"""Plain data the core passes around: papers, channels, cards and replies."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum


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
    extra: dict[str, str] = field(default_factory=dict)
