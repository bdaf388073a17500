"""Inbox: the ids of events a consumer has handled, written in the same transaction as the effect."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.envelope import Envelope
from shared.tables import inbox
from shared.uow import utcnow


async def claim(session: AsyncSession, consumer: str, envelope: Envelope) -> bool:
    """Record the event as handled by `consumer`; False if it already was (a redelivery).

    On PostgreSQL a concurrent duplicate waits on the primary key until the first commits,
    then finds the row: two replicas never both apply the same event.
    """
    connection = await session.connection()  # the session's own transaction
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    result = await connection.execute(
        insert(inbox)
        .values(consumer=consumer, event_id=envelope.id, event_type=envelope.type, handled_at=utcnow())
        .on_conflict_do_nothing(index_elements=["consumer", "event_id"])
    )
    return result.rowcount == 1
