"""The delivery worker through faults, on the fake unit of work with a clock the tests move: a
receiver's outage ridden out on a time budget (and a circuit breaker), an outcome the database
would not take held and written later, and a crash between a send and its commit replayed from
the journal: never a second send."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from services.notifications.breakers import Breakers
from services.notifications.delivery import DeliveryWorker
from services.notifications.models import Delivery, DeliveryAttempt
from services.notifications.schemas import ChannelIn
from services.notifications.settings import NotificationsSettings
from shared.uow import UnitOfWork
from tests.integration.test_notifications_delivery import overlap_event
from tests.support.fake_channel import FakeChannel
from tests.unit.test_notifications_service import Service, add, desks, econ_delivery, fake_service, route, rows

START = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, at: datetime = START) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def to(self, at: datetime) -> None:
        self.at = utc(at)  # SQLite hands back naive UTC


@pytest.fixture
async def svc() -> AsyncIterator[Service]:
    async with fake_service() as service:
        yield service


def utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


class Outage(Exception):
    pass


class Flaky:
    """The fake's units of work, which fail to open while `down` (the database away)."""

    def __init__(self, uow: Callable[[], UnitOfWork]) -> None:
        self.uow, self.down = uow, False

    def __call__(self) -> UnitOfWork:
        if self.down:
            raise Outage("connection refused (the database is away)")
        return self.uow()


def database_away() -> UnitOfWork:
    raise Outage("connection refused (the database is away)")


def make_worker(svc: Service, channel: FakeChannel, clock: Clock, uow: Callable[[], UnitOfWork] | None = None,
                **settings) -> DeliveryWorker:
    settings = NotificationsSettings(**{"retry_base_seconds": 2, "breaker_failures": 1000, **settings})
    return DeliveryWorker(settings, svc.db.engine, uow or svc.db.uow, {"email": channel}, svc.ctx.directory,
                          clock=clock)


def attempts(outcome: str) -> float:
    return REGISTRY.get_sample_value("oia_delivery_attempts_total",
                                     {"service": "notifications", "channel": "email", "outcome": outcome}) or 0.0


async def one(svc: Service, delivery_id: str) -> Delivery:
    [row] = await rows(svc, Delivery, Delivery.id == delivery_id)
    return row


# -- a receiver's outage: a time budget, not a count ---------------------------------------------------

async def test_a_receiver_failing_for_hours_is_retried_and_delivered_once_it_recovers(svc):
    delivery = await econ_delivery(svc)
    channel, clock = FakeChannel(), Clock()
    worker = make_worker(svc, channel, clock)
    retried, sent = attempts("retried"), attempts("sent")
    channel.fail("HTTP 500: internal error", status_code=500)
    while clock() < START + timedelta(hours=2):  # far past the old ladder (6 attempts in ~1 min)
        assert await worker.run_once() == 1
        row = await one(svc, delivery.id)
        assert row.status == "pending"
        clock.to(row.due_at)
    failed = channel.tried
    assert failed > 6
    assert utc(row.due_at) < utc(row.retry_until)  # still within its budget
    # The back-off is capped: the last waits are about ten minutes, not hours.
    waits = [(b.started_at - a.started_at).total_seconds() for a, b in zip(
        await rows(svc, DeliveryAttempt), (await rows(svc, DeliveryAttempt))[1:], strict=False)]
    assert max(waits) <= 600 and max(waits[-3:]) >= 300

    channel.recover()
    assert await worker.run_once() == 1
    row = await one(svc, delivery.id)
    assert (row.status, row.attempts, len(channel.sent)) == ("sent", failed + 1, 1)
    assert attempts("retried") - retried == failed and attempts("sent") - sent == 1
    assert svc.db.events("notifications.delivery.failed.v1") == []


async def test_a_delivery_is_dead_only_once_its_retry_budget_is_spent(svc):
    delivery = await econ_delivery(svc)
    channel, clock = FakeChannel(), Clock()
    worker = make_worker(svc, channel, clock, delivery_retry_budget_seconds=3600)
    dead = attempts("dead")
    channel.fail("HTTP 503: unavailable")
    row = await one(svc, delivery.id)
    while row.status != "dead":
        assert await worker.run_once() == 1
        row = await one(svc, delivery.id)
        if row.status == "pending":
            clock.to(row.due_at)
    assert clock() >= START + timedelta(seconds=3600)  # not before the budget was spent
    assert clock() < START + timedelta(seconds=3600 + 600)  # nor long after it
    assert "retried for 3600 s" in row.last_error
    [failed] = svc.db.events("notifications.delivery.failed.v1")
    assert (failed["delivery_id"], failed["attempts"]) == (delivery.id, row.attempts)
    assert attempts("dead") - dead == 1


async def test_a_permanent_refusal_is_dead_at_once(svc):
    delivery = await econ_delivery(svc)
    channel, clock = FakeChannel(), Clock()
    channel.fail("SMTP 550 5.1.1 no such mailbox", status_code=550, permanent=True)
    assert await make_worker(svc, channel, clock).run_once() == 1
    row = await one(svc, delivery.id)
    assert (row.status, row.attempts, channel.tried) == ("dead", 1, 1)


# -- the circuit breaker ---------------------------------------------------------------------------------

def test_a_breaker_opens_after_a_run_of_failures_and_half_opens_after_its_cool_down():
    clock = Clock()
    breakers = Breakers(failures=3, cooldown_seconds=60, clock=clock)
    for _ in range(2):
        assert breakers.admit("hooks.slack.com") is None
        breakers.record("hooks.slack.com", ok=False)
    assert not breakers.is_open("hooks.slack.com")
    breakers.record("hooks.slack.com", ok=False)
    assert breakers.admit("hooks.slack.com") == 60.0  # open: postponed by the cool-down
    assert breakers.admit("smtp://mail:587") is None  # another endpoint is not concerned
    clock.to(START + timedelta(seconds=30))
    assert breakers.admit("hooks.slack.com") == 30.0
    clock.to(START + timedelta(seconds=61))
    assert breakers.admit("hooks.slack.com") is None  # half-open: one probe
    assert breakers.admit("hooks.slack.com") == 15.0  # … and only one
    breakers.record("hooks.slack.com", ok=False)  # the probe failed: open again
    assert breakers.admit("hooks.slack.com") == 60.0
    clock.to(START + timedelta(seconds=122))
    assert breakers.admit("hooks.slack.com") is None
    breakers.record("hooks.slack.com", ok=True)  # the probe went through: closed
    assert not breakers.is_open("hooks.slack.com") and breakers.admit("hooks.slack.com") is None


async def test_an_open_breaker_postpones_due_deliveries_without_attempting_or_failing_them(svc):
    await desks(svc)
    await route(svc, overlap_event())
    emails = [d for d in await rows(svc, Delivery) if d.channel_kind == "email"]
    assert len(emails) == 3
    channel, clock = FakeChannel(), Clock()
    worker = make_worker(svc, channel, clock, smtp_host="mail.city.example", breaker_failures=1,
                         breaker_cooldown_seconds=120, delivery_batch=1)
    channel.fail()
    assert await worker.run_once() == 1 and channel.tried == 1  # fails: the SMTP server's breaker opens
    assert worker.breakers.is_open("smtp://mail.city.example:587")
    assert await worker.run_once() == 1 and await worker.run_once() == 1
    assert channel.tried == 1  # the other two: not attempted …
    postponed = [d for d in await rows(svc, Delivery) if d.channel_kind == "email" and d.attempts == 0]
    assert len(postponed) == 2 and {d.status for d in postponed} == {"pending"}  # … nor failed
    assert all(utc(d.due_at) >= clock() + timedelta(seconds=119) for d in postponed)
    assert await worker.run_once() == 0

    channel.recover()
    clock.to(clock() + timedelta(seconds=121))  # half-open: one goes through, and closes it
    assert await worker.run_once() == 1 and len(channel.sent) == 1
    assert not worker.breakers.is_open("smtp://mail.city.example:587")
    while await worker.run_once():
        pass
    assert len(channel.sent) == 3 and channel.tried == 4
    assert {d.status for d in await rows(svc, Delivery) if d.channel_kind == "email"} == {"sent"}


# -- the send → record window ------------------------------------------------------------------------------

async def test_an_outcome_the_database_would_not_take_is_held_and_written_later_never_sent_again(svc):
    delivery = await econ_delivery(svc)
    channel, clock = FakeChannel(), Clock(START + timedelta(days=400))
    flaky = Flaky(svc.db.uow)
    worker = make_worker(svc, channel, clock, uow=flaky, delivery_lease_seconds=30)
    flaky.down = True
    assert await worker.run_once() == 1 and len(channel.sent) == 1  # sent; its outcome not written
    assert (await one(svc, delivery.id)).status == "sending"
    clock.to(clock() + timedelta(minutes=5))  # the lease long over, the database still away
    for _ in range(3):
        with pytest.raises(Outage):
            await worker.run_once()  # the held outcome first: nothing claimed meanwhile
    assert len(channel.sent) == 1

    flaky.down = False
    assert await worker.run_once() == 0  # the held outcome written; nothing left to claim
    row = await one(svc, delivery.id)
    assert (row.status, row.attempts, len(channel.sent)) == ("sent", 1, 1)
    assert [a.outcome for a in await rows(svc, DeliveryAttempt)] == ["sent"]


async def test_a_crash_between_send_and_commit_is_replayed_from_the_journal_not_sent_again(svc, tmp_path: Path):
    delivery = await econ_delivery(svc)
    channel, clock = FakeChannel(), Clock(START + timedelta(days=400))
    flaky = Flaky(svc.db.uow)
    crashed = make_worker(svc, channel, clock, uow=flaky, delivery_journal_dir=tmp_path)
    flaky.down = True
    assert await crashed.run_once() == 1 and len(channel.sent) == 1
    assert (tmp_path / "delivery-outcomes.jsonl").stat().st_size > 0
    del crashed  # the process dies: what it held in memory is gone, its journal stays

    clock.to(clock() + timedelta(minutes=5))  # past the lease: the claim is there to be taken over
    successor = make_worker(svc, channel, clock, delivery_journal_dir=tmp_path)
    assert await successor.run_once() == 0  # the journal replayed first: nothing to claim
    row = await one(svc, delivery.id)
    assert (row.status, row.attempts, len(channel.sent)) == ("sent", 1, 1)
    assert (tmp_path / "delivery-outcomes.jsonl").stat().st_size == 0  # emptied once replayed


async def test_a_journal_replayed_again_changes_nothing(svc, tmp_path: Path):
    delivery = await econ_delivery(svc)
    channel, clock = FakeChannel(), Clock(START + timedelta(days=400))
    channel.fail()
    assert await make_worker(svc, channel, clock, delivery_journal_dir=tmp_path).run_once() == 1
    before = await one(svc, delivery.id)
    assert (tmp_path / "delivery-outcomes.jsonl").stat().st_size > 0  # committed, not yet compacted
    assert await make_worker(svc, channel, clock, delivery_journal_dir=tmp_path).run_once() == 0
    after = await one(svc, delivery.id)
    assert (after.attempts, after.due_at, after.status) == (before.attempts, before.due_at, "pending")
    assert len(await rows(svc, DeliveryAttempt)) == 1


async def test_a_digest_sent_again_after_a_lost_outcome_is_recognisably_the_same_message(svc):
    await add(svc, id="MAYOR", kind="department", name="MAYOR", department="MAYOR", digest_hour=7,
              timezone="UTC", channels=[ChannelIn(kind="email", address="mayor@city.example")])
    await route(svc, overlap_event("o-1"))
    await route(svc, overlap_event("o-2"))
    waiting = await rows(svc, Delivery, Delivery.recipient_id == "MAYOR")
    assert [d.status for d in waiting] == ["digest", "digest"]
    channel, clock = FakeChannel(), Clock(max(utc(d.due_at) for d in waiting) + timedelta(seconds=1))
    crashed = make_worker(svc, channel, clock, uow=database_away)
    assert await crashed.run_once() == 2 and len(channel.sent) == 1  # one digest; its outcome lost
    del crashed

    clock.to(clock() + timedelta(minutes=5))  # past the lease, no journal: taken over and sent again
    assert await make_worker(svc, channel, clock).run_once() == 2
    [(first, _), (again, _)] = channel.sent
    assert first.delivery_id == again.delivery_id  # the same Message-ID / Idempotency-Key
    sent = await rows(svc, Delivery, Delivery.recipient_id == "MAYOR")
    assert {(d.status, d.digest_id) for d in sent} == {("sent", first.delivery_id)}


async def test_a_delivery_put_back_for_its_receivers_pace_keeps_its_place_in_line(svc):
    """Held back (a webhook's pace, a retry), the older delivery is due later than newer ones; once all
    are due it is still sent first, or a steady stream to one Slack channel would keep overtaking it."""
    await add(svc, id="ECON", kind="department", name="ECON", department="ECON",
              channels=[ChannelIn(kind="email", address="econ@city.example")])
    for n in range(3):
        await route(svc, overlap_event(f"o-{n}"))
    older, *newer = sorted(await rows(svc, Delivery, Delivery.recipient_id == "ECON"),
                           key=lambda d: (d.created_at, d.id))
    async with svc.db.uow() as uow:  # the oldest put back for 30 s, the newer ones due now
        row = await uow.session.get(Delivery, older.id)
        row.due_at = START + timedelta(seconds=30)
        for n, delivery in enumerate(newer):
            later = await uow.session.get(Delivery, delivery.id)
            later.due_at = START + timedelta(seconds=n)
        await uow.commit()
    channel, clock = FakeChannel(), Clock(START + timedelta(seconds=31))
    worker = make_worker(svc, channel, clock, delivery_batch=1, delivery_concurrency=1)
    for _ in range(3):
        assert await worker.run_once() == 1
    assert [target.delivery_id for target, _ in channel.sent] == [older.id] + [d.id for d in newer]
