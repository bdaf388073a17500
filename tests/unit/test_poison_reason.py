"""A payload that does not validate is poison; its reason names the fields and why, never their values
(the reason is kept with the dead letter and logged, and a payload can quote a person)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from shared.envelope import Envelope, EventRegistry, PoisonMessage

EVENTS = EventRegistry()


@EVENTS.event("travel.trip.booked.v1")
class TripBooked(BaseModel):
    trip_id: str
    travellers: list[dict[str, str]]


def test_the_reason_names_each_bad_field_without_its_value():
    envelope = Envelope(type="travel.trip.booked.v1", source="/travel",
                        data={"travellers": "Hanna Vogel <hanna.vogel@stadt.example>"})
    with pytest.raises(PoisonMessage) as refused:
        EVENTS.parse(envelope)
    reason = str(refused.value)
    assert reason.startswith("travel.trip.booked.v1 payload invalid: ")
    assert "trip_id: Field required" in reason and "travellers: Input should be a valid list" in reason
    assert "Vogel" not in reason and "stadt.example" not in reason
    assert refused.value.__cause__ is None and refused.value.__suppress_context__
