"""From an event to rows: the notice, a feed entry per recipient, and one delivery per
(event, recipient, channel) — each due now, after quiet hours, or with the daily digest.

Runs inside the consumer's unit of work, so the rows commit with the inbox entry: a redelivered
event finds its id in the inbox and routes nothing twice. Once that commits, the runtime wakes the
delivery worker, which claims what is due."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import insert
from sqlmodel import col, select

from services.notifications import directory, domain, rendering
from services.notifications.models import Channel, Delivery, FeedItem, Notice, Recipient, new_id
from services.notifications.service import NotificationsContext
from shared.db import table_of
from shared.envelope import Envelope
from shared.logging import get_logger
from shared.metrics import ROUTING_CONFLICTS
from shared.tracing import current_traceparent
from shared.uow import UnitOfWork, utcnow

log = get_logger("notifications.routing")

# A recipient that would have received an event but may not (another department's recipient
# holding a person's address), or a derived id already taken: the event still reaches the rightful
# recipients, and ROUTING_CONFLICTS (shared/metrics.py) counts what was set aside.


@dataclass
class Route:
    """One recipient of one event; `channels` False: the in-app feed only."""

    recipient: Recipient
    channels: bool
    # A person the directory did not know (a desk officer, an application's owner), registered
    # now with the channel to reach them.
    registered: Channel | None = None


async def route(payload: BaseModel, envelope: Envelope, uow: UnitOfWork, ctx: NotificationsContext,
                now: datetime | None = None) -> list[Route]:
    now = now or utcnow()
    critical = domain.is_critical(payload, now)
    restricted = domain.is_restricted(payload)  # kept on the rows, so every list can leave it out
    topic = domain.topic_of(payload)
    related = await _related(uow, envelope.type, topic)
    book = await ctx.directory.current(await uow.session.connection())
    routes = recipients_of(book, payload, envelope.type)
    if registered := [(r.recipient, r.registered) for r in routes if r.registered]:
        book = await _register(uow, registered, book)
    feed, deliveries = [], []
    for r in routes:
        message = rendering.recent.render(envelope.id, envelope.type, envelope.data, r.recipient.language, related)
        feed.append(dict(id=new_id(), recipient=r.recipient.id, event_id=envelope.id, event_type=envelope.type,
                         title=message.feed_title[:300], body=message.feed_body, critical=critical,
                         restricted=restricted, created_at=now, read_at=None, acknowledged_at=None))
        deliveries += [_delivery(envelope, r.recipient, channel, critical, now)
                       for channel in (book.channels.get(r.recipient.id, []) if r.channels else [])]
    traceparent, tracestate = current_traceparent()  # the consumer's span: deliveries are sent as its children
    notice = Notice(event_id=envelope.id, event_type=envelope.type, topic=topic, critical=critical,
                    restricted=restricted, data=envelope.data, occurred_at=envelope.time, received_at=now,
                    correlation_id=(envelope.correlation_id or envelope.id)[:64], traceparent=traceparent,
                    tracestate=tracestate)
    # Plain inserts: these rows are written once and never read back here.
    connection = await uow.session.connection()
    await connection.execute(insert(table_of(Notice)).values(notice.model_dump()))
    if feed:
        await connection.execute(insert(table_of(FeedItem)), feed)
        uow.after_commit(ctx.feed_bell.ring)
    if deliveries:
        await connection.execute(insert(table_of(Delivery)), deliveries)
    return routes


def recipients_of(book: directory.Snapshot, payload: BaseModel, event_type: str) -> list[Route]:
    """The default audiences' recipients, then the subscribers whose filters match. A department
    nobody has set up yet still gets its feed (under its code), so nothing said is lost; a person
    named by email (a desk officer, an application's owner) is registered in the directory.

    Whatever the directory says, a recipient hears only of what its owner may read
    (domain.may_receive): restricted events reach the coordinators alone."""
    routes: dict[str, Route] = {}
    departments, countries = domain.facets(payload)  # what subscription filters match
    for audience in domain.audiences(payload):
        if audience.email is not None:
            holders = [book.recipients[c.recipient_id] for cs in book.channels.values() for c in cs
                       if c.kind == "email" and (c.address or "").lower() == audience.email]
            theirs = [r for r in holders if _may_stand_for(r, payload, departments)]
            if set_aside := sorted({r.id for r in holders} - {r.id for r in theirs}):
                _conflict("email_held_elsewhere", set_aside, payload)
            if not theirs:
                person, channel = _person(audience.email, audience.name, book)
                routes.setdefault(person.id, Route(person, True, registered=channel))
                continue
        elif audience.department == domain.COORDINATORS:
            theirs = [r for r in book.recipients.values() if r.kind == "coordinators"]
        else:
            theirs = [r for r in book.recipients.values()
                      if r.kind == "department" and r.department == audience.department]
        if not theirs:  # a department's audience (a person without recipients was registered above)
            if audience.department is None:
                raise ValueError(f"an audience of {event_type} names neither a department nor an email")
            if audience.department in book.recipients:  # the desk's id, held by some other recipient
                _conflict("id_taken", [audience.department], payload)
                continue
            theirs = [_implicit(audience.department)]
        for recipient in theirs:
            if not domain.may_receive(recipient.department, payload):
                continue  # a desk set up for another department than its own, say
            known = routes.setdefault(recipient.id, Route(recipient, audience.channels))
            known.channels = known.channels or audience.channels
    for subscription in book.subscriptions.get(event_type, []):
        if (subscription.department in (None, *departments)) and (subscription.country in (None, *countries)):
            recipient = book.recipients[subscription.recipient_id]
            if domain.may_receive(recipient.department, payload):
                routes.setdefault(recipient.id, Route(recipient, True)).channels = True
    return list(routes.values())


def _may_stand_for(recipient: Any, payload: BaseModel, departments: set[str]) -> bool:
    """Whether a recipient holding a person's address may receive what is said to that person:
    one of no department (the coordinators keep those) or the coordinators', or one of a department
    the event is about. Another department's recipient with that address would take the person's
    alerts from them."""
    if not domain.may_receive(recipient.department, payload):
        return False
    return recipient.department in (None, domain.COORDINATORS) or recipient.department in departments


def _conflict(reason: str, recipient_ids: list[str], payload: BaseModel | None) -> None:
    ROUTING_CONFLICTS.labels("notifications", reason).inc()
    log.warning("routing conflict", reason=reason, recipients=recipient_ids,
                topic=None if payload is None else domain.topic_of(payload))


def _person(email: str, name: str | None, book: directory.Snapshot) -> tuple[Recipient, Channel]:
    """A person's recipient, under an id derived from the address. The API refuses ids of the
    router's `person-` namespace; should the id be taken anyway (an older row, an address changed
    since), the person gets the next free id instead of the event failing."""
    local = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in email.split("@")[0])[:24]
    recipient_id = f"{domain.PERSON_PREFIX}{local}-{hashlib.sha256(email.encode()).hexdigest()[:8]}"
    if recipient_id in book.recipients:
        _conflict("id_taken", [recipient_id], None)
        n = 1
        while (recipient_id := f"{domain.PERSON_PREFIX}{local[:20]}-"
                               f"{hashlib.sha256(f'{email}#{n}'.encode()).hexdigest()[:12]}") in book.recipients:
            n += 1
    now = utcnow()
    return (Recipient(id=recipient_id, kind="person", name=name or email, created_at=now, updated_at=now),
            Channel(id=new_id(), recipient_id=recipient_id, kind="email", address=email, created_at=now))


async def _register(uow: UnitOfWork, people: list[tuple[Recipient, Channel]],
                    book: directory.Snapshot) -> directory.Snapshot:
    """Add the new people to the directory (in this transaction) and to the copy routing uses."""
    connection = await uow.session.connection()
    await connection.execute(insert(table_of(Recipient)), [recipient.model_dump() for recipient, _ in people])
    await connection.execute(insert(table_of(Channel)), [channel.model_dump() for _, channel in people])
    await directory.changed(connection)
    for recipient, _ in people:
        log.info("recipient registered", recipient=recipient.id,
                 reason="named by email in an event (a desk officer, an application's owner)")
    return directory.Snapshot(
        version=-1,  # this copy is never cached: the next reader reloads the directory
        recipients={**book.recipients, **{recipient.id: recipient for recipient, _ in people}},
        channels={**book.channels, **{recipient.id: [channel] for recipient, channel in people}},
        channel_by_id={**book.channel_by_id, **{channel.id: channel for _, channel in people}},
        subscriptions=book.subscriptions)


def _implicit(department: str) -> Recipient:
    return Recipient(id=department, kind="coordinators" if department == domain.COORDINATORS else "department",
                     name=department, department=department, created_at=utcnow(), updated_at=utcnow())


async def _related(uow: UnitOfWork, event_type: str, topic: str | None) -> dict | None:
    """What a resolution resolves: the detection notice of the same overlap, if we saw it."""
    if topic is None or not event_type.endswith(".resolved.v1"):
        return None
    earlier = (await uow.session.exec(select(Notice).where(
        Notice.topic == topic, Notice.event_type == event_type.replace(".resolved.", ".detected."))
        .order_by(col(Notice.received_at).desc()))).first()
    return earlier.data if earlier else None


def _delivery(envelope: Envelope, recipient: Recipient, channel: Channel, critical: bool,
              now: datetime) -> dict[str, Any]:
    """A delivery row: due now, or held (quiet hours, digest), or skipped with the reason."""
    delivery = dict(id=new_id(), event_id=envelope.id, recipient_id=recipient.id, channel_id=channel.id,
                    channel_kind=channel.kind, status="pending", due_at=now, held_reason=None, attempts=0,
                    attempt_limit=domain.MAX_ATTEMPTS, lease_until=None, claim_token=None, last_error=None,
                    digest_id=None, created_at=now, sent_at=None)
    if channel.address is None:
        delivery.update(status="skipped", last_error=f"no {channel.kind} URL set up for {recipient.id}")
        log.info("delivery skipped", recipient=recipient.id, channel=channel.kind, reason=delivery["last_error"])
    elif critical:
        pass  # critical: neither quiet hours nor the digest hold it
    elif recipient.digest_hour is not None:
        delivery.update(status="digest", due_at=domain.next_digest(now, recipient.timezone, recipient.digest_hour),
                        held_reason=f"daily digest at {recipient.digest_hour:02d}:00 {recipient.timezone}")
    elif release := domain.quiet_until(now, recipient.timezone, recipient.quiet_start, recipient.quiet_end):
        delivery.update(due_at=release,
                        held_reason=f"quiet hours until {recipient.quiet_end:%H:%M} {recipient.timezone}")
    return delivery
