"""Travel's HTTP routes (thin: shapes and permissions here, rules in service.py and domain.py)."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, EmailStr, Field, ValidationInfo, field_validator
from sqlalchemy import func
from sqlalchemy.orm import selectinload
from sqlmodel import or_, select

from services.travel import calendar, domain, service
from services.travel.models import CalendarToken, Crossing, Delegation, Leg, Overlap, Trip
from services.travel.policy import (
    POLICY,
    feed_audience,
    feed_shows_whole,
    visible_crossings,
    visible_delegations,
    visible_overlaps,
    visible_trips,
)
from services.travel.settings import TravelSettings
from shared.app import RuntimeDep
from shared.auth import DEPARTMENT, CurrentPrincipal, Principal
from shared.bounds import Day, PlaceId, cursor_instant
from shared.calendar_feeds import add_calendar_routes
from shared.places import Gazetteer
from shared.policy import NONE
from shared.problems import FieldError
from shared.uow import utcnow

router = APIRouter(tags=["trips"])

Purpose = Literal[domain.PURPOSES]  # type: ignore[valid-type]
Status = Literal[domain.STATUSES]  # type: ignore[valid-type]
Visibility = Literal[domain.VISIBILITIES]  # type: ignore[valid-type]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217, e.g. EUR")]


@lru_cache
def _gazetteer(path) -> Gazetteer:
    return Gazetteer(path)


async def travel_context(runtime: RuntimeDep) -> service.TravelContext:
    settings: TravelSettings = runtime.settings  # type: ignore[assignment]
    return service.TravelContext(places=_gazetteer(settings.gazetteer_path), radius_km=settings.overlap_radius_km)


ContextDep = Annotated[service.TravelContext, Depends(travel_context)]


def _check_span(start: date | None, end: date, start_name: str) -> date:
    """The end of a stay: not before its start, and no longer than domain.MAX_LEG_DAYS."""
    if start is not None and end < start:
        raise ValueError(f"is before {start_name}")
    if start is not None and (end - start).days > domain.MAX_LEG_DAYS:
        raise ValueError(f"is more than {domain.MAX_LEG_DAYS} days after {start_name}")
    return end


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
    status: Status | None = None


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


class TripOut(BaseModel):
    id: str
    department: str
    title: str
    purpose: str
    status: str
    visibility: str
    estimated_cost: Decimal | None
    currency: str | None
    travellers: list[TravellerOut]
    legs: list[LegOut]
    created_at: datetime
    updated_at: datetime


class OverlapOut(BaseModel):
    id: str
    kind: Literal["trips", "delegations"]
    trip_ids: list[str]
    delegation_ids: list[str]
    place_name: str
    country: str
    distance_km: float
    shared_start: date
    shared_end: date
    restricted: bool
    status: str
    detected_at: datetime
    resolved_at: datetime | None


class OverlapStatusIn(BaseModel):
    status: Literal[domain.OVERLAP_STATUSES]  # type: ignore[valid-type]


def _trip_out(trip: Trip) -> TripOut:
    return TripOut(
        id=trip.id, department=trip.department, title=trip.title, purpose=trip.purpose, status=trip.status,
        visibility=trip.visibility, estimated_cost=trip.estimated_cost, currency=trip.currency,
        created_at=trip.created_at, updated_at=trip.updated_at,
        travellers=[TravellerOut(name=t.name, email=t.email, role=t.role, elected_official=t.elected_official)
                    for t in trip.travellers],
        legs=[LegOut(city=leg.city, country=leg.country, start_date=leg.start_date, end_date=leg.end_date,
                     place_id=leg.place_id, place_name=leg.place_name, latitude=leg.latitude,
                     longitude=leg.longitude, timezone=leg.timezone) for leg in trip.legs])


def _legs(legs: list[LegIn]) -> list[service.LegInput]:
    return [service.LegInput(leg.city, leg.country, leg.start_date, leg.end_date, leg.place_id) for leg in legs]


def _travellers(travellers: list[TravellerIn]) -> list[service.TravellerInput]:
    return [service.TravellerInput(t.name, t.email, t.role, t.elected_official) for t in travellers]


def _acting_for(principal: Principal, requested: str | None, field: str, action: str) -> str:
    """The department a new record is for: the one asked for, else the key's own; only if the policy lets the key."""
    if POLICY.reach(principal, action) is NONE:
        POLICY.require(principal, action)  # refused whatever the department
    department = requested or principal.department
    if department is None:
        raise FieldError(field, "required when the key has no department")
    POLICY.require(principal, action, department)
    return department


@router.post("/trips", status_code=201, response_model=TripOut, summary="Book a trip")
async def book_trip(body: TripIn, principal: CurrentPrincipal, runtime: RuntimeDep, ctx: ContextDep) -> TripOut:
    department = _acting_for(principal, body.department, "department", "trip.book")
    if body.estimated_cost is not None and body.currency is None:
        raise FieldError("currency", "required with estimated_cost")
    async with runtime.uow() as uow:
        trip = await service.book_trip(
            uow, ctx, department=department, title=body.title, purpose=body.purpose, legs=_legs(body.legs),
            travellers=_travellers(body.travellers), visibility=body.visibility, status=body.status,
            estimated_cost=body.estimated_cost, currency=body.currency)
        return _trip_out(trip)


@router.get("/trips", response_model=list[TripOut], summary="Trips, filtered")
async def list_trips(
    principal: CurrentPrincipal, runtime: RuntimeDep,
    department: Annotated[str | None, Query(pattern=DEPARTMENT.pattern)] = None,
    country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
    city: Annotated[str | None, Query(min_length=1, max_length=100, description="the resolved place's name")] = None,
    status: Status | None = None,
    purpose: Purpose | None = None,
    start: Annotated[date | None, Query(alias="from", description="trips with a leg ending on or after")] = None,
    end: Annotated[date | None, Query(alias="to", description="trips with a leg starting on or before")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=80, description="the X-Next-Cursor of the previous page")] = None,
    *, response: Response,
) -> list[TripOut]:
    query = select(Trip).order_by(Trip.created_at.desc(), Trip.id.desc()).limit(limit)
    if department:
        query = query.where(Trip.department == department)
    if status:
        query = query.where(Trip.status == status)
    if purpose:
        query = query.where(Trip.purpose == purpose)
    leg_filters = []
    if country:
        leg_filters.append(Leg.country == country)
    if city:
        leg_filters.append(Leg.place_name == city)
    if start:
        leg_filters.append(Leg.end_date >= start)
    if end:
        leg_filters.append(Leg.start_date <= end)
    if leg_filters:
        query = query.where(Trip.id.in_(select(Leg.trip_id).where(*leg_filters)))
    query = query.where(visible_trips(principal))
    if cursor:
        created, _, trip_id = cursor.partition("|")
        created_at = cursor_instant(created)
        query = query.where(or_(Trip.created_at < created_at, (Trip.created_at == created_at) & (Trip.id < trip_id)))
    async with runtime.uow() as uow:
        trips = (await uow.session.exec(query)).all()
        if len(trips) == limit:
            response.headers["X-Next-Cursor"] = f"{trips[-1].created_at.isoformat()}|{trips[-1].id}"
        return [_trip_out(t) for t in trips]


@router.get("/trips/{trip_id}", response_model=TripOut, summary="One trip")
async def get_trip(trip_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> TripOut:
    async with runtime.uow() as uow:
        return _trip_out(await service.load_trip(uow, trip_id, principal))


@router.patch("/trips/{trip_id}", response_model=TripOut, summary="Change a trip (only the fields given)")
async def change_trip(trip_id: str, body: TripPatch, principal: CurrentPrincipal, runtime: RuntimeDep,
                      ctx: ContextDep) -> TripOut:
    changes = body.model_dump(exclude_unset=True)
    for field in ("title", "purpose", "visibility", "status", "legs", "travellers"):
        if field in changes and changes[field] is None:
            raise FieldError(field, "cannot be null")
    if "legs" in changes:
        changes["legs"] = _legs(body.legs or [])
    if "travellers" in changes:
        changes["travellers"] = _travellers(body.travellers or [])
    async with runtime.uow() as uow:
        return _trip_out(await service.update_trip(uow, ctx, principal, trip_id, changes))


@router.post("/trips/{trip_id}/cancel", response_model=TripOut, summary="Cancel a trip")
async def cancel_trip(trip_id: str, principal: CurrentPrincipal, runtime: RuntimeDep, ctx: ContextDep) -> TripOut:
    async with runtime.uow() as uow:
        return _trip_out(await service.cancel_trip(uow, ctx, principal, trip_id))


def _overlap_out(o: Overlap) -> OverlapOut:
    return OverlapOut(id=o.id, kind=o.kind, trip_ids=[t for t in (o.trip_a_id, o.trip_b_id) if t],
                      delegation_ids=[d for d in (o.delegation_a_id, o.delegation_b_id) if d],
                      place_name=o.place_name, country=o.country,
                      distance_km=o.distance_km, shared_start=o.shared_start, shared_end=o.shared_end,
                      restricted=o.restricted, status=o.status, detected_at=o.detected_at,
                      resolved_at=o.resolved_at)


@router.get("/overlaps", response_model=list[OverlapOut], tags=["overlaps"], summary="Overlaps between trips")
async def list_overlaps(principal: CurrentPrincipal, runtime: RuntimeDep,
                        status: Literal[(*domain.OVERLAP_STATUSES, "resolved")] | None = None,  # type: ignore[valid-type]
                        limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[OverlapOut]:
    query = select(Overlap).order_by(Overlap.detected_at.desc()).limit(limit)
    if status:
        query = query.where(Overlap.status == status)
    query = query.where(visible_overlaps(principal))
    async with runtime.uow() as uow:
        return [_overlap_out(o) for o in (await uow.session.exec(query)).all()]


@router.post("/overlaps/{overlap_id}/status", response_model=OverlapOut, tags=["overlaps"],
             summary="Mark an overlap acknowledged, coordinated or not related (coordinators)")
async def mark_overlap(overlap_id: str, body: OverlapStatusIn, principal: CurrentPrincipal,
                       runtime: RuntimeDep) -> OverlapOut:
    async with runtime.uow() as uow:
        return _overlap_out(await service.set_overlap_status(uow, principal, overlap_id, body.status))


# -- delegations ------------------------------------------------------------------------------------

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
    status: str
    created_at: datetime


class CrossingOut(BaseModel):
    id: str
    trip_id: str
    delegation_id: str
    place_name: str
    shared_start: date
    shared_end: date
    status: str
    detected_at: datetime


def _delegation_out(d) -> DelegationOut:
    return DelegationOut.model_validate(d, from_attributes=True)


@router.post("/delegations", status_code=201, response_model=DelegationOut, tags=["delegations"],
             summary="Announce a visiting delegation")
async def announce_delegation(body: DelegationIn, principal: CurrentPrincipal, runtime: RuntimeDep,
                              ctx: ContextDep) -> DelegationOut:
    host = _acting_for(principal, body.host_department, "host_department", "delegation.announce")
    origin = service.LegInput(body.origin_city, body.origin_country, body.arrival, body.departure,
                              body.origin_place_id)
    async with runtime.uow() as uow:
        delegation = await service.announce_delegation(uow, ctx, service.DelegationInput(
            host_department=host, origin=origin, organisation=body.organisation, visitors=body.visitors,
            official_guest=body.official_guest))
        return _delegation_out(delegation)


class DelegationPatch(BaseModel):
    origin_city: str | None = Field(None, min_length=1, max_length=100)
    origin_country: str | None = Field(None, min_length=2, max_length=60)
    origin_place_id: PlaceId | None = None
    organisation: str | None = Field(None, max_length=200)
    visitors: int | None = Field(None, ge=1, le=10_000)
    arrival: Day | None = None
    departure: Day | None = None
    official_guest: bool | None = None


@router.patch("/delegations/{delegation_id}", response_model=DelegationOut, tags=["delegations"],
              summary="Change a delegation's visit (only the fields given)")
async def change_delegation(delegation_id: str, body: DelegationPatch, principal: CurrentPrincipal,
                            runtime: RuntimeDep, ctx: ContextDep) -> DelegationOut:
    given = body.model_dump(exclude_unset=True)
    for name in ("visitors", "arrival", "departure", "official_guest", "origin_city", "origin_country"):
        if name in given and given[name] is None:
            raise FieldError(name, "cannot be null")
    changes = {k: v for k, v in given.items() if not k.startswith("origin_")}
    if {"origin_city", "origin_country"} & given.keys():
        if not {"origin_city", "origin_country"} <= given.keys():
            raise FieldError("origin_country" if "origin_city" in given else "origin_city",
                             "give origin_city and origin_country together")
        changes["origin"] = service.Origin(body.origin_city, body.origin_country, body.origin_place_id)
    if {"arrival", "departure"} <= given.keys() and body.departure < body.arrival:
        raise FieldError("departure", "is before arrival")
    async with runtime.uow() as uow:
        return _delegation_out(await service.update_delegation(uow, ctx, principal, delegation_id, changes))


@router.post("/delegations/{delegation_id}/cancel", response_model=DelegationOut, tags=["delegations"],
             summary="Cancel a delegation's visit")
async def cancel_delegation(delegation_id: str, principal: CurrentPrincipal, runtime: RuntimeDep,
                            ctx: ContextDep) -> DelegationOut:
    async with runtime.uow() as uow:
        return _delegation_out(await service.cancel_delegation(uow, ctx, principal, delegation_id))


@router.get("/delegations", response_model=list[DelegationOut], tags=["delegations"], summary="Delegations, filtered")
async def list_delegations(
    principal: CurrentPrincipal, runtime: RuntimeDep,
    department: Annotated[str | None, Query(pattern=DEPARTMENT.pattern)] = None,
    country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$", description="origin country")] = None,
    city: Annotated[str | None, Query(min_length=1, max_length=100, description="the origin place's name")] = None,
    status: Literal["announced", "cancelled"] | None = None,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DelegationOut]:
    query = select(Delegation).where(visible_delegations(principal)).order_by(Delegation.arrival.desc()).limit(limit)
    if department:
        query = query.where(Delegation.host_department == department)
    if country:
        query = query.where(Delegation.origin_country == country)
    if city:
        query = query.where(Delegation.origin_place_name == city)
    if status:
        query = query.where(Delegation.status == status)
    if start:
        query = query.where(Delegation.departure >= start)
    if end:
        query = query.where(Delegation.arrival <= end)
    async with runtime.uow() as uow:
        return [_delegation_out(d) for d in (await uow.session.exec(query)).all()]


@router.get("/delegations/{delegation_id}", response_model=DelegationOut, tags=["delegations"])
async def get_delegation(delegation_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> DelegationOut:
    async with runtime.uow() as uow:
        return _delegation_out(await service.load_delegation(uow, delegation_id, principal))


@router.get("/crossings", response_model=list[CrossingOut], tags=["delegations"],
            summary="Our trips to a city while a delegation from there visits us")
async def list_crossings(principal: CurrentPrincipal, runtime: RuntimeDep,
                         status: Literal["open", "resolved"] | None = None,
                         limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[CrossingOut]:
    query = select(Crossing).where(visible_crossings(principal)).order_by(Crossing.detected_at.desc()).limit(limit)
    if status:
        query = query.where(Crossing.status == status)
    async with runtime.uow() as uow:
        return [CrossingOut.model_validate(c, from_attributes=True) for c in (await uow.session.exec(query)).all()]


# -- reporting ---------------------------------------------------------------------------------------

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


@router.get("/summary", response_model=Summary, tags=["reporting"],
            summary="A year's activity: the numbers a council report needs")
async def summary(principal: CurrentPrincipal, runtime: RuntimeDep,
                  year: Annotated[int, Query(ge=1900, le=2200)]) -> Summary:
    POLICY.require(principal, "summary.read")
    first, last = date(year, 1, 1), date(year, 12, 31)
    async with runtime.uow() as uow:
        # A trip belongs to the year its first leg starts in; cancelled trips did not happen. Only
        # the trips the caller may read count: a restricted trip's country or department would tell.
        trip_ids = select(Leg.trip_id).group_by(Leg.trip_id).having(func.min(Leg.start_date).between(first, last))
        trips = (await uow.session.exec(select(Trip).where(Trip.id.in_(trip_ids), Trip.status != "cancelled",
                                                           visible_trips(principal))
                                        .options(selectinload(Trip.legs), selectinload(Trip.travellers)))).all()
        delegations = (await uow.session.exec(select(Delegation).where(
            Delegation.arrival.between(first, last), Delegation.status != "cancelled",
            visible_delegations(principal)))).all()
    count = Counter
    people = {(t.email or t.name).strip().casefold() for trip in trips for t in trip.travellers}
    costs: dict[str, Decimal] = {}
    for trip in trips:
        if trip.estimated_cost is not None and trip.currency:
            costs[trip.currency] = costs.get(trip.currency, Decimal("0")) + trip.estimated_cost
    visitors_by_country: Counter[str] = Counter()
    for d in delegations:
        visitors_by_country[d.origin_country] += d.visitors
    return Summary(
        year=year, trips=len(trips), legs=sum(len(t.legs) for t in trips),
        travellers=sum(len(t.travellers) for t in trips), distinct_travellers=len(people),
        trips_with_elected_officials=sum(any(x.elected_official for x in t.travellers) for t in trips),
        destinations_by_country=dict(count(c for t in trips for c in {leg.country for leg in t.legs})),
        purposes=dict(count(t.purpose for t in trips)), departments=dict(count(t.department for t in trips)),
        estimated_cost=costs, delegations=len(delegations), visitors=sum(d.visitors for d in delegations),
        official_guest_delegations=sum(d.official_guest for d in delegations),
        delegations_by_origin_country=dict(count(d.origin_country for d in delegations)),
        visitors_by_origin_country=dict(visitors_by_country))


# -- calendar feeds -------------------------------------------------------------------------------

async def _feed(uow, department: str | None) -> bytes:
    """A feed holds what its audience may read (policy.feed_audience); a department's only its own."""
    audience = feed_audience(department)
    trips_query = select(Trip).where(visible_trips(audience)).options(selectinload(Trip.legs),
                                                                      selectinload(Trip.travellers))
    delegations_query = select(Delegation).where(visible_delegations(audience))
    if department:
        trips_query = trips_query.where(Trip.department == department)
        delegations_query = delegations_query.where(Delegation.host_department == department)
    trips = (await uow.session.exec(trips_query)).all()
    delegations = (await uow.session.exec(delegations_query)).all()
    name = f"{department} trips and visits" if department else "City trips and visits"
    return calendar.feed(name, list(trips), list(delegations),
                         shows_whole=lambda trip: feed_shows_whole(department, trip), now=utcnow())


add_calendar_routes(router, CalendarToken, "travel", _feed, POLICY)
