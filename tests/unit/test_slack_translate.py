"""Pure Slack translation: escaping, splitting to Slack's limits, card and thread blocks, payloads in."""

from __future__ import annotations

import json
import random
import re
from typing import Any

import pytest

from adapters.slack.translate import (
    BLOCKS_PER_MESSAGE,
    SECTION_LIMIT,
    WORD_JOINER,
    CardSignal,
    MalformedPayload,
    SlashCommandPayload,
    card_text,
    escape,
    fit,
    reply_messages,
    split_text,
    thread_blocks,
    to_blocks,
    to_card_click,
    to_command,
    to_reaction,
    unescape,
)
from bot.models import ChannelRef, MessageRef, Paper, PaperCard, Reply, SignalKind, SummarySection, ThreadSummary

HOSTILE = "<!channel> <!here> <!everyone> <@U0BOSS> <!subteam^S1|@team> <https://evil.example|click> @channel"
PAPER = Paper(
    arxiv_id="2601.00644",
    version=2,
    title=f"Fast ~2x serving of *LLMs* & more {HOSTILE}",
    abstract=f"We serve models. {HOSTILE}",
    authors=("Ada Lovelace", "Alan Turing", "Grace Hopper", "<@U0BOSS>"),
    categories=("cs.LG", "cs.DC"),
    primary_category="cs.LG",
)
CARD = PaperCard(
    paper=PAPER,
    score=2.5,
    matched=("LLM", "@here"),
    teaser=f"We serve models. {HOSTILE}",
    is_cross_list=True,
    requested_by="<!everyone> bob",
)
LIVE = re.compile(r"<[!@#]|<https?:|@(channel|here|everyone)\b", re.IGNORECASE)
ENTITY_CUT = re.compile(r"&(?!amp;|lt;|gt;)")


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    """Every text string in blocks, in order."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(blocks)
    return found


def test_escape_makes_mentions_and_broadcasts_inert() -> None:
    assert escape("a & b < c > d") == "a &amp; b &lt; c &gt; d"
    assert escape("<!channel>") == "&lt;!channel&gt;"
    assert escape("<@U123>") == "&lt;@U123&gt;"
    assert escape("hi @channel, @Here and @everyone!") == (
        f"hi @{WORD_JOINER}channel, @{WORD_JOINER}Here and @{WORD_JOINER}everyone!"
    )
    assert escape("mail me@channels.org") == "mail me@channels.org"
    assert LIVE.search(escape(HOSTILE)) is None


def test_unescape_decodes_slacks_three_entities_once() -> None:
    assert unescape("a &amp; b &lt;c&gt;") == "a & b <c>"
    assert unescape("&amp;lt;") == "&lt;"


def test_split_text_never_exceeds_the_limit_or_cuts_a_word_or_a_markdown_link() -> None:
    rng = random.Random(7)
    words = ["alpha", "β-decay", "x<y", "R&D", "@here", "[the paper](https://arxiv.org/abs/2601.00644)"]
    text = " ".join(rng.choice(words) for _ in range(3000)) + "\n\nlast [a b c](https://x.org/q) line"
    chunks = split_text(text, 500)
    assert len(chunks) > 10
    assert all(len(c) <= 500 for c in chunks)
    assert [w for c in chunks for w in unescape(c).split()] == [
        w.replace("@here", f"@{WORD_JOINER}here") for w in text.split()
    ]
    for chunk in chunks:
        assert chunk.count("[the paper](") == chunk.count("(https://arxiv.org/abs/2601.00644)")
        assert ENTITY_CUT.search(chunk) is None


def test_a_single_overlong_word_is_cut_but_never_inside_an_entity() -> None:
    word = "<&>" * 2500
    chunks = split_text(word, SECTION_LIMIT)
    assert len(chunks) >= 3 and all(len(c) <= SECTION_LIMIT for c in chunks)
    assert "".join(unescape(c) for c in chunks) == word
    assert all(ENTITY_CUT.search(c) is None and not c.endswith(("&", "&a", "&am", "&l", "&g")) for c in chunks)


def test_fit_shortens_at_a_word_with_an_ellipsis() -> None:
    assert fit("short & sweet", 100) == "short &amp; sweet"
    fitted = fit("word " * 100, 42)
    assert len(fitted) <= 42 and fitted.endswith("word…")


def test_card_blocks_link_the_title_show_metadata_and_buttons_and_never_ping() -> None:
    blocks = to_blocks(CARD)
    assert [b["type"] for b in blocks] == ["section", "context", "section", "actions"]
    title = blocks[0]["text"]
    assert title["type"] == "mrkdwn" and title["verbatim"] is True
    assert title["text"].startswith("*<https://arxiv.org/abs/2601.00644v2|Fast ")
    assert "*" not in title["text"][1:-1] and "~" not in title["text"]
    authors, meta = (e["text"] for e in blocks[1]["elements"])
    assert authors == "Ada Lovelace, Alan Turing, Grace Hopper et al."
    assert meta.startswith("cs.LG (cross-list) · 2601.00644v2 · score 2.5 · matched: LLM, @\u2060here")
    assert "requested by &lt;!everyone&gt; bob" in meta
    pdf, save, down = blocks[3]["elements"]
    assert pdf["url"] == "https://arxiv.org/pdf/2601.00644v2" and pdf["text"]["text"] == "PDF"
    assert save["action_id"] == "arxiv_save" and save["value"] == "2601.00644v2"
    assert down["action_id"] == "arxiv_down" and down["value"] == "2601.00644v2"
    assert down["text"] == {"type": "plain_text", "text": "Not for us", "emoji": False}
    assert title["text"].count("<") == 1 and LIVE.search(title["text"][len("*<https:") :]) is None
    everything = [*texts(blocks[1:]), card_text(CARD)]
    assert all(LIVE.search(t) is None for t in everything)
    assert all(b["text"]["type"] == "plain_text" for b in blocks[2:3])
    assert "actions" not in [b["type"] for b in to_blocks(CARD, with_actions=False)]


def test_thread_blocks_fit_slacks_limits_and_keep_every_word() -> None:
    rng = random.Random(3)
    body = " ".join(rng.choice(["token", "<b>", "@channel", "[link](https://a.b/c)", "R&D\n"]) for _ in range(9000))
    sections = tuple(SummarySection(title=f"Part *{i}*", body=body if i == 0 else "short") for i in range(60))
    summary = ThreadSummary(paper=PAPER, heading=HOSTILE * 3, sections=sections, note=HOSTILE, tldr="tl;dr " * 900)
    messages = thread_blocks(summary)
    assert len(messages) >= 3
    blocks = [b for m in messages for b in m]
    assert all(1 <= len(m) <= BLOCKS_PER_MESSAGE for m in messages)
    assert len(blocks[0]["text"]["text"]) <= 150 and blocks[0]["type"] == "header"
    for block in blocks:
        text = block.get("text") or block["elements"][0]
        assert 1 <= len(text["text"]) <= SECTION_LIMIT and LIVE.search(text["text"]) is None
        assert ENTITY_CUT.search(text["text"]) is None
    part0 = blocks.index(next(b for b in blocks if b["text"]["text"] == "*Part ∗0∗*"))
    body_blocks = []
    for block in blocks[part0 + 1 :]:
        if block["type"] != "section" or block["text"]["type"] != "plain_text":
            break
        body_blocks.append(unescape(block["text"]["text"]))
    assert " ".join(body_blocks).split() == body.replace("@channel", f"@{WORD_JOINER}channel").split()
    assert blocks[-1]["type"] == "context"


def test_empty_summary_still_gives_one_message() -> None:
    summary = ThreadSummary(paper=PAPER, heading="", sections=())
    (message,) = thread_blocks(summary)
    assert message and LIVE.search(json.dumps(message)) is None


def test_reply_messages_split_previews_without_buttons() -> None:
    reply = Reply(text="digest now would post 30 papers:", cards=(CARD,) * 30)
    messages = reply_messages(reply)
    assert 2 <= len(messages) <= 5
    assert all(len(m.blocks) <= BLOCKS_PER_MESSAGE and m.text for m in messages)
    assert messages[0].blocks[0]["text"]["text"] == "digest now would post 30 papers:"
    assert all(b["type"] != "actions" for m in messages for b in m.blocks)


def test_to_command_reads_the_caller_and_undoes_slacks_escaping() -> None:
    payload: SlashCommandPayload = {
        "team_id": "T1",
        "channel_id": "C9",
        "user_id": "U1",
        "user_name": "alice",
        "text": "keywords add R&amp;D &lt;b&gt;",
    }
    ctx, text = to_command(payload)
    assert ctx.channel == ChannelRef("slack", "T1", "C9") and ctx.user_id == "U1" and ctx.user_name == "alice"
    assert ctx.can_manage and text == "keywords add R&D <b>"
    assert not to_command(payload, can_manage=False)[0].can_manage
    with pytest.raises(MalformedPayload, match="channel_id"):
        to_command({"team_id": "T1", "user_id": "U1"})


def test_to_reaction_picks_the_save_emoji_on_messages_only() -> None:
    def body(reaction: str = "bookmark", kind: str = "reaction_added", item: str = "message") -> dict[str, Any]:
        return {
            "team_id": "T1",
            "event": {
                "type": kind,
                "user": "U2",
                "reaction": reaction,
                "item": {"type": item, "channel": "C1", "ts": "1.2"},
            },
        }

    ref = MessageRef(ChannelRef("slack", "T1", "C1"), "1.2")
    assert to_reaction(body(), save_emoji="bookmark") == CardSignal(message=ref, user_id="U2", added=True)
    assert to_reaction(body(kind="reaction_removed"), save_emoji=":bookmark:") == CardSignal(
        message=ref, user_id="U2", added=False
    )
    assert to_reaction(body("bookmark::skin-tone-3"), save_emoji="bookmark") is not None
    assert to_reaction(body("thumbsup"), save_emoji="bookmark") is None
    assert to_reaction(body(item="file"), save_emoji="bookmark") is None
    assert to_reaction({"event": {"type": "message"}}, save_emoji="bookmark") is None
    # 👎 under both of Slack's names, with a skin tone too, added and removed.
    for name in ("-1", "thumbsdown", "-1::skin-tone-5"):
        assert to_reaction(body(name), save_emoji="bookmark") == CardSignal(
            message=ref, user_id="U2", added=True, kind=SignalKind.DOWN
        )
    assert to_reaction(body("-1", kind="reaction_removed"), save_emoji="bookmark") == CardSignal(
        message=ref, user_id="U2", added=False, kind=SignalKind.DOWN
    )
    assert to_reaction(body("-1", item="file"), save_emoji="bookmark") is None


def test_to_card_click_reads_the_clicked_message_and_which_button() -> None:
    click: dict[str, Any] = {
        "team": {"id": "T1"},
        "user": {"id": "U3"},
        "channel": {"id": "C1"},
        "container": {"type": "message", "message_ts": "5.6", "channel_id": "C1"},
        "actions": [{"action_id": "arxiv_save", "value": "2601.00644v2"}],
    }
    ref = MessageRef(ChannelRef("slack", "T1", "C1"), "5.6")
    assert to_card_click(click) == CardSignal(message=ref, user_id="U3", added=True, button=True)
    down = click | {"actions": [{"action_id": "arxiv_down", "value": "2601.00644v2"}]}
    assert to_card_click(down) == CardSignal(message=ref, user_id="U3", added=True, kind=SignalKind.DOWN, button=True)
    with pytest.raises(MalformedPayload):
        to_card_click({"team": {"id": "T1"}, "user": {"id": "U3"}})


SMUGGLED = (
    "Safe\u202eexe.txt\u2066x\u2069 in\u200bvis\u200c\u200dible \ufeff@\u200bchannel @\u2060here <\u200b!channel>"
    " @every\u2060one"
)
"""Bidi overrides and isolates, zero-width characters, and broadcasts with untrusted joiners in or around them."""
INVISIBLE = re.compile("[\u202a-\u202e\u2066-\u2069\u200b-\u200d\u2060\ufeff]")


def test_bidi_and_zero_width_characters_are_removed_and_only_our_joiner_breaks_broadcasts() -> None:
    assert escape(SMUGGLED) == (
        f"Safeexe.txtx invisible @{WORD_JOINER}channel @{WORD_JOINER}here &lt;!channel&gt; @{WORD_JOINER}everyone"
    )
    card = PaperCard(
        paper=Paper(
            arxiv_id="2601.00644",
            version=1,
            title=SMUGGLED,
            abstract=SMUGGLED,
            authors=(SMUGGLED,),
            categories=("cs.DC",),
            primary_category="cs.DC",
        ),
        score=1.0,
        matched=(SMUGGLED,),
        teaser=SMUGGLED,
        is_cross_list=False,
        requested_by=SMUGGLED,
    )
    summary = ThreadSummary(
        paper=card.paper,
        heading=SMUGGLED,
        sections=(SummarySection(title=SMUGGLED, body=SMUGGLED * 50),),
        note=SMUGGLED,
        tldr=SMUGGLED,
    )
    every = [*texts(to_blocks(card)), card_text(card)]
    every += [t for message in thread_blocks(summary) for t in texts(message)]
    every += [t for m in reply_messages(Reply(text=SMUGGLED, cards=(card,))) for t in [m.text, *texts(m.blocks)]]
    for text in every:
        # The only invisible character left is our word joiner, right after an "@" that starts a broadcast word.
        assert INVISIBLE.sub("", text.replace(f"@{WORD_JOINER}", "@")) == text.replace(f"@{WORD_JOINER}", "@")
        assert LIVE.search(text.replace("<https://arxiv.org/abs/2601.00644v1|", "")) is None  # (our title link)
        assert "\u202e" not in text and "in\u200bvis" not in text
    assert any("Safeexe.txtx invisible" in t for t in every)
