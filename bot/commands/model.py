"""The typed commands a parsed ``/arxiv`` line becomes: plain values, no behaviour."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Help:
    """Show the command list."""


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Follow categories."""

    categories: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """Stop following categories."""

    categories: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WeightedTerm:
    """A keyword with its weight."""

    term: str
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class Keywords:
    """Change include keywords: add, remove, set or clear."""

    action: str
    terms: tuple[WeightedTerm, ...]


@dataclass(frozen=True, slots=True)
class Exclude:
    """Change exclude keywords: add, remove or clear."""

    action: str
    terms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Authors:
    """Follow or unfollow an author."""

    action: str
    name: str


@dataclass(frozen=True, slots=True)
class ShowSettings:
    """Show the channel's settings."""


@dataclass(frozen=True, slots=True)
class SetTime:
    """Change the daily post time and, optionally, the zone."""

    time: str
    timezone: str | None


@dataclass(frozen=True, slots=True)
class SetMax:
    """Change how many papers a day."""

    value: int


@dataclass(frozen=True, slots=True)
class SetMinScore:
    """Change the lowest score that is posted."""

    value: float


@dataclass(frozen=True, slots=True)
class SetCross:
    """Switch cross-lists on or off."""

    value: bool


@dataclass(frozen=True, slots=True)
class SetLanguage:
    """Change the summary language."""

    code: str


@dataclass(frozen=True, slots=True)
class DigestNow:
    """Post today's papers now."""


@dataclass(frozen=True, slots=True)
class Preview:
    """Show what a digest would post."""


@dataclass(frozen=True, slots=True)
class Summarize:
    """Post one paper with its summary."""

    arxiv_id: str
    version: int | None


@dataclass(frozen=True, slots=True)
class Saved:
    """List the caller's saves."""


@dataclass(frozen=True, slots=True)
class ExportSaves:
    """Send saved papers as a file to the caller: ``mine`` (their saves) or the whole channel's."""

    format: str
    """``bibtex`` or ``ris``."""
    channel: bool = False


@dataclass(frozen=True, slots=True)
class Alerts:
    """Turn the caller's notes about new versions of their saved papers on or off."""

    on: bool


@dataclass(frozen=True, slots=True)
class Unsave:
    """Forget a save."""

    arxiv_id: str


@dataclass(frozen=True, slots=True)
class Feed:
    """Show the address of the channel's RSS feed."""


@dataclass(frozen=True, slots=True)
class Stats:
    """Show today's and this month's LLM usage."""


@dataclass(frozen=True, slots=True)
class Like:
    """Add papers to the channel's taste (the learned ranking's positives)."""

    arxiv_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Why:
    """Explain how the ranking sees one paper for this channel."""

    arxiv_id: str
    version: int | None


@dataclass(frozen=True, slots=True)
class ShowRanking:
    """Show the channel's ranking mode, signals, last fit and quality."""


@dataclass(frozen=True, slots=True)
class SwitchRanking:
    """Switch the learned ranking on or off."""

    enabled: bool


@dataclass(frozen=True, slots=True)
class ResetRanking:
    """Forget the channel's learned signals (keeping keywords); without ``confirmed`` only say what would go."""

    confirmed: bool


@dataclass(frozen=True, slots=True)
class SwitchPersonal:
    """Stop (``on`` False) or resume the caller's personal digest; its settings are kept."""

    on: bool


@dataclass(frozen=True, slots=True)
class Personal:
    """A channel command run on the caller's own digest (``/arxiv me ...``) instead of the channel's."""

    command: Command
    slow: bool = False
    """Whether the command may outlast a platform's acknowledgement window (as it would for a channel)."""


Command = (
    Help
    | Subscribe
    | Unsubscribe
    | Keywords
    | Exclude
    | Authors
    | ShowSettings
    | SetTime
    | SetMax
    | SetMinScore
    | SetCross
    | SetLanguage
    | DigestNow
    | Preview
    | Summarize
    | Saved
    | ExportSaves
    | Alerts
    | Unsave
    | Stats
    | Feed
    | Like
    | Why
    | ShowRanking
    | SwitchRanking
    | ResetRanking
    | SwitchPersonal
    | Personal
)
