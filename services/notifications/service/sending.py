"""What the delivery worker reads and writes: its claims on due deliveries, what a claimed batch
needs for sending, and each send's outcome. The worker (delivery.py) decides when; this decides
what is written.

A claim is an UPDATE that marks rows `sending` with a lease and a token (FOR UPDATE SKIP LOCKED on
PostgreSQL), so several replicas never take the same delivery. Each outcome is written in its own
transaction right after its send, guarded by the token, so a finished send is never redone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, or_, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications import domain, rendering
from services.notifications.channels import Outcome
from services.notifications.directory import Directory
from services.notifications.events import DeliveryFailedV1
from services.notifications.models import Channel, Delivery, DeliveryAttempt, Notice, Recipient
from services.notifications.settings import NotificationsSettings
from shared.db import table_of
from shared.logging import get_logger
from shared.metrics import ALERT_LATENCY, DELIVERY_ATTEMPTS
from shared.uow import UnitOfWork, utcnow

log = get_logger("notifications.delivery")

DELIVERY = table_of(Delivery)
SINGLE, DIGEST = ("pending", "sending"), ("digest", "sending-digest")  # (waiting, claimed)


class Batch:
    """What sending claimed deliveries needs besides their rows: notices by event id, recipients
    and channels by id, and what each resolution resolves (by topic)."""

    def __init__(self, notices: dict, recipients: dict, channels: dict, related: dict) -> None:
        self.notices, self.recipients, self.channels, self.related = notices, recipients, channels, related

    def of(self, row: Any) -> tuple[Notice, Recipient | None, Channel | None]:
        return self.notices[row.event_id], self.recipients.get(row.recipient_id), self.channels.get(row.channel_id)

    def message(self, notice: Notice, language: str) -> rendering.Message:
        """Rendered once per event and language, however many recipients read it."""
        return rendering.recent.render(notice.event_id, notice.event_type, notice.data, language,
                                       self.related.get(notice.topic))


async def claim_due(engine: AsyncEngine, now: datetime, states: tuple[str, str], limit: int,
                    lease_seconds: float) -> list[Any]:
    """Up to `limit` deliveries due at `now` (or whose lease ran out), claimed for `lease_seconds`, the
    oldest first: a delivery put back for its receiver's pace (or a retry) keeps its place in line, so
    newer ones to the same webhook cannot keep taking its slots (they are sent in claim order)."""
    waiting, claimed = states
    token = str(uuid.uuid4())
    due = (select(DELIVERY.c.id).where(or_(
        and_(DELIVERY.c.status == waiting, DELIVERY.c.due_at <= now),
        and_(DELIVERY.c.status == claimed, DELIVERY.c.lease_until < now)))
        .order_by(DELIVERY.c.created_at, DELIVERY.c.id).limit(limit).with_for_update(skip_locked=True))
    async with engine.begin() as connection:
        rows = (await connection.execute(
            update(DELIVERY).where(DELIVERY.c.id.in_(due.scalar_subquery())).values(
                status=claimed, claim_token=token, lease_until=now + timedelta(seconds=lease_seconds))
            .returning(*DELIVERY.c))).all()
    return sorted(rows, key=lambda r: (r.created_at, r.id))


async def batch_of(sessions: async_sessionmaker[AsyncSession], directory: Directory, rows: list[Any]) -> Batch:
    """The notices the claimed deliveries carry (and what resolutions resolve), read together;
    recipients and channels from the directory snapshot."""
    async with sessions() as session:
        book = await directory.current(await session.connection())
        notices = {n.event_id: n for n in (await session.exec(select(Notice).where(
            col(Notice.event_id).in_({r.event_id for r in rows})))).all()}
        topics = {n.topic for n in notices.values() if n.topic and n.event_type.endswith(".resolved.v1")}
        related = {}
        if topics:
            for n in (await session.exec(select(Notice).where(col(Notice.topic).in_(topics)).order_by(
                    col(Notice.received_at)))).all():
                if n.event_type.endswith(".detected.v1"):
                    related[n.topic] = n.data
    return Batch(notices, book.recipients, book.channel_by_id, related)


UNFINISHED = (*SINGLE, *DIGEST)


async def record_outcome(uow: UnitOfWork, rows: list[Any], batch: Batch, outcome: Outcome, started: datetime,
                         settings: NotificationsSettings, digest_id: str | None = None, *,
                         finished: datetime | None = None, replayed: bool = False) -> None:
    """The outcome of one send for the deliveries it carried, each guarded by its claim; a delivery
    given up on is `notifications.delivery.failed.v1`. `replayed`: an outcome written late (held
    through a database outage, or from the journal): guarded instead by the attempt count it was
    sent at, so writing it twice, or after the claim lapsed, changes nothing more."""
    finished = finished or utcnow()
    connection = await uow.session.connection()
    counted: list[tuple[Any, str]] = []  # (row, the attempt's outcome), counted once committed
    for row in rows:
        guard = (and_(DELIVERY.c.attempts == row.attempts, DELIVERY.c.status.in_(UNFINISHED)) if replayed
                 else DELIVERY.c.claim_token == row.claim_token)
        waiting = DIGEST[0] if row.status in DIGEST else SINGLE[0]
        if outcome.outcome == "deferred":  # not an attempt: back in line for its slot
            await connection.execute(update(DELIVERY).where(DELIVERY.c.id == row.id, guard).values(
                status=waiting, lease_until=None, claim_token=None,
                due_at=finished + timedelta(seconds=outcome.retry_after or 0)))
            continue
        attempts = row.attempts + 1
        values: dict[str, Any] = dict(attempts=attempts, lease_until=None, claim_token=None,
                                      last_error=outcome.error)
        if outcome.outcome == "sent":
            values.update(status="sent", sent_at=finished, held_reason=None, digest_id=digest_id)
        elif outcome.outcome == "skipped":
            values.update(status="skipped")
        elif outcome.permanent:
            values.update(status="dead")
        else:
            # Retried on a time budget from the first failure, not a count of attempts.
            retry_until = _utc(row.retry_until) or finished + timedelta(
                seconds=settings.delivery_retry_budget_seconds)
            if finished >= retry_until:
                values.update(status="dead", last_error=f"{outcome.error} (retried for "
                              f"{settings.delivery_retry_budget_seconds:g} s)")
            else:
                values.update(status=waiting, retry_until=retry_until, due_at=finished + timedelta(
                    seconds=domain.backoff(attempts, retry_after=outcome.retry_after,
                                           base=settings.retry_base_seconds, cap=settings.retry_cap_seconds)))
        result = await connection.execute(update(DELIVERY).where(DELIVERY.c.id == row.id, guard).values(values))
        if result.rowcount == 0:
            log.warning("delivery outcome already written" if replayed else
                        "delivery claim lost before its outcome was written", delivery_id=row.id)
            continue
        await connection.execute(insert(table_of(DeliveryAttempt)).values(
            delivery_id=row.id, number=attempts, started_at=started, finished_at=finished,
            outcome=outcome.outcome, status_code=outcome.status_code, error=outcome.error))
        notice = batch.notices[row.event_id]
        log.info("delivery attempt", delivery_id=row.id, event_id=row.event_id,
                 correlation_id=notice.correlation_id or row.event_id, recipient=row.recipient_id,
                 channel=row.channel_kind, outcome=outcome.outcome, status=values["status"],
                 status_code=outcome.status_code, error=outcome.error)
        if outcome.outcome != "skipped":  # skipped: nothing was sent to anyone
            counted.append((row, values["status"] if values["status"] in ("sent", "dead") else "retried"))
        if values["status"] == "dead":
            uow.publish(DeliveryFailedV1(
                delivery_id=row.id, event_id=row.event_id, event_type=batch.notices[row.event_id].event_type,
                recipient=row.recipient_id, channel=row.channel_kind,
                reason=values["last_error"] or "failed", attempts=attempts, failed_at=finished),
                subject=f"deliveries/{row.id}")
    await uow.commit()
    for row, attempt in counted:
        DELIVERY_ATTEMPTS.labels("notifications", row.channel_kind, attempt).inc()
        # The promise is about alerts sent as soon as they may be: a digest or a quiet-hours hold
        # waits on purpose, and would hide a slow path behind its hours.
        if attempt == "sent" and digest_id is None and row.held_reason is None:
            occurred = batch.notices[row.event_id].occurred_at
            if occurred.tzinfo is None:  # SQLite drops the offset; we only ever store UTC
                occurred = occurred.replace(tzinfo=UTC)
            ALERT_LATENCY.labels("notifications", row.channel_kind).observe(
                max(0.0, (finished - occurred).total_seconds()))


async def unfinished(sessions: async_sessionmaker[AsyncSession], sent: list[tuple[str, int]]) -> list[Any]:
    """The rows of (delivery id, attempts when sent) whose outcome is not written yet."""
    attempts = dict(sent)
    async with sessions() as session:
        found = (await (await session.connection()).execute(DELIVERY.select().where(
            DELIVERY.c.id.in_(attempts), DELIVERY.c.status.in_(UNFINISHED)))).all()
    return sorted((r for r in found if attempts.get(r.id) == r.attempts), key=lambda r: r.due_at)


def _utc(at: datetime | None) -> datetime | None:
    if at is not None and at.tzinfo is None:  # SQLite drops the offset; we only ever store UTC
        return at.replace(tzinfo=UTC)
    return at
