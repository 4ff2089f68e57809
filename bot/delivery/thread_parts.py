"""Post keys, and posting a thread reply part by part through a ``ThreadJournal`` so each part goes out once.

A ledger row gets one random key; its card carries the key itself and thread part ``n`` carries ``key.n``. Every
publisher posts a split thread reply with ``post_parts``: the journal records the intent before each part and the
message after it, skips the parts already posted, and a part left ``sending`` by an earlier attempt is looked for
(``find``) before it is sent again with the same key.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from bot.models import PostKey
from bot.ports import ThreadJournal

KEY_BYTES = 10
"""20 hex characters: with ``.n`` for a thread part it stays within Discord's 25-character nonce."""
MAX_KEY_CHARS = 25

_Part = TypeVar("_Part")


def new_post_key() -> str:
    """A fresh random key for a ledger row."""
    return secrets.token_hex(KEY_BYTES)


def part_key(key: str, part: int) -> str:
    """The key of thread part ``part`` of the row whose key is ``key``."""
    value = f"{key}.{part}"
    if len(value) > MAX_KEY_CHARS:
        raise ValueError(f"post key {value!r} is longer than {MAX_KEY_CHARS} characters")
    return value


async def post_parts(
    parts: Sequence[_Part],
    *,
    journal: ThreadJournal | None,
    send: Callable[[_Part, PostKey | None], Awaitable[str]],
    find: Callable[[int, _Part, PostKey], Awaitable[str | None]] | None = None,
) -> str | None:
    """Send ``parts`` in order; return the message id of the first part sent or found now (None: none was).

    Without a journal every part is sent, with no key. With one, ``send`` gets each part's key, the journal records
    each part before and after, and the part it reports as possibly sent is looked for with ``find`` first.
    """
    if journal is None:
        ids = [await send(part, None) for part in parts]
        return ids[0] if ids else None
    start, key = journal.resume()
    last = len(parts) - 1
    if start > last:
        # The summary now splits into fewer messages than were posted: nothing is left to send.
        await journal.sent(start - 1, "", last=True)
        return None
    first: str | None = None
    for n in range(start, len(parts)):
        message_id: str | None = None
        resumed = n == start and key.sending_since is not None
        if resumed and find is not None:
            message_id = await find(n, parts[n], key)
        if message_id is None:
            if not resumed:
                key = await journal.sending(n)
            message_id = await send(parts[n], key)
        await journal.sent(n, message_id, last=n == last)
        first = first or message_id
    return first
