"""Partnerships through the service layer: recorded, refused, changed, and a logged contact moving
the last contact forward — rows written, events committed (none: a partnership's creation is not
news on the bus)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import select

from services.partners.models import Contact, Partnership, PartnersTable
from services.partners.schemas import ContactIn, PartnershipIn, PartnershipPatch
from services.partners.service import PartnersContext, partnerships
from shared.places import Gazetteer
from shared.problems import FieldError
from tests.support.fakes import fake_database

places = Gazetteer()
CTX = PartnersContext(places=places, home=places.resolve("Frankfurt am Main", "DE"))
KRAKOW = 3094802


@pytest.fixture
async def db():
    async with fake_database(PartnersTable.metadata, "partners") as database:
        yield database


def krakow(**fields) -> PartnershipIn:
    return PartnershipIn(**{"partner_city": "Krakau", "partner_country": "PL", "formalised_on": date(1991, 5, 20),
                            "last_contact_on": date(2020, 1, 1), **fields})


async def stored(db) -> list[Partnership]:
    async with db.uow() as uow:
        return list((await uow.session.exec(select(Partnership))).all())


async def test_a_partnership_is_recorded_with_both_cities_resolved(db):
    async with db.uow() as uow:
        created = await partnerships.create_partnership(uow, CTX, krakow(themes=["culture"]))

    [row] = await stored(db)
    assert row.id == created.id
    assert (row.home_city, row.home_country, row.partner_city, row.partner_country, row.partner_place_id) == (
        "Frankfurt am Main", "DE", "Kraków", "PL", KRAKOW)
    assert (row.kind, row.status, row.themes, row.last_contact_on) == ("twin", "active", ["culture"], date(2020, 1, 1))
    assert db.commits == 1 and db.published == []


@pytest.mark.parametrize("data, field", [
    (lambda: krakow(partner_city="Frankfurt", partner_country="DE"), "partner_city"),
    (lambda: krakow(kind="time_limited"), "ends_on"),
    (lambda: krakow(status="ended"), "status_reason"),
    (lambda: krakow(ideal_contact_days=400, max_contact_days=300), "max_contact_days"),
    (lambda: krakow(formalised_on=date(2199, 1, 1)), "formalised_on"),
])
async def test_a_partnership_breaking_a_rule_is_refused_naming_the_field_and_nothing_is_stored(db, data, field):
    with pytest.raises(FieldError) as refused:
        async with db.uow() as uow:
            await partnerships.create_partnership(uow, CTX, data())
    assert refused.value.field == field
    assert await stored(db) == [] and db.commits == 0


async def test_the_same_pair_again_is_a_409_naming_the_first(db):
    async with db.uow() as uow:
        first = await partnerships.create_partnership(uow, CTX, krakow())
    with pytest.raises(FieldError) as refused:
        async with db.uow() as uow:
            await partnerships.create_partnership(uow, CTX, krakow(partner_city="Kraków"))
    assert refused.value.status == 409 and first.id in str(refused.value)
    assert [p.id for p in await stored(db)] == [first.id]


async def test_a_change_is_checked_against_the_whole_partnership(db):
    async with db.uow() as uow:
        created = await partnerships.create_partnership(uow, CTX, krakow())
    with pytest.raises(FieldError):
        async with db.uow() as uow:
            await partnerships.update_partnership(uow, CTX, created.id, PartnershipPatch(status="suspended"))
    async with db.uow() as uow:
        await partnerships.update_partnership(uow, CTX, created.id,
                                              PartnershipPatch(status="suspended", status_reason="council decision"))
    [row] = await stored(db)
    assert (row.status, row.status_reason) == ("suspended", "council decision")


async def test_a_logged_meeting_joins_the_timeline_and_moves_the_last_contact_forward_never_back(db):
    async with db.uow() as uow:
        created = await partnerships.create_partnership(uow, CTX, krakow())
    async with db.uow() as uow:
        await partnerships.log_contact(uow, CTX, created.id, ContactIn(kind="meeting", on=date(2024, 3, 1),
                                                                       title="Mayors meet"), "OIA")
        await partnerships.log_contact(uow, CTX, created.id, ContactIn(kind="event", on=date(2022, 6, 1),
                                                                       title="Festival"), "CULT")
    async with db.uow() as uow:
        contacts = await partnerships.timeline(uow, created.id, None)
    assert [(c.kind, c.title, c.department) for c in contacts] == [
        ("meeting", "Mayors meet", "OIA"), ("event", "Festival", "CULT")]
    [row] = await stored(db)
    assert row.last_contact_on == date(2024, 3, 1)
    async with db.uow() as uow:
        assert len((await uow.session.exec(select(Contact))).all()) == 2
