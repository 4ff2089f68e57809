"""Pure translation for Discord: escaping untrusted text, Discord's size limits, options -> command text."""

from __future__ import annotations

import random
import re
from datetime import date
from typing import Any, cast

import pytest

from adapters.discord.translate import (
    CONTENT_LIMIT,
    DESCRIPTION_LIMIT,
    CommandPayload,
    archive_colour,
    batch_embeds,
    carries_key,
    category_choices,
    down_custom_id,
    escape,
    reaction_target,
    reply_chunks,
    save_custom_id,
    split_text,
    thread_messages,
    thread_name,
    to_commands,
    to_embed,
)
from bot.errors import UserInputError
from bot.models import AnnounceType, MessageRef, Paper, PaperCard, SignalKind, SummarySection, ThreadSummary
from tests.fakes.discord_server import BOT_ID, CHANNEL_ID, GUILD_ID

HOSTILE = (
    "Hi @everyone and @here <@123> <@!456> <@&789> <#101> </arxiv saved:1> "
    "**bold** __under__ ~~strike~~ ||spoiler|| `code` [click](https://evil.example/x) back\\slash\n"
    "# Heading\n## Two\n-# small\n> quote\n>>> block\n- item\n* star\n1. first\n  2) second"
)
PING = re.compile(r"@(everyone|here)|<[@#/]")


def paper(**changes: Any) -> Paper:
    """A paper with plain fields unless changed."""
    values: dict[str, Any] = {
        "arxiv_id": "2601.00644",
        "version": 1,
        "title": "Speculative decoding at scale",
        "abstract": "We study LLM inference.",
        "authors": ("Ada Lovelace", "Alan Turing"),
        "categories": ("cs.DC", "cs.LG"),
        "primary_category": "cs.DC",
        "announce_type": AnnounceType.NEW,
        "published": date(2026, 1, 5),
    }
    return Paper(**(values | changes))


def card(**changes: Any) -> PaperCard:
    """A card of ``paper(**changes)``."""
    return PaperCard(paper=paper(**changes), score=3.5, matched=("LLM",), teaser="We study LLM inference.",
                     is_cross_list=False)


def rendered_markdown(text: str) -> list[str]:
    """Markdown that Discord would still render: unescaped markers at line starts and inline pairs."""
    unescaped = re.sub(r"\\.", "x", text)  # an escaped marker is a plain character in its place
    found = re.findall(r"(?m)^\s*(?:#{1,3}\s|-#\s|>\s|>>>\s|[-*+]\s|\d+[.)]\s)", unescaped)
    found += re.findall(r"\*\*|__|~~|\|\||`|\[[^\]]*\]\(", unescaped)
    return found


def without_our_markup(text: str) -> str:
    """A thread description without the markup we add: bold section titles and the small-print note."""
    return re.sub(r"(?m)^(\*\*[^\n]*?\*\*|-# )", "", text)


def test_escape_leaves_no_mention_and_no_markdown() -> None:
    out = escape(HOSTILE)
    assert not PING.search(out)
    assert rendered_markdown(out) == []
    assert out.replace("\\", "").replace("\u200b", "") == HOSTILE.replace("\\", "")
    assert rendered_markdown(HOSTILE)  # the check itself sees markdown in the raw text


def test_escape_keeps_bare_links_clickable() -> None:
    text = "Code at https://github.com/org_name/repo_x/tree/main_branch, data at https://x.org/a*b."
    out = escape(text)
    assert "https://github.com/org_name/repo_x/tree/main_branch," in out
    assert "https://x.org/a\\*b." in out  # a '*' ends the link: it could otherwise pair with another one


@pytest.mark.parametrize("limit", [CONTENT_LIMIT, DESCRIPTION_LIMIT, 120])
def test_split_text_never_cuts_a_word_or_a_link(limit: int) -> None:
    rng = random.Random(limit)
    vocabulary = ["LLM", "inference", "throughput", "https://arxiv.org/abs/2601.00644v1", "of", "the",
                  "https://github.com/org_name/some-long-repository-name/blob/main/src/module/file.py"]
    paragraphs = [" ".join(rng.choice(vocabulary) for _ in range(rng.randint(5, 400))) for _ in range(40)]
    text = "\n\n".join(paragraphs)
    chunks = split_text(text, limit)
    assert len(chunks) > 1
    assert all(0 < len(c) <= limit for c in chunks)
    assert [w for c in chunks for w in c.split()] == text.split()


def test_split_text_prefers_paragraph_breaks() -> None:
    text = ("a" * 30 + " ") * 20 + "\n\n" + "b " * 100
    first, *_ = split_text(text, 700)
    assert first == text.split("\n\n")[0].strip()


def test_a_long_hostile_summary_fits_discords_limits_and_keeps_every_word() -> None:
    body = (HOSTILE + " https://github.com/a_b/c_d ") * 60
    summary = ThreadSummary(
        paper=paper(),
        heading="Summary <@1>",
        sections=tuple(SummarySection(title=f"Section {n} @everyone", body=body) for n in range(4)),
        note="model: x @here",
        tldr="Short @everyone.",
    )
    posts = thread_messages(summary)
    assert len(posts) >= 5
    for post in posts:
        assert 1 <= len(post.embeds) <= 10
        assert sum(len(e) for e in post.embeds) <= 6000
        for e in post.embeds:
            assert e.description is not None and len(e.description) <= DESCRIPTION_LIMIT
            assert not PING.search(e.description)
            assert rendered_markdown(without_our_markup(e.description)) == []
    words = [w for post in posts for e in post.embeds for w in (e.description or "").split()]
    assert words.count("https://github.com/a_b/c_d") == 4 * 60
    assert posts[0].embeds[0].title == "Summary <\u200b@1>"


def test_the_card_embed_respects_discords_limits_and_escapes_everything() -> None:
    long = card(
        title="A very long title **with markdown** @everyone " * 20,
        authors=tuple(f"Author <@{n}> Number{n}" for n in range(300)),
    )
    embed = to_embed(long)
    assert embed.title is not None and len(embed.title) <= 256 and embed.title.endswith("…")
    assert embed.url == "https://arxiv.org/abs/2601.00644v1"
    assert all(len(str(f.value)) <= 1024 for f in embed.fields)
    assert len(embed) <= 6000
    for text in [embed.title, embed.description or "", *(str(f.value) for f in embed.fields)]:
        assert not PING.search(text)
    assert [f.name for f in embed.fields] == ["Authors", "Categories", "Score", "Matched"]
    assert [f.value for f in embed.fields][1:] == ["**cs.DC** · cs.LG", "3.5", "LLM"]
    assert embed.footer.text == "arXiv:2601.00644v1 · new · 2026-01-05"


def test_each_archive_has_its_own_stable_colour() -> None:
    assert archive_colour("cs.DC") == archive_colour("cs.LG") == to_embed(card()).colour.value  # type: ignore[union-attr]
    colours = {archive_colour(c) for c in ("cs.DC", "math.OC", "stat.ML", "hep-th", "quant-ph", "astro-ph.GA")}
    assert len(colours) == 6
    assert archive_colour("newarchive.XY") == archive_colour("newarchive.ZZ")


def test_thread_names_fit_and_do_not_ping() -> None:
    name = thread_name("Title @everyone <@5> " * 20)
    assert len(name) <= 100 and not PING.search(name)


def test_batches_hold_at_most_ten_embeds_and_6000_characters() -> None:
    embeds = [to_embed(card(title="x" * 250, abstract="y")) for _ in range(25)]
    batches = batch_embeds(embeds)
    assert sum(len(b) for b in batches) == 25
    assert all(len(b) <= 10 and sum(len(e) for e in b) <= 6000 for b in batches)


def test_reply_chunks_fit_2000_characters() -> None:
    text = "\n".join(f"• 2601.{n:05d}v1 Some title @here https://arxiv.org/abs/2601.{n:05d}v1" for n in range(60))
    chunks = reply_chunks(text)
    assert len(chunks) >= 2 and all(len(c) <= 2000 for c in chunks)
    assert not any(PING.search(c) for c in chunks)
    code = reply_chunks("help  text ``` with fence", code=True)
    assert code == ["```\nhelp  text ˋˋˋ with fence\n```"]


def slash(sub: str, **options: Any) -> CommandPayload:
    """The ``data`` of ``/arxiv <sub>`` as Discord sends it."""
    types = {str: 3, int: 4, bool: 5, float: 10}
    return {
        "id": "1", "name": "arxiv", "type": 1,
        "options": [{"name": sub, "type": 1, "options": [
            {"name": k.replace("_", "-"), "type": types[type(v)], "value": v} for k, v in options.items()
        ]}],
    }


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (slash("subscribe", categories="cs.DC  cs.LG"), ["subscribe cs.DC cs.LG"]),
        (slash("unsubscribe", categories="cs.DC"), ["unsubscribe cs.DC"]),
        (slash("keywords", action="add", terms='LLM, "speculative decoding"^2'),
         ['keywords add LLM, "speculative decoding"^2']),
        (slash("keywords", action="clear", terms="ignored"), ["keywords clear"]),
        (slash("exclude", action="remove", terms="survey"), ["exclude remove survey"]),
        (slash("authors", action="follow", name="Yann LeCun"), ["authors follow Yann LeCun"]),
        (slash("settings"), ["settings"]),
        (slash("set", time="09:30", timezone="Europe/Berlin", max=5, min_score=2.5, cross=False, language="de"),
         ["set time 09:30 Europe/Berlin", "set max 5", "set min-score 2.5", "set cross off", "set language de"]),
        (slash("set", min_score=3.0), ["set min-score 3"]),
        (slash("digest-now"), ["digest now"]),
        (slash("preview"), ["preview"]),
        (slash("summarize", paper="https://arxiv.org/abs/2601.00644"), ["summarize https://arxiv.org/abs/2601.00644"]),
        (slash("saved"), ["saved"]),
        (slash("unsave", paper="2601.00644"), ["unsave 2601.00644"]),
        (slash("help"), ["help"]),
        (slash("stats"), ["stats"]),
        (slash("feed"), ["feed"]),
        ({"id": "1", "name": "arxiv", "type": 1}, ["help"]),
    ],
)
def test_options_become_command_text(payload: CommandPayload, expected: list[str]) -> None:
    assert to_commands(payload) == expected


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (slash("set"), "choose what to set"),
        (slash("set", timezone="UTC"), "give the time with the time zone"),
        (slash("frobnicate"), "unknown command 'frobnicate'"),
    ],
)
def test_impossible_option_combinations_are_one_line(payload: CommandPayload, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        to_commands(payload)


def test_category_autocomplete_completes_the_last_word() -> None:
    choices = category_choices("cs.dc cs.l")
    assert [v for _, v in choices][:2] == ["cs.dc cs.LG", "cs.dc cs.LO"]
    assert choices[0][0] == "cs.dc cs.LG — Machine Learning"
    assert len(category_choices("")) == 25
    assert category_choices("math.O", ["cs.DC", "math.OC"]) == [("math.OC — Optimization and Control", "math.OC")]
    assert all(len(v) <= 100 and len(label) <= 100 for label, v in category_choices("x" * 95 + " cs."))


def test_the_save_emoji_or_thumbs_down_of_a_user_in_a_server_is_a_signal() -> None:
    common: dict[str, Any] = {
        "guild_id": GUILD_ID, "channel_id": CHANNEL_ID, "message_id": 7, "bot_id": BOT_ID, "save_emoji": "🔖"
    }
    target = reaction_target(emoji="🔖", emoji_name="🔖", user_id=5, **common)
    assert target is not None
    card, kind = target
    assert card == MessageRef(card.channel, "7") and card.channel.platform == "discord" and kind is SignalKind.SAVE
    assert card.channel.workspace == str(GUILD_ID) and card.channel.channel == str(CHANNEL_ID)
    assert reaction_target(emoji="🔖\ufe0f", emoji_name="🔖\ufe0f", user_id=5, **common) == target
    assert reaction_target(emoji="👍", emoji_name="👍", user_id=5, **common) is None
    assert reaction_target(emoji="🔖", emoji_name="🔖", user_id=BOT_ID, **common) is None
    assert reaction_target(**(common | {"guild_id": None}), emoji="🔖", emoji_name="🔖", user_id=5) is None
    custom = common | {"save_emoji": "paper"}
    assert reaction_target(emoji="<:paper:99>", emoji_name="paper", user_id=5, **custom) is not None
    for down in ("👎", "👎\ufe0f", "👎🏽"):
        assert reaction_target(emoji=down, emoji_name=down, user_id=5, **common) == (card, SignalKind.DOWN)
    assert reaction_target(emoji="👎", emoji_name="👎", user_id=BOT_ID, **common) is None


def test_the_not_for_us_button_carries_the_paper_and_the_key_within_discords_limit() -> None:
    assert down_custom_id("2601.00644v2") == "arxiv-down:2601.00644v2"
    assert down_custom_id("2601.00644v2", "k" * 25) == "arxiv-down:2601.00644v2/" + "k" * 25
    assert len(down_custom_id("x" * 120, "k")) == 100
    assert not carries_key([down_custom_id("2601.00644v2", "abc")], "abc")  # a card is found by its Save button
    assert carries_key([save_custom_id("2601.00644v2", "abc"), down_custom_id("2601.00644v2", "abc")], "abc")


def test_like_why_and_ranking_become_command_texts() -> None:
    def sub(name: str, **values: str) -> CommandPayload:
        options = [{"name": k, "value": v, "type": 3} for k, v in values.items()]
        return cast(CommandPayload, {"options": [{"name": name, "type": 1, "options": options}]})

    assert to_commands(sub("like", papers="2601.00644  2601.00645")) == ["like 2601.00644 2601.00645"]
    assert to_commands(sub("why", paper="2601.00644")) == ["why 2601.00644"]
    assert to_commands(sub("ranking")) == ["ranking"]
    assert to_commands(sub("ranking", action="off")) == ["ranking off"]
    assert to_commands(sub("ranking", action="reset-confirm")) == ["ranking reset confirm"]


SMUGGLED = "Safe\u202eexe.txt\u2066x\u2069 in\u200bvis\u200c\u200dible \ufeff@\u200beveryone @\u2060here <\u200b@123>"
INVISIBLE = re.compile("[\u202a-\u202e\u2066-\u2069\u200b-\u200d\u2060\ufeff]")


def test_bidi_and_zero_width_characters_are_removed_and_only_our_zero_width_space_breaks_mentions() -> None:
    assert escape(SMUGGLED) == "Safeexe.txtx invisible @\u200beveryone @\u200bhere <\u200b@123>"
    paper = Paper(
        arxiv_id="2601.00644",
        version=1,
        title=SMUGGLED,
        abstract=SMUGGLED,
        authors=(SMUGGLED,),
        categories=("cs.DC",),
        primary_category="cs.DC",
    )
    card = PaperCard(paper=paper, score=1.0, matched=(SMUGGLED,), teaser=SMUGGLED, is_cross_list=False)
    embed = to_embed(card).to_dict()
    summary = ThreadSummary(
        paper=paper, heading=SMUGGLED, sections=(SummarySection(title=SMUGGLED, body=SMUGGLED),), tldr=SMUGGLED
    )
    every = [embed.get("title", ""), embed.get("description", ""), *(f["value"] for f in embed.get("fields", []))]
    every += [e.description or "" for post in thread_messages(summary) for e in post.embeds]
    every += [thread_name(SMUGGLED), *reply_chunks(SMUGGLED)]
    for text in every:
        ours = text.replace("@\u200b", "@").replace("<\u200b", "<")
        assert INVISIBLE.search(ours) is None, text
        assert not re.search(r"@(everyone|here)|<@", text), text


def test_a_liked_title_in_matched_renders_literally() -> None:
    card = PaperCard(
        paper=paper(), score=1.2, matched=("LLM", "like: **Bold** [x](https://e.example) `code`"), teaser="t",
        is_cross_list=False,
    )
    field = next(f for f in to_embed(card).to_dict().get("fields", []) if f["name"] == "Matched")
    assert field["value"] == r"LLM, like: \*\*Bold\*\* \[x\](https://e.example) \`code\`"
