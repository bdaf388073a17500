"""The in-app feed: what a recipient was told, and whether it was read or acknowledged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import delete
from sqlmodel import col, select

from services.notifications.models import FeedItem, Recipient
from services.notifications.policy import POLICY
from services.notifications.service import FeedBell
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
    before = {"read_at": item.read_at, "acknowledged_at": item.acknowledged_at}
    item.read_at = item.read_at or now
    if state == "acknowledged":
        item.acknowledged_at = item.acknowledged_at or now
    uow.audit("feed_item", item.id, state, before, {"read_at": item.read_at, "acknowledged_at": item.acknowledged_at})
    await uow.commit()
    return item


# -- following a feed live ---------------------------------------------------------------------------

POLL_SECONDS = 1.0  # a follower looks this often even unrung: another replica may have routed the event
# Routing's transactions may commit out of their items' created_at order (consumers side by side,
# replicas): each look reaches this far back and leaves out what was already sent.
LOOK_BACK = timedelta(seconds=60)
BATCH = 100


@dataclass
class FeedFollower:
    """A live reader of one recipient's feed, and what it was sent (by item id, with its created_at)."""

    recipient: str
    restricted: bool  # may see items about restricted trips
    since: datetime  # the latest created_at sent, or when it began following
    sent: dict[str, datetime] = field(default_factory=dict)

    async def new_items(self, uow: UnitOfWork) -> list[FeedItem]:
        """What was not sent yet, oldest first (at most BATCH)."""
        query = select(FeedItem).where(FeedItem.recipient == self.recipient,
                                       col(FeedItem.created_at) >= self.since - LOOK_BACK)
        if self.sent:
            query = query.where(col(FeedItem.id).not_in(list(self.sent)))
        if not self.restricted:
            query = query.where(col(FeedItem.restricted).is_(False))
        found = list((await uow.session.exec(query.order_by(col(FeedItem.created_at), col(FeedItem.id))
                                              .limit(BATCH))).all())
        for item in found:
            self.sent[item.id] = item.created_at
            self.since = max(self.since, item.created_at)
        self.sent = {key: at for key, at in self.sent.items() if at >= self.since - LOOK_BACK}
        return found

    async def looks(self, uow: Callable[[], UnitOfWork], bell: FeedBell) -> AsyncGenerator[list[FeedItem], None]:
        """The new items of each look (often none), looking when the bell rings or POLL_SECONDS
        passed; endless: the reader stops it."""
        while True:
            rung = bell.next_ring()
            async with uow() as reading:
                found = await self.new_items(reading)
            yield found
            if len(found) == BATCH:
                continue  # more are waiting
            try:
                await asyncio.wait_for(rung.wait(), POLL_SECONDS)
            except TimeoutError:
                pass  # polled: nothing rang here


async def follow_feed(uow: UnitOfWork, principal: Principal, recipient: str,
                      last_event_id: str | None) -> FeedFollower:
    """Who may read a feed may follow it: from now (nothing old), or after the item a reconnecting
    reader last had (its `Last-Event-ID`; one unknown to the feed is as none)."""
    POLICY.require(principal, "feed.read", await _owner(uow, recipient))
    follower = FeedFollower(recipient, POLICY.allows(principal, "restricted.read"), utcnow())
    last = await uow.session.get(FeedItem, last_event_id) if last_event_id else None
    if last is not None and (last.recipient != recipient or not may_see(principal, last)):
        last = None
    if last is not None:
        follower.since = last.created_at
    recent = (await uow.session.exec(select(FeedItem.id, FeedItem.created_at).where(
        FeedItem.recipient == recipient, col(FeedItem.created_at) >= follower.since - LOOK_BACK))).all()
    # Had already: everything until now, or up to the last item in the feed's order (created_at, id).
    follower.sent = {key: at for key, at in recent if last is None or (at, key) <= (last.created_at, last.id)}
    return follower


async def _owner(uow: UnitOfWork, recipient_id: str) -> str | None:
    """Whose feed it is: its recipient's department; a feed kept under a department's code before
    anyone set that department up is the department's."""
    recipient = await uow.session.get(Recipient, recipient_id)
    if recipient is not None:
        return recipient.department
    return recipient_id if DEPARTMENT.match(recipient_id) else None


async def forget_feed_items(uow: UnitOfWork, cutoff: datetime, _settings: Any) -> int:
    """Retention: feed items made before `cutoff`, read or not. Returns how many."""
    result = await (await uow.session.connection()).execute(
        delete(FeedItem).where(col(FeedItem.created_at) < cutoff))
    return int(result.rowcount or 0)
