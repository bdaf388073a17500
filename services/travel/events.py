"""What travel publishes. A breaking change is a new vN, published beside the old one."""

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

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
    """A department booked a trip."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "trip_id": "5f551f04-a5a7-4af1-8f5f-a3c10572934c", "department": "ECON", "title": "Trade fair",
        "status": "planned", "booked_at": "2027-03-01T09:00:00Z",
        "legs": [{"city": "Chongqing", "country": "CN", "start_date": "2027-05-12", "end_date": "2027-05-15"}],
    }]})

    trip_id: str
    department: str
    title: str
    status: str
    legs: list[LegV1]
    booked_at: datetime
