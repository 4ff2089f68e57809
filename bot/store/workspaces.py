"""Workspaces an app installation covers: which organization each belongs to, and pausing their channels while the
app is uninstalled there (nothing is deleted: a workspace that installs again gets its channels back as they were)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store import schema as db
from bot.store.database import Database


@dataclass(frozen=True, slots=True, kw_only=True)
class Workspace:
    """One workspace (a Slack team) and the installation that covers it."""

    platform: str
    workspace: str
    organization: str | None
    """The Slack Enterprise Grid org it belongs to, if any."""
    org_install: bool
    """Whether the app is installed org-wide (one token for every team of ``organization``)."""
    installed: bool


class WorkspaceStore:
    """Workspaces by platform and id; installing and uninstalling (re)activate and pause their channels."""

    def __init__(self, *, database: Database) -> None:
        self._db = database

    async def get(self, platform: str, workspace: str) -> Workspace | None:
        """The workspace, or None if no installation or request ever named it."""
        w = db.workspaces.c
        async with self._db.transaction() as conn:
            row = (
                (await conn.execute(sa.select(db.workspaces).where(w.platform == platform, w.workspace == workspace)))
                .mappings()
                .first()
            )
        if row is None:
            return None
        return Workspace(
            platform=row["platform"],
            workspace=row["workspace"],
            organization=row["organization"],
            org_install=bool(row["org_install"]),
            installed=bool(row["installed"]),
        )

    async def seen(self, platform: str, workspace: str, *, organization: str | None, org_install: bool) -> None:
        """Remember which organization a workspace a request came from belongs to (its installed state is kept)."""
        async with self._db.transaction() as conn:
            await self._upsert(conn, platform, workspace, organization=organization, org_install=org_install)

    async def installed(
        self, platform: str, *, workspace: str | None, organization: str | None, org_install: bool
    ) -> int:
        """The app was installed in ``workspace`` (None with ``org_install``: in every team of ``organization``).

        Its channels become active again; returns how many were paused.
        """
        async with self._db.transaction() as conn:
            if workspace is not None:
                await self._upsert(
                    conn, platform, workspace, organization=organization, org_install=org_install, installed=True
                )
            return await self._set_active(conn, platform, workspace=workspace, organization=organization, active=True)

    async def uninstalled(self, platform: str, *, workspace: str | None, organization: str | None) -> int:
        """The app was uninstalled (or its bot token revoked) in ``workspace``, or org-wide in ``organization``
        (``workspace`` None): its channels are paused; returns how many."""
        async with self._db.transaction() as conn:
            w = db.workspaces.c
            if workspace is not None:
                await self._upsert(conn, platform, workspace, organization=organization, installed=False)
            else:
                await conn.execute(
                    sa.update(db.workspaces)
                    .where(w.platform == platform, w.organization == organization)
                    .values(installed=False, changed_at=self._db.clock.now())
                )
            return await self._set_active(
                conn, platform, workspace=workspace, organization=organization, active=False
            )

    async def _upsert(
        self,
        conn: AsyncConnection,
        platform: str,
        workspace: str,
        *,
        organization: str | None,
        org_install: bool | None = None,
        installed: bool | None = None,
    ) -> None:
        values: dict[str, object] = {"organization": organization, "changed_at": self._db.clock.now()}
        if org_install is not None:
            values["org_install"] = org_install
        if installed is not None:
            values["installed"] = installed
        dialect = postgresql if self._db.engine.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(db.workspaces).values(platform=platform, workspace=workspace, **values)
        await conn.execute(insert.on_conflict_do_update(index_elements=["platform", "workspace"], set_=values))

    async def _set_active(
        self, conn: AsyncConnection, platform: str, *, workspace: str | None, organization: str | None, active: bool
    ) -> int:
        c = db.channels.c
        if workspace is not None:
            covered: sa.ColumnElement[bool] = c.workspace == workspace
        else:
            w = db.workspaces.c
            covered = c.workspace.in_(
                sa.select(w.workspace).where(w.platform == platform, w.organization == organization)
            )
        change = sa.update(db.channels).where(c.platform == platform, covered, c.active.is_(not active))
        result = await conn.execute(change.values(active=active))
        return int(result.rowcount or 0)
