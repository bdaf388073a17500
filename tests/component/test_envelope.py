import json
from datetime import UTC, datetime

import pytest
from cloudevents.core.bindings import rabbitmq
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from pydantic import BaseModel

from shared.bus.base import RetryPolicy, topic_matches
from shared.envelope import STRUCTURED, Envelope, EventRegistry, PoisonMessage, event_type_of


def test_envelope_round_trips_as_a_structured_cloudevent():
    sent = Envelope(type="travel.trip.booked.v1", source="/travel", data={"trip_id": "t1", "city": "Köln"},
                    subject="trips/t1", correlation_id="corr-1",
                    time=datetime(2027, 5, 12, 8, 0, tzinfo=UTC))
    message = sent.to_rabbitmq()
    assert message.content_type == "application/cloudevents+json"
    document = json.loads(message.body)
    assert document["specversion"] == "1.0"
    assert document["type"] == "travel.trip.booked.v1"
    assert document["time"] == "2027-05-12T08:00:00Z"
    assert document["correlationid"] == "corr-1"
    assert document["data"] == {"trip_id": "t1", "city": "Köln"}
    received = Envelope.from_rabbitmq({}, message.content_type, message.body)
    assert received == sent


def test_what_we_write_is_a_cloudevent_the_sdk_reads():
    sent = Envelope(type="grants.call.published.v1", source="/grants", data={"identifier": "CERV-2025"},
                    subject="calls/CERV-2025", correlation_id="c-9")
    event = rabbitmq.from_rabbitmq(sent.to_rabbitmq(), JSONFormat(), CloudEvent)
    assert event.get_attributes()["id"] == sent.id
    assert event.get_attributes()["type"] == "grants.call.published.v1"
    assert event.get_attributes()["time"] == sent.time
    assert event.get_attributes()["correlationid"] == "c-9"
    assert event.get_data() == {"identifier": "CERV-2025"}


def test_what_the_sdk_writes_we_read_in_both_content_modes():
    event = CloudEvent({"type": "partners.partnership.created.v1", "source": "/elsewhere", "subject": "p/1",
                        "datacontenttype": "application/json"}, {"partner": "Kraków"})
    for message in (rabbitmq.to_binary(event, JSONFormat()), rabbitmq.to_structured(event, JSONFormat())):
        received = Envelope.from_rabbitmq(message.headers, message.content_type, message.body)
        assert (received.id, received.type, received.subject) == (event.get_attributes()["id"],
                                                                   "partners.partnership.created.v1", "p/1")
        assert received.time == event.get_attributes()["time"]
        assert received.data == {"partner": "Kraków"}


TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_the_trace_context_travels_as_the_cloudevents_distributed_tracing_extension():
    sent = Envelope(type="travel.trip.booked.v1", source="/travel", data={"trip_id": "t1"}, correlation_id="c-1",
                    traceparent=TRACEPARENT, tracestate="oia=1,vendor=x")
    document = json.loads(sent.to_rabbitmq().body)
    assert (document["traceparent"], document["tracestate"]) == (TRACEPARENT, "oia=1,vendor=x")
    assert Envelope.from_rabbitmq({}, STRUCTURED, sent.to_rabbitmq().body) == sent
    # The SDK reads the extension back as an attribute of the event.
    event = rabbitmq.from_rabbitmq(sent.to_rabbitmq(), JSONFormat(), CloudEvent)
    assert event.get_attributes()["traceparent"] == TRACEPARENT
    assert event.get_attributes()["tracestate"] == "oia=1,vendor=x"
    # Without a trace context, neither attribute is written (not even empty).
    assert "traceparent" not in json.loads(Envelope(type="a.b.c.v1", source="/a", data={}).to_rabbitmq().body)


def test_the_trace_context_of_another_producer_is_read_in_both_content_modes():
    event = CloudEvent({"type": "partners.partnership.created.v1", "source": "/elsewhere",
                        "datacontenttype": "application/json", "traceparent": TRACEPARENT}, {"partner": "Kraków"})
    for message in (rabbitmq.to_binary(event, JSONFormat()), rabbitmq.to_structured(event, JSONFormat())):
        if message.content_type != STRUCTURED:
            assert message.headers["ce-traceparent"] == TRACEPARENT  # binary mode: a header
        received = Envelope.from_rabbitmq(message.headers, message.content_type, message.body)
        assert (received.traceparent, received.tracestate) == (TRACEPARENT, None)


def test_a_malformed_trace_context_is_left_out_not_poison():
    body = (b'{"specversion": "1.0", "id": "1", "source": "/x", "type": "a.b.c.v1", "traceparent": 42,'
            b' "tracestate": "", "data": {}}')
    received = Envelope.from_rabbitmq({}, STRUCTURED, body)
    assert (received.traceparent, received.tracestate) == (None, None)


def test_stored_data_is_spliced_in_as_is():
    envelope = Envelope(type="a.b.c.v1", source="/a", data={"x": 1}, body=b'{"x": 1}')
    assert envelope.to_rabbitmq().body.endswith(b',"data":{"x": 1}}')
    assert Envelope.from_rabbitmq({}, "application/cloudevents+json", envelope.to_rabbitmq().body).data == {"x": 1}


@pytest.mark.parametrize("body,content_type,headers", [
    (b"not json", "application/json", {"ce-id": "1", "ce-source": "/x", "ce-type": "a.b.c.v1", "ce-specversion": "1.0"}),
    (b"[1, 2]", "application/json", {"ce-id": "1", "ce-source": "/x", "ce-type": "a.b.c.v1", "ce-specversion": "1.0"}),
    (b"{}", "application/json", {"ce-source": "/x"}),
    (b"{}", "application/json", {"ce-id": "1", "ce-source": "/x", "ce-type": "a.b.c.v1", "ce-specversion": "0.3"}),
    (b"{}", "application/json", {"ce-id": "1", "ce-source": "/x", "ce-type": "a.b.c.v1", "ce-specversion": "1.0",
                                 "ce-time": "yesterday"}),
    (b'{"type": 1}', "application/cloudevents+json", {}),
    (b'{"specversion": "1.0", "id": "1", "source": "/x", "type": "a.b.c.v1", "data": "text"}',
     "application/cloudevents+json", {}),
    (b'{"specversion": "1.0", "id": "1", "source": "/x", "type": "a.b.c.v1", "time": "2027-01-01T10:00:00",'
     b' "data": {}}', "application/cloudevents+json", {}),
    (b"[1]", "application/cloudevents+json", {}),
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
