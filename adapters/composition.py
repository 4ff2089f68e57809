"""The composition root: the only place that wires real ports into the core. It builds; ``adapters.runtime`` runs."""

from __future__ import annotations

from dataclasses import dataclass

from bot.arxiv.client import ArxivClient
from bot.arxiv.fulltext import FullTextFetcher
from bot.arxiv.http import ArxivHttp, RetryListener, same_site
from bot.clock import SystemClock
from bot.commands.service import CommandPorts, CommandService
from bot.config import Settings
from bot.delivery.alerts import VersionAlerter
from bot.delivery.router import PublisherRouter
from bot.delivery.runner import DigestRunner
from bot.delivery.scheduler import DigestScheduler
from bot.models import ChannelDefaults
from bot.ports import Clock, Embedder, PaperLookup, PaperSource, SignalReader, Summarizer
from bot.ranking.embedder import LitellmEmbedder
from bot.ranking.service import LearnedRanking
from bot.store.alerts import AlertStore
from bot.store.channels import ChannelStore
from bot.store.database import Database, create_engine, is_sqlite, sqlite_path
from bot.store.embeddings import EmbeddingStore
from bot.store.http_state import FileLinkStore
from bot.store.leases import LeasedLedger, Leases
from bot.store.ledger import DeliveryLedger
from bot.store.migrations import upgrade_database
from bot.store.papers import PaperStore
from bot.store.saves import SaveStore
from bot.store.signals import SignalStore
from bot.store.summaries import SummaryStore, UsageStore
from bot.summarizers.extractive import ExtractiveSummarizer
from bot.summarizers.llm import LlmSummarizer


@dataclass(kw_only=True)
class Services:
    """The wired core of one running bot."""

    settings: Settings
    database: Database
    """Background work's database: digests, catch-up, summaries (and the stores below)."""
    command_database: Database
    """The commands' own: its connection pool is theirs, and on SQLite their writes go first."""
    source: PaperSource
    channels: ChannelStore
    papers: PaperStore
    ledger: DeliveryLedger
    saves: SaveStore
    signals: SignalStore
    ranking: LearnedRanking
    lookup: PaperLookup
    """Many papers at once (the export API in batches), for likes and imports."""
    summaries: SummaryStore
    summarizer: Summarizer
    router: PublisherRouter
    runner: DigestRunner
    commands: CommandService
    scheduler: DigestScheduler
    links: FileLinkStore | None = None
    """One-time download links of exported files, served by the HTTP server (None when it is off)."""
    alerts: AlertStore | None = None
    """The version-alert ledger and who turned alerts off."""
    leases: Leases | None = None
    """On PostgreSQL: this replica's claims on slots and ledger rows (several replicas share one database)."""

    async def aclose(self) -> None:
        """Start no new post, stop the scheduler (waiting for a digest still running), close network and database
        connections. A running bot first bounds that wait with ``adapters.runtime.stop_work``."""
        self.runner.stop()
        await self.scheduler.stop()
        if self.leases is not None:
            await self.leases.stop_heartbeat()
        await self.ranking.aclose()
        clients: list[object] = [self.source]
        if all(self.lookup is not c for c in clients):  # a second client only when a test gave its own source
            clients.append(self.lookup)
        for client in clients:
            close = getattr(client, "aclose", None)
            if close is not None:
                await close()
        close_summarizer = getattr(self.summarizer, "aclose", None)
        if close_summarizer is not None:
            await close_summarizer()
        await self.database.dispose()
        await self.command_database.dispose()


def ensure_sqlite_dir(url: str) -> None:
    """Create the folder of a SQLite file so a fresh checkout starts without set-up."""
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


async def migrate(settings: Settings) -> None:
    """Apply every migration to the configured database."""
    ensure_sqlite_dir(settings.database.url)
    engine = create_engine(settings.database.url)
    try:
        await upgrade_database(engine)
    finally:
        await engine.dispose()


def build_arxiv_http(settings: Settings, *, on_retry: RetryListener | None = None) -> ArxivHttp:
    """The HTTP layer for arXiv (one request at a time, spaced, retrying) from settings; ``on_retry`` hears of each
    retry (the console shows it as a progress line)."""
    a = settings.arxiv
    return ArxivHttp(
        min_interval_s=a.min_interval_s, timeout_s=a.timeout_s, max_retries=a.max_retries, on_retry=on_retry
    )


def build_source(settings: Settings, *, http: ArxivHttp | None = None) -> ArxivClient:
    """The real arXiv client from settings, over ``http`` when given."""
    a = settings.arxiv
    return ArxivClient(http=http or build_arxiv_http(settings), rss_url=a.rss_url, api_url=a.api_url)


def build_summarizer(
    settings: Settings, *, summaries: SummaryStore, usage: UsageStore, arxiv_http: ArxivHttp | None = None
) -> Summarizer:
    """The litellm summarizer with the summary store when ``[llm] model`` is set, else the extractive one.

    Full texts go through ``arxiv_http`` (so they wait their turn with listings and lookups) when they come from
    the site the arXiv client talks to; from another host, through an ``ArxivHttp`` of their own.
    """
    llm = settings.llm
    if not llm.model:
        return ExtractiveSummarizer()
    fulltext = None
    if llm.fulltext:
        http = arxiv_http
        a = settings.arxiv
        if http is None or not any(same_site(llm.fulltext_base_url, url) for url in (a.api_url, a.rss_url)):
            http = build_arxiv_http(settings)
        fulltext = FullTextFetcher(http=http, base_url=llm.fulltext_base_url, max_tokens=llm.fulltext_max_tokens)
    return LlmSummarizer(settings=llm, summaries=summaries, usage=usage, fulltext=fulltext)


def build_embedder(settings: Settings, *, embeddings: EmbeddingStore, usage: UsageStore) -> Embedder | None:
    """The litellm embedder when ``[ranking] embedding_model`` is set (through ``[llm] api_base``, within the daily
    LLM budget, its vectors stored once per paper), else None: TF-IDF alone, no network call."""
    r = settings.ranking
    if not r.embedding_model:
        return None
    return LitellmEmbedder(
        model=r.embedding_model,
        cache=embeddings,
        usage=usage,
        max_per_run=r.max_embeddings_per_run,
        api_base=settings.llm.api_base,
        timeout_s=settings.llm.timeout_s,
    )


def build_ranking(
    settings: Settings,
    *,
    signals: SignalReader,
    papers: PaperStore,
    clock: Clock,
    embedder: Embedder | None = None,
) -> LearnedRanking:
    """The learned ranker from ``[ranking]``: the channels' signals, the stored papers as its corpus, and the
    embedder when one is configured."""
    r = settings.ranking
    return LearnedRanking(
        signals=signals,
        corpus=papers,
        clock=clock,
        min_positives=r.min_positives,
        author_bonus=settings.channel.author_bonus,
        background_size=r.background_size,
        refit_delay_s=r.refit_delay_s,
        embedder=embedder,
    )


def build_services(
    settings: Settings,
    *,
    clock: Clock | None = None,
    source: PaperSource | None = None,
    summarizer: Summarizer | None = None,
    on_arxiv_retry: RetryListener | None = None,
) -> Services:
    """Wire the core from settings; tests may pass their own clock, source or summarizer.

    ``on_arxiv_retry`` hears of each retry of a request to arXiv (listings, lookups, full texts from arXiv).
    """
    ensure_sqlite_dir(settings.database.url)
    clock = clock or SystemClock()
    command_database, database = Database.pair(settings.database.url, clock=clock)
    c = settings.channel
    defaults = ChannelDefaults(
        post_time=c.post_time,
        timezone=c.timezone,
        max_papers=c.max_papers,
        min_score=c.min_score,
        include_cross=c.include_cross_lists,
        language=c.language,
    )
    channels = ChannelStore(database=database, defaults=defaults)
    papers = PaperStore(database=database)
    # Several replicas sharing a PostgreSQL database: each posts only the ledger rows it holds a lease on.
    replicas = settings.database.replicas and not is_sqlite(settings.database.url)
    leases = Leases(database=database, lease_s=settings.database.lease_s) if replicas else None
    ledger = DeliveryLedger(database=database) if leases is None else LeasedLedger(database=database, leases=leases)
    saves = SaveStore(database=database)
    signals = SignalStore(database=database)
    usage = UsageStore(database=database, model=settings.llm.model, daily_budget_usd=settings.llm.daily_budget_usd)
    embedder = build_embedder(settings, embeddings=EmbeddingStore(database=database), usage=usage)
    ranking = build_ranking(settings, signals=signals, papers=papers, clock=clock, embedder=embedder)
    arxiv_http = build_arxiv_http(settings, on_retry=on_arxiv_retry)
    source = source or build_source(settings, http=arxiv_http)
    lookup = source if isinstance(source, ArxivClient) else build_source(settings, http=arxiv_http)
    summaries = SummaryStore(database=database)
    summarizer = summarizer or build_summarizer(settings, summaries=summaries, usage=usage, arxiv_http=arxiv_http)
    router = PublisherRouter(publishers={})
    alerts = AlertStore(database=database)
    runner = DigestRunner(
        source=source,
        channels=channels,
        papers=papers,
        ledger=ledger,
        publisher=router,
        summarizer=summarizer,
        clock=clock,
        author_bonus=c.author_bonus,
        summary_concurrency=settings.llm.concurrency,
        alerts=VersionAlerter(ledger=alerts, notices=router, source=source),
        reranker=ranking,
    )
    scheduler = DigestScheduler(
        runner=runner,
        channels=channels,
        ledger=ledger,
        clock=clock,
        misfire_grace_s=settings.scheduler.misfire_grace_s,
        catch_up_interval_s=settings.scheduler.catch_up_interval_s,
        claims=leases,
    )
    links = (
        FileLinkStore(database=command_database, base_url=settings.http.public_url) if settings.http.enabled else None
    )
    commands = CommandService(
        ports=CommandPorts(
            channels=ChannelStore(database=command_database, defaults=defaults),
            papers=PaperStore(database=command_database),
            ledger=DeliveryLedger(database=command_database),
            saves=SaveStore(database=command_database),
            runner=runner,
            source=source,
            summarizer=summarizer,
            publisher=router,
            signals=signals,
            ranking=ranking,
            lookup=lookup,
            usage=usage,
            files=router,
            links=links,
            alert_preferences=alerts,
        ),
        on_schedule_change=scheduler.channel_changed if settings.scheduler.enabled else None,
        feed_base_url=settings.http.public_url if settings.http.enabled else None,
    )
    return Services(
        settings=settings,
        database=database,
        command_database=command_database,
        source=source,
        channels=channels,
        papers=papers,
        ledger=ledger,
        saves=saves,
        signals=signals,
        ranking=ranking,
        lookup=lookup,
        summaries=summaries,
        summarizer=summarizer,
        router=router,
        runner=runner,
        commands=commands,
        scheduler=scheduler,
        links=links,
        alerts=alerts,
        leases=leases,
    )
