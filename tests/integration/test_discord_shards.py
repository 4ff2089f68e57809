"""Discord shards against the fake gateway: one process runs every shard Discord recommends, or several processes
each run their slice of ``[discord] shard_count`` (``shard_ids``); each guild's events reach the shard that owns it."""

from __future__ import annotations

import pytest

from adapters.composition import Services
from adapters.runtime import attach_discord
from bot.errors import ConfigError
from tests.conftest import make_settings
from tests.fakes.arxiv_server import FakeArxivServer
from tests.fakes.discord_server import GUILD_ID, running_discord_server


async def test_one_process_runs_every_shard_discord_recommends_and_answers_over_the_guilds_shard(
    services: Services, db_url: str, arxiv: FakeArxivServer
) -> None:
    async with running_discord_server() as fake:
        fake.recommended_shards = 2
        settings = make_settings(db_url, arxiv, ARXIVBOT_DISCORD__API_URL=fake.api_url)
        adapter = await attach_discord(services, settings=settings, env={"DISCORD_TOKEN": fake.token})
        try:
            await adapter.wait_ready(10)
            assert sorted(tuple(i["shard"]) for i in fake.identifies) == [(0, 2), (1, 2)]
            assert sorted(fake.shards) == [0, 1] and adapter.ready
            assert fake.shard_of(GUILD_ID) == 1
            answer = await fake.run("help")
            assert "arxiv-bot commands" in answer.text
        finally:
            await adapter.aclose()
        assert not adapter.ready


async def test_two_processes_each_run_their_slice_and_the_guild_is_served_by_the_one_owning_its_shard(
    services: Services, db_url: str, arxiv: FakeArxivServer
) -> None:
    async with running_discord_server() as fake:
        adapters = []
        try:
            for ids in ("0", "1"):
                settings = make_settings(
                    db_url,
                    arxiv,
                    ARXIVBOT_DISCORD__API_URL=fake.api_url,
                    ARXIVBOT_DISCORD__SHARD_COUNT="2",
                    ARXIVBOT_DISCORD__SHARD_IDS=ids,
                )
                adapter = await attach_discord(services, settings=settings, env={"DISCORD_TOKEN": fake.token})
                adapters.append(adapter)
                await adapter.wait_ready(10)
            first, second = adapters
            assert [i["shard"] for i in fake.identifies] == [[0, 2], [1, 2]]
            assert first.client.get_guild(GUILD_ID) is None  # shard 0 owns no guild of the fake
            assert second.client.get_guild(GUILD_ID) is not None
            answer = await fake.run("help")
            assert "arxiv-bot commands" in answer.text
            assert len(fake.command_syncs) == 1  # the second process found the command set already synced
        finally:
            for adapter in adapters:
                await adapter.aclose()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ARXIVBOT_DISCORD__SHARD_IDS": "0-1"}, r"^\[discord\] shard_ids = '0-1' needs \[discord\] shard_count: "),
        ({"ARXIVBOT_DISCORD__SHARD_COUNT": "2", "ARXIVBOT_DISCORD__SHARD_IDS": "1-2"}, r"is invalid: expected shard"),
        ({"ARXIVBOT_DISCORD__SHARD_COUNT": "2", "ARXIVBOT_DISCORD__SHARD_IDS": "one"}, r"is invalid: expected shard"),
    ],
)
async def test_a_bad_slice_of_shards_stops_start_up_with_one_line_before_discord_is_called(
    services: Services, db_url: str, arxiv: FakeArxivServer, env: dict[str, str], message: str
) -> None:
    async with running_discord_server() as fake:
        settings = make_settings(db_url, arxiv, ARXIVBOT_DISCORD__API_URL=fake.api_url, **env)
        with pytest.raises(ConfigError, match=message) as caught:
            await attach_discord(services, settings=settings, env={"DISCORD_TOKEN": fake.token})
        assert "\n" not in str(caught.value)
        assert fake.identifies == [] and fake.requests == []
