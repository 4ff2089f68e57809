"""The ``arxiv-bot`` command line.

Parsing the arguments imports nothing heavy: ``--help`` and a mistyped argument answer at once. Each command imports
what it needs (SQLAlchemy, alembic, aiohttp, the platforms, litellm) when it runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, NoReturn

from adapters.startup import (
    NO_PLATFORM,
    console_input_missing,
    platform_tokens_set,
    start_plan,
)
from bot.config import Settings, level_for, load_settings
from bot.errors import ArxivBotError, ConfigError, UserInputError
from bot.logs import configure_logging, mask_secrets, secret_values

if TYPE_CHECKING:
    from adapters.composition import Services
    from adapters.slack.publisher import SlackPublisher
    from bot.delivery.runner import ChannelOutcome
    from bot.models import ChannelRecord, ScoredPaper

EXIT_USAGE = 2
EXPORT_FORMATS = ("markdown", "bibtex", "ris")


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, exit code 2."""

    def error(self, message: str) -> NoReturn:
        """Print one line and exit 2."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> OneLineParser:
    """The command-line grammar."""
    parser = OneLineParser(
        prog="arxiv-bot", description="New arXiv papers in your Slack and Discord channels."
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    run = sub.add_parser("run", help="run the bot (console chat when no Slack or Discord token is set)")
    run.add_argument("--console", action="store_true", help="use the console chat even when tokens are set")
    sub.add_parser("console", help="run the bot with the console chat")
    sub.add_parser("migrate", help="apply database migrations")
    sub.add_parser("check-config", help="validate config.toml and the environment, then print the settings")
    sub.add_parser("discord-invite", help="print the URL that adds the bot to a Discord server")
    preview = sub.add_parser(
        "preview", help="score today's papers for categories and keywords; posts nothing"
    )
    preview.add_argument("categories", nargs="+", metavar="CAT")
    preview.add_argument("--keywords", default="", help='comma separated, e.g. "LLM, speculative decoding"')
    preview.add_argument("--exclude", default="", help="comma separated terms that drop a paper")
    preview.add_argument("--limit", type=int, default=10, help="how many papers (1-2000, default 10)")
    preview.add_argument("--cross", action="store_true", help="include cross-listed papers")
    preview.add_argument("--json", action="store_true", help="one JSON object per line")
    summarize = sub.add_parser("summarize", help="look up one paper and print its summary")
    summarize.add_argument("paper_id", metavar="ID")
    summarize.add_argument("--json", action="store_true", help="print one JSON object")
    digest = sub.add_parser("digest", help="run one channel's digest now")
    digest.add_argument("--channel", required=True, metavar="PLATFORM:ID")
    export = sub.add_parser(
        "export", help="print a channel's posted (or --saved) papers as a markdown digest, BibTeX or RIS"
    )
    export.add_argument("--channel", required=True, metavar="PLATFORM:ID")
    export.add_argument(
        "--format", choices=EXPORT_FORMATS, default="markdown", help="output format (default markdown)"
    )
    export.add_argument(
        "--since", metavar="DATE", help="only papers posted (or saved) on or after DATE (YYYY-MM-DD, UTC)"
    )
    export.add_argument("--saved", action="store_true", help="the papers saved in the channel, not those posted")
    library = sub.add_parser(
        "import", help="add a paper library to a channel's taste: BibTeX, or one arXiv id or URL a line"
    )
    library.add_argument("--channel", required=True, metavar="PLATFORM:ID")
    library.add_argument("file", metavar="FILE", help="a .bib file, or a text file with one arXiv id or URL a line")
    return parser


def build_services(settings: Settings) -> Services:
    """The wired core (imported on first use: it loads SQLAlchemy and the stores)."""
    from adapters.composition import build_services as build

    return build(settings)


async def close_services(services: Services) -> None:
    """Stop the core's work and close its connections (see ``adapters.runtime.close_services``)."""
    from adapters.runtime import close_services as close

    await close(services)


async def migrate(settings: Settings) -> None:
    """Apply every database migration (imported on first use: it loads alembic)."""
    from adapters.composition import migrate as upgrade

    await upgrade(settings)


def paper_json(selected: ScoredPaper) -> dict[str, object]:
    """The JSON line for one selected paper."""
    p = selected.paper
    return {
        "id": p.versioned_id,
        "title": p.title,
        "authors": list(p.authors),
        "score": selected.score,
        "matched": list(selected.matched),
        "announce_type": p.announce_type.value,
        "categories": list(p.categories),
        "primary_category": p.primary_category,
        "abs_url": p.abs_url,
    }


async def _preview(settings: Settings, args: argparse.Namespace) -> int:
    from adapters.composition import build_source
    from adapters.console.render import render_card
    from bot.arxiv import taxonomy
    from bot.commands.parser import split_terms
    from bot.delivery.cards import card_for
    from bot.models import ChannelRef
    from bot.ranking.keywords import ChannelProfile, KeywordRule, score_papers
    from bot.ranking.terms import validate_term

    categories = []
    for word in args.categories:
        canonical = taxonomy.canonical_category(word)
        if canonical is None:
            close = ", ".join(taxonomy.closest_categories(word)) or "none"
            raise UserInputError(f"{word!r} is not an arXiv category; closest: {close}")
        categories.append(canonical)
    if not 1 <= args.limit <= 2000:
        raise UserInputError(f"--limit {args.limit} is out of range: use a number from 1 to 2000")
    include = tuple(KeywordRule(term=validate_term(t)) for t in split_terms(args.keywords))
    exclude = tuple(validate_term(t) for t in split_terms(args.exclude))
    ref = ChannelRef("cli", "local", "preview")
    profile = ChannelProfile(
        channel=ref,
        categories=frozenset(categories),
        include=include,
        exclude=exclude,
        include_cross=args.cross,
        max_papers=args.limit,
        min_score=settings.channel.min_score,
        author_bonus=settings.channel.author_bonus,
    )
    source = build_source(settings)
    try:
        listing = await source.fetch_listing(categories)
    finally:
        await source.aclose()
    picks = score_papers(list(listing.papers), [profile]).get(ref, [])
    for number, selected in enumerate(picks, 1):
        if args.json:
            print(json.dumps(paper_json(selected), ensure_ascii=False))
        else:
            print(render_card(card_for(selected, tuple(categories)), number))
    if not args.json:
        print(f"{len(picks)} of {len(listing.papers)} papers listed selected")
    return 0


async def _summarize(settings: Settings, args: argparse.Namespace) -> int:
    from adapters.console.render import render_thread

    await migrate(settings)  # summaries are stored in the database, read back on the next run
    services = build_services(settings)
    try:
        paper = await services.source.lookup(args.paper_id)
        summary = await services.summarizer.summarize(paper, language=settings.channel.language)
    finally:
        await close_services(services)
    if args.json:
        print(
            json.dumps(
                {
                    "id": paper.versioned_id,
                    "title": paper.title,
                    "authors": list(paper.authors),
                    "primary_category": paper.primary_category,
                    "categories": list(paper.categories),
                    "heading": summary.heading,
                    "tldr": summary.tldr,
                    "note": summary.note,
                    "sections": [{"title": s.title, "body": s.body} for s in summary.sections],
                },
                ensure_ascii=False,
            )
        )
    else:
        print(f"{paper.title} ({paper.versioned_id})\n{paper.abs_url}")
        print(render_thread(summary))
    return 0


async def _connect_publisher(services: Services, platform: str, settings: Settings) -> SlackPublisher | None:
    """Register a publisher for ``platform`` without starting its event listener (the CLI only posts); the Slack
    one is returned, to be closed after."""
    if platform == "console":
        from adapters.console.adapter import ConsolePublisher

        services.router.add("console", ConsolePublisher(out=sys.stdout))
        return None
    if platform == "slack":
        from adapters.slack.tokens import oauth_credentials, uses_oauth

        if uses_oauth(os.environ):  # many workspaces: each post finds its team's token among the installations
            from adapters.runtime import slack_installations
            from adapters.slack.runtime import installed_publisher

            client_id, client_secret = oauth_credentials(os.environ)
            installations = slack_installations(services, settings, client_id=client_id, client_secret=client_secret)
            await installations.create_tables()
            publisher = installed_publisher(settings.slack, installations)
            services.router.add("slack", publisher)
            return publisher
        from adapters.slack.runtime import connect_slack_publisher

        slack = await connect_slack_publisher(settings.slack, os.environ)
        services.router.add("slack", slack.publisher)
        return slack.publisher
    raise UserInputError(
        f"digest --channel cannot post to {platform} from the command line: use /arxiv digest-now in the "
        "channel (console and slack channels work here)"
    )


async def _digest(settings: Settings, args: argparse.Namespace) -> int:
    platform, sep, channel_id = args.channel.partition(":")
    if not sep or not platform or not channel_id:
        raise UserInputError(f"--channel {args.channel!r} is invalid: use PLATFORM:ID, e.g. console:console")
    services = build_services(settings)
    stopped: list[str] = []
    try:
        record = await services.channels.find(platform, channel_id)
        if record is None:
            raise UserInputError(f"no channel {args.channel!r} is known: subscribe it to a category first")
        publisher = await _connect_publisher(services, platform, settings)
        try:
            outcome = await _run_until_signal(services, record, stopped)
        finally:
            if publisher is not None:
                await publisher.aclose()
    finally:
        await close_services(services)
    if outcome is None:
        print(f"{args.channel}: stopped by {stopped[0]} before posting; its papers stay pending for the next run")
        return 0
    print(
        f"{args.channel}: {outcome.posted} posted, {outcome.failed} failed, {outcome.listed} listed"
        + (f"; error: {outcome.error}" if outcome.error else "")
        + (
            f"; stopped by {stopped[0]}: {outcome.unfinished} papers with a card or thread still to post stay pending"
            " for the next run"
            if stopped
            else ""
        )
    )
    if stopped:
        return 0
    return 0 if outcome.failed == 0 and outcome.error is None else 1


async def _run_until_signal(services: Services, record: ChannelRecord, stopped: list[str]) -> ChannelOutcome | None:
    """Run one channel's digest; SIGTERM/SIGINT stop it as they stop ``run``: no new post starts, the post in flight
    finishes and is recorded (a digest still running after the grace is cancelled). None if stopped before it
    posted anything."""
    import asyncio
    import contextlib

    from adapters.runtime import DRAIN_S, SHUTDOWN_GRACE_S

    loop = asyncio.get_running_loop()
    digest = asyncio.ensure_future(services.runner.run([record]))
    signalled = asyncio.Event()

    def on_signal(name: str) -> None:
        stopped.append(name)
        services.runner.stop()
        signalled.set()

    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal, sig.name)
    try:
        waiting = asyncio.ensure_future(signalled.wait())
        await asyncio.wait({digest, waiting}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if not digest.done():
            done, _ = await asyncio.wait({digest}, timeout=SHUTDOWN_GRACE_S)
            if not done:
                digest.cancel()
            await services.runner.drain(timeout_s=DRAIN_S)
        try:
            return (await digest)[record.ref]
        except asyncio.CancelledError:
            if stopped:
                return None
            raise
    finally:
        for sig in signals:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)


async def _export(settings: Settings, args: argparse.Namespace) -> int:
    from bot.exports.bibtex import render_bibtex
    from bot.exports.markdown import ChannelDigest, render_markdown
    from bot.exports.ris import render_ris

    platform, sep, channel_id = args.channel.partition(":")
    if not sep or not platform or not channel_id:
        raise UserInputError(f"--channel {args.channel!r} is invalid: use PLATFORM:ID, e.g. slack:C0123456")
    since: date | None = None
    if args.since is not None:
        try:
            since = date.fromisoformat(args.since)
        except ValueError:
            raise UserInputError(f"--since {args.since!r} is invalid: use a date YYYY-MM-DD, e.g. 2026-01-05") from None
    saved = bool(getattr(args, "saved", False))
    if saved and args.format == "markdown":
        raise UserInputError("--saved exports BibTeX or RIS: add --format bibtex or --format ris")
    services = build_services(settings)
    try:
        record = await services.channels.find(platform, channel_id)
        if record is None:
            raise UserInputError(f"no channel {args.channel!r} is known: check the platform and channel id")
        start = None if since is None else datetime.combine(since, time.min, tzinfo=UTC)
        if saved:
            papers = await services.saves.channel_saved_papers(record.id, since=start)
        else:
            posted = await services.ledger.posted_papers(record.id, since=start)
            papers = [p.paper for p in posted]
            if args.format == "markdown":
                summaries = await services.summaries.newest_for(papers, language=record.language)
    finally:
        await close_services(services)
    if args.format == "bibtex":
        sys.stdout.write(render_bibtex(papers))
    elif args.format == "ris":
        sys.stdout.write(render_ris(papers))
    else:
        digest = ChannelDigest(
            channel=args.channel, categories=record.categories, papers=posted, summaries=summaries, since=since
        )
        sys.stdout.write(render_markdown(digest))
    return 0


MAX_LIBRARY_BYTES = 50_000_000
"""A library file larger than this is refused (a BibTeX export of tens of thousands of entries is far smaller)."""
MAX_PROBLEMS_SHOWN = 50
LIBRARY_FORMS = "give a BibTeX file, or a text file with one arXiv id or URL a line"


def read_library(path: str) -> str:
    """A library file's text; a one-line ``UserInputError`` for a missing, unreadable, huge or non-text file."""
    from pathlib import Path

    try:
        data = Path(path).read_bytes()[: MAX_LIBRARY_BYTES + 1]
    except OSError as err:
        raise UserInputError(f"cannot read {path}: {err.strerror or err}") from None
    if len(data) > MAX_LIBRARY_BYTES:
        raise UserInputError(f"{path} is larger than {MAX_LIBRARY_BYTES // 1_000_000} MB: split it")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserInputError(f"{path} is not a UTF-8 text file: {LIBRARY_FORMS}") from None
    if "\x00" in text:
        raise UserInputError(f"{path} is not a text file: {LIBRARY_FORMS}")
    return text


async def _import(settings: Settings, args: argparse.Namespace) -> int:
    from bot.models import SignalSource
    from bot.signals.library import scan_library
    from bot.signals.likes import Liking

    platform, sep, channel_id = args.channel.partition(":")
    if not sep or not platform or not channel_id:
        raise UserInputError(f"--channel {args.channel!r} is invalid: use PLATFORM:ID, e.g. slack:C0123456")
    scan = scan_library(read_library(args.file))
    for problem in scan.problems[:MAX_PROBLEMS_SHOWN]:
        print(f"{args.file}: {problem}")
    if len(scan.problems) > MAX_PROBLEMS_SHOWN:
        print(f"{args.file}: and {len(scan.problems) - MAX_PROBLEMS_SHOWN} more bad entries")
    skipped = f"{len(scan.without_arxiv)} without an arXiv id, {len(scan.problems)} bad"
    if not scan.ids:
        raise UserInputError(
            f"no arXiv ids in {args.file} ({scan.entries} entries read: {skipped}); nothing was stored"
        )
    services = build_services(settings)
    try:
        record = await services.channels.find(platform, channel_id)
        if record is None:
            raise UserInputError(f"no channel {args.channel!r} is known: subscribe it to a category first")
        liking = Liking(
            papers=services.papers, lookup=services.lookup, signals=services.signals, ranking=services.ranking
        )
        outcome = await liking.like(
            channel_id=record.id, arxiv_ids=scan.ids, user_id="import", source=SignalSource.IMPORT
        )
    finally:
        await close_services(services)
    if outcome.unknown:
        print(f"{args.file}: not on arXiv, nothing stored: {', '.join(outcome.unknown)}")
    print(
        f"{args.channel}: {outcome.found} found ({len(outcome.liked)} added to the channel's taste, "
        f"{len(outcome.duplicates)} duplicates), {len(outcome.unknown)} unknown; {skipped}"
    )
    return 0


def check_platform_secrets(settings: Settings, env: Mapping[str, str], *, force_console: bool = False) -> None:
    """Check every secret the platforms ``run`` starts need, for presence and shape, as starting them does;
    a one-line ConfigError for the first one wrong. Nothing is called: only the platform can say it refuses one."""
    from adapters.discord.tokens import dev_guild_id, discord_shards, discord_token
    from adapters.slack.tokens import slack_secrets
    from adapters.startup import uses_discord, uses_slack

    if force_console:
        return
    if uses_slack(env):
        slack_secrets(settings.slack, env, http_server=settings.http.enabled)
    if uses_discord(env):
        discord_token(env)
        dev_guild_id(settings.discord)
        discord_shards(settings.discord)


def _check_config(settings: Settings, env: Mapping[str, str]) -> int:
    """Every setting (secrets masked), what ``run`` will start, and the platform secrets checked as ``run`` does."""
    hidden = secret_values(env)
    for section, values in settings.__dict__.items():
        for key, value in values.__dict__.items():
            print(mask_secrets(f"[{section}] {key} = {value!r}", hidden))
    check_platform_secrets(settings, env)
    print("run will start: " + ", ".join(start_plan(settings, env)))
    if not platform_tokens_set(env) and console_input_missing(sys.stdin):
        print(f"run would stop at once: {NO_PLATFORM}")
    print("config OK")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``arxiv-bot`` command."""
    args = build_parser().parse_args(argv)
    import asyncio  # after parsing: --help and argument errors answer without it

    try:
        settings = load_settings()
    except ConfigError as err:
        print(f"arxiv-bot: config error: {err}", file=sys.stderr)
        return EXIT_USAGE
    implied_console = args.command == "run" and not args.console and not platform_tokens_set()
    console = args.command == "console" or (args.command == "run" and args.console) or implied_console
    terminal_is_output = console or args.command in ("preview", "summarize", "digest", "export", "import")
    configure_logging(level=level_for(settings.log, terminal_is_output=terminal_is_output), fmt=settings.log.format)
    try:
        if args.command == "check-config":
            return _check_config(settings, os.environ)
        if args.command == "discord-invite":
            from adapters.discord.invite import run_invite

            return run_invite(settings)
        if args.command == "migrate":
            asyncio.run(migrate(settings))
            print("database is up to date")
            return 0
        if args.command in ("run", "console"):
            if implied_console and console_input_missing(sys.stdin):
                print(f"arxiv-bot: {NO_PLATFORM}", file=sys.stderr)
                return EXIT_USAGE
            check_platform_secrets(settings, os.environ, force_console=console)  # before the database is touched
            from adapters.runtime import run_bot
            from bot.store.process_lock import single_process_lock

            lock = single_process_lock(settings.database.url)  # one bot per SQLite file, for its whole life
            try:
                asyncio.run(migrate(settings))
                asyncio.run(run_bot(settings, force_console=console))
            finally:
                if lock is not None:
                    lock.release()
            return 0
        if args.command == "preview":
            return asyncio.run(_preview(settings, args))
        if args.command == "summarize":
            return asyncio.run(_summarize(settings, args))
        if args.command == "digest":
            return asyncio.run(_digest(settings, args))
        if args.command == "export":
            return asyncio.run(_export(settings, args))
        if args.command == "import":
            return asyncio.run(_import(settings, args))
    except UserInputError as err:
        print(f"arxiv-bot: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as err:
        print(f"arxiv-bot: config error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except ArxivBotError as err:
        print(f"arxiv-bot: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as err:
        logging.getLogger("arxiv-bot").debug("unexpected failure", exc_info=True)
        print(f"arxiv-bot: unexpected failure: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
