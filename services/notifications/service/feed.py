"""The in-app feed: what a recipient was told, and whether it was read or acknowledged."""

from __future__ import annotations

from typing import Literal

from sqlmodel import col, select

from services.notifications.models import FeedItem, Recipient
from services.notifications.policy import POLICY
from services.notifications.service.deliveries import may_see
from shared.auth import DEPARTMENT, Principal
from shared.listing import Keyset, Page, where_given
from shared.problems import Problem
from shared.uow import UnitOfWork, utcnow

FEED_ORDER = Keyset((col(FeedItem.created_at), col(FeedItem.id)))


async def read_feed(uow: UnitOfWork, principal: Principal, recipient: str, event_id: str | None, unread: bool,
                    limit: int, cursor: str | None = None) -> Page[FeedItem]:
    """A recipient's feed, newest first."""
    POLICY.require(principal, "feed.read", await _owner(uow, recipient))
    query = where_given(select(FeedItem), {FeedItem.recipient: recipient, FeedItem.event_id: event_id},
                        col(FeedItem.read_at).is_(None) if unread else None)
    if not POLICY.allows(principal, "restricted.read"):
        query = query.where(col(FeedItem.restricted).is_(False))
    found = list((await uow.session.exec(FEED_ORDER.page(query, cursor, limit))).all())
    return Page(found, FEED_ORDER.next_cursor(found, limit))


async def mark_item(uow: UnitOfWork, item_id: str, state: Literal["read", "acknowledged"],
               principal: Principal) -> FeedItem:
    """Marks a feed item read, or acknowledged (which reads it too)."""
    item = await uow.session.get(FeedItem, item_id)
    if item is None or not may_see(principal, item):
        raise Problem(404, f"feed item {item_id} not found")
    owner = await _owner(uow, item.recipient)
    POLICY.require(principal, "feed.read", owner)
    POLICY.require(principal, "feed.mark", owner)
    now = utcnow()
    item.read_at = item.read_at or now
    if state == "acknowledged":
        item.acknowledged_at = item.acknowledged_at or now
    await uow.commit()
    return item


async def _owner(uow: UnitOfWork, recipient_id: str) -> str | None:
    """Whose feed it is: its recipient's department; a feed kept under a department's code before
    anyone set that department up is the department's."""
    recipient = await uow.session.get(Recipient, recipient_id)
    if recipient is not None:
        return recipient.department
    return recipient_id if DEPARTMENT.match(recipient_id) else None
