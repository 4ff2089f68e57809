"""One set of ``/arxiv`` command handlers for every platform, and saving by reaction.

An adapter runs a command in two steps: ``prepare(text)`` parses it once (the result says whether it is slow or
mutating, so the adapter can acknowledge first or look up a permission), and ``execute(ctx, prepared)`` runs it.
The permission rule lives here, once: a mutating command from someone who may not manage the channel is refused.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from bot.arxiv import taxonomy
from bot.commands import model as cm
from bot.commands import prepared as preparing
from bot.commands.prepared import PreparedCommand
from bot.commands.replies import (
    categories_text,
    combined,
    counted,
    explanation_text,
    learning_text,
    liked_text,
    ranking_text,
    reset_prompt_text,
    saved_text,
    scope_text,
    settings_text,
    stats_text,
    styled,
    terms_text,
)
from bot.commands.table import COMMAND_NAMES, OTHER, help_text, reset_confirm_command, save_hint, usage_text
from bot.delivery.cards import card_for, make_card
from bot.delivery.runner import DigestRunner
from bot.errors import (
    ArxivBotError,
    MissingArguments,
    PaperNotFound,
    PermissionDenied,
    PublishError,
    SourceError,
    UnknownCommand,
    UserInputError,
)
from bot.exports.bibtex import render_bibtex
from bot.exports.ris import render_ris
from bot.metrics import COMMAND_SECONDS
from bot.models import (
    ChannelRecord,
    CommandContext,
    ExportFile,
    MessageRef,
    Paper,
    Reply,
    Rule,
    RuleKind,
    SignalKind,
    SignalSource,
    personal_ref,
    term_key,
)
from bot.ports import (
    AlertPreferences,
    ChannelRanking,
    ChannelSignalStore,
    CommandChannels,
    CommandLedger,
    FileLinks,
    PaperLookup,
    Papers,
    PaperSource,
    PrivateFiles,
    Publisher,
    SavedLibrary,
    SavedPapers,
    Summarizer,
    UsageReports,
)
from bot.ranking.terms import find_terms
from bot.signals.likes import Liking

log = logging.getLogger(__name__)

MAX_INCLUDE_TERMS = 100
MAX_EXCLUDE_TERMS = 50
MAX_AUTHORS = 50
REFUSAL = "Only people who may manage this channel can change its settings"
"""The core's answer to a refused settings change (a platform may word it its own way: ``ctx.refusal``)."""
FAILED = "Something went wrong on our side; nothing was changed, try again later"


EXPORTS = {
    "bibtex": ("bib", "application/x-bibtex", "BibTeX", render_bibtex),
    "ris": ("ris", "application/x-research-info-systems", "RIS", render_ris),
}
"""Per export format: file extension, media type, name, renderer."""


class CommandSaves(SavedPapers, SavedLibrary, Protocol):
    """The saves roles the command handlers use, together."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandPorts:
    """Everything the handlers reach."""

    channels: CommandChannels
    papers: Papers
    ledger: CommandLedger
    saves: CommandSaves
    runner: DigestRunner
    source: PaperSource
    summarizer: Summarizer
    publisher: Publisher
    signals: ChannelSignalStore
    ranking: ChannelRanking
    lookup: PaperLookup
    """Many papers at once, for ``like``."""
    usage: UsageReports | None = None
    """LLM usage for ``stats`` (None: the command says there is nothing to show)."""
    files: PrivateFiles | None = None
    """Where exported files go privately by default (the adapter may pass its own per command)."""
    links: FileLinks | None = None
    """One-time download links, when a file cannot be sent privately (None: the HTTP server is off)."""
    alert_preferences: AlertPreferences | None = None
    """Who wants version alerts (None: alerts are not kept by this bot)."""


def _subscribe_first(record: ChannelRecord) -> str:
    me = "me " if record.personal else ""
    return f"subscribe to a category first, e.g. /arxiv {me}subscribe cs.DC"


def permitted(ctx: CommandContext, command: PreparedCommand) -> bool:
    """The permission rule: a mutating command from someone who may not manage the channel is refused."""
    return ctx.can_manage or not command.mutating


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
        self._liking = Liking(papers=ports.papers, lookup=ports.lookup, signals=ports.signals, ranking=ports.ranking)
        for name in (*COMMAND_NAMES, OTHER):
            COMMAND_SECONDS.labels(command=name)  # every label exists from the start, at zero

    def prepare(self, text: str) -> PreparedCommand:
        """Parse one command line once; never raises (bad input is answered by ``execute``)."""
        return preparing.prepare(text)

    async def execute(
        self, ctx: CommandContext, command: PreparedCommand | str, *, files: PrivateFiles | None = None
    ) -> Reply:
        """Run one prepared command (a text is prepared first: a convenience for tests and scripts); never raises."""
        prepared = self.prepare(command) if isinstance(command, str) else command
        return await self.execute_many(ctx, [prepared], files=files)

    async def execute_many(
        self, ctx: CommandContext, commands: Sequence[PreparedCommand], *, files: PrivateFiles | None = None
    ) -> Reply:
        """Run prepared commands sent as one request (at least one), in order, with one combined answer.

        Nothing runs when any of them is bad input or refused: the answer is then that one's. Never raises for a
        non-empty list. Every answer is in the one reply style (``replies.styled``). ``files`` sends an exported
        file privately within this request (a Discord interaction); by default ``ports.files`` does.
        """
        if not commands:
            raise ValueError("execute_many needs at least one command")
        for command in commands:
            started = time.monotonic()
            stop = self._before_running(ctx, command)
            if stop is not None:
                COMMAND_SECONDS.labels(command=command.name).observe(time.monotonic() - started)
                return styled(stop)
        replies = []
        for command in commands:
            started = time.monotonic()
            try:
                replies.append(styled(await self._run(ctx, command, files or self._p.files)))
            finally:
                COMMAND_SECONDS.labels(command=command.name).observe(time.monotonic() - started)
        return combined(replies)

    def _before_running(self, ctx: CommandContext, command: PreparedCommand) -> Reply | None:
        """The answer that keeps a prepared command from running (bad input, or refused), or None."""
        if command.error is not None:
            return self._failure(ctx, command, command.error)
        if not permitted(ctx, command):
            return self._failure(ctx, command, PermissionDenied(REFUSAL))
        return None

    async def _run(self, ctx: CommandContext, command: PreparedCommand, files: PrivateFiles | None) -> Reply:
        assert command.command is not None, "a command that did not parse never runs"
        try:
            if isinstance(command.command, cm.ExportSaves):
                return await self._export_saves(ctx, command.command, files)
            return await self._dispatch(ctx, command.command)
        except Exception as err:
            return self._failure(ctx, command, err)

    def _failure(self, ctx: CommandContext, command: PreparedCommand, err: Exception) -> Reply:
        """One line for a failure: the user's mistake as it is, ours without details."""
        platform = ctx.channel.platform
        if isinstance(err, UnknownCommand):
            return Reply(text=f"{err}\n{help_text(platform)}")
        if isinstance(err, MissingArguments) and command.spec is not None:
            return Reply(text=f"{err}\n{usage_text(command.spec, platform)}")
        if isinstance(err, PermissionDenied):
            return Reply(text=ctx.refusal or str(err))
        if isinstance(err, (UserInputError, PaperNotFound)):
            return Reply(text=str(err))
        if isinstance(err, PublishError):
            log.warning("command %r in %s: the platform refused the post: %s", command.text, ctx.channel, err)
            return Reply(text=f"Could not post in this channel ({err}); nothing was posted")
        if isinstance(err, SourceError):
            log.warning("command %r in %s: arXiv failed: %s", command.text, ctx.channel, err)
            return Reply(text=f"arXiv did not answer properly ({err}); nothing was changed, try again later")
        if isinstance(err, ArxivBotError):
            log.error("command %r in %s failed: %s", command.text, ctx.channel, err)
        else:
            log.error("command %r in %s crashed", command.text, ctx.channel, exc_info=err)
        return Reply(text=FAILED)

    async def react(
        self, *, message: MessageRef, user_id: str, added: bool, kind: SignalKind = SignalKind.SAVE
    ) -> Reply | None:
        """A reaction on one of our cards: 🔖 saves (or unsaves) its paper, 👎 (``kind`` DOWN) marks it not for
        this channel (or takes that back); None when the message is not one of our cards."""
        if kind is SignalKind.DOWN:
            return await self._down(message, user_id, source=SignalSource.REACTION, added=added)
        try:
            found = await self._p.ledger.card_paper(message.channel, message.message_id)
            if found is None:
                return None
            channel_id, arxiv_id, version = found
            if added:
                changed = await self._p.saves.save(
                    channel=message.channel,
                    channel_id=channel_id,
                    user_id=user_id,
                    arxiv_id=arxiv_id,
                    version=version,
                )
                verb = "Saved" if changed else "Already saved"
            else:
                changed = await self._p.saves.unsave(channel=message.channel, user_id=user_id, arxiv_id=arxiv_id)
                verb = "Removed from your saved papers:" if changed else "It was not saved:"
            if changed:
                self._p.ranking.signals_changed(channel_id)
            return styled(Reply(text=f"{verb} {await self._card_title(arxiv_id, version)}"))
        except Exception:
            log.exception("reaction on %s by %s failed", message, user_id)
            return styled(Reply(text="could not update your saved papers; try again later"))

    async def not_for_us(self, *, message: MessageRef, user_id: str) -> Reply | None:
        """The "Not for us" button of one of our cards: marks its paper not for this channel, or, pressed again by
        the same person, takes that back; None when the message is not one of our cards."""
        return await self._down(message, user_id, source=SignalSource.BUTTON, added=None)

    async def _down(
        self, message: MessageRef, user_id: str, *, source: SignalSource, added: bool | None
    ) -> Reply | None:
        """Record or remove one person's 👎 from one source; ``added`` None toggles (the button)."""
        try:
            found = await self._p.ledger.card_paper(message.channel, message.message_id)
            if found is None:
                return None
            channel_id, arxiv_id, version = found
            signals = self._p.signals

            async def record() -> bool:
                return await signals.record_down(
                    channel_id=channel_id, arxiv_id=arxiv_id, user_id=user_id, source=source
                )

            async def remove() -> bool:
                return await signals.remove_down(
                    channel_id=channel_id, arxiv_id=arxiv_id, user_id=user_id, source=source
                )

            if added is None:  # the button: pressed again by the same person, it takes the mark back
                added, changed = (False, True) if await remove() else (True, await record())
            else:
                changed = await (record() if added else remove())
            if changed:
                self._p.ranking.signals_changed(channel_id)
            title = await self._card_title(arxiv_id, version)
            if added:
                text = f"{'Marked' if changed else 'Already marked'} as not for this channel: {title}"
                if changed and source is SignalSource.BUTTON:
                    text += " (press Not for us again to undo)"
            else:
                text = f"{'No longer' if changed else 'It was not'} marked as not for this channel: {title}"
            return styled(Reply(text=text))
        except Exception:
            log.exception("👎 on %s by %s failed", message, user_id)
            return styled(Reply(text="could not record that; nothing was changed, try again later"))

    async def _card_title(self, arxiv_id: str, version: int) -> str:
        paper = await self._p.papers.get(arxiv_id, version)
        return f"{arxiv_id}v{version}" + (f" {paper.title}" if paper else "")

    async def _dispatch(self, ctx: CommandContext, command: cm.Command) -> Reply:
        match command:
            case cm.Help():
                return Reply(text=help_text(ctx.channel.platform))
            case cm.Saved():
                return await self._saved(ctx)
            case cm.Stats():
                return await self._stats()
            case cm.Alerts(on):
                return await self._alerts(ctx, on)
            case cm.Unsave(arxiv_id):
                gone = await self._p.saves.unsave(channel=ctx.channel, user_id=ctx.user_id, arxiv_id=arxiv_id)
                here = await self._p.channels.get(ctx.channel) if gone else None
                if here is not None:
                    self._p.ranking.signals_changed(here.id)
                return Reply(
                    text=f"Removed {arxiv_id} from your saved papers" if gone else f"You have not saved {arxiv_id}"
                )
            case cm.Personal(inner):
                return await self._personal(ctx, inner)
        return await self._on_record(ctx, await self._p.channels.get_or_create(ctx.channel), command)

    async def _personal(self, ctx: CommandContext, command: cm.Command) -> Reply:
        """A command on the caller's own digest: the channel commands, on the record keyed by the caller."""
        record = await self._p.channels.get_or_create(personal_ref(ctx.channel, ctx.user_id))
        match command:
            case cm.SwitchPersonal(on):
                changed = await self._p.channels.set_paused(record.id, not on)
                if on:
                    done = "Your digest is on again" if changed else "Your digest was already on"
                    if not record.categories:
                        done += "; subscribe to a category for it, e.g. /arxiv me subscribe cs.LG"
                else:
                    done = (
                        "Your digest is off: nothing more is sent; your settings are kept (/arxiv me on resumes it)"
                        if changed
                        else "Your digest was already off (/arxiv me on resumes it)"
                    )
                return await self._changed(record, done)
        return await self._on_record(ctx, record, command)

    async def _on_record(self, ctx: CommandContext, record: ChannelRecord, command: cm.Command) -> Reply:
        """A command on one channel's record (or a person's own digest)."""
        match command:
            case cm.Subscribe(categories):
                return await self._subscribe(record, categories)
            case cm.Unsubscribe(categories):
                missing = [c for c in categories if c not in record.categories]
                if missing:
                    return Reply(
                        text=f"not subscribed to {', '.join(missing)}; subscribed: {categories_text(record)}"
                    )
                await self._p.channels.remove_categories(record.id, categories)
                return await self._changed(record, f"Unsubscribed from {', '.join(categories)}")
            case cm.Keywords(action, terms):
                rules = [Rule(kind=RuleKind.INCLUDE, term=t.term, weight=t.weight) for t in terms]
                return await self._edit_rules(record, RuleKind.INCLUDE, action, rules, "keywords")
            case cm.Exclude(action, terms):
                rules = [Rule(kind=RuleKind.EXCLUDE, term=t) for t in terms]
                return await self._edit_rules(record, RuleKind.EXCLUDE, action, rules, "exclude terms")
            case cm.Authors(action, name):
                verb = "add" if action == "follow" else "remove"
                done = f"Now following {name}" if verb == "add" else f"No longer following {name}"
                return await self._edit_rules(
                    record, RuleKind.AUTHOR, verb, [Rule(kind=RuleKind.AUTHOR, term=name)], "followed authors", done
                )
            case cm.ShowSettings():
                return Reply(text=settings_text(record))
            case cm.SetTime(time, zone):
                values = {"post_time": time} | ({"timezone": zone} if zone else {})
                await self._p.channels.update(record.id, **values)
                return await self._changed(record, f"Daily post time set to {time} {zone or record.timezone}")
            case cm.SetMax(value):
                await self._p.channels.update(record.id, max_papers=value)
                return await self._changed(record, f"Up to {counted(value, 'paper')} a day")
            case cm.SetMinScore(value):
                await self._p.channels.update(record.id, min_score=value)
                return await self._changed(record, f"Minimum score set to {value:g}")
            case cm.SetCross(value):
                await self._p.channels.update(record.id, include_cross=value)
                return await self._changed(
                    record, f"Cross-listed papers {'included' if value else 'left out'}"
                )
            case cm.SetLanguage(code):
                await self._p.channels.update(record.id, language=code)
                return await self._changed(record, f"Summaries will be written in {code}")
            case cm.DigestNow():
                return await self._digest(record)
            case cm.Preview():
                return await self._preview(record)
            case cm.Summarize(arxiv_id, version):
                return await self._summarize(ctx, record, arxiv_id, version)
            case cm.Like(arxiv_ids):
                outcome = await self._liking.like(
                    channel_id=record.id, arxiv_ids=arxiv_ids, user_id=ctx.user_id, source=SignalSource.LIKE
                )
                status = await self._p.ranking.status(record)
                return Reply(text=f"{liked_text(outcome)}\n{learning_text(status)}")
            case cm.Why(arxiv_id, version):
                paper = await self._paper(arxiv_id, version)
                return Reply(text=explanation_text(paper, await self._p.ranking.explain(record, paper)))
            case cm.ShowRanking():
                return Reply(text=ranking_text(await self._p.ranking.status(record)))
            case cm.SwitchRanking(enabled):
                await self._p.signals.set_ranking_enabled(record.id, enabled)
                self._p.ranking.signals_changed(record.id)
                head = (
                    "Learned ranking switched on"
                    if enabled
                    else "Learned ranking switched off: papers are ranked by keywords only; the signals are kept"
                )
                return Reply(text=f"{head}\n{ranking_text(await self._p.ranking.status(record))}")
            case cm.ResetRanking(confirmed):
                return await self._reset(ctx, record, confirmed=confirmed)
            case cm.Feed():
                if self._feed_base_url is None:
                    return Reply(text="feeds are off: the bot's HTTP server is disabled ([http] enabled = false)")
                url = f"{self._feed_base_url.rstrip('/')}/feeds/{record.feed_token}.xml"
                return Reply(text=f"RSS feed of the papers posted in this channel: {url}")
        raise UserInputError(f"unhandled command {command!r}")  # pragma: no cover - the table parses only these

    async def _subscribe(self, record: ChannelRecord, categories: tuple[str, ...]) -> Reply:
        already = [c for c in categories if c in record.categories]
        new = [c for c in categories if c not in record.categories]
        if not new:
            return Reply(text=f"Already subscribed to {', '.join(already)}; subscribed: {categories_text(record)}")
        await self._p.channels.add_categories(record.id, new)
        archives = [c for c in new if taxonomy.is_archive(c)]
        whole = f" (all of {', '.join(f'{a}.*' for a in archives)})" if archives else ""
        also = f"; already subscribed to {', '.join(already)}" if already else ""
        return await self._changed(record, f"Subscribed to {', '.join(new)}{whole}{also}")

    async def _changed(self, record: ChannelRecord, text: str, fresh: ChannelRecord | None = None) -> Reply:
        """What changed, then the settings as they now are (without repeating the line that said it); ``fresh`` is
        the record as stored now when the caller knows it (else it is read again)."""
        fresh = fresh or await self._p.channels.by_id(record.id)
        assert fresh is not None
        if self._on_schedule_change is not None:
            self._on_schedule_change(fresh)
        settings = [line for line in settings_text(fresh).split("\n") if line != text]
        return Reply(text="\n".join([text, *settings]))

    async def _edit_rules(
        self,
        record: ChannelRecord,
        kind: RuleKind,
        action: str,
        rules: list[Rule],
        what: str,
        done: str | None = None,
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
                return Reply(text=f"not in {what}: {', '.join(missing)}; current: {terms_text(current)}")
            new = [r for r in current if term_key(r.term) not in drop]
        limit = {RuleKind.INCLUDE: MAX_INCLUDE_TERMS, RuleKind.EXCLUDE: MAX_EXCLUDE_TERMS}.get(
            kind, MAX_AUTHORS
        )
        if len(new) > limit:
            return Reply(text=f"too many {what}: a channel can have at most {limit}; remove some first")
        await self._p.channels.replace_rules(record.id, kind, new)
        if done is None:
            given = {term_key(r.term): r for r in rules}  # each term once, as the channel now has it
            now = {term_key(r.term): r for r in new}
            added = [now.get(key, rule) for key, rule in given.items()]
            done = {
                "add": f"Added to {what}: {terms_text(added)}",
                "remove": f"Removed from {what}: {terms_text(list(given.values()))}",
                "set": f"Replaced the {what}",
                "clear": f"Cleared the {what}",
            }[action]
        # The stored record now: the other kinds' rules, then these (the store keeps them in the order added).
        fresh = replace(record, rules=(*(r for r in record.rules if r.kind is not kind), *new))
        return await self._changed(record, done, fresh)

    async def _digest(self, record: ChannelRecord) -> Reply:
        if not record.categories:
            return Reply(text=_subscribe_first(record))
        if record.paused:
            return Reply(text="your digest is off: /arxiv me on resumes it, then /arxiv me digest now sends it")
        outcome = (await self._p.runner.run([record]))[record.ref]
        if outcome.error:
            return Reply(text=f"arXiv did not answer ({outcome.error}); will try again at the next run")
        if outcome.listed == 0:
            return Reply(
                text="no new papers today: arXiv announces Monday to Friday (none on weekends and holidays)"
            )
        if outcome.posted == 0 and outcome.failed == 0:
            done = len(outcome.selected)
            return Reply(
                text=f"nothing new to post: {counted(done, 'matching paper')} {'was' if done == 1 else 'were'} "
                f"already posted ({counted(outcome.listed, 'paper')} listed today)",
                posted=0,
            )
        failed = f"; {outcome.failed} could not be posted and will be retried" if outcome.failed else ""
        if outcome.failed and outcome.refused:
            failed += f" ({outcome.refused})"
        posted = f"Sent you {outcome.posted}" if record.personal else f"Posted {outcome.posted}"
        where = " by direct message" if record.personal else ""
        return Reply(
            text=f"{posted} of {counted(outcome.listed, 'paper')} listed today{where}{failed}",
            posted=outcome.posted,
        )

    async def _preview(self, record: ChannelRecord) -> Reply:
        if not record.categories:
            return Reply(text=_subscribe_first(record))
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
                else f"none of the {counted(listed, 'paper')} listed today is new and matches"
            )
            return Reply(text=f"Today's digest would post nothing: {why}")
        cards = tuple(card_for(s, record.categories) for s in fresh)
        return Reply(text=f"Today's digest would post {counted(len(cards), 'paper')}:", cards=cards)

    async def _paper(self, arxiv_id: str, version: int | None) -> Paper:
        """A stored paper (e.g. from today's listing) as it is, with no wait on arXiv; else fetched and stored."""
        paper: Paper | None = await self._p.papers.get(arxiv_id, version)
        if paper is None:
            paper = await self._p.source.lookup(f"{arxiv_id}v{version}" if version else arxiv_id)
            await self._p.papers.add_many([paper])
        return paper

    async def _reset(self, ctx: CommandContext, record: ChannelRecord, *, confirmed: bool) -> Reply:
        """Without confirmation, what a reset would forget and how to confirm it; with it, the reset."""
        signals = await self._p.signals.channel_signals(record.id)
        if not signals.positives and not signals.negatives:
            return Reply(text=f"Nothing to forget: the ranking has learned nothing {scope_text(record)} yet")
        if not confirmed:
            confirm = reset_confirm_command(ctx.channel.platform)
            if record.personal:
                confirm = confirm.replace("/arxiv ", "/arxiv me ", 1)
            return Reply(text=reset_prompt_text(signals, confirm=confirm, scope=scope_text(record)))
        await self._p.signals.reset_signals(record.id)
        self._p.ranking.signals_changed(record.id)
        forgot = (
            f"Forgot what the ranking learned {scope_text(record)} ({counted(len(signals.positives), 'positive')}, "
            f"{counted(len(signals.negatives), 'negative')}); keywords and saves stay"
        )
        return Reply(text=f"{forgot}\n{ranking_text(await self._p.ranking.status(record))}")

    async def _summarize(
        self, ctx: CommandContext, record: ChannelRecord, arxiv_id: str, version: int | None
    ) -> Reply:
        paper = await self._paper(arxiv_id, version)
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
        if summary.tldr and summary.tldr.strip():
            try:
                await self._p.publisher.update_card(replace(card, tldr=summary.tldr), message=ref)
            except PublishError as err:  # the card and its thread are posted: the TL;DR on the card is a bonus
                log.warning("could not show the TL;DR on the card of %s in %s: %s", paper.versioned_id, ref, err)
        return Reply(text=f"Posted {paper.versioned_id}: {paper.title}", posted=1)

    async def _stats(self) -> Reply:
        if self._p.usage is None:
            return Reply(text="LLM usage is not recorded by this bot")
        return Reply(text=stats_text(await self._p.usage.report()))

    async def _export_saves(self, ctx: CommandContext, command: cm.ExportSaves, files: PrivateFiles | None) -> Reply:
        """The caller's (or the channel's) saved papers as a BibTeX or RIS file, sent to the caller privately, else
        as a one-time link."""
        extension, media_type, label, render = EXPORTS[command.format]
        if command.channel:
            record = await self._p.channels.get(ctx.channel)
            papers = [] if record is None else await self._p.saves.channel_saved_papers(record.id)
            if not papers:
                return Reply(text="nobody has saved a paper in this channel yet")
            name, whose = f"arxiv-channel-saves.{extension}", "saved in this channel"
        else:
            papers = await self._p.saves.user_saved_papers(channel=ctx.channel, user_id=ctx.user_id)
            if not papers:
                return Reply(text=f"you have no saved papers: {save_hint(ctx.channel.platform)}")
            name, whose = f"arxiv-saved.{extension}", "you saved"
        what = f"{counted(len(papers), 'paper')} {whose}"
        file = ExportFile(
            name=name, content=render(papers).encode("utf-8"), media_type=media_type, title=f"{what} ({label})"
        )
        problem = "this platform cannot send files"
        if files is not None:
            try:
                where = await files.send_file(file, channel=ctx.channel, user_id=ctx.user_id)
                return Reply(text=f"Sent you {name} ({label}, {what}) {where}")
            except PublishError as err:
                log.warning("could not send %s privately to %s in %s: %s", name, ctx.user_id, ctx.channel, err)
                problem = str(err)
        if self._p.links is None:
            return Reply(text=f"could not send you the file ({problem}) and the bot's HTTP server is off")
        link = await self._p.links.issue(file)
        minutes = int(self._p.links.ttl.total_seconds() // 60)
        return Reply(text=f"{name} ({label}, {what}): download it once within {minutes} minutes at {link}")

    async def _alerts(self, ctx: CommandContext, on: bool) -> Reply:
        if self._p.alert_preferences is None:
            return Reply(text="version alerts are not kept by this bot")
        changed = await self._p.alert_preferences.set_alerts(channel=ctx.channel, user_id=ctx.user_id, on=on)
        if on:
            done = "Version alerts on" if changed else "Version alerts were already on"
            return Reply(text=f"{done}: you get a private note when a paper you saved gets a new version")
        done = "Version alerts off" if changed else "Version alerts were already off"
        return Reply(text=f"{done}: no more notes about new versions of your saved papers (alerts on to undo)")

    async def _saved(self, ctx: CommandContext) -> Reply:
        saved = await self._p.saves.list(channel=ctx.channel, user_id=ctx.user_id)
        return Reply(text=saved_text(saved, how_to_save=save_hint(ctx.channel.platform)))
