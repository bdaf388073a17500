"""Travel's HTTP routes: parse the body, ask the policy, call the service layer, map its answer."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Response

from services.travel.domain import CrossingStatus, DelegationStatus, OverlapStatus, Purpose, TripStatus
from services.travel.models import CalendarToken, Delegation, Overlap, Trip
from services.travel.policy import POLICY, acting_for
from services.travel.schemas import (
    BusyOut,
    CrossingFound,
    CrossingOut,
    DelegationIn,
    DelegationOut,
    DelegationPatch,
    LegOut,
    OverlapFound,
    OverlapOut,
    OverlapStatusIn,
    Summary,
    TravellerOut,
    TripCheckOut,
    TripIn,
    TripOut,
    TripPatch,
)
from services.travel.service import TravelContext, delegations, overlaps, reports, trips
from shared.app import RuntimeDep
from shared.auth import DEPARTMENT, CurrentPrincipal
from shared.calendar_feeds import add_calendar_routes
from shared.listing import Cursor
from shared.openapi import problems
from shared.place_routes import add_place_routes

router = APIRouter(tags=["trips"])


async def travel_context(runtime: RuntimeDep) -> TravelContext:
    # async: FastAPI would run a plain function in a worker thread, for every request
    return runtime.context


ContextDep = Annotated[TravelContext, Depends(travel_context)]


# -- trips ----------------------------------------------------------------------------------------

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


# What Swagger UI offers to try, and generated clients show: a booking as a department system sends it.
TripBooking = Annotated[TripIn, Body(openapi_examples={"trade_fair": {
    "summary": "A trade-fair delegation to Chongqing",
    "value": {"title": "Trade fair delegation", "purpose": "trade_fair", "department": "ECON", "status": "booked",
              "travellers": [{"name": "Jana Weber", "email": "jana.weber@city.example", "role": "head of delegation"}],
              "legs": [{"city": "Chongqing", "country": "CN", "start_date": "2027-05-12", "end_date": "2027-05-15"}],
              "estimated_cost": 4800, "currency": "EUR"}}})]


@router.post("/trips", status_code=201, response_model=TripOut, summary="Book a trip")
async def book_trip(body: TripBooking, principal: CurrentPrincipal, runtime: RuntimeDep, ctx: ContextDep) -> TripOut:
    department = acting_for(principal, body.department, "department", "trip.book")
    async with runtime.uow() as uow:
        return _trip_out(await trips.book_trip(uow, ctx, body, department))


@router.post("/trips/check", response_model=TripCheckOut, summary="What booking a trip would find, booking nothing",
             description="The overlaps and crossings the same body would make if booked; nothing is stored or "
                         "published. Refused (403, 422) as booking it would be.")
async def check_trip(body: TripBooking, principal: CurrentPrincipal, runtime: RuntimeDep,
                     ctx: ContextDep) -> TripCheckOut:
    department = acting_for(principal, body.department, "department", "trip.check")
    async with runtime.uow() as uow:
        found = await trips.check_trip(uow, ctx, body, department, principal)
    restricted = found.trip.visibility == "restricted"
    return TripCheckOut(
        overlaps=[OverlapFound(trip_id=other.trip_id, department=other.department, place_name=match.leg_b.place_name,
                               country=match.leg_b.country, distance_km=match.distance_km,
                               shared_start=match.shared_start, shared_end=match.shared_end,
                               restricted=restricted or other.visibility == "restricted")
                  for other, match in found.overlaps],
        crossings=[CrossingFound(delegation_id=visit.id, host_department=visit.host_department,
                                 origin_place_name=visit.origin_place_name, place_name=match.leg.place_name,
                                 distance_km=match.distance_km, shared_start=match.shared_start,
                                 shared_end=match.shared_end)
                   for visit, match in found.crossings])


@router.get("/trips", response_model=list[TripOut], summary="Trips, filtered")
async def list_trips(
    principal: CurrentPrincipal, runtime: RuntimeDep,
    department: Annotated[str | None, Query(pattern=DEPARTMENT.pattern)] = None,
    country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
    city: Annotated[str | None, Query(min_length=1, max_length=100, description="the resolved place's name")] = None,
    status: TripStatus | None = None,
    purpose: Purpose | None = None,
    start: Annotated[date | None, Query(alias="from", description="trips with a leg ending on or after")] = None,
    end: Annotated[date | None, Query(alias="to", description="trips with a leg starting on or before")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Cursor = None,
    *, response: Response,
) -> list[TripOut]:
    async with runtime.reads() as uow:
        page = await trips.list_trips(
            uow, principal, department=department, country=country, city=city, status=status, purpose=purpose,
            start=start, end=end, limit=limit, cursor=cursor)
        return [_trip_out(t) for t in page.send(response)]


@router.get("/busy", response_model=list[BusyOut], summary="Other departments away on restricted trips: dates only")
async def busy(principal: CurrentPrincipal, runtime: RuntimeDep,
               start: Annotated[date, Query(alias="from", description="first day of the window")],
               end: Annotated[date, Query(alias="to", description="last day of the window (at most 400 days on)")],
               ) -> list[BusyOut]:
    async with runtime.reads() as uow:
        return [BusyOut(department=department, start_date=since, end_date=until)
                for department, since, until in await trips.busy(uow, principal, start, end)]


@router.get("/trips/{trip_id}", response_model=TripOut, summary="One trip")
async def get_trip(trip_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> TripOut:
    async with runtime.reads() as uow:
        return _trip_out(await trips.load_trip(uow, trip_id, principal))


@router.patch("/trips/{trip_id}", response_model=TripOut, summary="Change a trip (only the fields given)",
              responses=problems(409))
async def change_trip(trip_id: str, body: TripPatch, principal: CurrentPrincipal, runtime: RuntimeDep,
                      ctx: ContextDep) -> TripOut:
    async with runtime.uow() as uow:
        return _trip_out(await trips.change_trip(uow, ctx, principal, trip_id, body))


@router.post("/trips/{trip_id}/cancel", response_model=TripOut, summary="Cancel a trip", responses=problems(409))
async def cancel_trip(trip_id: str, principal: CurrentPrincipal, runtime: RuntimeDep, ctx: ContextDep) -> TripOut:
    async with runtime.uow() as uow:
        return _trip_out(await trips.cancel_trip(uow, ctx, principal, trip_id))


# -- overlaps ---------------------------------------------------------------------------------------

def _overlap_out(o: Overlap, departments: dict[str, str]) -> OverlapOut:
    trip_ids = [t for t in (o.trip_a_id, o.trip_b_id) if t]
    delegation_ids = [d for d in (o.delegation_a_id, o.delegation_b_id) if d]
    return OverlapOut(id=o.id, kind=o.kind, trip_ids=trip_ids, delegation_ids=delegation_ids,
                      departments=[departments[party] for party in trip_ids + delegation_ids],
                      place_name=o.place_name, country=o.country,
                      distance_km=o.distance_km, shared_start=o.shared_start, shared_end=o.shared_end,
                      restricted=o.restricted, status=o.status, detected_at=o.detected_at,
                      resolved_at=o.resolved_at, triage_note=o.triage_note, triaged_by=o.triaged_by,
                      triaged_at=o.triaged_at)


@router.get("/overlaps", response_model=list[OverlapOut], tags=["overlaps"], summary="Overlaps between trips")
async def list_overlaps(principal: CurrentPrincipal, runtime: RuntimeDep, status: OverlapStatus | None = None,
                        limit: Annotated[int, Query(ge=1, le=500)] = 100, cursor: Cursor = None, *,
                        response: Response) -> list[OverlapOut]:
    async with runtime.reads() as uow:
        page = await overlaps.list_overlaps(uow, principal, status=status, limit=limit, cursor=cursor)
        departments = await overlaps.departments_of(uow, page.items)
        return [_overlap_out(o, departments) for o in page.send(response)]


@router.post("/overlaps/{overlap_id}/status", response_model=OverlapOut, tags=["overlaps"],
             summary="Mark an overlap acknowledged, coordinated or not related (coordinators)",
             responses=problems(409))
async def mark_overlap(overlap_id: str, body: OverlapStatusIn, principal: CurrentPrincipal,
                       runtime: RuntimeDep) -> OverlapOut:
    async with runtime.uow() as uow:
        overlap = await overlaps.mark_overlap(uow, principal, overlap_id, body.status, body.note)
        return _overlap_out(overlap, await overlaps.departments_of(uow, [overlap]))


# -- delegations ------------------------------------------------------------------------------------

def _delegation_out(d: Delegation) -> DelegationOut:
    return DelegationOut.model_validate(d, from_attributes=True)


@router.post("/delegations", status_code=201, response_model=DelegationOut, tags=["delegations"],
             summary="Announce a visiting delegation")
async def announce_delegation(body: DelegationIn, principal: CurrentPrincipal, runtime: RuntimeDep,
                              ctx: ContextDep) -> DelegationOut:
    host = acting_for(principal, body.host_department, "host_department", "delegation.announce")
    async with runtime.uow() as uow:
        return _delegation_out(await delegations.announce_delegation(uow, ctx, body, host))


@router.patch("/delegations/{delegation_id}", response_model=DelegationOut, tags=["delegations"],
              summary="Change a delegation's visit (only the fields given)", responses=problems(409))
async def change_delegation(delegation_id: str, body: DelegationPatch, principal: CurrentPrincipal,
                            runtime: RuntimeDep, ctx: ContextDep) -> DelegationOut:
    async with runtime.uow() as uow:
        return _delegation_out(await delegations.change_delegation(uow, ctx, principal, delegation_id, body))


@router.post("/delegations/{delegation_id}/cancel", response_model=DelegationOut, tags=["delegations"],
             summary="Cancel a delegation's visit")
async def cancel_delegation(delegation_id: str, principal: CurrentPrincipal, runtime: RuntimeDep,
                            ctx: ContextDep) -> DelegationOut:
    async with runtime.uow() as uow:
        return _delegation_out(await delegations.cancel_delegation(uow, ctx, principal, delegation_id))


@router.get("/delegations", response_model=list[DelegationOut], tags=["delegations"], summary="Delegations, filtered")
async def list_delegations(
    principal: CurrentPrincipal, runtime: RuntimeDep,
    department: Annotated[str | None, Query(pattern=DEPARTMENT.pattern)] = None,
    country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$", description="origin country")] = None,
    city: Annotated[str | None, Query(min_length=1, max_length=100, description="the origin place's name")] = None,
    status: DelegationStatus | None = None,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100, cursor: Cursor = None,
    *, response: Response,
) -> list[DelegationOut]:
    async with runtime.reads() as uow:
        page = await delegations.list_delegations(uow, principal, department=department, country=country, city=city,
                                                  status=status, start=start, end=end, limit=limit, cursor=cursor)
        return [_delegation_out(d) for d in page.send(response)]


@router.get("/delegations/{delegation_id}", response_model=DelegationOut, tags=["delegations"])
async def get_delegation(delegation_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> DelegationOut:
    async with runtime.reads() as uow:
        return _delegation_out(await delegations.load_delegation(uow, delegation_id, principal))


@router.get("/crossings", response_model=list[CrossingOut], tags=["delegations"],
            summary="Our trips to a city while a delegation from there visits us")
async def list_crossings(principal: CurrentPrincipal, runtime: RuntimeDep, status: CrossingStatus | None = None,
                         limit: Annotated[int, Query(ge=1, le=500)] = 100, cursor: Cursor = None, *,
                         response: Response) -> list[CrossingOut]:
    async with runtime.reads() as uow:
        page = await overlaps.list_crossings(uow, principal, status=status, limit=limit, cursor=cursor)
        return [CrossingOut.model_validate(c, from_attributes=True) for c in page.send(response)]


# -- reporting ---------------------------------------------------------------------------------------

@router.get("/summary", response_model=Summary, tags=["reporting"],
            summary="A year's activity: the numbers a council report needs")
async def summary(principal: CurrentPrincipal, runtime: RuntimeDep,
                  year: Annotated[int, Query(ge=1900, le=2200)]) -> Summary:
    POLICY.require(principal, "summary.read")
    async with runtime.reads() as uow:
        numbers = await reports.year_summary(uow, principal, year)
    return Summary.model_validate({"year": year, **vars(numbers)})


add_place_routes(router, POLICY)
add_calendar_routes(router, CalendarToken, reports.feed, POLICY)
