"""The scheduled jobs through the service layer: an anniversary, a lapse and a renewal are each said
once, however often the jobs run for the same day; the next lead time says the anniversary again."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import select

from services.partners.models import Notice, PartnersTable
from services.partners.schemas import PartnershipIn
from services.partners.service import PartnersContext, jobs, partnerships
from shared.places import Gazetteer
from tests.support.fakes import fake_database

places = Gazetteer()
CTX = PartnersContext(places=places, home=places.resolve("Frankfurt am Main", "DE"))
ANNIVERSARY, DORMANT, RENEWAL = ("partners.anniversary.upcoming.v1", "partners.partnership.dormant.v1",
                                 "partners.renewal.due.v1")
AS_OF = date(2034, 10, 15)  # Lyon: 75 years on 1 Jan 2035, 78 days ahead; Kraków ends in 77 days


@pytest.fixture
async def db():
    async with fake_database(PartnersTable.metadata, "partners") as database:
        for partnership in (
            PartnershipIn(partner_city="Lyon", partner_country="FR", formalised_on=date(1960, 10, 1),
                          formalised_year_only=True, last_contact_on=date(2020, 1, 1)),
            PartnershipIn(partner_city="Kraków", partner_country="PL", formalised_on=date(2022, 3, 1),
                          kind="time_limited", ends_on=date(2034, 12, 31),
                          ideal_contact_days=3650, max_contact_days=3650),  # not lapsing by then
            PartnershipIn(partner_city="Milan", partner_country="IT", formalised_on=date(1970, 1, 1),
                          status="ended", status_reason="council decision", last_contact_on=date(2000, 1, 1)),
        ):
            async with database.uow() as uow:
                await partnerships.create_partnership(uow, CTX, partnership)
        yield database


async def run(db, today: date) -> jobs.JobReport:
    async with db.uow() as uow:
        return await jobs.run_jobs(uow, today)


async def test_each_alert_is_said_once_however_often_the_jobs_run(db):
    first = await run(db, AS_OF)
    again = await run(db, AS_OF)

    assert (first.partnerships, first.anniversaries, first.dormant, first.renewals) == (2, 1, 1, 1)
    assert (again.anniversaries, again.dormant, again.renewals) == (0, 0, 0)
    [anniversary] = db.events(ANNIVERSARY)
    assert (anniversary["partner_city"], anniversary["years"], anniversary["on"], anniversary["days_ahead"]) == (
        "Lyon", 75, "2035-01-01", 78)
    [dormant] = db.events(DORMANT)
    assert (dormant["partner_city"], dormant["last_contact_on"], dormant["days_since_contact"]) == (
        "Lyon", "2020-01-01", (AS_OF - date(2020, 1, 1)).days)
    [renewal] = db.events(RENEWAL)
    assert (renewal["partner_city"], renewal["ends_on"], renewal["days_ahead"]) == ("Kraków", "2034-12-31", 77)
    async with db.uow() as uow:
        notices = sorted((n.what, n.key) for n in (await uow.session.exec(select(Notice))).all())
    assert notices == [("anniversary", "75y/90d"), ("dormant", "lapse/2020-01-01"), ("renewal", "2034-12-31/90d")]


async def test_the_next_lead_time_says_it_again_and_an_ended_partnership_is_never_mentioned(db):
    await run(db, AS_OF)
    later = await run(db, date(2034, 12, 2))  # 30 days before both

    assert (later.anniversaries, later.dormant, later.renewals) == (1, 0, 1)
    assert [e["days_ahead"] for e in db.events(ANNIVERSARY)] == [78, 30]
    assert [e["days_ahead"] for e in db.events(RENEWAL)] == [77, 29]
    assert "Milan" not in {e.data["partner_city"] for e in db.published}
