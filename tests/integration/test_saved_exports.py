"""``/arxiv saved export`` and ``channel-saves export``: the file reaches the caller privately (a Slack DM through
the real slack_sdk's files_upload_v2, a Discord ephemeral follow-up with an attachment through discord.py, a file on
the console), else a one-time link on the bot's HTTP server."""

from __future__ import annotations

import io
import re
from pathlib import Path

import aiohttp
import rispy

from adapters.composition import Services
from adapters.console.adapter import CONSOLE_CHANNEL, ConsolePublisher
from adapters.discord.runtime import DiscordAdapter
from bot.models import ChannelRef, CommandContext
from tests.fakes.arxiv_server import FakeArxivServer
from tests.fakes.clock import FixedClock
from tests.fakes.discord_server import ADMIN, CHANNEL_ID, EPHEMERAL, GUILD_ID, MEMBER, FakeDiscord
from tests.fakes.slack_api import FakeSlack, reaction_event
from tests.integration.test_discord_app import bot, discord_fake
from tests.integration.test_slack_app import (
    cards,
    cs_dc,
    http_client,
    paper_id,
    slack,
    slack_bot,
    subscribe_dc_llm,
)
from tests.unit.test_exports_citations import CHANNEL as CITED
from tests.unit.test_exports_citations import parsed_bibtex

__all__ = ["bot", "cs_dc", "discord_fake", "slack"]  # the fixtures, imported to be used here
LINK = re.compile(r"http://127\.0\.0\.1:8080(/files/\S+)")
"""A link under the default public URL; the test server listens on its own port."""


async def test_slack_saved_export_goes_to_the_callers_dm_else_a_one_time_link(
    db_url: str, cs_dc: FakeArxivServer, clock: FixedClock, slack: FakeSlack
) -> None:
    async with slack_bot(db_url, cs_dc, clock, slack) as runtime, http_client(runtime, slack) as client:
        await subscribe_dc_llm(client)
        await client.run("digest now", "digest")
        posted = cards(slack)[:2]
        for card in posted:
            assert await client.event(reaction_event(ts=card.answer["ts"])) == 200
        await slack.wait_for(lambda: len(slack.calls_to("chat.postEphemeral")) == 2)

        answer = await client.run("saved export bibtex", "bib")
        assert "Sent you arxiv-saved.bib (BibTeX, 2 papers you saved) in your direct messages" in answer
        assert [c.args["users"] for c in slack.calls_to("conversations.open")] == ["U1"]
        [shared] = slack.shared_files
        assert (shared["channel"], shared["name"], shared["title"]) == (
            "DU1",
            "arxiv-saved.bib",
            "2 papers you saved (BibTeX)",
        )
        entries = parsed_bibtex(shared["content"].decode("utf-8"))
        saved_ids = {paper_id(c).rsplit("v", 1)[0] for c in posted}
        assert {str(e["eprint"]) for e in entries.values()} == saved_ids
        assert all(
            e["archivePrefix"] == "arXiv" and str(e["doi"]).startswith("10.48550/arXiv.") for e in entries.values()
        )

        # Another member exports everything saved in the channel (U1's saves).
        answer = await client.run("channel-saves export ris", "ris", user="U2")
        assert "Sent you arxiv-channel-saves.ris (RIS, 2 papers saved in this channel)" in answer
        records = rispy.loads(slack.shared_files[-1]["content"].decode("utf-8"))
        assert slack.shared_files[-1]["channel"] == "DU2"
        assert {r["accession_number"] for r in records} == {f"arXiv:{i}" for i in saved_ids}

        # Without the files:write scope the file cannot be sent: a link that works once.
        slack.scopes.discard("files:write")
        answer = await client.run("saved export ris", "link")
        match = LINK.search(answer)
        assert match is not None, answer
        assert "download it once within 15 minutes" in answer
        assert len(slack.shared_files) == 2
        assert runtime.http is not None
        url = f"http://127.0.0.1:{runtime.http.port}{match.group(1)}"
        async with aiohttp.ClientSession() as session:
            async with session.get(url) as response:
                assert response.status == 200
                assert response.headers["Content-Disposition"] == 'attachment; filename="arxiv-saved.ris"'
                assert response.headers["Cache-Control"] == "no-store"
                body = await response.text()
            async with session.get(url) as again:
                assert again.status == 404
        assert {r["accession_number"] for r in rispy.loads(body)} == {f"arXiv:{i}" for i in saved_ids}


async def test_slack_export_answers_without_saves_and_bad_forms(
    db_url: str, cs_dc: FakeArxivServer, clock: FixedClock, slack: FakeSlack
) -> None:
    async with slack_bot(db_url, cs_dc, clock, slack) as runtime, http_client(runtime, slack) as client:
        assert "You have no saved papers: react with" in await client.run("saved export bibtex", "none")
        assert "Nobody has saved a paper in this channel yet" in await client.run("channel-saves export bibtex", "ch")
        assert "use saved, or saved export bibtex|ris" in await client.run("saved export pdf", "bad")
        assert "channel-saves export bibtex|ris" in await client.run("channel-saves", "empty")
        assert slack.shared_files == [] and not slack.calls_to("conversations.open")


async def test_console_export_writes_the_file_and_says_where(services: Services, tmp_path: Path) -> None:
    services.router.add("console", ConsolePublisher(out=io.StringIO(), export_dir=tmp_path / "exports"))
    console = CommandContext(channel=CONSOLE_CHANNEL, user_id="you", user_name="you")
    record = await services.channels.get_or_create(CONSOLE_CHANNEL)
    await services.papers.add_many(CITED)
    for p in CITED:
        await services.saves.save(
            channel=CONSOLE_CHANNEL, channel_id=record.id, user_id="you", arxiv_id=p.arxiv_id, version=p.version
        )
    reply = await services.commands.execute(console, "saved export bibtex")
    written = tmp_path / "exports" / "arxiv-saved.bib"
    assert reply.text == f"Sent you arxiv-saved.bib (BibTeX, 4 papers you saved) as the file {written}"
    assert len(parsed_bibtex(written.read_text(encoding="utf-8"))) == 4
    again = await services.commands.execute(console, "saved export bibtex")
    assert str(tmp_path / "exports" / "arxiv-saved-1.bib") in again.text
    assert written.read_bytes() == (tmp_path / "exports" / "arxiv-saved-1.bib").read_bytes()


async def test_discord_export_is_an_ephemeral_follow_up_with_the_file_attached(
    services: Services, bot: DiscordAdapter, discord_fake: FakeDiscord
) -> None:
    channel = ChannelRef("discord", str(GUILD_ID), str(CHANNEL_ID))
    record = await services.channels.get_or_create(channel)
    await services.papers.add_many(CITED)
    for n, p in enumerate(CITED):
        user = MEMBER if n < 3 else ADMIN
        await services.saves.save(
            channel=channel, channel_id=record.id, user_id=str(user.id), arxiv_id=p.arxiv_id, version=p.version
        )
    handle = await discord_fake.run("saved", {"export": "bibtex"}, user=MEMBER)
    await discord_fake.answered(handle, count=2)
    assert handle.deferred and handle.ephemeral  # slow: deferred, ephemeral, before the work
    with_file = [f for f in handle.followups if f.get("files")]
    assert len(with_file) == 1 and with_file[0]["flags"] & EPHEMERAL
    [attached] = with_file[0]["files"]
    assert attached["filename"] == "arxiv-saved.bib"
    assert with_file[0]["allowed_mentions"] == {"parse": []}
    entries = parsed_bibtex(attached["data"].decode("utf-8"))
    assert [str(e["eprint"]) for e in entries.values()] == [p.arxiv_id for p in reversed(CITED[:3])]
    assert "Sent you arxiv-saved.bib (BibTeX, 3 papers you saved) here, visible only to you" in handle.text

    everything = await discord_fake.run("channel-saves", {"export": "ris"}, user=ADMIN)
    await discord_fake.answered(everything, count=2)
    [ris] = next(f for f in everything.followups if f.get("files"))["files"]
    records = rispy.loads(ris["data"].decode("utf-8"))
    assert {r["accession_number"] for r in records} == {f"arXiv:{p.arxiv_id}" for p in CITED}
    assert not any(m.get("attachments") for ms in discord_fake.messages.values() for m in ms)  # nothing public
