"""One set of ``/arxiv`` command handlers for every platform, and saving by reaction."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.commands import parser as cp
from bot.delivery.cards import card_for, make_card
from bot.delivery.runner import DigestRunner
from bot.errors import ArxivBotError, PermissionDenied, SourceError, UserInputError
from bot.metrics import COMMAND_SECONDS
from bot.models import ChannelRecord, CommandContext, MessageRef, Paper, Reply, Rule, RuleKind, UsageTotals, term_key
from bot.ports import PaperSource, Publisher, Summarizer
from bot.ranking.terms import find_terms
from bot.store.channels import ChannelStore
from bot.store.ledger import DeliveryLedger
from bot.store.papers import PaperStore
from bot.store.saves import SaveStore
from bot.store.summaries import UsageStore

log = logging.getLogger(__name__)

MAX_INCLUDE_TERMS = 100
MAX_EXCLUDE_TERMS = 50
MAX_AUTHORS = 50


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandPorts:
    """Everything the handlers reach."""

    channels: ChannelStore
    papers: PaperStore
    ledger: DeliveryLedger
    saves: SaveStore
    runner: DigestRunner
    source: PaperSource
    summarizer: Summarizer
    publisher: Publisher
    usage: UsageStore | None = None
    """LLM usage for ``stats`` (None: the command says there is nothing to show)."""


class CommandService:
    """Runs ``/arxiv`` commands and reactions; answers every failure with one line and no traceback."""

    def __init__(
        self,
        *,
        ports: CommandPorts,
        on_schedule_change: Callable[[ChannelRecord], None] | None = None,
        feed_base_url: str | None = None,
    ) -> None:
        self._p = ports
        self._on_schedule_change = on_schedule_change
        self._feed_base_url = feed_base_url  # [http] public_url, or None when the HTTP server is off

    @staticmethod
    def is_slow(text: str) -> bool:
        """Whether the command may take longer than a platform's acknowledgement window."""
        try:
            return isinstance(cp.parse_command(text), cp.SLOW)
        except UserInputError:
            return False

    async def execute(self, ctx: CommandContext, text: str) -> Reply:
        """Parse and run one command; never raises."""
        started = time.monotonic()
        try:
            return await self._execute(ctx, text)
        finally:
            name = text.strip().removeprefix("/arxiv").split(maxsplit=1)
            known = name[0].lower() if name and name[0].lower() in cp.COMMAND_NAMES else "other"
            COMMAND_SECONDS.labels(command=known).observe(time.monotonic() - started)

    async def _execute(self, ctx: CommandContext, text: str) -> Reply:
        try:
            command = cp.parse_command(text)
            if isinstance(command, cp.MUTATING) and not ctx.can_manage:
                raise PermissionDenied("only people who may manage this channel can change its settings")
            return await self._dispatch(ctx, command)
        except (UserInputError, PermissionDenied) as err:
            return Reply(text=str(err))
        except SourceError as err:
            log.warning("command %r in %s: arXiv failed: %s", text, ctx.channel, err)
            return Reply(text=f"arXiv did not answer properly ({err}); nothing was changed, try again later")
        except ArxivBotError as err:
            log.error("command %r in %s failed: %s", text, ctx.channel, err)
            return Reply(text="something went wrong on our side; nothing was changed, try again later")
        except Exception:
            log.exception("command %r in %s crashed", text, ctx.channel)
            return Reply(text="something went wrong on our side; nothing was changed, try again later")

    async def react(self, *, message: MessageRef, user_id: str, added: bool) -> Reply | None:
        """Save (or unsave) the paper of one of our cards; None when the message is not one of our cards."""
        try:
            found = await self._p.ledger.card_paper(message.channel, message.message_id)
            if found is None:
                return None
            channel_id, arxiv_id, version = found
            if added:
                new = await self._p.saves.save(
                    channel=message.channel,
                    channel_id=channel_id,
                    user_id=user_id,
                    arxiv_id=arxiv_id,
                    version=version,
                )
                verb = "Saved" if new else "Already saved"
            else:
                gone = await self._p.saves.unsave(channel=message.channel, user_id=user_id, arxiv_id=arxiv_id)
                verb = "Removed from your saved papers:" if gone else "It was not saved:"
            paper = await self._p.papers.get(arxiv_id, version)
            title = f" {paper.title}" if paper else ""
            return Reply(text=f"{verb} {arxiv_id}v{version}{title}".strip())
        except Exception:
            log.exception("reaction on %s by %s failed", message, user_id)
            return Reply(text="could not update your saved papers; try again later")

    async def _dispatch(self, ctx: CommandContext, command: cp.Command) -> Reply:
        match command:
            case cp.Help():
                return Reply(text=cp.HELP_TEXT)
            case cp.Saved():
                return await self._saved(ctx)
            case cp.Stats():
                return await self._stats()
            case cp.Unsave(arxiv_id):
                gone = await self._p.saves.unsave(channel=ctx.channel, user_id=ctx.user_id, arxiv_id=arxiv_id)
                return Reply(
                    text=f"Removed {arxiv_id} from your saved papers" if gone else f"{arxiv_id} was not saved"
                )
        record = await self._p.channels.get_or_create(ctx.channel)
        match command:
            case cp.Subscribe(categories):
                await self._p.channels.add_categories(record.id, categories)
                return await self._changed(record, f"Subscribed to {', '.join(categories)}")
            case cp.Unsubscribe(categories):
                missing = [c for c in categories if c not in record.categories]
                if missing:
                    return Reply(
                        text=f"not subscribed to {', '.join(missing)}; subscribed: {self._cats(record)}"
                    )
                await self._p.channels.remove_categories(record.id, categories)
                return await self._changed(record, f"Unsubscribed from {', '.join(categories)}")
            case cp.Keywords(action, terms):
                rules = [Rule(kind=RuleKind.INCLUDE, term=t.term, weight=t.weight) for t in terms]
                return await self._edit_rules(record, RuleKind.INCLUDE, action, rules, "keywords")
            case cp.Exclude(action, terms):
                rules = [Rule(kind=RuleKind.EXCLUDE, term=t) for t in terms]
                return await self._edit_rules(record, RuleKind.EXCLUDE, action, rules, "exclude terms")
            case cp.Authors(action, name):
                verb = "add" if action == "follow" else "remove"
                return await self._edit_rules(
                    record, RuleKind.AUTHOR, verb, [Rule(kind=RuleKind.AUTHOR, term=name)], "followed authors"
                )
            case cp.ShowSettings():
                return Reply(text=self._settings_text(record))
            case cp.SetTime(time, zone):
                values = {"post_time": time} | ({"timezone": zone} if zone else {})
                await self._p.channels.update(record.id, **values)
                return await self._changed(record, f"Daily post time set to {time} {zone or record.timezone}")
            case cp.SetMax(value):
                await self._p.channels.update(record.id, max_papers=value)
                return await self._changed(record, f"Up to {value} papers a day")
            case cp.SetMinScore(value):
                await self._p.channels.update(record.id, min_score=value)
                return await self._changed(record, f"Minimum score set to {value:g}")
            case cp.SetCross(value):
                await self._p.channels.update(record.id, include_cross=value)
                return await self._changed(
                    record, f"Cross-listed papers {'included' if value else 'left out'}"
                )
            case cp.SetLanguage(code):
                await self._p.channels.update(record.id, language=code)
                return await self._changed(record, f"Summaries will be written in {code}")
            case cp.DigestNow():
                return await self._digest(record)
            case cp.Preview():
                return await self._preview(record)
            case cp.Summarize(arxiv_id, version):
                return await self._summarize(ctx, record, arxiv_id, version)
            case cp.Feed():
                if self._feed_base_url is None:
                    return Reply(text="feeds are off: the bot's HTTP server is disabled ([http] enabled = false)")
                url = f"{self._feed_base_url.rstrip('/')}/feeds/{record.feed_token}.xml"
                return Reply(text=f"RSS feed of the papers posted in this channel: {url}")
        raise UserInputError(
            f"unhandled command {command!r}"
        )  # pragma: no cover - parse_command is exhaustive

    async def _changed(self, record: ChannelRecord, text: str) -> Reply:
        fresh = await self._p.channels.by_id(record.id)
        assert fresh is not None
        if self._on_schedule_change is not None:
            self._on_schedule_change(fresh)
        return Reply(text=text + "\n" + self._settings_text(fresh))

    async def _edit_rules(
        self, record: ChannelRecord, kind: RuleKind, action: str, rules: list[Rule], what: str
    ) -> Reply:
        current = list(record.terms(kind))
        keys = [term_key(r.term) for r in current]
        if action == "clear":
            new: list[Rule] = []
        elif action == "set":
            new = list({term_key(r.term): r for r in rules}.values())
        elif action == "add":
            new = list(current)
            for rule in rules:
                key = term_key(rule.term)
                if key in keys:
                    new[keys.index(key)] = rule
                else:
                    new.append(rule)
                    keys.append(key)
        else:
            drop = {term_key(r.term) for r in rules}
            missing = [r.term for r in rules if term_key(r.term) not in keys]
            if missing:
                return Reply(text=f"not in {what}: {', '.join(missing)}; current: {self._terms(current)}")
            new = [r for r in current if term_key(r.term) not in drop]
        limit = {RuleKind.INCLUDE: MAX_INCLUDE_TERMS, RuleKind.EXCLUDE: MAX_EXCLUDE_TERMS}.get(
            kind, MAX_AUTHORS
        )
        if len(new) > limit:
            return Reply(text=f"too many {what}: a channel can have at most {limit}; remove some first")
        await self._p.channels.replace_rules(record.id, kind, new)
        return await self._changed(record, f"{what.capitalize()}: {self._terms(new)}")

    async def _digest(self, record: ChannelRecord) -> Reply:
        if not record.categories:
            return Reply(text="subscribe to a category first, e.g. /arxiv subscribe cs.DC")
        outcome = (await self._p.runner.run([record]))[record.ref]
        if outcome.error:
            return Reply(text=f"arXiv did not answer ({outcome.error}); will try again at the next run")
        if outcome.listed == 0:
            return Reply(
                text="no new papers today: arXiv announces Monday to Friday (none on weekends and holidays)"
            )
        if outcome.posted == 0 and outcome.failed == 0:
            return Reply(
                text=f"nothing new to post: {len(outcome.selected)} matching papers were already posted "
                f"({outcome.listed} papers listed today)",
                posted=0,
            )
        failed = f"; {outcome.failed} could not be posted and will be retried" if outcome.failed else ""
        return Reply(
            text=f"Posted {outcome.posted} of {outcome.listed} papers listed today{failed}",
            posted=outcome.posted,
        )

    async def _preview(self, record: ChannelRecord) -> Reply:
        if not record.categories:
            return Reply(text="subscribe to a category first, e.g. /arxiv subscribe cs.DC")
        selection = await self._p.runner.select([record])
        if record.ref in selection.errors:
            return Reply(text=f"arXiv did not answer ({selection.errors[record.ref]}); try again later")
        picks = selection.picks.get(record.ref, [])
        done = await self._p.ledger.delivered_ids(record.id, (s.paper.arxiv_id for s in picks))
        fresh = [s for s in picks if s.paper.arxiv_id not in done]
        if not fresh:
            listed = selection.listed.get(record.ref, 0)
            why = (
                "no new papers today"
                if listed == 0
                else f"none of {listed} papers listed today is new and matches"
            )
            return Reply(text=f"digest now would post nothing: {why}")
        cards = tuple(card_for(s, record.categories) for s in fresh)
        return Reply(text=f"digest now would post {len(cards)} papers:", cards=cards)

    async def _summarize(
        self, ctx: CommandContext, record: ChannelRecord, arxiv_id: str, version: int | None
    ) -> Reply:
        paper: Paper | None = await self._p.papers.get(arxiv_id, version) if version is not None else None
        if paper is None:
            paper = await self._p.source.lookup(f"{arxiv_id}v{version}" if version else arxiv_id)
            await self._p.papers.add_many([paper])
        include = [r.term for r in record.terms(RuleKind.INCLUDE)]
        matched = find_terms(f"{paper.title}\n{paper.abstract}", include)
        card = make_card(
            paper,
            channel_categories=record.categories,
            score=0.0,
            matched=tuple(t for t in include if t in matched),
            requested_by=ctx.user_name,
        )
        ref = await self._p.publisher.post_card(card, channel=ctx.channel)
        await self._p.ledger.record_card(record.id, ref.message_id, paper)
        summary = await self._p.summarizer.summarize(paper, language=record.language)
        await self._p.publisher.post_thread(summary, parent=ref)
        return Reply(text=f"Posted {paper.versioned_id}: {paper.title}", posted=1)

    async def _stats(self) -> Reply:
        if self._p.usage is None:
            return Reply(text="LLM usage is not recorded by this bot")
        report = await self._p.usage.report()

        def line(label: str, t: UsageTotals) -> str:
            failed = f" ({t.failures} failed)" if t.failures else ""
            lookups = t.cache_hits + t.cache_misses
            rate = "no lookups" if t.hit_rate is None else f"{t.hit_rate:.0%} ({t.cache_hits} of {lookups} lookups)"
            return (
                f"{label}: {t.calls} LLM calls{failed}, {t.tokens:,} tokens ({t.input_tokens:,} in, "
                f"{t.output_tokens:,} out), ${t.cost_usd:.4f}; summary cache hit rate {rate}"
            )

        head = (
            f"LLM summaries with {report.model}; daily budget ${report.today.cost_usd:.2f} of "
            f"${report.daily_budget_usd:.2f} spent (UTC day)"
            if report.model
            else "No language model is configured: threads get extractive summaries (no LLM calls)"
        )
        return Reply(
            text="\n".join(
                [
                    head,
                    line(f"Today ({report.day.isoformat()})", report.today),
                    line(f"This month ({report.day:%Y-%m})", report.month),
                ]
            )
        )

    async def _saved(self, ctx: CommandContext) -> Reply:
        saved = await self._p.saves.list(channel=ctx.channel, user_id=ctx.user_id)
        if not saved:
            return Reply(text="you have no saved papers: react with the bookmark emoji on a paper to save it")
        lines = [f"Your saved papers ({len(saved)}), newest first:"]
        for s in saved:
            lines.append(
                f"• {s.arxiv_id}v{s.version} {s.title or ''} https://arxiv.org/abs/{s.arxiv_id}v{s.version}"
            )
        return Reply(text="\n".join(lines))

    @staticmethod
    def _cats(record: ChannelRecord) -> str:
        return ", ".join(record.categories) or "none"

    @staticmethod
    def _terms(rules: list[Rule] | tuple[Rule, ...]) -> str:
        if not rules:
            return "none"
        return ", ".join(r.term if r.weight == 1.0 else f"{r.term}^{r.weight:g}" for r in rules)

    def _settings_text(self, record: ChannelRecord) -> str:
        return "\n".join(
            [
                f"Categories: {self._cats(record)}",
                f"Keywords: {self._terms(record.terms(RuleKind.INCLUDE))}",
                f"Exclude: {self._terms(record.terms(RuleKind.EXCLUDE))}",
                f"Followed authors: {self._terms(record.terms(RuleKind.AUTHOR))}",
                f"Posts at {record.post_time} {record.timezone}, Monday to Friday; up to {record.max_papers} papers "
                f"with score >= {record.min_score:g}; cross-lists {'on' if record.include_cross else 'off'}; "
                f"language {record.language}",
            ]
        )
