"""The unit tier's stand-ins: the service layer runs against these in milliseconds, with no host,
no HTTP, no files and no relay.

`FakeUnitOfWork` keeps the transaction (a session on an in-memory SQLite database holding the
service's tables, created from its models) and hands the events of each commit to a `MemoryBus`
and to `published`, instead of writing them to an outbox for a relay. What a rollback discards,
nobody hears of — the outbox's promise, kept without one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import StaticPool

from shared.bus.memory import MemoryBus
from shared.db import make_sessionmaker
from shared.envelope import Envelope
from shared.tables import platform_metadata
from shared.uow import UnitOfWork


class FakeUnitOfWork(UnitOfWork):
    def __init__(self, database: FakeDatabase) -> None:
        super().__init__(database.sessions, database.source)
        self._database = database
        self._staged: list[Envelope] = []

    async def __aexit__(self, *exc_info) -> None:
        self._staged.clear()
        await super().__aexit__(*exc_info)

    async def write_events(self) -> list[Envelope]:
        # What a long use case writes early stays with the transaction: published only if it commits.
        await self.write_audit()
        written, self._pending = self._pending, []
        self._staged += written
        return written

    async def commit(self) -> list[Envelope]:
        fresh = await self.write_events()
        await self.session.commit()
        events, self._staged = self._staged, []
        self._database.published += events
        self._database.commits += 1
        if events and await self._database.bus.is_ready():
            await self._database.bus.publish(events)
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()
        return fresh


class FakeDatabase:
    """One service's in-memory database; `uow()` opens a unit of work on it, as `runtime.uow()` does."""

    def __init__(self, metadata: MetaData, source: str, bus: MemoryBus | None = None) -> None:
        # One connection, shared: an in-memory SQLite database lives as long as its connection.
        self.engine = create_async_engine("sqlite+aiosqlite://", poolclass=StaticPool)
        self.sessions = make_sessionmaker(self.engine)
        self.metadata = metadata
        self.source = source
        self.bus = bus or MemoryBus()
        self.published: list[Envelope] = []
        self.commits = 0

    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self)

    def events(self, event_type: str) -> list[dict]:
        """The payloads of the committed events of one type, oldest first."""
        return [e.data for e in self.published if e.type == event_type]

    async def create(self) -> None:
        async with self.engine.begin() as connection:
            await connection.run_sync(self.metadata.create_all)
            await connection.run_sync(platform_metadata.create_all)

    async def dispose(self) -> None:
        await self.engine.dispose()


@asynccontextmanager
async def fake_database(metadata: MetaData, source: str, bus: MemoryBus | None = None) -> AsyncIterator[FakeDatabase]:
    database = FakeDatabase(metadata, source, bus)
    await database.create()
    try:
        yield database
    finally:
        await database.dispose()


Opener = Callable[[], FakeUnitOfWork]
