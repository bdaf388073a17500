"""What partners publishes, and its own view of the events it reads."""

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict
from pydantic.config import JsonDict

from services.partners.domain import VisitKind
from shared.envelope import EventRegistry

publishes = EventRegistry()

_PARTNERSHIP: JsonDict = {"partnership_id": "8c0e1a52-0c1e-4b53-9d0e-0d7c3f0f6a11", "home_city": "Frankfurt am Main",
                "partner_city": "Kraków", "partner_country": "PL", "department": "OIA",
                "desk_officer": {"name": "Eva Nowak", "email": "eva.nowak@city.example"}}


class DeskOfficerV1(BaseModel):
    name: str | None
    email: str | None


class PartnershipRefV1(BaseModel):
    """Which partnership, and who looks after it (so a consumer can address the alert)."""

    partnership_id: str
    home_city: str
    partner_city: str
    partner_country: str
    department: str
    desk_officer: DeskOfficerV1


@publishes.event("partners.visit.planned.v1")
class VisitPlannedV1(PartnershipRefV1):
    """A trip to, or a delegation from, a partner city: a contact its desk officer should know of."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        **_PARTNERSHIP, "kind": "trip", "title": "Trade fair delegation", "by_department": "ECON",
        "start_date": "2027-05-12", "end_date": "2027-05-15", "source": "travel:trip/5f551f04",
        "planned_at": "2027-03-01T09:00:00Z", "restricted": False}]})

    kind: VisitKind
    title: str
    by_department: str
    start_date: date
    end_date: date
    source: str
    planned_at: datetime
    # A restricted trip's visit: the coordinators' alone to hear of (consumers must not pass it on).
    restricted: bool = False


@publishes.event("partners.partnership.dormant.v1")
class PartnershipDormantV1(PartnershipRefV1):
    """No contact for longer than the partnership's maximum interval (said once per lapse)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        **_PARTNERSHIP, "last_contact_on": "2024-02-01", "days_since_contact": 1100, "max_contact_days": 1095,
        "as_of": "2027-02-05"}]})

    last_contact_on: date
    days_since_contact: int
    max_contact_days: int
    as_of: date


@publishes.event("partners.anniversary.upcoming.v1")
class AnniversaryUpcomingV1(PartnershipRefV1):
    """A jubilee a year, 90 days or 30 days ahead (each said once)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        **_PARTNERSHIP, "years": 40, "on": "2031-01-01", "days_ahead": 90, "formalised_on": "1991-01-01",
        "formalised_year_only": True, "as_of": "2030-10-03"}]})

    years: int
    on: date
    days_ahead: int
    formalised_on: date
    formalised_year_only: bool
    as_of: date


@publishes.event("partners.renewal.due.v1")
class RenewalDueV1(PartnershipRefV1):
    """A time-limited partnership's end (or renewal decision) is near."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        **_PARTNERSHIP, "ends_on": "2027-12-31", "days_ahead": 90, "as_of": "2027-10-02"}]})

    ends_on: date
    days_ahead: int
    as_of: date


# --- the consumer's view: only the fields this service uses.
consumes = EventRegistry()


class TripLeg(BaseModel):
    country: str
    place_id: int
    place_name: str
    start_date: date
    end_date: date


@consumes.event("travel.trip.booked.v1")
class TripBooked(BaseModel):
    trip_id: str
    department: str
    title: str
    visibility: str = "normal"
    legs: list[TripLeg]


@consumes.event("travel.delegation.announced.v1")
class DelegationAnnounced(BaseModel):
    delegation_id: str
    host_department: str
    origin_country: str
    origin_place_id: int
    origin_place_name: str
    organisation: str | None
    arrival: date
    departure: date
