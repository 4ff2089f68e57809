"""The error hierarchy of arxiv-bot's core.

Every error the core raises derives from ``ArxivBotError``. Third-party exceptions (httpx in
``bot.arxiv.http.map_httpx_exceptions``, SQLAlchemy, feedparser, litellm) are converted at the boundary where
they occur, so callers of ``bot`` only ever catch these::

    ArxivBotError
    ├── ConfigError            a setting is missing or malformed (start-up stops with exit code 2)
    ├── UserInputError         a command or argument a user typed is wrong; the message is shown as-is
    │   ├── UnknownCommand     the subcommand does not exist (the reply shows help)
    │   └── MissingArguments   a command typed without what it needs (the reply shows that command's usage)
    ├── PermissionDenied       the caller may not change this channel's settings
    ├── SourceError            arXiv could not be reached or answered something unusable
    │   ├── SourceUnavailable  network error, timeout, 5xx or 429 after all retries; any other transport failure
    │   │   └── TransientSourceError  one attempt failed in transit (timeout, connection lost); bot.arxiv.http
    │   │                             retries it and raises SourceUnavailable when retries run out
    │   ├── ResponseTooLarge   an answer was bigger than the caller's size cap (full texts)
    │   └── PaperNotFound      no paper has this id (a malformed id is a UserInputError)
    ├── PublishError           a platform refused or failed to take a post: nothing was created
    │   ├── PublishOutcomeUnknown  the request may have reached the platform (reset, timeout, 5xx): the post may
    │   │                          exist; the ledger keeps it ``sending`` and looks for it before posting again
    │   └── PublishRefused     the platform will not take it whatever we do (an update of a deleted card)
    ├── SummaryError           the summarizer failed after its retries and fallbacks
    ├── EmbeddingError         the embedding model did not answer (or answered something unusable)
    └── StoreError             the database failed
"""

from __future__ import annotations


class ArxivBotError(Exception):
    """Root of every error raised by the core."""


class ConfigError(ArxivBotError):
    """A setting is missing or malformed."""


class UserInputError(ArxivBotError):
    """Something a user typed is wrong; ``str(err)`` is the one-line answer to show them."""


class UnknownCommand(UserInputError):
    """The subcommand does not exist."""


class MissingArguments(UserInputError):
    """A command was typed without the arguments it needs; the answer adds that command's usage."""


class PermissionDenied(ArxivBotError):
    """The caller may not change this channel's settings."""


class SourceError(ArxivBotError):
    """arXiv could not be reached or answered something unusable."""


class SourceUnavailable(SourceError):
    """Network error, timeout, 5xx or 429 after all retries."""


class TransientSourceError(SourceUnavailable):
    """One request failed in transit (timeout, connection refused or lost); worth retrying."""


class ResponseTooLarge(SourceError):
    """An answer was bigger than the size cap the caller set."""


class PaperNotFound(SourceError):
    """No paper has this id."""


class PublishError(ArxivBotError):
    """A platform refused or failed to take a post."""


class PublishOutcomeUnknown(PublishError):
    """The request may have reached the platform before it failed: the post may exist."""


class PlatformNotConnected(PublishError):
    """No publisher of that platform runs in this process (e.g. ``arxiv-bot digest`` posts to one platform only):
    nothing was tried, so nothing counts as an attempt."""


class SummaryError(ArxivBotError):
    """The summarizer failed after retries and fallbacks."""


class EmbeddingError(ArxivBotError):
    """The embedding model did not answer, or answered something unusable; the ranker goes on with TF-IDF."""


class StoreError(ArxivBotError):
    """The database failed."""


class PublishRefused(PublishError):
    """The platform will not take this post whatever we do (the message is gone, the bot lost access): no retry."""
