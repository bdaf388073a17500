"""The directory as routing reads it: recipients, their channels and subscriptions, kept in memory
and reloaded only when it changed.

Every alert needs the directory and the directory hardly ever changes, so each process keeps a
snapshot with the version it was read at. Every change through the API bumps the version in the
same transaction; before using its snapshot a reader compares versions (one small query), so a
change is seen by every replica from the next event on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.notifications.models import Channel, DirectoryVersion, Recipient, Subscription
from shared.db import table_of

VERSION = table_of(DirectoryVersion)


@dataclass
class Snapshot:
    version: int = -1
    recipients: dict[str, Any] = field(default_factory=dict)  # rows, by id
    channels: dict[str, list[Any]] = field(default_factory=dict)  # by recipient id, oldest first
    channel_by_id: dict[str, Any] = field(default_factory=dict)
    subscriptions: dict[str, list[Any]] = field(default_factory=dict)  # by event type


class Directory:
    """One database's directory, as this process last read it (shared by routing and the delivery
    worker, built once at bootstrap)."""

    def __init__(self) -> None:
        self._snapshot: Snapshot | None = None

    async def current(self, connection: AsyncConnection) -> Snapshot:
        """The directory as of now (reloaded if anyone changed it since it was last read)."""
        version = (await connection.execute(select(VERSION.c.version).where(VERSION.c.id == 1))).scalar_one()
        if self._snapshot is None or self._snapshot.version != version:
            self._snapshot = await _load(connection, version)
        return self._snapshot


async def _load(connection: AsyncConnection, version: int) -> Snapshot:
    snapshot = Snapshot(version=version)
    for row in (await connection.execute(select(table_of(Recipient)))).all():
        snapshot.recipients[row.id] = row
    for row in (await connection.execute(select(table_of(Channel)).order_by(table_of(Channel).c.created_at))).all():
        snapshot.channels.setdefault(row.recipient_id, []).append(row)
        snapshot.channel_by_id[row.id] = row
    for row in (await connection.execute(select(table_of(Subscription)))).all():
        snapshot.subscriptions.setdefault(row.event_type, []).append(row)
    return snapshot


async def changed(connection: AsyncConnection) -> None:
    """Call in the transaction that changes the directory."""
    await connection.execute(update(VERSION).where(VERSION.c.id == 1).values(version=VERSION.c.version + 1))
