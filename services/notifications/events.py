"""What notifications publishes, and its own view of the events it reads."""

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from shared.envelope import EventRegistry

publishes = EventRegistry()


@publishes.event("notifications.delivery.failed.v1")
class DeliveryFailedV1(BaseModel):
    """A delivery failed every attempt and is dead; an admin can re-drive it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "delivery_id": "d-1", "event_id": "e-1", "recipient": "OIA", "channel": "email",
        "reason": "SMTP 550 mailbox unavailable", "attempts": 6,
    }]})

    delivery_id: str
    event_id: str
    recipient: str
    channel: str
    reason: str
    attempts: int


# --- the consumer's view: only the fields this service uses, so producers may add fields freely.
consumes = EventRegistry()


class TripLeg(BaseModel):
    city: str
    country: str
    start_date: date
    end_date: date


@consumes.event("travel.trip.booked.v1")
class TripBooked(BaseModel):
    trip_id: str
    department: str
    title: str
    legs: list[TripLeg]
    booked_at: datetime
