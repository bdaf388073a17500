"""Travel's events through partners' handlers: a trip to (or a delegation from) a partner city is a
contact of that partnership and `partners.visit.planned.v1` news for its desk officer — once, however
often the event is delivered."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import select

from services.partners import handlers
from services.partners.events import DelegationAnnounced, TripBooked
from services.partners.models import Contact, Partnership, PartnersTable
from services.partners.schemas import PartnershipIn
from services.partners.service import PartnersContext, partnerships
from shared.envelope import Envelope
from shared.places import Gazetteer
from tests.support.fakes import fake_database

places = Gazetteer()
CTX = PartnersContext(places=places, home=places.resolve("Frankfurt am Main", "DE"))
KRAKOW = 3094802
VISIT = "partners.visit.planned.v1"
START = date.today() + timedelta(days=30)


def trip(visibility: str = "normal", trip_id: str = "t-1") -> Envelope:
    leg = {"city": "Krakau", "country": "PL", "start_date": START.isoformat(),
           "end_date": (START + timedelta(days=2)).isoformat(), "place_id": KRAKOW, "place_name": "Kraków",
           "latitude": 50.06, "longitude": 19.94, "timezone": "Europe/Warsaw"}
    return Envelope(type="travel.trip.booked.v1", source="/travel", data={
        "trip_id": trip_id, "department": "ECON", "title": "Trade mission", "purpose": "trade_fair",
        "status": "planned", "visibility": visibility, "estimated_cost": None, "currency": None, "travellers": [],
        "booked_at": "2027-03-01T09:00:00+00:00",
        "legs": [leg, {**leg, "start_date": (START + timedelta(days=5)).isoformat(),
                       "end_date": (START + timedelta(days=6)).isoformat()}]})  # back to Kraków: one contact


@pytest.fixture
async def db():
    async with fake_database(PartnersTable.metadata, "partners") as database:
        async with database.uow() as uow:
            await partnerships.create_partnership(uow, CTX, PartnershipIn(
                partner_city="Kraków", partner_country="PL", formalised_on=date(1991, 5, 20),
                last_contact_on=date(2020, 1, 1), desk_officer_name="Eva Nowak",
                desk_officer_email="eva.nowak@city.example"))
        yield database


async def deliver(db, envelope: Envelope) -> None:
    event = TripBooked.model_validate(envelope.data)
    async with db.uow() as uow:
        await handlers.trip_booked(event, envelope, uow, CTX)
        await uow.commit()  # the consumer's commit


async def rows(db) -> tuple[list[Contact], Partnership]:
    async with db.uow() as uow:
        return (list((await uow.session.exec(select(Contact))).all()),
                (await uow.session.exec(select(Partnership))).one())


async def test_a_trip_to_a_partner_city_is_a_contact_and_visit_planned_once(db):
    booked = trip()
    await deliver(db, booked)
    await deliver(db, booked)  # redelivered

    contacts, partnership = await rows(db)
    assert [(c.kind, c.title, c.department, c.on, c.source, c.restricted) for c in contacts] == [
        ("trip", "Trade mission", "ECON", START, "travel:trip/t-1", False)]
    assert partnership.last_contact_on == START
    [visit] = db.events(VISIT)
    assert (visit["partnership_id"], visit["by_department"], visit["kind"], visit["start_date"]) == (
        partnership.id, "ECON", "trip", START.isoformat())
    assert visit["desk_officer"] == {"name": "Eva Nowak", "email": "eva.nowak@city.example"}


async def test_a_restricted_trip_is_a_restricted_contact_that_leaves_the_last_contact_alone(db):
    await deliver(db, trip(visibility="restricted"))

    [contact], partnership = await rows(db)
    assert (contact.title, contact.restricted) == ("A restricted trip", True)
    assert partnership.last_contact_on == date(2020, 1, 1)
    [visit] = db.events(VISIT)
    assert (visit["title"], visit["restricted"]) == ("A restricted trip", True)


async def test_a_delegation_from_a_partner_city_is_a_contact_too(db):
    envelope = Envelope(type="travel.delegation.announced.v1", source="/travel", data={
        "delegation_id": "d-1", "host_department": "CULT", "origin_country": "PL", "origin_place_id": KRAKOW,
        "origin_place_name": "Kraków", "organisation": "City Hall", "arrival": START.isoformat(),
        "departure": (START + timedelta(days=1)).isoformat()})
    async with db.uow() as uow:
        await handlers.delegation_announced(DelegationAnnounced.model_validate(envelope.data), envelope, uow, CTX)
        await uow.commit()

    [contact], _ = await rows(db)
    assert (contact.kind, contact.title, contact.department) == (
        "delegation", "Delegation from Kraków (City Hall)", "CULT")
    assert [v["kind"] for v in db.events(VISIT)] == ["delegation"]


async def test_a_trip_elsewhere_is_nobodys_contact(db):
    elsewhere = trip()
    for leg in elsewhere.data["legs"]:
        leg.update(place_id=2988507, place_name="Paris", country="FR")
    await deliver(db, elsewhere)

    contacts, _ = await rows(db)
    assert contacts == [] and db.events(VISIT) == []
