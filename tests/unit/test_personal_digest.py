"""``/arxiv me ...``: the channel commands on the caller's own digest, a record keyed by the caller; ``me off`` stops
it with its settings kept; its digest joins the channels' run (one fetch) and its ranking learns from the person."""

from __future__ import annotations

from typing import cast

import pytest

from adapters.discord.translate import CommandPayload, to_commands
from adapters.slack.translate import to_reaction
from bot.commands import model as cm
from bot.commands.prepared import prepare
from bot.errors import UserInputError
from bot.models import ChannelRef, CommandContext, MessageRef, RuleKind, SignalSource, personal_ref
from tests.fakes.core import CHANNEL, TODAY, fake_core
from tests.fakes.core import ctx as make_ctx

ME = ChannelRef(CHANNEL.platform, CHANNEL.workspace, "@U1")
LIKE = SignalSource.LIKE


def ctx(user: str = "U1", *, can_manage: bool = False) -> CommandContext:
    """A member who may not manage the channel: their own digest is theirs to change anyway."""
    return make_ctx(user, can_manage=can_manage)


def test_a_personal_digest_is_a_channel_reference_keyed_by_its_owner() -> None:
    assert personal_ref(CHANNEL, "U1") == ME
    assert ME.owner == "U1" and CHANNEL.owner is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("me", cm.Personal(cm.ShowSettings())),
        ("me settings", cm.Personal(cm.ShowSettings())),
        ("/arxiv ME subscribe cs.LG cs.DC", cm.Personal(cm.Subscribe(("cs.LG", "cs.DC")))),
        ("me unsubscribe cs.LG", cm.Personal(cm.Unsubscribe(("cs.LG",)))),
        ("me keywords add LLM^2", cm.Personal(cm.Keywords("add", (cm.WeightedTerm("LLM", 2.0),)))),
        ("me exclude clear", cm.Personal(cm.Exclude("clear", ()))),
        ("me authors follow Ada Lovelace", cm.Personal(cm.Authors("follow", "Ada Lovelace"))),
        ("me time 08:30 Europe/Berlin", cm.Personal(cm.SetTime("08:30", "Europe/Berlin"))),
        ("me set time 8:30", cm.Personal(cm.SetTime("08:30", None))),
        ("me max 3", cm.Personal(cm.SetMax(3))),
        ("me digest now", cm.Personal(cm.DigestNow(), slow=True)),
        ("me off", cm.Personal(cm.SwitchPersonal(False))),
        ("me on", cm.Personal(cm.SwitchPersonal(True))),
    ],
)
def test_me_parses_the_channel_commands_for_the_callers_own_digest(text: str, expected: cm.Command) -> None:
    prepared = prepare(text)
    assert prepared.error is None and prepared.command == expected
    assert not prepared.mutating  # anyone may change their own digest
    assert prepared.slow is (isinstance(expected, cm.Personal) and expected.slow)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("me saved", "'saved' is not a command for your own digest: use me, me subscribe"),
        ("me frobnicate", "'frobnicate' is not a command for your own digest"),
        ("me off now", "me off takes nothing after it: use me on or me off"),
        ("me subscribe cs.XX", "'cs.XX' is not an arXiv category"),
        ("me time 25:00", "bad time '25:00'"),
        ("me keywords add", "no terms given"),
    ],
)
async def test_bad_input_to_me_is_one_line_and_stores_nothing(text: str, error: str) -> None:
    core = fake_core()
    reply = await core.commands.execute(ctx(), text)
    assert reply.text.startswith(error[0].upper() + error[1:]), reply.text
    assert "\n" not in reply.text and "Traceback" not in reply.text
    assert core.repos.channels.records == [] and core.repos.channels.updates == []


async def test_me_commands_change_the_callers_digest_and_never_the_channels() -> None:
    core = fake_core()
    reply = await core.commands.execute(ctx(), "me subscribe cs.DC")
    assert reply.text.startswith("Subscribed to cs.DC\nYour own digest, sent to you by direct message: on\n")
    await core.commands.execute(ctx(), "me keywords add LLM, RL")
    await core.commands.execute(ctx(), "me exclude add survey")
    await core.commands.execute(ctx(), "me authors follow Ada Lovelace")
    reply = await core.commands.execute(ctx(), "me time 08:30 Europe/Berlin")
    assert reply.text.startswith("Daily post time set to 08:30 Europe/Berlin\n")
    [record] = core.repos.channels.records
    assert record.ref == ME and record.personal
    assert record.categories == ("cs.DC",) and (record.post_time, record.timezone) == ("08:30", "Europe/Berlin")
    assert [r.term for r in record.terms(RuleKind.INCLUDE)] == ["LLM", "RL"]
    assert [r.term for r in record.terms(RuleKind.EXCLUDE)] == ["survey"]
    assert core.schedule_changes[-1].ref == ME
    shown = (await core.commands.execute(ctx(), "me")).text
    assert shown.splitlines()[:3] == [
        "Your own digest, sent to you by direct message: on",
        "Categories: cs.DC",
        "Keywords: LLM, RL",
    ]
    assert "Comes at 08:30 Europe/Berlin, Monday to Friday" in shown
    other = await core.commands.execute(ctx("U2"), "me")
    assert "Categories: none" in other.text  # another person's digest is their own
    assert (await core.commands.execute(ctx(), "settings")).text.startswith("Categories: none")


async def test_me_off_stops_the_digest_keeps_its_settings_and_me_on_resumes_it() -> None:
    core = fake_core()
    await core.commands.execute(ctx(), "me subscribe cs.DC")
    [active] = await core.repos.channels.all_active()
    reply = await core.commands.execute(ctx(), "me off")
    assert reply.text.startswith("Your digest is off: nothing more is sent; your settings are kept")
    assert "Your own digest, sent to you by direct message: off (/arxiv me on resumes it)" in reply.text
    assert await core.repos.channels.all_active() == []
    assert core.schedule_changes[-1].paused
    assert (await core.commands.execute(ctx(), "me off")).text.startswith("Your digest was already off")
    reply = await core.commands.execute(ctx(), "me keywords add LLM")
    assert "direct message: off" in reply.text  # still off: settings change, the digest stays stopped
    reply = await core.commands.execute(ctx(), "me on")
    assert reply.text.startswith("Your digest is on again\n")
    [resumed] = await core.repos.channels.all_active()
    assert resumed.id == active.id and resumed.categories == ("cs.DC",) and not resumed.paused


async def test_the_personal_digest_goes_to_its_owner_from_the_same_listing_as_the_channel() -> None:
    core = fake_core()
    core.source.listings[frozenset({"cs.DC"})] = TODAY
    for line in ("subscribe cs.DC", "keywords add LLM"):
        await core.commands.execute(make_ctx(), line)
    for line in ("me subscribe cs.DC", "me keywords add consensus"):
        await core.commands.execute(ctx(), line)
    records = await core.repos.channels.all_active()
    outcomes = await core.runner.run(records)
    assert outcomes[ME].posted >= 1 and outcomes[CHANNEL].posted >= 1
    assert core.source.fetched == [("cs.DC",)]  # one fetch for both
    assert "card" in core.publisher.kinds_in(ME) and "thread" in core.publisher.kinds_in(ME)
    again = await core.runner.run(await core.repos.channels.all_active())
    assert again[ME].posted == 0  # the ledger: exactly once


async def test_the_personal_ranking_learns_from_the_owners_saves_in_every_channel_and_their_likes() -> None:
    core = fake_core()
    repos = core.repos
    channel = await repos.channels.get_or_create(CHANNEL)
    other = await repos.channels.get_or_create(ChannelRef(CHANNEL.platform, CHANNEL.workspace, "c2"))
    elsewhere = await repos.channels.get_or_create(ChannelRef(CHANNEL.platform, "w2", "c3"))
    await repos.papers.add_many(TODAY)
    await repos.saves.save(channel=CHANNEL, channel_id=channel.id, user_id="U1", arxiv_id="2601.00001", version=1)
    await repos.saves.save(channel=CHANNEL, channel_id=other.id, user_id="U1", arxiv_id="2601.00002", version=1)
    await repos.saves.save(channel=CHANNEL, channel_id=channel.id, user_id="U2", arxiv_id="2601.00003", version=1)
    await repos.signals.record_likes(channel_id=other.id, arxiv_ids=["2601.00004"], user_id="U1", source=LIKE)
    await repos.signals.record_likes(channel_id=elsewhere.id, arxiv_ids=["2601.00005"], user_id="U1", source=LIKE)
    await repos.signals.record_likes(channel_id=other.id, arxiv_ids=["2601.00006"], user_id="U2", source=LIKE)
    mine = await repos.channels.get_or_create(ME)
    signals = await repos.signals.channel_signals(mine.id)
    assert set(signals.positives) == {"2601.00001", "2601.00002", "2601.00004"}
    assert set((await repos.signals.channel_signals(channel.id)).positives) == {"2601.00001", "2601.00003"}


def test_a_signal_in_a_slack_dm_is_about_a_card_of_the_reacting_persons_own_digest() -> None:
    body = {
        "team_id": "T1",
        "event": {
            "type": "reaction_added",
            "user": "U2",
            "reaction": "bookmark",
            "item": {"type": "message", "channel": "DU2", "ts": "1.2"},
        },
    }
    signal = to_reaction(body, save_emoji="bookmark")
    assert signal is not None and signal.message == MessageRef(ChannelRef("slack", "T1", "@U2"), "1.2")
    body["event"]["item"]["channel"] = "C1"  # type: ignore[index]
    in_channel = to_reaction(body, save_emoji="bookmark")
    assert in_channel is not None and in_channel.message.channel == ChannelRef("slack", "T1", "C1")


def test_discord_me_subcommands_are_the_channel_texts_after_me() -> None:
    def data(sub: str, options: list[dict[str, object]]) -> CommandPayload:
        return cast(
            CommandPayload,
            {
                "name": "arxiv",
                "options": [{"name": "me", "type": 2, "options": [{"name": sub, "type": 1, "options": options}]}],
            },
        )

    assert to_commands(data("set", [{"name": "time", "type": 3, "value": "08:30"}])) == ["me set time 08:30"]
    assert to_commands(data("keywords", [{"name": "action", "type": 3, "value": "clear"}])) == ["me keywords clear"]
    assert to_commands(data("digest-now", [])) == ["me digest now"]
    assert to_commands(data("off", [])) == ["me off"]
    with pytest.raises(UserInputError):
        to_commands(data("saved", []))


async def test_me_ranking_reset_speaks_of_your_own_digest_and_gives_the_me_command() -> None:
    core = fake_core()
    await core.commands.execute(ctx(), "me subscribe cs.DC")
    nothing = await core.commands.execute(ctx(), "me ranking reset")
    assert nothing.text == "Nothing to forget: the ranking has learned nothing for your own digest yet"
    [record] = core.repos.channels.records
    await core.repos.signals.record_likes(channel_id=record.id, arxiv_ids=["2601.00001"], user_id="U1", source=LIKE)
    prompt = await core.commands.execute(ctx(), "me ranking reset")
    assert prompt.text.startswith("This forgets what the ranking learned for your own digest: 1 positive")
    assert prompt.text.endswith("To go ahead, type: /arxiv me ranking reset confirm")
    done = await core.commands.execute(ctx(), "me ranking reset confirm")
    assert done.text.startswith("Forgot what the ranking learned for your own digest (1 positive, 0 negatives)")
    assert (await core.repos.signals.channel_signals(record.id)).positives == ()
