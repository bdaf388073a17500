"""From an event to rows: the notice, a feed entry per recipient, and one delivery per
(event, recipient, channel) — each due now, after quiet hours, or with the daily digest.

Runs inside the consumer's unit of work, so the rows commit with the inbox entry: a redelivered
event finds its id in the inbox and routes nothing twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel
from sqlmodel import col, or_, select

from services.notifications import domain, rendering
from services.notifications.models import Channel, Delivery, FeedItem, Notice, Recipient, Subscription
from shared.envelope import Envelope
from shared.logging import get_logger
from shared.uow import UnitOfWork, utcnow

log = get_logger("notifications.routing")


@dataclass
class Route:
    """One recipient of one event; `channels` False: the in-app feed only."""

    recipient: Recipient
    channels: bool


async def route(payload: BaseModel, envelope: Envelope, uow: UnitOfWork, now: datetime | None = None) -> list[Route]:
    now = now or utcnow()
    session = uow.session
    critical = domain.is_critical(payload, now)
    topic = domain.topic_of(payload)
    related = await _related(uow, envelope.type, topic)
    session.add(Notice(event_id=envelope.id, event_type=envelope.type, topic=topic, critical=critical,
                       data=envelope.data, occurred_at=envelope.time, received_at=now))
    routes = await recipients_of(uow, payload, envelope.type)
    channels = await _channels_of([r.recipient.id for r in routes if r.channels], uow)
    for r in routes:
        message = rendering.render(envelope.type, envelope.data, r.recipient.language, related)
        session.add(FeedItem(recipient=r.recipient.id, event_id=envelope.id, event_type=envelope.type,
                             title=message.feed_title[:300], body=message.feed_body, critical=critical,
                             created_at=now))
        for channel in channels.get(r.recipient.id, []) if r.channels else []:
            session.add(_delivery(envelope, r.recipient, channel, critical, now))
    return routes


async def recipients_of(uow: UnitOfWork, payload: BaseModel, event_type: str) -> list[Route]:
    """The default audiences' recipients, then the subscribers whose filters match. A department
    nobody has set up yet still gets its feed (under its code), so nothing said is lost."""
    routes: dict[str, Route] = {}
    for audience in domain.audiences(payload):
        found = (await uow.session.exec(select(Recipient).where(
            Recipient.kind == "coordinators" if audience.department == domain.COORDINATORS
            else (Recipient.kind == "department") & (Recipient.department == audience.department)))).all()
        for recipient in found or [_implicit(audience.department)]:
            known = routes.setdefault(recipient.id, Route(recipient, audience.channels))
            known.channels = known.channels or audience.channels
    departments, countries = domain.facets(payload)
    subscribed = (await uow.session.exec(
        select(Subscription, Recipient).join(Recipient, col(Recipient.id) == Subscription.recipient_id).where(
            Subscription.event_type == event_type,
            or_(col(Subscription.department).is_(None), col(Subscription.department).in_(departments or {""})),
            or_(col(Subscription.country).is_(None), col(Subscription.country).in_(countries or {""}))))).all()
    for _, recipient in subscribed:
        routes.setdefault(recipient.id, Route(recipient, True)).channels = True
    return list(routes.values())


def _implicit(department: str) -> Recipient:
    return Recipient(id=department, kind="coordinators" if department == domain.COORDINATORS else "department",
                     name=department, department=department, created_at=utcnow(), updated_at=utcnow())


async def _channels_of(recipient_ids: list[str], uow: UnitOfWork) -> dict[str, list[Channel]]:
    if not recipient_ids:
        return {}
    found: dict[str, list[Channel]] = {}
    for channel in (await uow.session.exec(select(Channel).where(
            col(Channel.recipient_id).in_(recipient_ids)).order_by(Channel.created_at))).all():
        found.setdefault(channel.recipient_id, []).append(channel)
    return found


async def _related(uow: UnitOfWork, event_type: str, topic: str | None) -> dict | None:
    """What a resolution resolves: the detection notice of the same overlap, if we saw it."""
    if topic is None or not event_type.endswith(".resolved.v1"):
        return None
    earlier = (await uow.session.exec(select(Notice).where(
        Notice.topic == topic, Notice.event_type == event_type.replace(".resolved.", ".detected."))
        .order_by(col(Notice.received_at).desc()))).first()
    return earlier.data if earlier else None


def _delivery(envelope: Envelope, recipient: Recipient, channel: Channel, critical: bool, now: datetime) -> Delivery:
    delivery = Delivery(event_id=envelope.id, recipient_id=recipient.id, channel_id=channel.id,
                        channel_kind=channel.kind, due_at=now, created_at=now, attempt_limit=domain.MAX_ATTEMPTS)
    if channel.address is None:
        delivery.status, delivery.last_error = "skipped", f"no {channel.kind} URL set up for {recipient.id}"
        log.info("delivery skipped", recipient=recipient.id, channel=channel.kind, reason=delivery.last_error)
        return delivery
    if critical:
        return delivery  # critical: neither quiet hours nor the digest hold it
    if recipient.digest_hour is not None:
        delivery.status = "digest"
        delivery.due_at = domain.next_digest(now, recipient.timezone, recipient.digest_hour)
        delivery.held_reason = f"daily digest at {recipient.digest_hour:02d}:00 {recipient.timezone}"
        return delivery
    release = domain.quiet_until(now, recipient.timezone, recipient.quiet_start, recipient.quiet_end)
    if release is not None:
        delivery.due_at = release
        delivery.held_reason = f"quiet hours until {recipient.quiet_end:%H:%M} {recipient.timezone}"
    return delivery
