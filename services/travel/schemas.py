"""Travel's HTTP request and response bodies."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, EmailStr, Field, ValidationInfo, field_validator

from services.travel import domain
from services.travel.domain import (
    CrossingStatus,
    DelegationStatus,
    OverlapKind,
    OverlapMark,
    OverlapStatus,
    Purpose,
    TripStatus,
    Visibility,
)
from shared.auth import DEPARTMENT
from shared.bounds import Day, PlaceId

Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217, e.g. EUR")]


def _check_span(start: date | None, end: date, start_name: str) -> date:
    """The end of a stay: not before its start, and no longer than domain.MAX_LEG_DAYS."""
    if start is not None and end < start:
        raise ValueError(f"is before {start_name}")
    if start is not None and (end - start).days > domain.MAX_LEG_DAYS:
        raise ValueError(f"is more than {domain.MAX_LEG_DAYS} days after {start_name}")
    return end


# -- trips ----------------------------------------------------------------------------------------

class LegIn(BaseModel):
    city: str = Field(min_length=1, max_length=100, description="any common form: Köln, Cologne, Koeln")
    country: str = Field(min_length=2, max_length=60, description="ISO 3166 code (DE) or English name")
    start_date: Day
    end_date: Day
    place_id: PlaceId | None = Field(None, description="GeoNames id, to pick one of several candidates")

    @field_validator("end_date")
    @classmethod
    def _after_start(cls, end: date, info: ValidationInfo) -> date:
        return _check_span(info.data.get("start_date"), end, "start_date")


class TravellerIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr | None = None
    role: str | None = Field(None, max_length=100)
    elected_official: bool = Field(False, description="the mayor or another elected official")


class TripIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    purpose: Purpose = "other"
    department: str | None = Field(None, pattern=DEPARTMENT.pattern,
                                   description="coordinators may book for any department; defaults to the key's")
    travellers: list[TravellerIn] = Field(default_factory=list, max_length=200)
    legs: list[LegIn] = Field(min_length=1, max_length=20)
    estimated_cost: Decimal | None = Field(None, ge=0, max_digits=12, decimal_places=2)
    currency: Currency | None = None
    visibility: Visibility = "normal"
    status: Literal["planned", "booked"] = "planned"


class TripPatch(BaseModel):
    title: str | None = Field(None, min_length=1, max_length=200)
    purpose: Purpose | None = None
    travellers: list[TravellerIn] | None = Field(None, max_length=200)
    legs: list[LegIn] | None = Field(None, min_length=1, max_length=20)
    estimated_cost: Decimal | None = Field(None, ge=0, max_digits=12, decimal_places=2)
    currency: Currency | None = None
    visibility: Visibility | None = None
    status: TripStatus | None = None


class LegOut(BaseModel):
    city: str
    country: str
    start_date: date
    end_date: date
    place_id: int
    place_name: str
    latitude: float
    longitude: float
    timezone: str


class TravellerOut(BaseModel):
    name: str
    email: str | None
    role: str | None
    elected_official: bool


class BusyOut(BaseModel):
    """Another department away on a restricted trip: when, and nothing else."""

    department: str
    start_date: date
    end_date: date


class TripOut(BaseModel):
    id: str
    department: str
    title: str
    purpose: Purpose
    status: TripStatus
    visibility: Visibility
    estimated_cost: Decimal | None
    currency: str | None
    travellers: list[TravellerOut]
    legs: list[LegOut]
    created_at: datetime
    updated_at: datetime


# -- overlaps and crossings -----------------------------------------------------------------------

class OverlapOut(BaseModel):
    id: str
    kind: OverlapKind
    trip_ids: list[str]
    delegation_ids: list[str]
    departments: list[str] = Field(description="the two departments, in the order of trip_ids (or, for "
                                               "delegations, delegation_ids)")
    place_name: str
    country: str
    distance_km: float
    shared_start: date
    shared_end: date
    restricted: bool
    status: OverlapStatus
    detected_at: datetime
    resolved_at: datetime | None
    triage_note: str | None = Field(description="the note given with the last mark")
    triaged_by: str | None = Field(description="who marked it last: role, department and key label")
    triaged_at: datetime | None


class OverlapStatusIn(BaseModel):
    status: OverlapMark
    note: str | None = Field(None, max_length=1000, description="why: kept with the mark, replaced by the next")


class OverlapFound(BaseModel):
    """An overlap a booking would make, with another department's trip."""

    trip_id: str = Field(description="the other trip")
    department: str = Field(description="the other trip's department")
    place_name: str
    country: str
    distance_km: float
    shared_start: date
    shared_end: date
    restricted: bool = Field(description="either trip restricted: the overlap would be shown to few")


class CrossingFound(BaseModel):
    """A crossing a booking would make: the trip away while a delegation from there visits us."""

    delegation_id: str
    host_department: str
    origin_place_name: str
    place_name: str = Field(description="the trip's destination near the delegation's origin")
    distance_km: float
    shared_start: date
    shared_end: date


class TripCheckOut(BaseModel):
    """What booking the trip would find. Another department's restricted trip is not told of (policy.py)."""

    overlaps: list[OverlapFound]
    crossings: list[CrossingFound]


class CrossingOut(BaseModel):
    id: str
    trip_id: str
    delegation_id: str
    place_name: str
    shared_start: date
    shared_end: date
    status: CrossingStatus
    detected_at: datetime


# -- delegations ----------------------------------------------------------------------------------

class DelegationIn(BaseModel):
    origin_city: str = Field(min_length=1, max_length=100)
    origin_country: str = Field(min_length=2, max_length=60)
    origin_place_id: PlaceId | None = None
    host_department: str | None = Field(None, pattern=DEPARTMENT.pattern,
                                        description="coordinators may announce for any department")
    organisation: str | None = Field(None, max_length=200)
    visitors: int = Field(ge=1, le=10_000)
    arrival: Day
    departure: Day
    official_guest: bool = Field(False, description="a guest of the city (partner-city delegations are)")

    @field_validator("departure")
    @classmethod
    def _after_arrival(cls, departure: date, info: ValidationInfo) -> date:
        return _check_span(info.data.get("arrival"), departure, "arrival")


class DelegationPatch(BaseModel):
    origin_city: str | None = Field(None, min_length=1, max_length=100)
    origin_country: str | None = Field(None, min_length=2, max_length=60)
    origin_place_id: PlaceId | None = None
    organisation: str | None = Field(None, max_length=200)
    visitors: int | None = Field(None, ge=1, le=10_000)
    arrival: Day | None = None
    departure: Day | None = None
    official_guest: bool | None = None


class DelegationOut(BaseModel):
    id: str
    host_department: str
    origin_city: str
    origin_country: str
    origin_place_id: int
    origin_place_name: str
    organisation: str | None
    visitors: int
    arrival: date
    departure: date
    official_guest: bool
    status: DelegationStatus
    created_at: datetime


# -- reporting ------------------------------------------------------------------------------------

class Summary(BaseModel):
    year: int
    trips: int
    legs: int
    travellers: int = Field(description="traveller places on trips (one person on two trips counts twice)")
    distinct_travellers: int = Field(description="different people, by email or else by name")
    trips_with_elected_officials: int
    destinations_by_country: dict[str, int] = Field(description="trips with a leg in the country")
    purposes: dict[str, int]
    departments: dict[str, int]
    estimated_cost: dict[str, Decimal] = Field(description="by currency")
    delegations: int
    visitors: int
    official_guest_delegations: int
    delegations_by_origin_country: dict[str, int]
    visitors_by_origin_country: dict[str, int]
