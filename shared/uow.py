"""Unit of work: one transaction holding a state change, the events it causes (outbox) and its
record in the audit trail (shared/audit.py)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from shared import audit as audit_trail
from shared.db import ReadOnly
from shared.envelope import Envelope, event_type_of
from shared.logging import current_correlation_id
from shared.tables import audit, outbox
from shared.tracing import current_traceparent

INSERT_SLICE = 200  # rows per INSERT of a long use case's events and audit entries


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
        personal: Mapping[str, Iterable[str]] = MappingProxyType({}),
    ) -> None:
        self._sessionmaker = sessionmaker
        self.read_only = read_only
        self.personal = personal  # per kind of resource, its personal fields (ServiceSpec.personal)
        self._source = source
        self._on_events_committed = on_events_committed
        self._pending: list[Envelope] = []
        self._audited: list[dict[str, object]] = []
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
        self._audited.clear()
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

    def audit(self, resource_type: str, resource_id: str, action: str, before: Mapping[str, Any] | None = None,
              after: Mapping[str, Any] | None = None) -> None:
        """Record that the current actor (shared/audit.py) did `action` to a resource, with the fields
        that differ between `before` and `after` (None: it did not exist, or no longer does), its
        personal fields masked. Written by `commit()` in this transaction: stored exactly when the
        change is."""
        self._refuse_if_read_only()
        changes = audit_trail.changes(before, after, self.personal.get(resource_type, ()))
        self._audited.append(audit_trail.entry(resource_type, resource_id, action, changes, current_correlation_id()))

    async def write_events(self) -> list[Envelope]:
        """Write the events and audit entries queued so far now, in the transaction: a long use case
        (an import of thousands of calls) then holds none of them, and the collector has less to
        scan (its full collections stall every request)."""
        self._refuse_if_read_only()
        await self.write_audit()
        published, self._pending = self._pending, []
        if published:
            await self._insert(outbox, [outbox_row(e) for e in published])
            self._written = True
        return published

    async def write_audit(self) -> None:
        recorded, self._audited = self._audited, []
        if recorded:
            await self._insert(audit, recorded)

    async def _insert(self, table: Table, rows: list[dict[str, object]]) -> None:
        connection = await self.session.connection()  # the session's own transaction
        # In slices, each awaited: thousands of rows do not hold the loop at once.
        for start in range(0, len(rows), INSERT_SLICE):
            await connection.execute(insert(table), rows[start:start + INSERT_SLICE])

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
