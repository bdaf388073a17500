from datetime import datetime, timezone

import pytest
from pydantic import BaseModel

from shared.bus.base import RetryPolicy, topic_matches
from shared.envelope import Envelope, EventRegistry, PoisonMessage, event_type_of


def test_envelope_round_trips_through_cloudevents_binary_headers():
    sent = Envelope(type="travel.trip.booked.v1", source="/travel", data={"trip_id": "t1", "city": "Köln"},
                    subject="trips/t1", correlation_id="corr-1",
                    time=datetime(2027, 5, 12, 8, 0, tzinfo=timezone.utc))
    message = sent.to_rabbitmq()
    assert message.headers["ce-type"] == "travel.trip.booked.v1"
    assert message.headers["ce-specversion"] == "1.0"
    assert message.headers["ce-correlationid"] == "corr-1"
    assert message.content_type == "application/json"
    received = Envelope.from_rabbitmq(dict(message.headers), message.content_type, message.body)
    assert received == sent


@pytest.mark.parametrize("body,content_type,headers", [
    (b"not json", "application/json", {"ce-id": "1", "ce-source": "/x", "ce-type": "a.b.c.v1", "ce-specversion": "1.0"}),
    (b"[1, 2]", "application/json", {"ce-id": "1", "ce-source": "/x", "ce-type": "a.b.c.v1", "ce-specversion": "1.0"}),
    (b"{}", "application/json", {"ce-source": "/x"}),
])
def test_malformed_messages_are_poison(body, content_type, headers):
    with pytest.raises(PoisonMessage):
        Envelope.from_rabbitmq(headers, content_type, body)


def test_registry_refuses_bad_names_and_twice_registered_types():
    registry = EventRegistry()
    with pytest.raises(ValueError, match="<producer>.<aggregate>.<verb_past_tense>.v<N>"):
        registry.event("Travel.TripBooked")
    with pytest.raises(ValueError):
        registry.event("travel.trip.booked")  # no version

    @registry.event("travel.trip.booked.v1")
    class Booked(BaseModel):
        trip_id: str

    with pytest.raises(ValueError, match="twice"):
        registry.event("travel.trip.booked.v1")(Booked)
    assert event_type_of(Booked(trip_id="x")) == "travel.trip.booked.v1"
    assert registry.types == ["travel.trip.booked.v1"]


def test_registry_parses_typed_and_calls_invalid_or_unknown_payloads_poison():
    registry = EventRegistry()

    @registry.event("travel.trip.booked.v1")
    class Booked(BaseModel):
        trip_id: str
        travellers: int

    parsed = registry.parse(Envelope(type="travel.trip.booked.v1", source="/t", data={"trip_id": "a", "travellers": "3"}))
    assert parsed == Booked(trip_id="a", travellers=3)
    with pytest.raises(PoisonMessage, match="travellers"):
        registry.parse(Envelope(type="travel.trip.booked.v1", source="/t", data={"trip_id": "a"}))
    with pytest.raises(PoisonMessage, match="no model"):
        registry.parse(Envelope(type="travel.trip.cancelled.v1", source="/t", data={}))


@pytest.mark.parametrize("binding,key,matches", [
    ("travel.trip.booked.v1", "travel.trip.booked.v1", True),
    ("travel.trip.booked.v1", "travel.trip.booked.v2", False),
    ("travel.*.booked.v1", "travel.trip.booked.v1", True),
    ("travel.*", "travel.trip.booked.v1", False),
    ("travel.#", "travel.trip.booked.v1", True),
    ("travel.#", "travel", True),  # '#' matches zero words, as in RabbitMQ
    ("#", "anything.at.all", True),
    ("#.v1", "travel.trip.booked.v1", True),
    ("travel.#.v1", "travel.v1", True),
    ("travel.#.v1", "grants.call.published.v1", False),
])
def test_topic_matching_follows_rabbitmq(binding, key, matches):
    assert topic_matches(binding, key) is matches


def test_retry_policy_backs_off_then_holds_the_last_delay():
    policy = RetryPolicy(max_attempts=6, delays_ms=(100, 500, 2000))
    assert [policy.delay_ms(a) for a in range(1, 6)] == [100, 500, 2000, 2000, 2000]
