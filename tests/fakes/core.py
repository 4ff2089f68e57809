"""The core wired over fakes only (repositories, source, publisher, summarizer, clock), for fast unit tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from bot.commands.service import CommandPorts, CommandService
from bot.delivery.runner import DigestRunner
from bot.delivery.scheduler import DigestScheduler
from bot.models import AnnounceType, ChannelRecord, ChannelRef, CommandContext, Paper
from tests.fakes.clock import FixedClock
from tests.fakes.publisher import FakePublisher
from tests.fakes.ranking import FakeChannelRanking
from tests.fakes.repositories import FakeRepositories, fake_repositories
from tests.fakes.source import FakeSource
from tests.fakes.summarizer import FakeSummarizer

CHANNEL = ChannelRef("test", "w1", "c1")
FEED_BASE_URL = "https://bot.example.org/"


@dataclass
class FakeCore:
    """A command service, digest runner and scheduler over one set of fakes."""

    clock: FixedClock
    repos: FakeRepositories
    source: FakeSource
    publisher: FakePublisher
    summarizer: FakeSummarizer
    ranking: FakeChannelRanking
    runner: DigestRunner
    commands: CommandService
    scheduler: DigestScheduler
    schedule_changes: list[ChannelRecord] = field(default_factory=list)
    """Every record the service passed to ``on_schedule_change``."""

    def new_runner(self, publisher: FakePublisher | None = None) -> DigestRunner:
        """Another runner over the same fakes (a restarted process), posting to ``publisher``."""
        return make_runner(self.repos, self.source, publisher or self.publisher, self.summarizer, self.clock)


def make_runner(
    repos: FakeRepositories,
    source: FakeSource,
    publisher: FakePublisher,
    summarizer: FakeSummarizer,
    clock: FixedClock,
    *,
    summary_concurrency: int = 4,
) -> DigestRunner:
    """A digest runner over the fakes."""
    return DigestRunner(
        source=source,
        channels=repos.channels,
        papers=repos.papers,
        ledger=repos.ledger,
        publisher=publisher,
        summarizer=summarizer,
        clock=clock,
        author_bonus=2.0,
        summary_concurrency=summary_concurrency,
    )


def fake_core(
    *,
    clock: FixedClock | None = None,
    feed_base_url: str | None = FEED_BASE_URL,
    with_usage: bool = True,
    model: str = "openai/test-model",
    repos: FakeRepositories | None = None,
) -> FakeCore:
    """A fresh core on empty fakes (or on ``repos``)."""
    clock = clock or FixedClock()
    repos = repos or fake_repositories(clock=clock, model=model, daily_budget_usd=2.0)
    source, publisher, summarizer, ranking = FakeSource(), FakePublisher(), FakeSummarizer(), FakeChannelRanking()
    runner = make_runner(repos, source, publisher, summarizer, clock)
    scheduler = DigestScheduler(
        runner=runner, channels=repos.channels, ledger=repos.ledger, clock=clock, misfire_grace_s=60
    )
    changes: list[ChannelRecord] = []
    commands = CommandService(
        ports=CommandPorts(
            channels=repos.channels,
            papers=repos.papers,
            ledger=repos.ledger,
            saves=repos.saves,
            runner=runner,
            source=source,
            summarizer=summarizer,
            publisher=publisher,
            signals=repos.signals,
            ranking=ranking,
            lookup=source,
            usage=repos.usage if with_usage else None,
        ),
        on_schedule_change=changes.append,
        feed_base_url=feed_base_url,
    )
    return FakeCore(
        clock=clock,
        repos=repos,
        source=source,
        publisher=publisher,
        summarizer=summarizer,
        ranking=ranking,
        runner=runner,
        commands=commands,
        scheduler=scheduler,
        schedule_changes=changes,
    )


def ctx(user: str = "U1", *, can_manage: bool = True, channel: ChannelRef = CHANNEL) -> CommandContext:
    """A command context."""
    return CommandContext(channel=channel, user_id=user, user_name=f"user-{user}", can_manage=can_manage)


def paper(n: int, title: str, *, version: int = 1, primary: str = "cs.DC", abstract: str = "") -> Paper:
    """Paper ``2601.0000n`` with this title."""
    return Paper(
        arxiv_id=f"2601.{n:05d}",
        version=version,
        title=title,
        abstract=abstract or f"We study {title.lower()}. Results follow.",
        authors=("Ada Lovelace", "Alan Turing"),
        categories=(primary,),
        primary_category=primary,
        announce_type=AnnounceType.NEW,
        published=date(2026, 1, 2),
    )


TODAY = (
    paper(1, "LLM serving with RL and MoE"),  # LLM + RL + MoE, all in the title: the best
    paper(2, "LLM training with RL"),
    paper(3, "Consensus protocols", abstract="We apply an LLM to consensus. Results follow."),  # abstract only
    paper(4, "Erasure codes for storage"),  # matches nothing
)
"""Monday's cs.DC listing."""
