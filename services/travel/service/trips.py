"""Trips: booked, changed and cancelled by their department; read by whoever the policy lets."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, insert, not_
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select

from services.travel import domain
from services.travel.domain import LegMatch, Purpose, TripStatus
from services.travel.events import TripBookedV1, TripCancelledV1, TripUpdatedV1
from services.travel.models import Leg, Traveller, Trip, new_id
from services.travel.policy import POLICY, may_read_delegation, may_read_trip, visible_trips
from services.travel.privacy import trip_record
from services.travel.schemas import LegIn, TravellerIn, TripIn, TripPatch
from services.travel.service import TravelContext
from services.travel.service.overlaps import (
    Candidate,
    CrossingMatch,
    delegations_met,
    recheck_trip,
    take_turns,
    trips_met,
    where,
)
from services.travel.service.payloads import trip_fields
from shared.auth import Principal
from shared.db import table_of
from shared.listing import Keyset, Page, where_given
from shared.places import Gazetteer, Place, item_field, resolve_field
from shared.problems import FieldError, Problem
from shared.subjects import ERASED
from shared.uow import UnitOfWork, utcnow


def resolve_legs(legs: list[LegIn], places: Gazetteer) -> list[tuple[LegIn, Place]]:
    """Each leg's place, or a 422 naming the leg; legs of one trip must not overlap each other."""
    resolved = [(leg, resolve_field(places, leg.city, leg.country, leg.place_id,
                                    item_field("legs", i)))
                for i, leg in enumerate(legs)]
    clash = domain.legs_of_one_trip_overlap([(leg.start_date, leg.end_date) for leg in legs])
    if clash is not None:
        raise FieldError(f"legs[{clash}]", "starts before the previous leg ends: a trip is in one place at a time")
    return resolved


def _legs(trip_id: str, resolved: list[tuple[LegIn, Place]]) -> list[Leg]:
    return [Leg(trip_id=trip_id, position=i, city=leg.city, country=place.country, place_id=place.id,
                place_name=place.name, latitude=place.latitude, longitude=place.longitude, timezone=place.timezone,
                cell=domain.cell_of(place.latitude, place.longitude), start_date=leg.start_date,
                end_date=leg.end_date)
            for i, (leg, place) in enumerate(resolved)]


def _travellers(trip_id: str, travellers: list[TravellerIn]) -> list[Traveller]:
    return [Traveller(trip_id=trip_id, position=i, name=t.name, email=t.email, role=t.role,
                      elected_official=t.elected_official) for i, t in enumerate(travellers)]


def _columns(row: Trip | Leg | Traveller, *leave_out: str) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in table_of(type(row)).columns if c.key not in leave_out}


def _new_trip(ctx: TravelContext, data: TripIn, department: str, now: datetime) -> Trip:
    """The trip `data` asks for, outside the session (or a 422 naming the field): its legs and
    travellers are set as a load would set them, with no change events."""
    if data.estimated_cost is not None and data.currency is None:
        raise FieldError("currency", "required with estimated_cost")
    resolved = resolve_legs(data.legs, ctx.places)
    trip = Trip(id=new_id(), department=department, title=data.title, purpose=data.purpose, status=data.status,
                visibility=data.visibility, estimated_cost=data.estimated_cost, currency=data.currency,
                created_at=now, updated_at=now)
    set_committed_value(trip, "legs", _legs(trip.id, resolved))
    set_committed_value(trip, "travellers", _travellers(trip.id, data.travellers))
    return trip


async def book_trip(uow: UnitOfWork, ctx: TravelContext, data: TripIn, department: str) -> Trip:
    """`department` is the one the policy let the caller book for (policy.acting_for)."""
    now = utcnow()
    # Written with plain statements, not flushed through the session: the flush and the reload
    # after it were most of a booking's cost. The trip stays a Trip, outside the session, for the
    # checks, the events and the response; the statements below write its legs and travellers.
    trip = _new_trip(ctx, data, department, now)
    await take_turns(uow, ctx, where(trip.legs))
    connection = await uow.session.connection()
    await connection.execute(insert(table_of(Trip)), [_columns(trip)])
    leg_ids = await connection.execute(
        insert(table_of(Leg)).returning(table_of(Leg).c.id, sort_by_parameter_order=True),
        [_columns(leg, "id") for leg in trip.legs])  # the database gives the id
    for leg, leg_id in zip(trip.legs, leg_ids.scalars().all(), strict=True):
        leg.id = leg_id
    if trip.travellers:
        await connection.execute(insert(table_of(Traveller)), [_columns(t, "id") for t in trip.travellers])
    uow.publish(TripBookedV1(**trip_fields(trip), booked_at=now), subject=f"trips/{trip.id}")
    uow.audit("trip", trip.id, "booked", None, trip_record(trip))
    await recheck_trip(uow, ctx, trip, now, new=True)
    await uow.commit()
    return trip


@dataclass(frozen=True)
class TripCheck:
    """What booking a trip would find: the overlaps with other departments' trips and the crossings
    with visiting delegations, each with where and when."""

    trip: Trip  # as it would be booked; not stored
    overlaps: list[tuple[Candidate, LegMatch]]
    crossings: list[tuple[Any, CrossingMatch]]  # delegation rows


async def check_trip(uow: UnitOfWork, ctx: TravelContext, data: TripIn, department: str,
                     principal: Principal) -> TripCheck:
    """What `book_trip` would find, by the same checks; stores and publishes nothing. Only trips the
    caller may read are told: another department's restricted trip makes an overlap the caller will
    never be shown (policy.py), and even "busy here then" would tell where and when that trip goes."""
    trip = _new_trip(ctx, data, department, utcnow())
    return TripCheck(
        trip, [(other, match) for other, match in await trips_met(uow, ctx, trip) if may_read_trip(principal, other)],
        [(visit, match) for visit, match in await delegations_met(uow, ctx, trip)
         if may_read_delegation(principal, visit)])


async def load_trip(uow: UnitOfWork, trip_id: str, principal: Principal, *, for_action: str | None = None) -> Trip:
    """The trip, if `principal` may read it (else a 404: its existence is not told), and may do
    `for_action` on it (else a 403)."""
    trip = await uow.session.get(Trip, trip_id, populate_existing=for_action is not None)
    if trip is None or not may_read_trip(principal, trip):
        raise Problem(404, f"trip {trip_id} not found")
    if for_action:
        POLICY.require(principal, for_action, trip.department)
    return trip


async def change_trip(uow: UnitOfWork, ctx: TravelContext, principal: Principal, trip_id: str,
                      patch: TripPatch) -> Trip:
    """Only the fields given change; a change that changes nothing is no event."""
    given = patch.model_fields_set
    for name in ("title", "purpose", "visibility", "status", "legs", "travellers"):
        if name in given and getattr(patch, name) is None:
            raise FieldError(name, "cannot be null")
    trip = await load_trip(uow, trip_id, principal, for_action="trip.change")
    if trip.status in ("cancelled", "completed"):
        raise Problem(409, f"trip {trip_id} is {trip.status}; it can no longer change")
    if patch.status == "cancelled":
        raise FieldError("status", f"cancel a trip with POST /travel/trips/{trip_id}/cancel")
    if patch.status is not None and not domain.may_move(trip.status, patch.status):
        raise FieldError("status", f"a {trip.status} trip cannot become {patch.status}", status=409)
    changed, places_before, before = [], where(trip.legs), trip_record(trip)
    if patch.legs is not None:
        resolved = resolve_legs(patch.legs, ctx.places)
        if [(leg.place_id, leg.start_date, leg.end_date) for leg in trip.legs] != \
                [(p.id, leg.start_date, leg.end_date) for leg, p in resolved]:
            changed.append("legs")
        trip.legs = _legs(trip.id, resolved)
    if patch.travellers is not None:
        trip.travellers = _travellers(trip.id, patch.travellers)
        changed.append("travellers")
    for name in ("title", "purpose", "status", "visibility", "estimated_cost", "currency"):
        if name in given and getattr(trip, name) != getattr(patch, name):
            setattr(trip, name, getattr(patch, name))
            changed.append(name)
    if not changed:
        return trip
    await take_turns(uow, ctx, places_before + where(trip.legs))
    now = trip.updated_at = utcnow()
    await uow.session.flush()
    uow.publish(TripUpdatedV1(**trip_fields(trip), changed=changed, updated_at=now), subject=f"trips/{trip.id}")
    uow.audit("trip", trip.id, "changed", before, trip_record(trip))
    await recheck_trip(uow, ctx, trip, now)
    await uow.commit()
    return trip


async def cancel_trip(uow: UnitOfWork, ctx: TravelContext, principal: Principal, trip_id: str) -> Trip:
    trip = await load_trip(uow, trip_id, principal, for_action="trip.cancel")
    if not domain.may_move(trip.status, "cancelled"):
        raise Problem(409, f"trip {trip_id} is {trip.status}; it cannot be cancelled")
    if trip.status == "cancelled":
        return trip  # cancelling twice is asking for what is already so
    await take_turns(uow, ctx, where(trip.legs))
    now = trip.updated_at = utcnow()
    uow.audit("trip", trip.id, "cancelled", {"status": trip.status}, {"status": "cancelled"})
    trip.status = "cancelled"
    uow.publish(TripCancelledV1(**trip_fields(trip), cancelled_at=now), subject=f"trips/{trip.id}")
    await recheck_trip(uow, ctx, trip, now, reason=f"trip {trip.id} was cancelled")
    await uow.commit()
    return trip


TRIP_ORDER = Keyset((col(Trip.created_at), col(Trip.id)))


async def list_trips(uow: UnitOfWork, principal: Principal, *, department: str | None, country: str | None,
                     city: str | None, status: TripStatus | None, purpose: Purpose | None, start: date | None,
                     end: date | None, limit: int, cursor: str | None) -> Page[Trip]:
    """A page of the trips `principal` may read, newest first."""
    query = where_given(select(Trip), {Trip.department: department, Trip.status: status, Trip.purpose: purpose})
    legs = where_given(select(Leg.trip_id), {Leg.country: country, Leg.place_name: city},
                       col(Leg.end_date) >= start if start else None, col(Leg.start_date) <= end if end else None)
    if legs.whereclause is not None:
        query = query.where(col(Trip.id).in_(legs))
    query = query.where(visible_trips(principal))
    trips = list((await uow.session.exec(TRIP_ORDER.page(query, cursor, limit))).all())
    return Page(trips, TRIP_ORDER.next_cursor(trips, limit))


async def busy(uow: UnitOfWork, principal: Principal, start: date, end: date) -> list[tuple[str, date, date]]:
    """The restricted trips `principal` may not read that meet [start, end], as their department and
    dates only (policy.py: where, what and who stay untold), soonest first."""
    POLICY.require(principal, "trip.read_busy")
    if end < start:
        raise FieldError("query.to", "must not be before `from`")
    if (end - start).days > 400:
        raise FieldError("query.to", "a window of at most 400 days")
    first, last = func.min(col(Leg.start_date)), func.max(col(Leg.end_date))
    rows = (await uow.session.exec(
        select(col(Trip.department), first, last).join(Leg, col(Leg.trip_id) == col(Trip.id))
        .where(col(Trip.visibility) == "restricted", col(Trip.status) != "cancelled", not_(visible_trips(principal)))
        .group_by(col(Trip.id), col(Trip.department))
        .having(first <= end, last >= start)
        .order_by(first, col(Trip.department)))).all()
    return [(department, since, until) for department, since, until in rows]


ANONYMISED = "anonymised "


async def anonymise_travellers(uow: UnitOfWork, cutoff: datetime, settings: Any) -> int:
    """Retention: the travellers of trips whose last leg ended before `cutoff` lose their email and
    role, and their name becomes a token that is the same for the same person within the trip's
    year only, so the council report still counts the year's travellers and distinct people
    (domain.summarise). Each trip's anonymising is in its audit trail. Returns the travellers changed."""
    years = (await uow.session.exec(
        select(col(Leg.trip_id), func.min(Leg.start_date)).group_by(col(Leg.trip_id))
        .having(func.max(Leg.end_date) < cutoff.date()))).all()
    year_of = {trip_id: first.year for trip_id, first in years}
    travellers = (await uow.session.exec(select(Traveller).where(
        col(Traveller.trip_id).in_(list(year_of)), not_(col(Traveller.name).startswith(ANONYMISED)),
        # Another replica's run at the same time skips what this one holds: each is anonymised and said once.
        not_(col(Traveller.name).startswith(ERASED))).with_for_update(skip_locked=True))).all() \
        if year_of else []
    named: dict[str, int] = {}
    for traveller in travellers:
        named[traveller.trip_id] = named.get(traveller.trip_id, 0) + 1
    for trip_id, count in sorted(named.items()):
        uow.audit("trip", trip_id, "anonymised", {"named_travellers": count}, {"named_travellers": 0})
    for traveller in travellers:
        person = (traveller.email or traveller.name).strip().casefold()
        token = hmac.new(settings.secret_key.encode(), f"{year_of[traveller.trip_id]}:{person}".encode(),
                         hashlib.sha256).hexdigest()[:12]
        traveller.name, traveller.email, traveller.role = ANONYMISED + token, None, None
    await uow.session.flush()
    return len(travellers)
