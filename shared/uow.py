"""Unit of work: one transaction holding a state change and the events it causes (outbox)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import ReadOnly
from shared.envelope import Envelope, event_type_of
from shared.logging import current_correlation_id
from shared.tables import outbox
from shared.tracing import current_traceparent

OUTBOX_SLICE = 200


class UnitOfWork:
    """`async with runtime.uow() as uow: ...; uow.publish(Event(...)); await uow.commit()`.

    It carries the transaction and its events, nothing else: what a use case needs besides is
    given to it (the service's context, built at bootstrap). Leaving the block without `commit()`
    rolls back the change *and* its events.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        source: str,
        on_events_committed: Callable[[], None] = lambda: None,
        *,
        read_only: bool = False,
    ) -> None:
        self._sessionmaker = sessionmaker
        self.read_only = read_only
        self._source = source
        self._on_events_committed = on_events_committed
        self._pending: list[Envelope] = []
        self._written = False  # events went to the outbox in this transaction
        self._after_commit: list[Callable[[], None]] = []
        self.session: AsyncSession

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._sessionmaker()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        # close() rolls back anything uncommitted and detaches objects with their loaded state
        # (a rollback() would expire them, breaking reads made in the block).
        await self.session.close()
        self._pending.clear()
        self._written = False
        self._after_commit.clear()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the transaction has committed (never if it rolls back)."""
        self._after_commit.append(callback)

    def publish(self, payload: BaseModel, *, subject: str | None = None) -> Envelope:
        """Queue an event; it is written to the outbox by `commit()`, in the same transaction.
        It carries the trace it is said in (the request's, the handled event's), taken now: the
        commit may come after that span ended (a consumer's batch)."""
        self._refuse_if_read_only()
        traceparent, tracestate = current_traceparent()
        envelope = Envelope(
            type=event_type_of(payload),
            source=f"/{self._source}",
            data=payload.model_dump(mode="json"),
            subject=subject,
            correlation_id=current_correlation_id(),
            traceparent=traceparent,
            tracestate=tracestate,
        )
        self._pending.append(envelope)
        return envelope

    async def write_events(self) -> list[Envelope]:
        """Write the events queued so far to the outbox now, in the transaction: a long use case
        (an import of thousands of calls) then holds none of them, and the collector has less to
        scan (its full collections stall every request)."""
        self._refuse_if_read_only()
        published, self._pending = self._pending, []
        if published:
            connection = await self.session.connection()  # the session's own transaction
            # In slices, each awaited: thousands of events do not hold the loop at once.
            for start in range(0, len(published), OUTBOX_SLICE):
                await connection.execute(insert(outbox), [outbox_row(e) for e in published[start:start + OUTBOX_SLICE]])
            self._written = True
        return published

    async def commit(self) -> list[Envelope]:
        """Commits the change and its events; returns the events not written before."""
        self._refuse_if_read_only()
        published = await self.write_events()
        await self.session.commit()
        if self._written:
            self._on_events_committed()
        self._written = False
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()
        return published


    def _refuse_if_read_only(self) -> None:
        if self.read_only:
            raise ReadOnly("this unit of work only reads: use runtime.uow() to change state")


def outbox_row(envelope: Envelope) -> dict[str, object]:
    return {
        "event_id": envelope.id,
        "type": envelope.type,
        "source": envelope.source,
        "subject": envelope.subject,
        "correlation_id": envelope.correlation_id,
        "traceparent": envelope.traceparent,
        "tracestate": envelope.tracestate,
        "payload": json.dumps(envelope.data, separators=(",", ":")),
        "occurred_at": envelope.time,
    }


def utcnow() -> datetime:
    return datetime.now(UTC)
