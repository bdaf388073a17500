"""The delivery log: what went where, every attempt, and an admin's re-drive of what failed."""

from __future__ import annotations

from datetime import datetime
from typing import Any, get_args

from sqlalchemy import delete, exists, func
from sqlmodel import col, select

from services.notifications import domain
from services.notifications.models import Delivery, DeliveryAttempt, FeedItem, Notice, Recipient
from services.notifications.policy import POLICY
from services.notifications.service import NotificationsContext
from shared.auth import Principal
from shared.listing import Keyset, Page, where_given
from shared.metrics import DELIVERIES
from shared.problems import Problem
from shared.runtime import ServiceRuntime
from shared.uow import UnitOfWork, utcnow

DELIVERY_ORDER = Keyset((col(Delivery.created_at), col(Delivery.id)))


async def refresh_gauges(runtime: ServiceRuntime) -> None:
    """oia_deliveries: delivery rows by channel and status (the service's `ServiceSpec.gauges`). Every
    status of a channel seen is set, 0 when none, so a count that fell to nothing does not linger."""
    async with runtime.engine.connect() as connection:
        counts = (await connection.execute(
            select(Delivery.channel_kind, Delivery.status, func.count()).group_by(
                col(Delivery.channel_kind), col(Delivery.status)))).all()
    by_key = {(channel, status): count for channel, status, count in counts}
    for channel in {channel for channel, _ in by_key} | set(get_args(domain.ChannelKind)):
        for status in get_args(domain.DeliveryStatus):
            DELIVERIES.labels(runtime.name, channel, status).set(by_key.get((channel, status), 0))


async def list_deliveries(uow: UnitOfWork, principal: Principal, event_id: str | None,
                          status: domain.DeliveryStatus | None, recipient: str | None, limit: int,
                          cursor: str | None = None) -> Page[Delivery]:
    """Newest first, only those this key may read."""
    query = where_given(select(Delivery), {Delivery.event_id: event_id, Delivery.status: status,
                                           Delivery.recipient_id: recipient})
    if (scope := POLICY.own_only(principal, "delivery.read")) is not None:
        query = query.join(Recipient, col(Recipient.id) == Delivery.recipient_id).where(Recipient.department == scope)
    if not POLICY.allows(principal, "restricted.read"):
        query = query.join(Notice, col(Notice.event_id) == Delivery.event_id).where(col(Notice.restricted).is_(False))
    found = list((await uow.session.exec(DELIVERY_ORDER.page(query, cursor, limit))).all())
    return Page(found, DELIVERY_ORDER.next_cursor(found, limit))


async def get_delivery(uow: UnitOfWork, delivery_id: str,
                       principal: Principal) -> tuple[Delivery, list[DeliveryAttempt]]:
    """One delivery with every attempt."""
    delivery = await _delivery(uow, delivery_id, principal)
    attempts = (await uow.session.exec(select(DeliveryAttempt).where(
        DeliveryAttempt.delivery_id == delivery.id).order_by(col(DeliveryAttempt.number)))).all()
    return delivery, list(attempts)


async def redrive(uow: UnitOfWork, ctx: NotificationsContext, delivery_id: str, principal: Principal) -> Delivery:
    """A dead or skipped delivery, due now with a fresh set of attempts; the worker is woken once
    that commits."""
    delivery = await _delivery(uow, delivery_id, principal)
    if delivery.status not in ("dead", "skipped"):
        raise Problem(409, f"delivery {delivery_id} is {delivery.status}; only dead or skipped ones are re-driven")
    uow.audit("delivery", delivery.id, "redriven", {"status": delivery.status}, {"status": "pending"})
    delivery.status, delivery.due_at, delivery.held_reason = "pending", utcnow(), None
    delivery.attempt_limit = delivery.attempts + domain.MAX_ATTEMPTS
    delivery.retry_until = None  # a fresh time budget from its next failure
    uow.after_commit(ctx.wake)
    await uow.commit()
    return delivery


async def _delivery(uow: UnitOfWork, delivery_id: str, principal: Principal) -> Delivery:
    delivery = await uow.session.get(Delivery, delivery_id)
    if delivery is None:
        raise Problem(404, f"delivery {delivery_id} not found")
    recipient = await uow.session.get(Recipient, delivery.recipient_id)
    notice = await uow.session.get(Notice, delivery.event_id)
    if (not POLICY.allows(principal, "delivery.read", recipient.department if recipient else None)
            or not may_see(principal, notice)):
        raise Problem(404, f"delivery {delivery_id} not found")
    return delivery


def may_see(principal: Principal, item: Notice | FeedItem | None) -> bool:
    """Whether an item about an event may be shown at all: one about a restricted trip only to
    those who may see restricted items."""
    return item is not None and (not item.restricted or POLICY.allows(principal, "restricted.read"))


FINISHED = ("sent", "skipped", "dead")


async def forget_deliveries(uow: UnitOfWork, cutoff: datetime, _settings: Any) -> int:
    """Retention: finished deliveries made before `cutoff`, with their attempts, and the events they
    were rendered from once nothing refers to them any more (a pending delivery keeps its event).
    Returns the rows deleted."""
    old = select(col(Delivery.id)).where(col(Delivery.status).in_(FINISHED), col(Delivery.created_at) < cutoff)
    connection = await uow.session.connection()
    attempts = await connection.execute(delete(DeliveryAttempt).where(col(DeliveryAttempt.delivery_id).in_(old)))
    deliveries = await connection.execute(delete(Delivery).where(col(Delivery.status).in_(FINISHED),
                                                                 col(Delivery.created_at) < cutoff))
    notices = await connection.execute(delete(Notice).where(
        col(Notice.received_at) < cutoff, ~exists().where(col(Delivery.event_id) == col(Notice.event_id))))
    return sum(int(result.rowcount or 0) for result in (attempts, deliveries, notices))
