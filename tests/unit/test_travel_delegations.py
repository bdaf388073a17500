"""Travel's delegation use cases against the fake unit of work: announcing, crossings, delegation overlaps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import pytest
from sqlmodel import select

from services.travel.models import Crossing, Delegation, Overlap, TravelTable
from services.travel.schemas import DelegationIn, DelegationPatch, LegIn, TripIn
from services.travel.service import TravelContext, delegations, trips
from shared.auth import Principal
from shared.places import Gazetteer
from shared.problems import FieldError
from tests.support.fakes import FakeDatabase, fake_database

MAYOR, CULT = Principal("department", "MAYOR", "mayor"), Principal("department", "CULT", "cult")
CONTEXT = TravelContext(places=Gazetteer(), radius_km=50)
KATOWICE = DelegationIn(origin_city="Kattowitz", origin_country="PL", organisation="City of Katowice", visitors=12,
                        arrival=date(2027, 6, 2), departure=date(2027, 6, 5), official_guest=True)


@pytest.fixture
async def db() -> AsyncIterator[FakeDatabase]:
    async with fake_database(TravelTable.metadata, "travel") as database:
        yield database


async def announce(db: FakeDatabase, host: str, data: DelegationIn = KATOWICE) -> Delegation:
    async with db.uow() as uow:
        return await delegations.announce_delegation(uow, CONTEXT, data, host)


async def rows(db: FakeDatabase, table: type) -> list:
    async with db.uow() as uow:
        return list((await uow.session.exec(select(table))).all())


async def test_announcing_a_delegation_stores_its_resolved_origin_and_publishes_it(db):
    delegation = await announce(db, "MAYOR")

    [stored] = await rows(db, Delegation)
    assert (stored.id, stored.host_department, stored.status) == (delegation.id, "MAYOR", "announced")
    assert (stored.origin_city, stored.origin_place_name, stored.origin_country) == ("Kattowitz", "Katowice", "PL")
    [announced] = db.events("travel.delegation.announced.v1")
    assert announced["delegation_id"] == delegation.id
    assert announced["visitors"] == 12 and announced["official_guest"] is True
    assert abs(announced["origin_latitude"] - 50.26) < 0.05
    assert db.commits == 1


async def test_our_trip_there_while_they_are_here_is_one_crossing(db):
    delegation = await announce(db, "MAYOR")
    async with db.uow() as uow:
        away = await trips.book_trip(uow, CONTEXT, TripIn(title="Trade mission", legs=[
            LegIn(city="Katowice", country="PL", start_date=date(2027, 6, 4), end_date=date(2027, 6, 8))]), "ECON")

    [crossing] = db.events("travel.crossing.detected.v1")
    assert crossing["trip"]["trip_id"] == away.id and crossing["delegation"]["delegation_id"] == delegation.id
    assert (crossing["shared_start"], crossing["shared_end"]) == ("2027-06-04", "2027-06-05")
    [stored] = await rows(db, Crossing)
    assert stored.id == crossing["crossing_id"] and stored.status == "open"


async def test_two_departments_hosting_from_one_place_overlap_until_one_cancels(db):
    first = await announce(db, "MAYOR")
    second = await announce(db, "CULT", KATOWICE.model_copy(update={"arrival": date(2027, 6, 4),
                                                                     "departure": date(2027, 6, 9)}))
    [detected] = db.events("travel.overlap.detected.v1")
    assert detected["kind"] == "delegations" and detected["trips"] == []
    assert sorted(d["delegation_id"] for d in detected["delegations"]) == sorted([first.id, second.id])
    assert (detected["shared_start"], detected["shared_end"]) == ("2027-06-04", "2027-06-05")

    async with db.uow() as uow:
        await delegations.cancel_delegation(uow, CONTEXT, CULT, second.id)
    [resolved] = db.events("travel.overlap.resolved.v1")
    assert resolved["kind"] == "delegations" and resolved["departments"] == ["CULT", "MAYOR"]
    [overlap] = await rows(db, Overlap)
    assert overlap.status == "resolved"


async def test_a_change_names_what_changed_and_an_origin_is_given_whole(db):
    delegation = await announce(db, "MAYOR")
    async with db.uow() as uow:
        await delegations.change_delegation(uow, CONTEXT, MAYOR, delegation.id, DelegationPatch(visitors=14))
    [updated] = db.events("travel.delegation.updated.v1")
    assert updated["changed"] == ["visitors"] and updated["visitors"] == 14

    with pytest.raises(FieldError) as half:
        async with db.uow() as uow:
            await delegations.change_delegation(uow, CONTEXT, MAYOR, delegation.id,
                                                DelegationPatch(origin_city="Kraków"))
    assert half.value.field == "origin_country"
    assert len(db.events("travel.delegation.updated.v1")) == 1
