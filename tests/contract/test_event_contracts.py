"""Producer samples against consumer models: what one service publishes, every reader can read."""

from __future__ import annotations

import pytest

from oia.catalog import SERVICES, spec_of
from shared import subject_requests


def published() -> dict[str, type]:
    """Each service publishes under its own prefix; the platform's events (a person's data,
    shared/subject_requests.py) are every service's, in one model."""
    models = {}
    for name in SERVICES:
        registry = spec_of(name).publishes
        for event_type in registry.types:
            if event_type in subject_requests.EVENTS.types:
                assert registry.model_for(event_type) is subject_requests.EVENTS.model_for(event_type)
            else:
                assert event_type.split(".")[0] == name, f"{name} publishes {event_type}: not its own prefix"
            models[event_type] = registry.model_for(event_type)
    return models


def subscriptions() -> list[tuple[str, str]]:
    return [(name, t) for name in SERVICES for t in spec_of(name).subscriptions.binding_keys]


@pytest.mark.parametrize("event_type,model", sorted(published().items()))
def test_every_published_event_has_a_valid_example(event_type, model):
    examples = model.model_json_schema().get("examples")
    assert examples, f"{event_type}: give the model an example (json_schema_extra)"
    for example in examples:
        model.model_validate(example)


@pytest.mark.parametrize("consumer,event_type", subscriptions())
def test_what_a_service_reads_is_published_and_its_samples_validate(consumer, event_type):
    producers = published()
    assert event_type in producers, f"{consumer} subscribes to {event_type}, which nobody publishes"
    producer_model = producers[event_type]
    consumer_model = spec_of(consumer).subscriptions.models.model_for(event_type)
    for example in producer_model.model_json_schema()["examples"]:
        wire = producer_model.model_validate(example).model_dump(mode="json")
        consumer_model.model_validate(wire)


def test_there_is_a_cross_service_subscription_to_check():
    assert ("notifications", "travel.trip.booked.v1") in subscriptions()


def test_every_service_answers_and_collects_requests_for_a_persons_data():
    for name in SERVICES:
        spec = spec_of(name)
        assert set(subject_requests.EVENTS.types) <= set(spec.publishes.types), name
        assert set(subject_requests.EVENTS.types) <= set(spec.subscriptions.binding_keys), name
