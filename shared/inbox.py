"""Inbox: the ids of events a consumer has handled, written in the same transaction as the effect."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import insert_new
from shared.envelope import Envelope
from shared.tables import inbox
from shared.uow import utcnow


async def claim(session: AsyncSession, consumer: str, envelopes: list[Envelope]) -> set[str]:
    """Record the events as handled by `consumer`; returns the ids that were not already recorded.

    On PostgreSQL a concurrent duplicate waits on the primary key until the first transaction
    commits, then finds the row: two replicas never both apply the same event. Ids are inserted
    in sorted order so two overlapping batches lock rows in the same order (no deadlock).
    """
    if not envelopes:
        return set()
    connection = await session.connection()  # the session's own transaction
    now = utcnow()
    rows = {e.id: {"consumer": consumer, "event_id": e.id, "event_type": e.type, "handled_at": now} for e in envelopes}
    # One statement for the batch (SQLAlchemy's "insertmanyvalues"), compiled once and cached.
    result = await connection.execute(_CLAIM[connection.dialect.name], [rows[event_id] for event_id in sorted(rows)])
    return set(result.scalars())


# Built once: statement construction shows up in the consumer's profile.
_CLAIM = {name: insert_new(name, inbox).returning(inbox.c.event_id) for name in ("postgresql", "sqlite")}
