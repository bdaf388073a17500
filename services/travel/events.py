"""What travel publishes. A breaking change is a new vN, published beside the old one.

Every trip event carries what a consumer needs (department, places with country code and
coordinates, dates, traveller contacts) so no consumer has to call back.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict
from pydantic.config import JsonDict

from shared.envelope import EventRegistry

publishes = EventRegistry()
# Travel reacts to nobody's events (yet); its consumer view is empty.
consumes = EventRegistry()

_LEG_EXAMPLE: JsonDict = {
    "city": "Chongqing", "country": "CN", "start_date": "2027-05-12", "end_date": "2027-05-15", "place_id": 1814906,
    "place_name": "Chongqing", "latitude": 29.56278, "longitude": 106.55278, "timezone": "Asia/Shanghai"}
_TRIP_EXAMPLE: JsonDict = {
    "trip_id": "5f551f04-a5a7-4af1-8f5f-a3c10572934c", "department": "ECON", "title": "Trade fair",
    "purpose": "trade_fair", "status": "planned", "visibility": "normal", "estimated_cost": "4200.00",
    "currency": "EUR", "booked_at": "2027-03-01T09:00:00Z",
    "travellers": [{"name": "Anna Weber", "email": "anna.weber@city.example", "role": "Head of unit",
                    "elected_official": False}],
    "legs": [_LEG_EXAMPLE],
}


class LegV1(BaseModel):
    city: str
    country: str
    start_date: date
    end_date: date
    place_id: int
    place_name: str
    latitude: float
    longitude: float
    timezone: str


class TravellerV1(BaseModel):
    name: str
    email: str | None
    role: str | None
    elected_official: bool


class TripV1(BaseModel):
    trip_id: str
    department: str
    title: str
    purpose: str
    status: str
    visibility: str
    estimated_cost: Decimal | None
    currency: str | None
    travellers: list[TravellerV1]
    legs: list[LegV1]


@publishes.event("travel.trip.booked.v1")
class TripBookedV1(TripV1):
    """A department booked (or planned) a trip."""

    model_config = ConfigDict(json_schema_extra={"examples": [_TRIP_EXAMPLE]})
    booked_at: datetime


@publishes.event("travel.trip.updated.v1")
class TripUpdatedV1(TripV1):
    """A trip changed; `changed` names the fields."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {**_TRIP_EXAMPLE, "updated_at": "2027-03-02T10:00:00Z", "changed": ["legs", "status"]}]})
    changed: list[str]
    updated_at: datetime


@publishes.event("travel.trip.cancelled.v1")
class TripCancelledV1(TripV1):
    """A trip was cancelled."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {**_TRIP_EXAMPLE, "status": "cancelled", "cancelled_at": "2027-03-03T08:00:00Z"}]})
    cancelled_at: datetime


class DelegationV1(BaseModel):
    delegation_id: str
    host_department: str
    origin_city: str
    origin_country: str
    origin_place_id: int
    origin_place_name: str
    origin_latitude: float
    origin_longitude: float
    organisation: str | None
    visitors: int
    arrival: date
    departure: date
    official_guest: bool


_DELEGATION_EXAMPLE: JsonDict = {
    "delegation_id": "c1d2e3f4-3333-4e4e-9c9c-8f8f8f8f8f8f", "host_department": "MAYOR", "origin_city": "Kattowitz",
    "origin_country": "PL", "origin_place_id": 3096472, "origin_place_name": "Katowice", "origin_latitude": 50.25841,
    "origin_longitude": 19.02754, "organisation": "City of Katowice", "visitors": 12, "arrival": "2027-06-02",
    "departure": "2027-06-05", "official_guest": True}


class OverlapTripV1(BaseModel):
    trip_id: str
    department: str
    title: str
    purpose: str
    visibility: str
    travellers: list[TravellerV1]
    leg: LegV1


@publishes.event("travel.overlap.detected.v1")
class OverlapDetectedV1(BaseModel):
    """Two departments' trips are at the same place (or within the radius) on shared dates."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "overlap_id": "0b7f3d0c-1111-4c4c-9a9a-6f6f6f6f6f6f", "place_name": "Chongqing", "country": "CN",
        "distance_km": 0.0, "shared_start": "2027-05-12", "shared_end": "2027-05-15", "restricted": False,
        "trips": [
            {"trip_id": "5f551f04-a5a7-4af1-8f5f-a3c10572934c", "department": "ECON", "title": "Trade fair",
             "purpose": "trade_fair", "visibility": "normal", "travellers": _TRIP_EXAMPLE["travellers"],
             "leg": _LEG_EXAMPLE},
            {"trip_id": "9a1e2c3d-2222-4d4d-8b8b-7e7e7e7e7e7e", "department": "MAYOR",
             "title": "Partner-city visit", "purpose": "partner_city_visit", "visibility": "normal",
             "travellers": [{"name": "Mayor", "email": None, "role": "Mayor", "elected_official": True}],
             "leg": _LEG_EXAMPLE},
        ],
        "detected_at": "2027-03-01T09:00:01Z",
    }]})

    overlap_id: str
    # "trips": two departments travelling to one place; "delegations": two departments hosting
    # delegations from one place at the same time (then `delegations` holds them, `trips` is empty).
    kind: Literal["trips", "delegations"] = "trips"
    place_name: str
    country: str
    distance_km: float
    shared_start: date
    shared_end: date
    restricted: bool
    trips: list[OverlapTripV1]
    delegations: list[DelegationV1] = []
    detected_at: datetime


@publishes.event("travel.overlap.resolved.v1")
class OverlapResolvedV1(BaseModel):
    """An overlap went away: a trip changed so they no longer meet, or one was cancelled."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "overlap_id": "0b7f3d0c-1111-4c4c-9a9a-6f6f6f6f6f6f",
        "trip_ids": ["5f551f04-a5a7-4af1-8f5f-a3c10572934c", "9a1e2c3d-2222-4d4d-8b8b-7e7e7e7e7e7e"],
        "departments": ["ECON", "MAYOR"], "reason": "trip 9a1e2c3d… was cancelled", "restricted": False,
        "resolved_at": "2027-03-05T12:00:00Z"}]})

    overlap_id: str
    kind: Literal["trips", "delegations"] = "trips"
    trip_ids: list[str]
    delegation_ids: list[str] = []
    departments: list[str]
    reason: str
    restricted: bool
    resolved_at: datetime


@publishes.event("travel.delegation.announced.v1")
class DelegationAnnouncedV1(DelegationV1):
    """A department announced a visiting delegation."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {**_DELEGATION_EXAMPLE, "announced_at": "2027-04-01T08:00:00Z"}]})
    announced_at: datetime


@publishes.event("travel.crossing.detected.v1")
class CrossingDetectedV1(BaseModel):
    """One of our trips is in city X while a delegation from X visits us."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "crossing_id": "d4e5f6a7-4444-4f4f-8d8d-9a9a9a9a9a9a", "place_name": "Katowice",
        "shared_start": "2027-06-03", "shared_end": "2027-06-04",
        "trip": {**{k: v for k, v in _TRIP_EXAMPLE.items() if k in OverlapTripV1.model_fields}, "leg": {
            **_LEG_EXAMPLE, "city": "Katowice", "country": "PL", "place_id": 3096472, "place_name": "Katowice",
            "latitude": 50.25841, "longitude": 19.02754, "timezone": "Europe/Warsaw",
            "start_date": "2027-06-03", "end_date": "2027-06-06"}},
        "delegation": _DELEGATION_EXAMPLE, "detected_at": "2027-04-01T08:00:01Z"}]})

    crossing_id: str
    place_name: str
    shared_start: date
    shared_end: date
    trip: OverlapTripV1
    delegation: DelegationV1
    detected_at: datetime


@publishes.event("travel.delegation.updated.v1")
class DelegationUpdatedV1(DelegationV1):
    """A delegation's visit changed; `changed` names the fields."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {**_DELEGATION_EXAMPLE, "changed": ["departure"], "updated_at": "2027-04-02T08:00:00Z"}]})
    changed: list[str]
    updated_at: datetime


@publishes.event("travel.delegation.cancelled.v1")
class DelegationCancelledV1(DelegationV1):
    """A delegation will not come."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {**_DELEGATION_EXAMPLE, "cancelled_at": "2027-04-03T08:00:00Z"}]})
    cancelled_at: datetime
