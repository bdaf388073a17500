"""What notifications publishes, and its own view of the events it reads."""

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from shared.envelope import EventRegistry

publishes = EventRegistry()


@publishes.event("notifications.delivery.failed.v1")
class DeliveryFailedV1(BaseModel):
    """A delivery failed every attempt and is dead; an admin can re-drive it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "delivery_id": "d-1", "event_id": "e-1", "event_type": "travel.overlap.detected.v1", "recipient": "OIA",
        "channel": "email", "reason": "SMTP 550 mailbox unavailable", "attempts": 6,
        "failed_at": "2027-03-01T09:00:00Z",
    }]})

    delivery_id: str
    event_id: str
    event_type: str
    recipient: str
    channel: str
    reason: str
    attempts: int
    failed_at: datetime


# --- the consumer's view: only the fields this service uses, so producers may add fields freely.
consumes = EventRegistry()


class Traveller(BaseModel):
    name: str
    email: str | None = None
    role: str | None = None
    elected_official: bool = False


class Leg(BaseModel):
    city: str
    country: str
    start_date: date
    end_date: date
    place_name: str | None = None


@consumes.event("travel.trip.booked.v1")
class TripBooked(BaseModel):
    trip_id: str
    department: str
    title: str
    purpose: str = "other"
    status: str = "booked"  # or "planned": the news says which
    visibility: str = "normal"
    travellers: list[Traveller] = []
    legs: list[Leg]
    booked_at: datetime


class OverlapTrip(BaseModel):
    trip_id: str
    department: str
    title: str
    purpose: str
    visibility: str
    travellers: list[Traveller]
    leg: Leg


class Delegation(BaseModel):
    delegation_id: str
    host_department: str
    origin_city: str
    origin_country: str
    origin_place_name: str
    organisation: str | None
    visitors: int
    arrival: date
    departure: date
    official_guest: bool


@consumes.event("travel.overlap.detected.v1")
class OverlapDetected(BaseModel):
    overlap_id: str
    kind: Literal["trips", "delegations"] = "trips"
    place_name: str
    country: str
    distance_km: float
    shared_start: date
    shared_end: date
    restricted: bool
    trips: list[OverlapTrip]
    delegations: list[Delegation] = []
    detected_at: datetime


@consumes.event("travel.overlap.resolved.v1")
class OverlapResolved(BaseModel):
    overlap_id: str
    kind: Literal["trips", "delegations"] = "trips"
    trip_ids: list[str]
    delegation_ids: list[str] = []
    departments: list[str]
    reason: str
    restricted: bool
    resolved_at: datetime


@consumes.event("travel.crossing.detected.v1")
class CrossingDetected(BaseModel):
    crossing_id: str
    place_name: str
    shared_start: date
    shared_end: date
    trip: OverlapTrip
    delegation: Delegation
    detected_at: datetime


class DeskOfficer(BaseModel):
    name: str | None = None
    email: str | None = None


class PartnershipRef(BaseModel):
    partnership_id: str
    home_city: str
    partner_city: str
    partner_country: str
    department: str
    desk_officer: DeskOfficer


@consumes.event("partners.visit.planned.v1")
class VisitPlanned(PartnershipRef):
    kind: Literal["trip", "delegation"]
    title: str
    # A visit by a restricted trip (partners does not say so yet; honoured once it does).
    restricted: bool = False
    by_department: str
    start_date: date
    end_date: date


@consumes.event("partners.anniversary.upcoming.v1")
class AnniversaryUpcoming(PartnershipRef):
    years: int
    on: date
    days_ahead: int
    formalised_on: date | None = None
    formalised_year_only: bool = False
    as_of: date | None = None


@consumes.event("partners.partnership.dormant.v1")
class PartnershipDormant(PartnershipRef):
    last_contact_on: date
    days_since_contact: int
    max_contact_days: int
    as_of: date | None = None


@consumes.event("partners.renewal.due.v1")
class RenewalDue(PartnershipRef):
    ends_on: date
    days_ahead: int
    as_of: date | None = None


class Deadline(BaseModel):
    stage: int = 1
    at: datetime  # aware


class CallRef(BaseModel):
    call_id: str
    identifier: str
    programme: str
    title: str
    url: str | None = None
    deadlines: list[Deadline] = []


class Owner(BaseModel):
    name: str | None = None
    email: str | None = None


class ApplicationRef(BaseModel):
    application_id: str
    title: str
    lead_department: str
    owner: Owner
    call: CallRef


@consumes.event("grants.call.published.v1")
class CallPublished(CallRef):
    topic: str | None = None
    opens_at: datetime | None = None
    status: str | None = None
    budget: float | None = None
    grant_min: float | None = None
    grant_max: float | None = None
    matched_themes: list[str] = []


class CallChange(BaseModel):
    field: str
    before: str | None = None  # as text: dates ISO 8601, deadlines "1: …; 2: …", amounts in euros
    after: str | None = None


class AffectedApplication(BaseModel):
    application_id: str
    title: str
    lead_department: str
    owner: Owner
    stage: str


@consumes.event("grants.call.updated.v1")
class CallUpdated(CallRef):
    version: int | None = None
    status: str | None = None
    changes: list[CallChange] = []
    applications: list[AffectedApplication] = []


@consumes.event("grants.application.stage_changed.v1")
class ApplicationStageChanged(ApplicationRef):
    from_stage: str
    to_stage: str
    reason: str | None = None
    requested_amount: float | None = None
    awarded_amount: float | None = None
    changed_by: str | None = None


@consumes.event("grants.deadline.approaching.v1")
class DeadlineApproaching(ApplicationRef):
    kind: Literal["call", "internal"] = "call"
    stage: int = 1
    deadline: datetime
    days_ahead: int
    internal_buffer_days: int | None = None
    application_stage: str | None = None
    critical: bool = False
    as_of: datetime | None = None
