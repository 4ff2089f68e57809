"""The console adapter: stdin lines become commands from user ``you`` in channel ``console``; posts print (the
cards of ``you``'s personal digest, ``/arxiv me ...``, say so)."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

from adapters.console.render import (
    CommandLine,
    NotForUs,
    Quit,
    Reaction,
    Unknown,
    render_card,
    render_card_update,
    render_reply,
    render_thread,
    to_input,
)
from bot.arxiv.http import RetryNotice
from bot.commands.service import CommandService
from bot.delivery.thread_parts import post_parts
from bot.errors import PublishError, PublishRefused
from bot.models import ChannelRef, CommandContext, ExportFile, MessageRef, PaperCard, PostKey, Reply, ThreadSummary
from bot.ports import ThreadJournal

CONSOLE_CHANNEL = ChannelRef("console", "local", "console")
CONSOLE_USER = "you"
EXPORT_DIR = Path("data/exports")
"""Where the console writes exported files (relative to the working directory, beside the default database)."""
BANNER = (
    "arxiv-bot console. Type /arxiv help for commands, 'react N' to save card #N (🔖), 'unreact N' to unsave,\n"
    "'down N' (or 'react N 👎') if card #N is not for this channel, 'quit' (or Ctrl-D) to leave.\n"
    "Try: /arxiv subscribe cs.DC  then  /arxiv keywords add LLM  then  /arxiv digest now"
)


class ConsoleProgress:
    """One line saying what the bot waits for (arXiv retries), instead of log lines in the chat.

    On a terminal the line is rewritten in place and wiped before the next output; elsewhere (a pipe, a file) each
    notice is a line of its own.
    """

    def __init__(self, *, out: TextIO) -> None:
        self._out = out
        self._terminal = out.isatty()
        self._shown = 0

    def arxiv_retrying(self, notice: RetryNotice) -> None:
        """arXiv did not answer: say which retry comes, and when."""
        self.show(f"arXiv did not answer, retrying {notice.attempt}/{notice.attempts} in {notice.delay_s:.0f} s")

    def show(self, text: str) -> None:
        """Show ``text`` as the progress line."""
        if self._terminal:
            self._out.write("\r" + text.ljust(self._shown))
            self._shown = len(text)
        else:
            self._out.write(text + "\n")
        self._out.flush()

    def clear(self) -> None:
        """Wipe the progress line (on a terminal) so that the next output starts on a clean line."""
        if self._shown:
            self._out.write("\r" + " " * self._shown + "\r")
            self._out.flush()
            self._shown = 0


class ConsolePublisher:
    """Prints cards and their threads; remembers card numbers for reactions."""

    def __init__(
        self, *, out: TextIO, progress: ConsoleProgress | None = None, export_dir: Path = EXPORT_DIR
    ) -> None:
        self._out = out
        self._progress = progress
        self._export_dir = export_dir
        self._session = format(time.time_ns() // 1_000_000, "x")
        self._count = 0
        self.cards: dict[int, MessageRef] = {}

    def _print(self, text: str) -> None:
        if self._progress is not None:
            self._progress.clear()
        print(text, file=self._out, flush=True)

    async def post_card(self, card: PaperCard, *, channel: ChannelRef, key: PostKey | None = None) -> MessageRef:
        """Print a card and return its reference (a terminal keeps no history to look a key up in)."""
        self._count += 1
        ref = MessageRef(channel, f"{self._session}-{self._count}")
        self.cards[self._count] = ref
        self._print(render_card(card, self._count, personal_for=channel.owner))
        return ref

    async def update_card(self, card: PaperCard, *, message: MessageRef, key: PostKey | None = None) -> None:
        """Reprint a card's title under its number with what changed, its TL;DR (a terminal cannot change what it
        printed)."""
        number = next((n for n, ref in self.cards.items() if ref == message), None)
        if number is None:
            raise PublishRefused(f"{message.message_id} is not a card this console printed")
        self._print(render_card_update(card, number))

    async def post_thread(
        self, summary: ThreadSummary, *, parent: MessageRef, journal: ThreadJournal | None = None
    ) -> MessageRef:
        """Print a thread reply (one part) under its card."""
        number = next((n for n, ref in self.cards.items() if ref == parent), None)
        label = f" (thread of #{number})" if number is not None else ""
        text = render_thread(summary).replace("── thread:", f"── thread{label}:", 1)

        async def send(part: str, _key: PostKey | None) -> str:
            self._print(part)
            return f"{parent.message_id}/thread"

        await post_parts([text], journal=journal, send=send)
        return MessageRef(parent.channel, f"{parent.message_id}/thread")

    async def send_reply(self, reply: Reply, *, channel: ChannelRef, user_id: str | None) -> None:
        """Print a reply."""
        self._print(render_reply(reply, self._count + 1))

    async def send_note(self, text: str, *, channel: ChannelRef, user_id: str, key: PostKey) -> str:
        """Print a private note (the console has one person)."""
        self._print(f"── note for {user_id}: {text}")
        return f"note-{key.value}"

    async def reply_in_thread(self, text: str, *, parent: MessageRef, key: PostKey) -> str:
        """Print a reply under a card's thread."""
        number = next((n for n, ref in self.cards.items() if ref == parent), None)
        self._print(f"── thread{f' of #{number}' if number is not None else ''}: {text}")
        return f"{parent.message_id}/alert-{key.value}"

    async def send_file(self, file: ExportFile, *, channel: ChannelRef, user_id: str) -> str:
        """Write the file into the export folder (never over an earlier one); the answer names its path."""
        try:
            self._export_dir.mkdir(parents=True, exist_ok=True)
            stem, dot, extension = file.name.rpartition(".")
            path, n = self._export_dir / file.name, 0
            while True:
                try:
                    with path.open("xb") as handle:
                        handle.write(file.content)
                    break
                except FileExistsError:
                    n += 1
                    path = self._export_dir / f"{stem}-{n}{dot}{extension}"
        except OSError as err:
            raise PublishError(f"could not write {file.name} into {self._export_dir}: {err.strerror or err}") from None
        return f"as the file {path}"


class ConsoleChat:
    """Reads commands from a stream until it ends."""

    def __init__(
        self, *, commands: CommandService, publisher: ConsolePublisher, stream: TextIO | None = None
    ) -> None:
        self._commands = commands
        self._publisher = publisher
        self._stream = stream if stream is not None else sys.stdin

    async def run(self) -> None:
        """Handle every line until end of input."""
        if self._stream.isatty():
            await self._publisher.send_reply(Reply(text=BANNER), channel=CONSOLE_CHANNEL, user_id=None)
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def pump() -> None:
            # A daemon thread: a blocking read must never keep the process alive at exit.
            for line in self._stream:
                loop.call_soon_threadsafe(queue.put_nowait, line)
            loop.call_soon_threadsafe(queue.put_nowait, None)

        threading.Thread(target=pump, name="console-stdin", daemon=True).start()
        while (line := await queue.get()) is not None:
            if not await self.handle_line(line):
                return

    async def handle_line(self, line: str) -> bool:
        """Run one typed line; False when it asks to leave (``quit``), True otherwise."""
        match to_input(line):
            case CommandLine(text):
                ctx = CommandContext(channel=CONSOLE_CHANNEL, user_id=CONSOLE_USER, user_name=CONSOLE_USER)
                reply = await self._commands.execute(ctx, self._commands.prepare(text))
            case Reaction(number, added, kind):
                ref = self._publisher.cards.get(number)
                result = (
                    None
                    if ref is None
                    else await self._commands.react(message=ref, user_id=CONSOLE_USER, added=added, kind=kind)
                )
                reply = result or Reply(text=f"There is no paper card #{number} to react to")
            case NotForUs(number):
                ref = self._publisher.cards.get(number)
                result = None if ref is None else await self._commands.not_for_us(message=ref, user_id=CONSOLE_USER)
                reply = result or Reply(text=f"There is no paper card #{number} to mark")
            case Unknown(text):
                reply = Reply(text=f"Not a command: {text!r}; commands start with /arxiv (try /arxiv help)")
            case Quit():
                return False
            case None:
                return True
        await self._publisher.send_reply(reply, channel=CONSOLE_CHANNEL, user_id=CONSOLE_USER)
        return True
