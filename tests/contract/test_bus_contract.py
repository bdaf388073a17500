"""The bus contract, run on both transports: memory + SQLite and RabbitMQ + PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date, datetime
from decimal import Decimal
from itertools import pairwise

import pytest

from shared.bus.base import RetryPolicy
from shared.envelope import Envelope
from shared.metrics import CONSUMER_PAUSED, EVENTS_CONSUMED
from shared.outbox import OutboxRelay
from shared.testing import eventually
from tests.support import probe
from tests.support.probe import EVENT, alpha_spec, beta_spec, effects, inbox_rows, pending_outbox, publish_things


@pytest.fixture(autouse=True)
def fresh_behaviour():
    probe.behaviour.fail_names.clear()
    probe.behaviour.seen.clear()
    probe.behaviour.attempts.clear()
    probe.behaviour.database_away = False


async def start_pair(transport, relay: bool = True):
    """alpha (producer) and beta (consumer), each with its own database and bus connection."""
    alpha = await transport.runtime(alpha_spec)
    beta = await transport.runtime(beta_spec)
    await probe.create_schema(alpha)
    await probe.create_schema(beta)
    await beta.start_consuming()
    if relay:
        alpha.start_relay()
    return alpha, beta


async def test_publish_consume_across_two_services_round_trips_typed(transport):
    alpha, beta = await start_pair(transport)

    [sent] = await publish_things(alpha, ["jubilee"])

    await eventually(lambda: _is(effects(beta), 1), message="beta's effect")
    [received] = probe.behaviour.seen
    assert isinstance(received, probe.ThingHappened)
    assert received.on == date(2027, 5, 12)
    assert received.at == datetime.fromisoformat("2027-05-12T09:30:00+02:00")
    assert received.amount == Decimal("25000.50")
    assert received.tags == ["jubilee", "köln"]
    assert received.where.lat == pytest.approx(50.94)
    assert await pending_outbox(alpha) == 0
    assert await inbox_rows(beta) == 1
    assert sent.type == EVENT


async def test_same_event_delivered_twice_has_its_effect_once(transport):
    alpha, beta = await start_pair(transport)
    envelope = Envelope(type=EVENT, source="/alpha", data=probe.thing("twice").model_dump(mode="json"))

    await alpha.bus.publish([envelope])
    await alpha.bus.publish([envelope])  # a redelivery, as after a relay crash before marking
    [sentinel] = await publish_things(alpha, ["after"])

    await eventually(lambda: _is(effects(beta, "after"), 1), message="the sentinel")
    await eventually(lambda: _is(inbox_rows(beta), 2), message="both ids in the inbox")
    assert await effects(beta, "twice") == 1


def _deliveries(calls: list[float]) -> list[float]:
    """Handler calls → deliveries: a retry that arrives in one batch with other events fails that batch,
    which is then re-run message by message, so one delivery can call the handler twice in a row
    (milliseconds apart; deliveries are at least the shortest back-off apart)."""
    deliveries: list[float] = []
    for at in calls:
        if not deliveries or at - deliveries[-1] > 0.05:
            deliveries.append(at)
    return deliveries


async def test_failing_handler_is_retried_with_backoff_then_dead_lettered_and_others_flow(transport):
    # Back-offs long enough that the good events are handled while "cursed" is still being retried,
    # however loaded the machine (with 100–300 ms, a busy CI machine could finish the ladder first).
    transport.policy = RetryPolicy(max_attempts=4, delays_ms=(1_000, 1_500, 2_000))
    alpha, beta = await start_pair(transport)
    probe.behaviour.fail_names.add("cursed")

    await publish_things(alpha, ["cursed"])
    # Published once the first attempt failed, so each attempt of "cursed" is a batch of its own
    # (a failed batch is re-run message by message, which would add handler calls).
    await eventually(lambda: "cursed" in probe.behaviour.attempts, message="the first attempt")
    await publish_things(alpha, ["fine-1", "fine-2"])

    # The events behind the failing one are handled while it is still being retried.
    await eventually(lambda: _is(effects(beta), 2), message="the good events")
    assert len(_deliveries(probe.behaviour.attempts["cursed"])) < transport.policy.max_attempts

    letters = []

    async def dead_lettered() -> bool:
        letters[:] = await beta.bus.dead_letters(beta.queue)
        return len(letters) == 1

    await eventually(dead_lettered, message="the dead letter")
    attempts = _deliveries(probe.behaviour.attempts["cursed"])
    assert len(attempts) == transport.policy.max_attempts
    gaps = [b - a for a, b in pairwise(attempts)]
    for gap, delay_ms in zip(gaps, transport.policy.delays_ms, strict=True):
        assert gap >= delay_ms / 1000 * 0.9, f"back-off too short: {gaps}"
    assert letters[0].event_type == EVENT
    assert "handler refuses cursed" in letters[0].reason
    assert letters[0].data["name"] == "cursed"
    assert await effects(beta, "cursed") == 0

    # Dead letters stay inspectable, and can be re-driven once the cause is fixed.
    assert len(await beta.bus.dead_letters(beta.queue)) == 1
    probe.behaviour.fail_names.clear()
    assert await beta.bus.replay_dead_letters(beta.queue) == 1
    await eventually(lambda: _is(effects(beta, "cursed"), 1), message="the replayed event")
    assert await beta.bus.dead_letters(beta.queue) == []


async def test_one_failing_event_in_a_batch_does_not_hold_back_the_others(transport):
    alpha, beta = await start_pair(transport)
    probe.behaviour.fail_names.add("bad")
    # One commit, one relay batch: the consumer takes them together (a batch of 41 on the memory bus).
    names = [f"good-{i}" for i in range(20)] + ["bad"] + [f"late-{i}" for i in range(20)]
    await publish_things(alpha, names)

    await eventually(lambda: _is(effects(beta), 40), message="every good event")
    assert await effects(beta, "bad") == 0
    assert len(probe.behaviour.attempts["bad"]) >= 1


async def test_invalid_payload_goes_to_the_dead_letter_queue_at_once(transport):
    alpha, beta = await start_pair(transport)
    bad = Envelope(type=EVENT, source="/alpha", data={"name": "no-date", "amount": "lots"})

    await alpha.bus.publish([bad])
    await publish_things(alpha, ["behind-the-poison"])

    await eventually(lambda: _is(effects(beta, "behind-the-poison"), 1), message="the event behind")
    letters = []

    async def dead_lettered() -> bool:
        letters[:] = await beta.bus.dead_letters(beta.queue)
        return len(letters) == 1

    await eventually(dead_lettered, message="the poison message")
    assert letters[0].event_id == bad.id
    assert "payload invalid" in letters[0].reason
    assert "no-date" not in probe.behaviour.attempts  # never reached the handler


async def test_scrubbed_dead_letters_are_replayed_without_what_was_scrubbed(transport):
    # An erasure (shared/subjects.py) scrubs a person from the dead letters: a replay must not bring them back.
    transport.policy = RetryPolicy(max_attempts=2, delays_ms=(100,))
    alpha, beta = await start_pair(transport)
    probe.behaviour.fail_names.add("Hanna Vogel")
    await publish_things(alpha, ["Hanna Vogel", "Jonas Berg"])
    letters = []

    async def dead_lettered() -> bool:
        letters[:] = await beta.bus.dead_letters(beta.queue)
        return len(letters) == 1

    await eventually(dead_lettered, message="her event dead-lettered")
    assert letters[0].data["name"] == "Hanna Vogel"

    def scrub(value):
        if isinstance(value, str):
            return value.replace("Hanna Vogel", "(erased)")
        if isinstance(value, list):
            return [scrub(v) for v in value]
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items()}
        return value

    assert await beta.bus.scrub_dead_letters(beta.queue, scrub) == 1
    assert await beta.bus.scrub_dead_letters(beta.queue, scrub) == 0  # nothing left to scrub
    [letter] = await beta.bus.dead_letters(beta.queue)
    assert letter.event_id == letters[0].event_id and letter.data["name"] == "(erased)"
    assert "Hanna Vogel" not in letter.reason
    probe.behaviour.fail_names.clear()
    assert await beta.bus.replay_dead_letters(beta.queue) == 1
    await eventually(lambda: _is(effects(beta, "(erased)"), 1), message="the scrubbed event, replayed")
    assert await effects(beta, "Hanna Vogel") == 0 and await effects(beta, "Jonas Berg") == 1
    assert await beta.bus.scrub_dead_letters("nobody-consumes-this", scrub) == 0


async def test_rolled_back_transaction_publishes_nothing(transport):
    alpha, beta = await start_pair(transport)

    async with alpha.uow() as uow:
        uow.publish(probe.thing("rolled-back"))
        # leaving the block without commit() rolls back
    with pytest.raises(RuntimeError):
        async with alpha.uow() as uow:
            uow.publish(probe.thing("raised"))
            raise RuntimeError("the use case failed")
    await publish_things(alpha, ["committed"])

    await eventually(lambda: _is(effects(beta, "committed"), 1), message="the committed event")
    assert await effects(beta) == 1
    assert await pending_outbox(alpha) == 0


async def test_committed_event_is_published_when_the_relay_starts_later(transport):
    alpha, beta = await start_pair(transport, relay=False)

    await publish_things(alpha, ["while-relay-down"])  # no relay running yet
    # Had the commit published by itself, the broker would have had the event before the commit
    # returned, so ahead of this marker in beta's queue, which beta handles in order.
    marker = Envelope(type=EVENT, source="/alpha", data=probe.thing("marker").model_dump(mode="json"))
    await alpha.bus.publish([marker])
    await eventually(lambda: _is(effects(beta, "marker"), 1), message="the marker")
    assert await pending_outbox(alpha) == 1
    assert await effects(beta, "while-relay-down") == 0

    alpha.start_relay()
    await eventually(lambda: _is(effects(beta, "while-relay-down"), 1), message="the late event")
    assert await pending_outbox(alpha) == 0


async def test_a_commit_wakes_the_relay_without_waiting_for_its_poll(transport):
    alpha = await transport.runtime(alpha_spec, relay_poll_seconds=60)
    beta = await transport.runtime(beta_spec)
    await probe.create_schema(alpha)
    await probe.create_schema(beta)
    await beta.start_consuming()
    looks: list[int] = []
    first_look = alpha.relay.publish_pending

    async def look() -> int:
        looks.append(await first_look())
        return looks[-1]

    alpha.relay.publish_pending = look
    alpha.start_relay()
    # Every lane has looked and found nothing: the event committed next is left to a later look,
    # which without the wake-up would come only after the 60 s poll.
    await eventually(lambda: len(looks) >= alpha.relay.lanes, message="each lane's first look")
    assert sum(looks) == 0

    await publish_things(alpha, ["prompt"])
    await eventually(lambda: _is(effects(beta, "prompt"), 1), timeout=5, message="the event, long before the poll")


async def test_two_relays_never_double_publish(transport):
    alpha = await transport.runtime(alpha_spec)
    await probe.create_schema(alpha)
    heard = await transport.listen(EVENT)
    sent = []
    for batch in range(10):
        sent += await publish_things(alpha, [f"n{batch}-{i}" for i in range(100)])

    # Two relays, each with its own engine (as two replicas would), batches small enough to interleave.
    second = await transport.runtime(alpha_spec, database_url=alpha.settings.database_url)
    relays = [OutboxRelay("alpha", rt.engine, rt.bus, batch=50) for rt in (alpha, second)]
    published = await asyncio.gather(*(r.drain() for r in relays))

    assert sum(published) == 1000
    # Both drains have returned, so whatever either relay published is on the broker; once the
    # listener has heard all the broker held, a doubled event would be among what it heard.
    await transport.heard_everything()
    counts = Counter(e.id for e in heard)
    assert set(counts) == {e.id for e in sent}
    assert max(counts.values()) == 1, "an event was published twice"


async def test_real_services_round_trip_trip_booked_reaches_notifications(transport):
    """travel books a trip → travel.trip.booked.v1 → notifications writes the coordinators' feed item."""
    from sqlmodel import select

    from oia.catalog import spec_of
    from services.travel.schemas import LegIn, TripIn
    from services.travel.service import TravelContext, trips
    from shared.migrations import upgrade
    from shared.places import Gazetteer

    travel_spec, notifications_spec = spec_of("travel"), spec_of("notifications")
    travel = await transport.runtime(travel_spec)
    notifications = await transport.runtime(notifications_spec)
    for rt in (travel, notifications):
        await upgrade(rt.name, rt.spec.migrations_dir, rt.spec.metadata, rt.settings.database_url)
    await notifications.prepare()  # its context (the directory routing reads) is built at bootstrap
    await notifications.start_consuming()
    travel.start_relay()

    ctx = TravelContext(places=Gazetteer(), radius_km=50)
    async with travel.uow() as uow:
        trip = await trips.book_trip(uow, ctx, TripIn(
            title="Trade fair delegation", purpose="trade_fair",
            legs=[LegIn(city="Chongqing", country="CN", start_date=date(2027, 5, 12), end_date=date(2027, 5, 15))],
        ), "ECON")

    from services.notifications.models import FeedItem

    async def feed() -> list[FeedItem]:
        async with notifications.uow() as uow:
            return list((await uow.session.exec(select(FeedItem))).all())

    await eventually(feed, message="the feed item")
    [item] = await feed()
    assert item.recipient == "OIA"
    assert item.event_type == "travel.trip.booked.v1"
    assert "ECON" in item.title and "Trade fair delegation" in item.title
    assert "Chongqing (CN), 12 May 2027 – 15 May 2027" in item.body
    assert trip.id


async def _is(value, expected) -> bool:
    return (await value) == expected


async def test_database_outage_longer_than_the_retry_ladder_pauses_consumption_and_dead_letters_nothing(transport):
    """An unreachable database is not a broken handler: no attempt is counted, nothing is dead-lettered,
    and once it answers every event is handled exactly once."""
    alpha, beta = await start_pair(transport)
    retried_before = _consumed(beta.name, "retried")
    probe.behaviour.database_away = True
    names = [f"held-{n}" for n in range(5)]

    await publish_things(alpha, names)
    await eventually(lambda: CONSUMER_PAUSED.labels(beta.name)._value.get() == 1, message="consumption paused")
    # The outage outlasts the whole ladder (with every back-off taken twice over).
    ladder = sum(transport.policy.delays_ms) / 1000
    loop = asyncio.get_running_loop()
    outage_ends = loop.time() + 2 * ladder + 1
    # ... and the handler was offered the held events more often than the ladder has attempts.
    await eventually(lambda: loop.time() > outage_ends and sum(map(len, probe.behaviour.attempts.values()))
                     > transport.policy.max_attempts, timeout=60, message="the outage's end")
    probe.behaviour.database_away = False

    await eventually(lambda: _is(effects(beta), len(names)), message="every held event handled")
    await eventually(lambda: CONSUMER_PAUSED.labels(beta.name)._value.get() == 0, message="consumption resumed")
    for name in names:
        assert await effects(beta, name) == 1
    assert await inbox_rows(beta) == len(names)
    assert await beta.bus.dead_letter_count(beta.queue) == 0
    assert await beta.bus.dead_letters(beta.queue) == []
    assert _consumed(beta.name, "retried") == retried_before


def _consumed(service: str, outcome: str) -> float:
    return sum(sample.value for metric in EVENTS_CONSUMED.collect() for sample in metric.samples
               if sample.name.endswith("_total") and sample.labels["service"] == service
               and sample.labels["outcome"] == outcome)
