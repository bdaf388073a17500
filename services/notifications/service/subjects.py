"""A person's data in notifications (shared/subjects.py): the recipients and channels that reach
them by email, what was sent to them, and their feed.

Erasing them deletes every channel with their address and what was and is to be sent through it
(the delivery log included); a recipient that is the person (kind `person`) goes whole, with its
subscriptions and feed. Their email and names are scrubbed from the events alerts are rendered
from and from other recipients' feed items. Each recipient changed is in the audit trail."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, or_
from sqlmodel import col, select

from services.notifications import directory
from services.notifications.models import Channel, Delivery, DeliveryAttempt, FeedItem, Notice, Recipient, Subscription
from services.notifications.privacy import recipient_record
from shared.subjects import Erased, Found, same_email, scrubbed, scrubbed_json
from shared.uow import UnitOfWork


async def _reaching(uow: UnitOfWork, email: str) -> list[tuple[Channel, Recipient]]:
    return list((await uow.session.exec(
        select(Channel, Recipient).join(Recipient, col(Recipient.id) == col(Channel.recipient_id))
        .where(Channel.kind == "email", same_email(Channel.address, email)))).all())


def _plain(row: Any, *leave_out: str) -> dict[str, Any]:
    return {c.key: (v.isoformat() if hasattr(v, "isoformat") else v) for c in row.__table__.columns
            if c.key not in leave_out and (v := getattr(row, c.key)) is not None}


async def export_subject(uow: UnitOfWork, email: str) -> Found:
    found = Found()
    reaching = await _reaching(uow, email)
    for channel, recipient in reaching:
        if recipient.kind == "person":
            found.names.add(recipient.name)
        found.records.setdefault("recipients", []).append(
            {**_plain(recipient), "channel": {"id": channel.id, "kind": channel.kind, "address": channel.address}})
        found.records.setdefault("subscriptions", []).extend(_plain(s) for s in (await uow.session.exec(
            select(Subscription).where(Subscription.recipient_id == recipient.id))).all())
    channel_ids = [channel.id for channel, _ in reaching]
    if channel_ids:
        found.records["deliveries"] = [_plain(d, "channel_id") for d in (await uow.session.exec(
            select(Delivery).where(col(Delivery.channel_id).in_(channel_ids)).order_by(col(Delivery.created_at)))).all()]
    people = [recipient.id for _, recipient in reaching if recipient.kind == "person"]
    if people:
        found.records["feed items"] = [_plain(f) for f in (await uow.session.exec(
            select(FeedItem).where(col(FeedItem.recipient).in_(people)).order_by(col(FeedItem.created_at)))).all()]
    return found


async def erase_subject(uow: UnitOfWork, email: str, names: set[str]) -> Erased:
    erased = Erased(names=set(names))
    connection = await uow.session.connection()
    reaching = await _reaching(uow, email)
    for channel, recipient in reaching:
        channels = list((await uow.session.exec(select(Channel).where(Channel.recipient_id == recipient.id))).all())
        before = recipient_record(recipient, channels)
        whole = recipient.kind == "person"
        sent_through = select(col(Delivery.id)).where(
            (col(Delivery.recipient_id) == recipient.id) if whole else (col(Delivery.channel_id) == channel.id))
        await connection.execute(delete(DeliveryAttempt).where(col(DeliveryAttempt.delivery_id).in_(sent_through)))
        deliveries = await connection.execute(delete(Delivery).where(col(Delivery.id).in_(sent_through)))
        erased.add("deliveries", int(deliveries.rowcount or 0))
        if whole:
            erased.names.add(recipient.name)
            feed = await connection.execute(delete(FeedItem).where(col(FeedItem.recipient) == recipient.id))
            await connection.execute(delete(Subscription).where(col(Subscription.recipient_id) == recipient.id))
            await connection.execute(delete(Channel).where(col(Channel.recipient_id) == recipient.id))
            await connection.execute(delete(Recipient).where(col(Recipient.id) == recipient.id))
            erased.add("feed items", int(feed.rowcount or 0))
            erased.add("recipients", 1)
            uow.audit("recipient", recipient.id, "erased", before, None)
        else:
            await connection.execute(delete(Channel).where(col(Channel.id) == channel.id))
            erased.add("channels", 1)
            uow.audit("recipient", recipient.id, "channel_erased", before,
                      recipient_record(recipient, [c for c in channels if c.id != channel.id]))
    if reaching:
        await directory.changed(connection)
    needles = [n for n in (email, *erased.names) if len(n) >= 3]
    for notice in (await uow.session.exec(select(Notice))).all():
        if (clean := scrubbed_json(notice.data, needles)) != notice.data:
            notice.data = clean
            erased.add("alerts' events", 1)
    quotes = [col(FeedItem.title).icontains(n, autoescape=True) | col(FeedItem.body).icontains(n, autoescape=True)
              for n in needles]
    quoting = (await uow.session.exec(select(FeedItem).where(or_(*quotes)))).all() if quotes else []
    for item in quoting:
        # The database's match is by substring: only a whole-word mention is the person's (scrubbed()).
        clean = scrubbed(item.title, needles), scrubbed(item.body, needles)
        if clean != (item.title, item.body):
            item.title, item.body = clean
            erased.add("feed items' texts", 1)
    await uow.session.flush()
    return erased
