"""Notifications' service layer on the fake unit of work: the directory's writes, routing an event
to its notice, feed items and deliveries, and a delivery round through a fake channel."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlmodel import select

from services.notifications import handlers
from services.notifications.delivery import DeliveryWorker
from services.notifications.directory import Directory
from services.notifications.domain import MAX_ATTEMPTS
from services.notifications.events import consumes
from services.notifications.models import (
    Channel,
    Delivery,
    DeliveryAttempt,
    DirectoryVersion,
    FeedItem,
    Notice,
    NotificationsTable,
    Recipient,
)
from services.notifications.schemas import ChannelIn, RecipientIn
from services.notifications.service import FeedBell, NotificationsContext, deliveries, feed
from services.notifications.service import directory as service
from services.notifications.settings import NotificationsSettings
from shared.auth import Principal
from shared.problems import FieldError, Problem
from shared.uow import utcnow
from tests.integration.test_notifications_delivery import overlap_event
from tests.support.fake_channel import FakeChannel
from tests.support.fakes import FakeDatabase, fake_database

ADMIN = Principal("admin", None, "k-admin")
ECON_KEY = Principal("department", "ECON", "k-econ")


@dataclass
class Service:
    db: FakeDatabase
    ctx: NotificationsContext
    woken: list[bool] = field(default_factory=list)


@pytest.fixture
async def svc() -> AsyncIterator[Service]:
    async with fake_service() as service:
        yield service


@asynccontextmanager
async def fake_service() -> AsyncIterator[Service]:
    """Notifications on the fake unit of work, its directory empty."""
    async with fake_database(NotificationsTable.metadata, "notifications") as db:
        async with db.uow() as uow:
            uow.session.add(DirectoryVersion(id=1, version=0))  # the row the migration inserts
            await uow.commit()
        woken: list[bool] = []
        ctx = NotificationsContext(directory=Directory(), outbound=NotificationsSettings().outbound_guard(),
                                   wake=lambda: woken.append(True), feed_bell=FeedBell())
        yield Service(db, ctx, woken)


async def add(svc: Service, principal: Principal = ADMIN, **body) -> Recipient:
    async with svc.db.uow() as uow:
        recipient, _ = await service.create_recipient(uow, svc.ctx, RecipientIn(**body), principal)
    return recipient


async def desks(svc: Service) -> None:
    for code, kind in (("ECON", "department"), ("MAYOR", "department"), ("OIA", "coordinators")):
        channels = [ChannelIn(kind="email", address=f"{code.lower()}@city.example")]
        if code == "OIA":
            channels.append(ChannelIn(kind="slack", address=None))  # not set up yet: skipped with the reason
        await add(svc, id=code, kind=kind, name=code, department=code, channels=channels)


async def rows(svc: Service, table, *where) -> list:
    async with svc.db.uow() as uow:
        return list((await uow.session.exec(select(table).where(*where))).all())


async def route(svc: Service, envelope) -> None:
    """As the consumer does: the handler in a unit of work, which then commits."""
    async with svc.db.uow() as uow:
        await handlers.notify(consumes.parse(envelope), envelope, uow, svc.ctx)
        await uow.commit()


# -- the directory --------------------------------------------------------------------------------

async def test_a_recipient_is_stored_with_its_channels_and_routing_sees_it_at_once(svc):
    await add(svc, id="ECON", kind="department", name="Economic development", department="ECON",
              channels=[ChannelIn(kind="email", address="econ@city.example"), ChannelIn(kind="teams")])
    [recipient] = await rows(svc, Recipient)
    assert (recipient.id, recipient.kind, recipient.department) == ("ECON", "department", "ECON")
    channels = await rows(svc, Channel, Channel.recipient_id == "ECON")
    assert sorted((c.kind, c.address) for c in channels) == [("email", "econ@city.example"), ("teams", None)]
    async with svc.db.uow() as uow:
        book = await svc.ctx.directory.current(await uow.session.connection())
    assert set(book.recipients) == {"ECON"} and len(book.channels["ECON"]) == 2
    with pytest.raises(FieldError, match="exists already"):
        await add(svc, id="ECON", kind="department", name="again", department="ECON")


async def test_a_department_key_may_not_take_a_reserved_or_a_routers_id(svc):
    for body, refusal, status in [
        (dict(id="ECON-desk", kind="department", department="ECON"), Problem, 403),  # a desk: the coordinators' to set up
        (dict(id="ECON", kind="team"), Problem, 403),  # a department code as an id, whatever the kind
        (dict(id="MAYOR-team", kind="team"), FieldError, 403),  # a name another department's could take
        (dict(id="person-anna", kind="person"), FieldError, 422),  # routing's ids for people named by email
    ]:
        with pytest.raises(refusal) as refused:
            await add(svc, ECON_KEY, name="x", **body)
        assert refused.value.status == status, body
    await add(svc, ECON_KEY, id="ECON-trade", kind="team", name="Trade team")
    [team] = await rows(svc, Recipient)
    assert (team.id, team.department) == ("ECON-trade", "ECON")  # a department key's recipients are its own
    assert svc.db.commits == 2  # the version row, and the one recipient allowed


async def test_a_webhook_to_an_internal_address_is_refused(svc):
    with pytest.raises(FieldError, match=r"channels\[0\]\.address"):
        await add(svc, id="OPS", kind="team", name="Ops",
                  channels=[ChannelIn(kind="webhook", address="https://10.0.0.7/hook")])
    assert await rows(svc, Recipient) == []


# -- routing --------------------------------------------------------------------------------------

async def test_an_overlap_reaches_both_departments_and_the_coordinators(svc):
    await desks(svc)
    event = overlap_event()
    await route(svc, event)
    [notice] = await rows(svc, Notice)
    assert (notice.event_id, notice.topic, notice.restricted) == (event.id, "overlap/o-1", False)
    feed = await rows(svc, FeedItem, FeedItem.event_id == event.id)
    assert sorted(f.recipient for f in feed) == ["ECON", "MAYOR", "OIA"]
    deliveries = await rows(svc, Delivery, Delivery.event_id == event.id)
    assert sorted((d.recipient_id, d.channel_kind, d.status) for d in deliveries) == [
        ("ECON", "email", "pending"), ("MAYOR", "email", "pending"),
        ("OIA", "email", "pending"), ("OIA", "slack", "skipped")]


async def test_an_overlap_of_a_restricted_trip_is_the_coordinators_alone(svc):
    await desks(svc)
    event = overlap_event()
    event.data["trips"][1]["visibility"] = "restricted"
    await route(svc, event)
    [notice] = await rows(svc, Notice)
    assert notice.restricted
    assert [f.recipient for f in await rows(svc, FeedItem)] == ["OIA"]
    assert {d.recipient_id for d in await rows(svc, Delivery)} == {"OIA"}


# -- a delivery round -------------------------------------------------------------------------------

def worker(svc: Service, channel: FakeChannel) -> DeliveryWorker:
    settings = NotificationsSettings(retry_base_seconds=60)
    return DeliveryWorker(settings, svc.db.engine, svc.db.uow, {"email": channel}, svc.ctx.directory)


async def econ_delivery(svc: Service) -> Delivery:
    await add(svc, id="ECON", kind="department", name="ECON", department="ECON",
              channels=[ChannelIn(kind="email", address="econ@city.example")])
    await route(svc, overlap_event())
    [delivery] = await rows(svc, Delivery, Delivery.recipient_id == "ECON")
    return delivery


async def test_a_due_delivery_goes_out_on_its_channel_and_is_marked_sent(svc):
    delivery = await econ_delivery(svc)
    channel = FakeChannel()
    assert await worker(svc, channel).run_once() == 1
    [(target, message)] = channel.sent
    assert (target.address, target.delivery_id, target.event_id) == ("econ@city.example", delivery.id,
                                                                      delivery.event_id)
    assert "Köln" in message.subject
    [after] = await rows(svc, Delivery, Delivery.id == delivery.id)
    assert (after.status, after.attempts, after.sent_at is not None) == ("sent", 1, True)
    [attempt] = await rows(svc, DeliveryAttempt)
    assert (attempt.number, attempt.outcome) == (1, "sent")


async def test_a_failed_send_waits_to_be_retried_a_permanent_one_is_dead_and_a_redrive_revives_it(svc):
    delivery = await econ_delivery(svc)
    channel = FakeChannel()
    channel.fail()
    before = utcnow()
    assert await worker(svc, channel).run_once() == 1
    [after] = await rows(svc, Delivery, Delivery.id == delivery.id)
    assert (after.status, after.attempts, after.last_error) == ("pending", 1, "HTTP 503: unavailable")
    assert after.due_at.replace(tzinfo=before.tzinfo) >= before + timedelta(seconds=30)  # backed off
    assert await worker(svc, channel).run_once() == 0  # not due yet

    channel.fail("HTTP 410: gone", status_code=410, permanent=True)
    assert await worker(svc, channel).run_once(after.due_at.replace(tzinfo=before.tzinfo)) == 1
    [dead] = await rows(svc, Delivery, Delivery.id == delivery.id)
    assert (dead.status, dead.attempts) == ("dead", 2)
    assert [a.outcome for a in await rows(svc, DeliveryAttempt)] == ["failed", "failed"]
    [failed] = svc.db.events("notifications.delivery.failed.v1")
    assert (failed["delivery_id"], failed["attempts"], failed["reason"]) == (delivery.id, 2, "HTTP 410: gone")
    assert channel.tried == 2 and channel.sent == []

    async with svc.db.uow() as uow:  # an admin re-drives it: due now, fresh attempts, the worker woken
        await deliveries.redrive(uow, svc.ctx, delivery.id, ADMIN)
    [again] = await rows(svc, Delivery, Delivery.id == delivery.id)
    assert (again.status, again.attempt_limit, svc.woken) == ("pending", 2 + MAX_ATTEMPTS, [True])
    channel.recover()
    assert await worker(svc, channel).run_once() == 1 and len(channel.sent) == 1


# -- following a feed live ----------------------------------------------------------------------------

async def test_a_follower_gets_what_is_new_late_commits_too_and_resumes_after_its_last_item(svc):
    now = utcnow()

    async def item(created: timedelta, restricted: bool = False) -> FeedItem:
        async with svc.db.uow() as uow:
            row = FeedItem(recipient="ECON", event_id=str(created), event_type="x", title="t", body="b",
                           restricted=restricted, created_at=now + created)
            uow.session.add(row)
            await uow.commit()
            return row

    async def new(follower: feed.FeedFollower) -> list[str]:
        async with svc.db.uow() as uow:
            return [i.id for i in await follower.new_items(uow)]

    old = await item(timedelta(seconds=-5))
    async with svc.db.uow() as uow:
        follower = await feed.follow_feed(uow, ECON_KEY, "ECON", None)
    assert await new(follower) == []  # nothing old
    fresh = await item(timedelta(seconds=1))
    await item(timedelta(seconds=2), restricted=True)  # not for a department's key
    assert await new(follower) == [fresh.id]
    late = await item(timedelta(seconds=-1))  # routed before `fresh`, committed after it
    assert await new(follower) == [late.id] and await new(follower) == []

    async with svc.db.uow() as uow:
        resumed = await feed.follow_feed(uow, ECON_KEY, "ECON", old.id)
    assert sorted(await new(resumed)) == sorted([fresh.id, late.id])
    with pytest.raises(Problem) as refused:
        async with svc.db.uow() as uow:
            await feed.follow_feed(uow, Principal("department", "MAYOR", "k-mayor"), "ECON", None)
    assert refused.value.status == 403
