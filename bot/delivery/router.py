"""Route posts to the publisher of each channel's platform."""

from __future__ import annotations

from collections.abc import Mapping

from bot.errors import PlatformNotConnected, PublishError
from bot.models import ChannelRef, ExportFile, MessageRef, PaperCard, PostKey, Reply, ThreadSummary
from bot.ports import PrivateFiles, Publisher, ThreadJournal, VersionNotices


class PublisherRouter:
    """A Publisher that hands each post to the platform's own publisher."""

    def __init__(self, *, publishers: Mapping[str, Publisher]) -> None:
        self._publishers = dict(publishers)

    def add(self, platform: str, publisher: Publisher) -> None:
        """Register the publisher of one platform."""
        self._publishers[platform] = publisher

    def _for(self, channel: ChannelRef) -> Publisher:
        try:
            return self._publishers[channel.platform]
        except KeyError:
            raise PlatformNotConnected(f"{channel.platform} is not connected; cannot post to {channel}") from None

    async def post_card(self, card: PaperCard, *, channel: ChannelRef, key: PostKey | None = None) -> MessageRef:
        """Post a card through the channel's platform."""
        return await self._for(channel).post_card(card, channel=channel, key=key)

    async def post_thread(
        self, summary: ThreadSummary, *, parent: MessageRef, journal: ThreadJournal | None = None
    ) -> MessageRef:
        """Post a thread reply through the channel's platform."""
        return await self._for(parent.channel).post_thread(summary, parent=parent, journal=journal)

    async def update_card(self, card: PaperCard, *, message: MessageRef, key: PostKey | None = None) -> None:
        """Update a posted card through the channel's platform."""
        await self._for(message.channel).update_card(card, message=message, key=key)

    async def send_reply(self, reply: Reply, *, channel: ChannelRef, user_id: str | None) -> None:
        """Send a reply through the channel's platform."""
        await self._for(channel).send_reply(reply, channel=channel, user_id=user_id)

    async def send_file(self, file: ExportFile, *, channel: ChannelRef, user_id: str) -> str:
        """Send a file privately through the channel's platform, if its publisher can."""
        publisher = self._for(channel)
        if not isinstance(publisher, PrivateFiles):
            raise PublishError(f"{channel.platform} cannot send files privately")
        return await publisher.send_file(file, channel=channel, user_id=user_id)

    def _notices(self, channel: ChannelRef) -> VersionNotices:
        publisher = self._for(channel)
        if not isinstance(publisher, VersionNotices):
            raise PublishError(f"{channel.platform} cannot send version alerts")
        return publisher

    async def send_note(self, text: str, *, channel: ChannelRef, user_id: str, key: PostKey) -> str:
        """Send a private note through the channel's platform."""
        return await self._notices(channel).send_note(text, channel=channel, user_id=user_id, key=key)

    async def reply_in_thread(self, text: str, *, parent: MessageRef, key: PostKey) -> str:
        """Reply in a card's thread through its channel's platform."""
        return await self._notices(parent.channel).reply_in_thread(text, parent=parent, key=key)
