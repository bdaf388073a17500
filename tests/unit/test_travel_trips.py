"""Travel's trip use cases against the fake unit of work: rows written, events published on commit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import pytest
from sqlmodel import select

from services.travel.models import Leg, Overlap, Traveller, TravelTable, Trip
from services.travel.schemas import LegIn, TravellerIn, TripIn, TripPatch
from services.travel.service import TravelContext, overlaps, trips
from shared.auth import Principal
from shared.places import Gazetteer
from shared.problems import FieldError
from tests.support.fakes import FakeDatabase, fake_database

ECON, MAYOR = Principal("department", "ECON", "econ"), Principal("department", "MAYOR", "mayor")
COORDINATOR = Principal("coordinator", "OIA", "oia")
CONTEXT = TravelContext(places=Gazetteer(), radius_km=50)


@pytest.fixture
async def db() -> AsyncIterator[FakeDatabase]:
    async with fake_database(TravelTable.metadata, "travel") as database:
        yield database


def trip(title: str, city: str, country: str, start: str, end: str, **extra) -> TripIn:
    return TripIn(title=title, legs=[LegIn(city=city, country=country, start_date=date.fromisoformat(start),
                                          end_date=date.fromisoformat(end))], **extra)


async def book(db: FakeDatabase, department: str, data: TripIn) -> Trip:
    async with db.uow() as uow:
        return await trips.book_trip(uow, CONTEXT, data, department)


async def rows(db: FakeDatabase, table: type) -> list:
    async with db.uow() as uow:
        return list((await uow.session.exec(select(table))).all())


async def test_booking_writes_the_trip_its_legs_and_travellers_and_publishes_it(db):
    booked = await book(db, "ECON", trip("Trade fair", "Cologne", "DE", "2027-09-01", "2027-09-03",
                                         purpose="trade_fair", travellers=[TravellerIn(name="Anna Weber")]))

    [stored] = await rows(db, Trip)
    assert (stored.id, stored.department, stored.status, stored.purpose) == (booked.id, "ECON", "planned", "trade_fair")
    [leg] = await rows(db, Leg)
    assert (leg.trip_id, leg.city, leg.place_name, leg.country) == (booked.id, "Cologne", "Köln", "DE")
    assert leg.id == booked.legs[0].id is not None  # the database's id, on the trip handed back
    assert [t.name for t in await rows(db, Traveller)] == ["Anna Weber"]
    [event] = db.events("travel.trip.booked.v1")
    assert event["trip_id"] == booked.id and event["legs"][0]["place_name"] == "Köln"
    assert event["travellers"][0]["name"] == "Anna Weber"
    assert db.commits == 1


async def test_a_booking_refused_writes_nothing_and_publishes_nothing(db):
    with pytest.raises(FieldError) as refused:
        await book(db, "ECON", trip("Nowhere", "Atlantis", "GR", "2027-09-01", "2027-09-03"))
    assert refused.value.field == "legs[0].city"
    with pytest.raises(FieldError) as costly:
        await book(db, "ECON", trip("Priced", "Köln", "DE", "2027-09-01", "2027-09-03", estimated_cost=100))
    assert costly.value.field == "currency"
    assert await rows(db, Trip) == [] and db.published == [] and db.commits == 0


async def test_two_departments_at_one_place_and_time_publish_one_overlap(db):
    fair = await book(db, "ECON", trip("Trade fair", "Chongqing", "CN", "2027-05-10", "2027-05-15"))
    visit = await book(db, "MAYOR", trip("Partner-city visit", "Chongqing", "CN", "2027-05-12", "2027-05-18"))
    async with db.uow() as uow:  # a change that keeps them meeting says nothing new
        await trips.change_trip(uow, CONTEXT, MAYOR, visit.id, TripPatch(title="Partner-city visit (2)"))

    [detected] = db.events("travel.overlap.detected.v1")
    assert sorted(t["trip_id"] for t in detected["trips"]) == sorted([fair.id, visit.id])
    assert (detected["shared_start"], detected["shared_end"]) == ("2027-05-12", "2027-05-15")
    assert detected["restricted"] is False
    [overlap] = await rows(db, Overlap)
    assert overlap.id == detected["overlap_id"] and overlap.status == "open"


async def test_one_department_twice_at_one_place_is_no_overlap(db):
    await book(db, "ECON", trip("A", "Wrocław", "PL", "2027-05-12", "2027-05-15"))
    await book(db, "ECON", trip("B", "Breslau", "PL", "2027-05-12", "2027-05-15"))
    assert db.events("travel.overlap.detected.v1") == [] and await rows(db, Overlap) == []


async def test_cancelling_a_trip_resolves_its_overlap_once(db):
    await book(db, "ECON", trip("A", "Rotterdam", "NL", "2027-06-01", "2027-06-05"))
    b = await book(db, "MAYOR", trip("B", "Rotterdam", "NL", "2027-06-03", "2027-06-04"))
    for _ in range(2):  # cancelling twice is asking for what is already so
        async with db.uow() as uow:
            cancelled = await trips.cancel_trip(uow, CONTEXT, MAYOR, b.id)
    assert cancelled.status == "cancelled"

    [resolved] = db.events("travel.overlap.resolved.v1")
    assert b.id in resolved["trip_ids"] and resolved["reason"] == f"trip {b.id} was cancelled"
    assert resolved["departments"] == ["ECON", "MAYOR"]
    [overlap] = await rows(db, Overlap)
    assert overlap.status == "resolved" and overlap.resolved_at is not None
    assert len(db.events("travel.trip.cancelled.v1")) == 1


async def test_a_restricted_trip_still_overlaps_but_the_overlap_is_restricted(db):
    await book(db, "MAYOR", trip("Confidential talks", "Kyiv", "UA", "2027-04-01", "2027-04-03",
                                 visibility="restricted"))
    await book(db, "ECON", trip("Reconstruction conference", "Kiev", "UA", "2027-04-02", "2027-04-04"))

    [booked, _] = db.events("travel.trip.booked.v1")
    assert booked["visibility"] == "restricted"  # the event says so: consumers decide who hears
    [detected] = db.events("travel.overlap.detected.v1")
    assert detected["restricted"] is True
    async with db.uow() as uow:
        assert len((await overlaps.list_overlaps(uow, COORDINATOR, status=None, limit=10)).items) == 1
        assert (await overlaps.list_overlaps(uow, ECON, status=None, limit=10)).items == []
        assert len((await overlaps.list_overlaps(uow, MAYOR, status=None, limit=10)).items) == 1


async def test_a_change_moving_a_trip_away_resolves_and_a_status_may_not_go_back(db):
    await book(db, "ECON", trip("A", "Lyon", "FR", "2027-03-01", "2027-03-04"))
    b = await book(db, "MAYOR", trip("B", "Lyon", "FR", "2027-03-02", "2027-03-03", status="booked"))
    async with db.uow() as uow:
        moved = await trips.change_trip(uow, CONTEXT, MAYOR, b.id, TripPatch(
            legs=[LegIn(city="Lyon", country="FR", start_date=date(2027, 4, 2), end_date=date(2027, 4, 3))]))
    [updated] = db.events("travel.trip.updated.v1")
    assert updated["changed"] == ["legs"] and moved.legs[0].start_date == date(2027, 4, 2)
    assert len(db.events("travel.overlap.resolved.v1")) == 1

    with pytest.raises(FieldError) as back:
        async with db.uow() as uow:
            await trips.change_trip(uow, CONTEXT, MAYOR, b.id, TripPatch(status="planned"))
    assert back.value.status == 409
    assert len(db.events("travel.trip.updated.v1")) == 1


async def test_a_coordinators_mark_keeps_its_note_who_and_when_and_a_returning_overlap_starts_afresh(db):
    await book(db, "ECON", trip("A", "Lyon", "FR", "2027-03-01", "2027-03-04"))
    b = await book(db, "MAYOR", trip("B", "Lyon", "FR", "2027-03-02", "2027-03-03"))
    [overlap] = await rows(db, Overlap)
    async with db.uow() as uow:
        await overlaps.mark_overlap(uow, COORDINATOR, overlap.id, "coordinated", "Both meet the mayor on the 2nd")
    [marked] = await rows(db, Overlap)
    assert (marked.status, marked.triage_note) == ("coordinated", "Both meet the mayor on the 2nd")
    assert marked.triaged_by == "coordinator OIA (oia)" and marked.triaged_at is not None

    for start, end in (("2027-04-02", "2027-04-03"), ("2027-03-02", "2027-03-03")):  # away, and back
        async with db.uow() as uow:
            await trips.change_trip(uow, CONTEXT, MAYOR, b.id, TripPatch(legs=[LegIn(
                city="Lyon", country="FR", start_date=date.fromisoformat(start), end_date=date.fromisoformat(end))]))
    [returned] = await rows(db, Overlap)
    assert returned.status == "open"
    assert (returned.triage_note, returned.triaged_by, returned.triaged_at) == (None, None, None)


async def test_checking_a_trip_tells_what_booking_would_find_and_stores_nothing(db):
    fair = await book(db, "ECON", trip("Trade fair", "Chongqing", "CN", "2027-05-10", "2027-05-15"))
    await book(db, "CULT", trip("Confidential", "Chongqing", "CN", "2027-05-10", "2027-05-15", visibility="restricted"))
    published, commits = len(db.published), db.commits
    async with db.uow() as uow:
        found = await trips.check_trip(uow, CONTEXT, trip("Visit", "Chungking", "CN", "2027-05-12", "2027-05-18"),
                                       "MAYOR", MAYOR)
    [(other, match)] = found.overlaps  # CULT's restricted trip is not MAYOR's to hear of
    assert (other.trip_id, other.department) == (fair.id, "ECON")
    assert (match.leg_b.place_name, match.shared_start, match.shared_end) == (
        "Chongqing", date(2027, 5, 12), date(2027, 5, 15))
    assert found.crossings == []
    async with db.uow() as uow:  # a coordinator reads every trip: both
        everything = await trips.check_trip(uow, CONTEXT, trip("Visit", "Chongqing", "CN", "2027-05-12",
                                                               "2027-05-18"), "MAYOR", COORDINATOR)
    assert sorted(other.department for other, _ in everything.overlaps) == ["CULT", "ECON"]
    assert len(await rows(db, Trip)) == 2 and len(await rows(db, Overlap)) == 1
    assert (len(db.published), db.commits) == (published, commits)
