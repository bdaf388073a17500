"""What travel publishes. A breaking change is a new vN, published beside the old one."""

from datetime import date, datetime

from pydantic import BaseModel

from shared.envelope import EventRegistry

publishes = EventRegistry()
# Travel reacts to nobody's events (yet); its consumer view is empty.
consumes = EventRegistry()


class LegV1(BaseModel):
    city: str
    country: str
    start_date: date
    end_date: date


@publishes.event("travel.trip.booked.v1")
class TripBookedV1(BaseModel):
    trip_id: str
    department: str
    title: str
    status: str
    legs: list[LegV1]
    booked_at: datetime
