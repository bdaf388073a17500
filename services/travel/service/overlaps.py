"""After every change to a trip or a delegation: the overlaps (two departments at one place at one
time) and crossings (our trip to a place while a delegation from there visits us) it makes or ends.
The checks run in the changing unit of work, so a change and the alerts it causes commit together."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import Select, and_, bindparam, insert, or_, text, update
from sqlalchemy import select as select_rows  # Core: plain rows on the connection (sqlmodel's: objects)
from sqlmodel import col, select

from services.travel import domain
from services.travel.domain import CrossingStatus, OverlapMark, OverlapStatus
from services.travel.events import CrossingDetectedV1, OverlapDetectedV1, OverlapResolvedV1, OverlapTripV1
from services.travel.models import Crossing, Delegation, Leg, Overlap, Traveller, Trip, new_id
from services.travel.policy import POLICY, visible_crossings, visible_overlaps
from services.travel.service import TravelContext
from services.travel.service.payloads import delegation_v1, leg_v1, traveller_v1, trip_at
from shared.auth import Principal
from shared.db import table_of
from shared.listing import Keyset, Page, where_given
from shared.places import haversine_km
from shared.problems import Problem
from shared.uow import UnitOfWork, utcnow

# -- taking turns ---------------------------------------------------------------------------------

async def take_turns(uow: UnitOfWork, ctx: TravelContext, places: Iterable[tuple[float, float]]) -> None:
    """Two changes checked at once would not see each other. On PostgreSQL a change locks, until its
    transaction ends, every grid cell within the radius of the places it touches (before and after
    it): changes near each other take turns, changes far apart run side by side. Two places within
    the radius always share a lock, the cell of either; the cells are locked in one order, so two
    changes never wait on each other. SQLite has one writer at a time already."""
    connection = await uow.session.connection()
    if connection.dialect.name != "postgresql":
        return
    cells = sorted({cell for latitude, longitude in places
                    for cell in domain.cells_around(latitude, longitude, ctx.radius_km)})
    await connection.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('travel:cells'), cell) FROM unnest(CAST(:cells AS int[])) cell"),
        {"cells": cells})


def where(legs: Iterable[Leg]) -> list[tuple[float, float]]:
    """The places a trip's legs are at (what `take_turns` locks around)."""
    return [(leg.latitude, leg.longitude) for leg in legs]


# -- after a trip changed -------------------------------------------------------------------------

async def recheck_trip(uow: UnitOfWork, ctx: TravelContext, trip: Trip, now: datetime,
                       reason: str | None = None, *, new: bool = False) -> None:
    """After any change to a trip: its crossings and overlaps, as they are now. A `new` trip has
    none stored yet, which saves looking them up. The caller has taken its turn (take_turns)."""
    await _check_crossings(uow, ctx, trip, now, new=new)
    await _check_overlaps(uow, ctx, trip, now, reason, new=new)


async def _check_overlaps(uow: UnitOfWork, ctx: TravelContext, trip: Trip, now: datetime,
                          reason: str | None = None, *, new: bool = False) -> None:
    """The trip's overlaps with other departments' trips, as they are now."""
    connection = await uow.session.connection()
    table = table_of(Overlap)
    known = {} if new else {o.trip_b_id if o.trip_a_id == trip.id else o.trip_a_id: o for o in (
        await connection.execute(select_rows(table).where(
            or_(table.c.trip_a_id == trip.id, table.c.trip_b_id == trip.id)))).all()}
    found = {}
    for other, match in await trips_met(uow, ctx, trip):
        ours, theirs = (trip.id, match.leg_a.id), (other.trip_id, match.leg_b.id)
        first, second = sorted([ours, theirs])
        fields = dict(kind="trips", trip_a_id=first[0], trip_b_id=second[0], leg_a_id=first[1],
                      leg_b_id=second[1], place_name=match.leg_b.place_name, country=match.leg_b.country,
                      distance_km=match.distance_km, shared_start=match.shared_start,
                      shared_end=match.shared_end, restricted="restricted" in (trip.visibility, other.visibility))
        found[other.trip_id] = fields

    async def resolved(other_id: str, overlap: Any) -> OverlapResolvedV1:
        other_department = (await connection.execute(
            select_rows(table_of(Trip).c.department).where(table_of(Trip).c.id == other_id))).scalar_one()
        return OverlapResolvedV1(
            overlap_id=overlap.id, trip_ids=[overlap.trip_a_id, overlap.trip_b_id],
            departments=sorted({trip.department, other_department}), restricted=overlap.restricted,
            reason=reason or f"trip {trip.id} changed and no longer meets trip {other_id}", resolved_at=now)

    await _reconcile(uow, known, found, lambda overlaps: _trips_detected(connection, trip, overlaps), resolved, now)


async def trips_met(uow: UnitOfWork, ctx: TravelContext, trip: Trip) -> list[tuple[Candidate, domain.LegMatch]]:
    """The other departments' trips this trip overlaps, each with its closest meeting (none for a
    trip no longer active). Reads only: the trip need not be stored."""
    if trip.status not in domain.ACTIVE:
        return []
    met = []
    for other in await candidate_trips(uow.session, trip, ctx.radius_km):
        match = domain.best_match(trip.legs, other.legs, ctx.radius_km)
        if match is not None:
            met.append((other, match))
    return met


@dataclass(frozen=True)
class Candidate:
    """Another department's trip with legs near ours on shared dates: only what the check needs."""

    trip_id: str
    department: str
    visibility: str
    legs: list[Any]  # rows with domain.LegLike's fields


async def candidate_trips(session, trip: Trip, radius_km: float) -> list[Candidate]:
    """Other departments' active trips with a leg near one of this trip's legs on shared dates.

    One indexed query: for each leg of ours, (cell, start_date) reads only the cells around the place
    and a bounded window of start dates, so the cost does not grow with history. Plain rows, no
    objects: most candidates are compared and dropped."""
    rows = await (await session.connection()).execute(_candidates_query(len(trip.legs)), {
        **_near_legs(trip.legs, radius_km), "department": trip.department, "trip_id": trip.id})
    found: dict[str, Candidate] = {}
    for row in rows.all():
        candidate = found.setdefault(row.trip_id, Candidate(row.trip_id, row.department, row.visibility, []))
        if all(known.id != row.id for known in candidate.legs):
            candidate.legs.append(row)
    return list(found.values())


@lru_cache(maxsize=32)
def _candidates_query(leg_count: int) -> Select:
    """The legs near ours first, by their index, and only then their trips. Left to choose, the
    planner of a table not yet analysed (a new deployment, the minute after a bulk load) started
    from the trips by status and read every active trip's legs: 4 ms instead of 0.15 ms a check,
    under the cells' lock. MATERIALIZED keeps the order whatever the statistics say."""
    table = table_of(Leg)
    near = (select_rows(table.c.id, table.c.trip_id, table.c.latitude, table.c.longitude, table.c.start_date,
                        table.c.end_date, table.c.place_name, table.c.country)
            .where(_near_any_leg(table.c.cell, table.c.start_date, table.c.end_date, leg_count))
            .cte("near").prefix_with("MATERIALIZED"))
    trips = table_of(Trip).c
    return (select_rows(near.c.id, near.c.trip_id, near.c.latitude, near.c.longitude, near.c.start_date,
                        near.c.end_date, near.c.place_name, near.c.country, trips.department, trips.visibility)
            .join_from(near, table_of(Trip), trips.id == near.c.trip_id)
            .where(trips.department != bindparam("department"), trips.status.in_(domain.ACTIVE),
                   trips.id != bindparam("trip_id")))


# The two queries above and below are built once per number of legs (building one for every check
# cost more than running it); a check binds its legs' values.

def _near_any_leg(cell, start, end, leg_count: int):
    """Rows placed in `cell` from `start` to `end` near one of `leg_count` legs on shared dates.
    A row starting more than MAX_LEG_DAYS before a leg cannot reach it: (cell, start) stays indexed."""
    return or_(*(and_(cell.in_(bindparam(f"cells_{i}", expanding=True)),
                      start.between(bindparam(f"earliest_{i}"), bindparam(f"end_{i}")),
                      end >= bindparam(f"start_{i}")) for i in range(leg_count)))


def _near_legs(legs: list[Any], radius_km: float) -> dict[str, Any]:
    """The values `_near_any_leg` binds for these legs."""
    values: dict[str, Any] = {}
    for i, leg in enumerate(legs):
        values.update({f"cells_{i}": domain.cells_around(leg.latitude, leg.longitude, radius_km),
                       f"earliest_{i}": leg.start_date - timedelta(days=domain.MAX_LEG_DAYS),
                       f"start_{i}": leg.start_date, f"end_{i}": leg.end_date})
    return values


async def _trips_detected(connection, trip: Trip, overlaps: list[dict[str, Any]]) -> list[OverlapDetectedV1]:
    """The alerts' content: both trips whole. Ours is at hand; the others are read now, together
    (two queries, however many overlaps: most checks find none)."""
    ours = {leg.id: leg for leg in trip.legs}
    theirs = [(o["trip_b_id"], o["leg_b_id"]) if o["trip_a_id"] == trip.id else (o["trip_a_id"], o["leg_a_id"])
              for o in overlaps]
    legs, trips, travellers = table_of(Leg), table_of(Trip), table_of(Traveller)
    other_legs = {row.id: row for row in (await connection.execute(
        select_rows(legs, trips.c.department, trips.c.title, trips.c.purpose, trips.c.visibility)
        .join_from(legs, trips, trips.c.id == legs.c.trip_id)
        .where(legs.c.id.in_([leg_id for _, leg_id in theirs])))).all()}
    people: dict[str, list[Any]] = {}
    for person in (await connection.execute(select_rows(travellers).where(
            travellers.c.trip_id.in_({trip_id for trip_id, _ in theirs})).order_by(travellers.c.position))).all():
        people.setdefault(person.trip_id, []).append(person)

    def side(trip_id: str, leg_id: int) -> OverlapTripV1:
        if trip_id == trip.id:
            return trip_at(trip, ours[leg_id])
        other = other_legs[leg_id]
        return OverlapTripV1(trip_id=trip_id, department=other.department, title=other.title,
                             purpose=other.purpose, visibility=other.visibility,
                             travellers=[traveller_v1(x) for x in people.get(trip_id, [])], leg=leg_v1(other))

    return [OverlapDetectedV1(
        overlap_id=o["id"], place_name=o["place_name"], country=o["country"], distance_km=o["distance_km"],
        shared_start=o["shared_start"], shared_end=o["shared_end"], restricted=o["restricted"],
        detected_at=o["detected_at"],
        trips=[side(o["trip_a_id"], o["leg_a_id"]), side(o["trip_b_id"], o["leg_b_id"])]) for o in overlaps]


async def _check_crossings(uow: UnitOfWork, ctx: TravelContext, trip: Trip, now: datetime, *,
                           new: bool = False) -> None:
    """After a trip changed: record new crossings, and quietly close those that no longer hold."""
    met = await delegations_met(uow, ctx, trip)
    for delegation, match in met:
        await _record_crossing(uow, trip, delegation, match, now)
    if new:
        return
    still = {d.id for d, _ in met}
    for crossing in (await uow.session.exec(select(Crossing).where(
            Crossing.trip_id == trip.id, Crossing.status == "open"))).all():
        if crossing.delegation_id not in still:
            crossing.status, crossing.resolved_at = "resolved", now


async def delegations_met(uow: UnitOfWork, ctx: TravelContext, trip: Trip) -> list[tuple[Any, CrossingMatch]]:
    """The announced delegations (rows) this trip crosses, each with where and when (none for a trip
    no longer active). Reads only: the trip need not be stored."""
    if trip.status not in domain.ACTIVE:
        return []
    visiting = await _delegations_visiting(uow.session, trip, ctx.radius_km)
    return [(d, match) for d in visiting if (match := _crossing_match(trip, d, ctx.radius_km))]


async def _delegations_visiting(session, trip: Trip, radius_km: float) -> list[Any]:
    """Announced delegations from near one of the trip's destinations, here while the trip is there
    (plain rows: a booking usually finds none)."""
    rows = await (await session.connection()).execute(_visiting_query(len(trip.legs)),
                                                      _near_legs(trip.legs, radius_km))
    return list({d.id: d for d in rows.all()}.values())


@lru_cache(maxsize=32)
def _visiting_query(leg_count: int) -> Select:
    table = table_of(Delegation)
    return select_rows(table).where(table.c.status == "announced", _near_any_leg(
        table.c.origin_cell, table.c.arrival, table.c.departure, leg_count))


# -- after a delegation changed -------------------------------------------------------------------

async def recheck_delegation(uow: UnitOfWork, ctx: TravelContext, delegation: Delegation, now: datetime,
                             reason: str | None = None) -> None:
    """After any change to a delegation: the trips it crosses and the delegations it overlaps."""
    await uow.session.flush()
    crossing_trips = await _trips_in(uow.session, delegation, ctx.radius_km) if delegation.status == "announced" else []
    met = [(trip, match) for trip in crossing_trips if (match := _crossing_match(trip, delegation, ctx.radius_km))]
    for trip, match in met:
        await _record_crossing(uow, trip, delegation, match, now)
    still = {trip.id for trip, _ in met}
    for crossing in (await uow.session.exec(select(Crossing).where(
            Crossing.delegation_id == delegation.id, Crossing.status == "open"))).all():
        if crossing.trip_id not in still:
            crossing.status, crossing.resolved_at = "resolved", now
    await _check_delegation_overlaps(uow, ctx, delegation, now, reason)


async def _trips_in(session, delegation: Delegation, radius_km: float) -> list[Trip]:
    """Active trips with a leg near the delegation's origin while it is here."""
    rows = await session.exec(
        select(Leg.trip_id).join(Trip, col(Trip.id) == Leg.trip_id).where(
            col(Leg.cell).in_(domain.cells_around(delegation.origin_latitude, delegation.origin_longitude, radius_km)),
            col(Leg.start_date).between(delegation.arrival - timedelta(days=domain.MAX_LEG_DAYS),
                                        delegation.departure),
            Leg.end_date >= delegation.arrival, col(Trip.status).in_(domain.ACTIVE)))
    ids = set(rows.all())
    if not ids:
        return []
    return list((await session.exec(select(Trip).where(col(Trip.id).in_(ids)))).all())


async def _check_delegation_overlaps(uow: UnitOfWork, ctx: TravelContext, delegation: Delegation, now: datetime,
                                     reason: str | None = None) -> None:
    """Two departments hosting delegations from one place at one time: an overlap too."""
    session = uow.session
    connection = await session.connection()
    table = table_of(Overlap)
    known = {o.delegation_b_id if o.delegation_a_id == delegation.id else o.delegation_a_id: o
             for o in (await connection.execute(select_rows(table).where(or_(
                 table.c.delegation_a_id == delegation.id, table.c.delegation_b_id == delegation.id)))).all()}
    found, parties = {}, {delegation.id: delegation}
    if delegation.status == "announced":
        others = (await session.exec(select(Delegation).where(
            col(Delegation.origin_cell).in_(domain.cells_around(
                delegation.origin_latitude, delegation.origin_longitude, ctx.radius_km)),
            col(Delegation.arrival).between(delegation.arrival - timedelta(days=domain.MAX_LEG_DAYS),
                                            delegation.departure),
            Delegation.departure >= delegation.arrival, Delegation.status == "announced",
            Delegation.host_department != delegation.host_department, Delegation.id != delegation.id))).all()
        for other in others:
            distance = haversine_km(delegation.origin_latitude, delegation.origin_longitude,
                                    other.origin_latitude, other.origin_longitude)
            if distance > ctx.radius_km:
                continue
            first, second = sorted([delegation, other], key=lambda d: d.id)
            fields = dict(kind="delegations", delegation_a_id=first.id, delegation_b_id=second.id,
                          place_name=other.origin_place_name, country=other.origin_country,
                          distance_km=round(distance, 1), shared_start=max(first.arrival, second.arrival),
                          shared_end=min(first.departure, second.departure), restricted=False)
            found[other.id], parties[other.id] = fields, other

    async def resolved(other_id: str, overlap: Any) -> OverlapResolvedV1:
        other = await session.get(Delegation, other_id)
        if other is None:  # delegations are cancelled, never deleted
            raise RuntimeError(f"delegation {other_id}, party to overlap {overlap.id}, is missing")
        return OverlapResolvedV1(
            overlap_id=overlap.id, kind="delegations", trip_ids=[],
            delegation_ids=[overlap.delegation_a_id, overlap.delegation_b_id],
            departments=sorted({delegation.host_department, other.host_department}), restricted=False,
            reason=reason or f"delegation {delegation.id} changed and no longer meets delegation {other_id}",
            resolved_at=now)

    async def detected(overlaps: list[dict[str, Any]]) -> list[OverlapDetectedV1]:
        return [OverlapDetectedV1(
            overlap_id=o["id"], kind="delegations", place_name=o["place_name"], country=o["country"],
            distance_km=o["distance_km"], shared_start=o["shared_start"], shared_end=o["shared_end"],
            restricted=False, trips=[], detected_at=o["detected_at"],
            delegations=[delegation_v1(parties[o["delegation_a_id"]]),
                         delegation_v1(parties[o["delegation_b_id"]])]) for o in overlaps]

    await _reconcile(uow, known, found, detected, resolved, now)


# -- crossings --------------------------------------------------------------------------------------

class CrossingMatch(NamedTuple):
    """Why a trip crosses a delegation: its leg at the delegation's origin, and the dates they share."""

    leg: Leg
    shared_start: date
    shared_end: date
    distance_km: float


def _crossing_match(trip: Trip, delegation: Any, radius_km: float) -> CrossingMatch | None:
    """The trip's first leg at the delegation's origin while it is here (a Delegation or a row of one)."""
    for leg in trip.legs:
        start, end = max(leg.start_date, delegation.arrival), min(leg.end_date, delegation.departure)
        if start > end:
            continue
        distance = haversine_km(leg.latitude, leg.longitude, delegation.origin_latitude, delegation.origin_longitude)
        if distance <= radius_km:
            return CrossingMatch(leg, start, end, round(distance, 1))
    return None


async def _record_crossing(uow: UnitOfWork, trip: Trip, delegation: Any, match: CrossingMatch,
                           now: datetime) -> None:
    leg, start, end, _ = match
    crossing = (await uow.session.exec(select(Crossing).where(
        Crossing.trip_id == trip.id, Crossing.delegation_id == delegation.id))).first()
    if leg.id is None:
        raise RuntimeError(f"trip {trip.id}'s leg at {leg.place_name} is not stored yet")
    fields = dict(leg_id=leg.id, place_name=leg.place_name, shared_start=start, shared_end=end)
    if crossing is not None and crossing.status == "open":
        crossing.sqlmodel_update(fields)
        return
    if crossing is None:
        crossing = Crossing(trip_id=trip.id, delegation_id=delegation.id, detected_at=now, leg_id=leg.id,
                            place_name=leg.place_name, shared_start=start, shared_end=end)
        uow.session.add(crossing)
    else:
        crossing.sqlmodel_update({**fields, "status": "open", "detected_at": now, "resolved_at": None})
    await uow.session.flush()
    uow.publish(CrossingDetectedV1(
        crossing_id=crossing.id, place_name=leg.place_name, shared_start=start, shared_end=end,
        trip=trip_at(trip, leg), delegation=delegation_v1(delegation), detected_at=now),
        subject=f"crossings/{crossing.id}")


# -- stored against found ---------------------------------------------------------------------------

async def _reconcile(uow: UnitOfWork, known: dict[str, Any], found: dict[str, dict[str, Any]],
                     detected: Callable[[list[dict[str, Any]]], Awaitable[list[OverlapDetectedV1]]],
                     resolved: Callable[[str, Any], Awaitable[OverlapResolvedV1]], now: datetime) -> None:
    """Stored overlaps (rows, by the other party's id) against those found now (their fields): a new
    or returning one is detected (an event), a lasting one is updated silently, a vanished one is
    resolved (an event). New ones are written, and their alerts' content read, in one go."""
    connection = await uow.session.connection()
    table = table_of(Overlap)
    new, appearing = [], []
    for other_id, wanted in found.items():
        overlap = known.get(other_id)
        if overlap is None:
            values = {**wanted, "id": new_id(), "status": "open", "detected_at": now, "updated_at": now,
                      "resolved_at": None}
            new.append(values)
        elif overlap.status == "resolved":  # returning: a new overlap to triage, the old marks gone
            values = {**wanted, "id": overlap.id, "status": "open", "detected_at": now, "updated_at": now,
                      "resolved_at": None, "triage_note": None, "triaged_by": None, "triaged_at": None}
            await connection.execute(update(table).where(table.c.id == overlap.id).values(values))
        else:
            if any(getattr(overlap, name) != value for name, value in wanted.items()):
                await connection.execute(update(table).where(table.c.id == overlap.id).values(
                    {**wanted, "updated_at": now}))
            continue
        appearing.append(values)
    if new:
        await connection.execute(insert(table), new)
    for values in appearing:  # the system's doing, on behalf of the change that caused it
        uow.audit("overlap", values["id"], "detected", None, {"status": "open", "place": values["place_name"],
                                                              "from": values["shared_start"],
                                                              "to": values["shared_end"]})
    if appearing:
        for event in await detected(appearing):
            uow.publish(event, subject=f"overlaps/{event.overlap_id}")
    for other_id, overlap in known.items():
        if other_id in found or overlap.status == "resolved":
            continue
        await connection.execute(update(table).where(table.c.id == overlap.id).values(
            status="resolved", resolved_at=now, updated_at=now))
        uow.audit("overlap", overlap.id, "resolved", {"status": overlap.status}, {"status": "resolved"})
        uow.publish(await resolved(other_id, overlap), subject=f"overlaps/{overlap.id}")


# -- coordinators' marks and reads ------------------------------------------------------------------

async def mark_overlap(uow: UnitOfWork, principal: Principal, overlap_id: str, status: OverlapMark,
                       note: str | None = None) -> Overlap:
    """A coordinator's triage: the mark, with its note, who gave it and when (each mark replaces the last)."""
    overlap = (await uow.session.exec(select(Overlap).where(Overlap.id == overlap_id,
                                                            visible_overlaps(principal)))).first()
    if overlap is None:
        raise Problem(404, f"overlap {overlap_id} not found")
    parties = await overlap_departments(uow, overlap)
    if not any(POLICY.allows(principal, "overlap.mark", department) for department in parties):
        raise Problem(403, POLICY.refusal(principal, "overlap.mark", parties[0] if parties else None))
    if overlap.status == "resolved":
        raise Problem(409, f"overlap {overlap_id} is resolved: the trips no longer meet")
    now = utcnow()
    uow.audit("overlap", overlap.id, "marked", {"status": overlap.status, "triage_note": overlap.triage_note},
           {"status": status, "triage_note": note})
    overlap.status, overlap.updated_at = status, now
    overlap.triage_note, overlap.triaged_by, overlap.triaged_at = note, principal.who, now
    await uow.commit()
    return overlap


async def overlap_departments(uow: UnitOfWork, overlap: Overlap) -> list[str]:
    """The departments whose trips or delegations an overlap is between."""
    trips = [t for t in (overlap.trip_a_id, overlap.trip_b_id) if t]
    delegations = [d for d in (overlap.delegation_a_id, overlap.delegation_b_id) if d]
    found: set[str] = set()
    if trips:
        found = set((await uow.session.exec(select(Trip.department).where(col(Trip.id).in_(trips)))).all())
    if delegations:
        found |= set((await uow.session.exec(select(Delegation.host_department).where(
            col(Delegation.id).in_(delegations)))).all())
    return sorted(found)


OVERLAP_ORDER = Keyset((col(Overlap.detected_at), col(Overlap.id)))
CROSSING_ORDER = Keyset((col(Crossing.detected_at), col(Crossing.id)))


async def departments_of(uow: UnitOfWork, found: Iterable[Overlap]) -> dict[str, str]:
    """By id, the department of every trip and the host department of every delegation these
    overlaps are between (one query each, for a whole page)."""
    found = list(found)
    trips = {t for o in found for t in (o.trip_a_id, o.trip_b_id) if t}
    delegations = {d for o in found for d in (o.delegation_a_id, o.delegation_b_id) if d}
    departments: dict[str, str] = {}
    if trips:
        departments.update((await uow.session.exec(
            select(Trip.id, Trip.department).where(col(Trip.id).in_(trips)))).all())
    if delegations:
        departments.update((await uow.session.exec(
            select(Delegation.id, Delegation.host_department).where(col(Delegation.id).in_(delegations)))).all())
    return departments


async def list_overlaps(uow: UnitOfWork, principal: Principal, *, status: OverlapStatus | None,
                        limit: int, cursor: str | None = None) -> Page[Overlap]:
    """A page of the overlaps `principal` may read, latest detected first."""
    query = where_given(select(Overlap).where(visible_overlaps(principal)), {Overlap.status: status})
    found = list((await uow.session.exec(OVERLAP_ORDER.page(query, cursor, limit))).all())
    return Page(found, OVERLAP_ORDER.next_cursor(found, limit))


async def list_crossings(uow: UnitOfWork, principal: Principal, *, status: CrossingStatus | None,
                         limit: int, cursor: str | None = None) -> Page[Crossing]:
    """A page of the crossings `principal` may read, latest detected first."""
    query = where_given(select(Crossing).where(visible_crossings(principal)), {Crossing.status: status})
    found = list((await uow.session.exec(CROSSING_ORDER.page(query, cursor, limit))).all())
    return Page(found, CROSSING_ORDER.next_cursor(found, limit))
