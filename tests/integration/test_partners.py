"""Partners on PostgreSQL and RabbitMQ: travel's events become contacts and "visit planned" news;
the scheduled jobs, run twice at once for one date (as two replicas would), say each alert once."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from oia.catalog import spec_of
from services.partners.models import Contact, Partnership
from services.partners.schemas import PartnershipIn
from services.partners.service import PartnersContext, jobs, partnerships
from shared.envelope import Envelope
from shared.migrations import upgrade
from shared.testing import eventually
from tests.support.settle import all_published, events_heard, taken

pytestmark = pytest.mark.integration

KRAKOW = 3094802
TRIP_BOOKED = "travel.trip.booked.v1"


async def start_partners(rabbitmq):
    spec = spec_of("partners")
    url = await rabbitmq.database_url("partners")
    await upgrade("partners", spec.migrations_dir, spec.metadata, url)
    runtime = await rabbitmq.runtime(spec, url, jobs_interval_seconds=3600)
    await runtime.start()
    ctx: PartnersContext = runtime.context  # built at bootstrap: Frankfurt am Main
    return runtime, ctx


async def test_a_trip_to_a_partner_city_becomes_a_contact_and_visit_planned_once(rabbitmq):
    runtime, ctx = await start_partners(rabbitmq)
    async with runtime.uow() as uow:
        partnership = await partnerships.create_partnership(uow, ctx, PartnershipIn(**{
            "partner_city": "Kraków", "partner_country": "PL", "formalised_on": date(1991, 5, 20),
            "desk_officer_name": "Eva Nowak", "desk_officer_email": "eva.nowak@city.example"}))
    heard = await rabbitmq.listen("partners.visit.planned.v1")
    start = date.today() + timedelta(days=30)
    trip = Envelope(type=TRIP_BOOKED, source="/travel", data={
        "trip_id": "t-1", "department": "ECON", "title": "Trade mission", "purpose": "trade_fair", "status": "planned",
        "visibility": "normal", "estimated_cost": None, "currency": None, "travellers": [],
        "booked_at": "2027-03-01T09:00:00+00:00",
        "legs": [{"city": "Krakau", "country": "PL", "start_date": start.isoformat(),
                  "end_date": (start + timedelta(days=2)).isoformat(), "place_id": KRAKOW, "place_name": "Kraków",
                  "latitude": 50.06, "longitude": 19.94, "timezone": "Europe/Warsaw"}]})
    producer = await rabbitmq.bus()
    taken_before = taken("partners", TRIP_BOOKED)
    await producer.publish([trip])
    await producer.publish([trip])  # redelivered: one contact, one event

    # Nothing doubled, rather than nothing yet: both copies are off partners' queue (handled or
    # recognised), whatever either wrote to the outbox is on the broker, and the listener has heard
    # all the broker held for it.
    await eventually(lambda: taken("partners", TRIP_BOOKED) == taken_before + 2, message="both copies taken")
    await all_published(runtime.engine)
    await rabbitmq.heard_everything()
    assert len(events_heard(heard)) == 1  # the redelivered trip made no second event
    assert heard[0].data["partnership_id"] == partnership.id and heard[0].data["by_department"] == "ECON"
    async with runtime.engine.connect() as conn:
        contacts = (await conn.execute(select(Contact))).all()
        stored = (await conn.execute(select(Partnership))).one()
    assert [(c.kind, c.title, c.source) for c in contacts] == [("trip", "Trade mission", "travel:trip/t-1")]
    assert stored.last_contact_on == start


async def test_jobs_run_twice_at_once_say_each_alert_once(rabbitmq):
    runtime, ctx = await start_partners(rabbitmq)
    async with runtime.uow() as uow:
        await partnerships.create_partnership(uow, ctx, PartnershipIn(**{
            "partner_city": "Lyon", "partner_country": "FR", "formalised_on": date(1960, 10, 1),
            "formalised_year_only": True, "last_contact_on": date(2020, 1, 1)}))
    async with runtime.uow() as uow:
        await partnerships.create_partnership(uow, ctx, PartnershipIn(**{
            "partner_city": "Kraków", "partner_country": "PL", "formalised_on": date(2022, 3, 1),
            "kind": "time_limited", "ends_on": date(2034, 12, 31),
            "ideal_contact_days": 3650, "max_contact_days": 3650}))  # not lapsing by then
    heard = await rabbitmq.listen("partners.#")
    as_of = date(2034, 10, 15)  # Lyon: 75 years on 1 Jan 2035, 78 days ahead; Kraków ends in 77 days

    async def run() -> jobs.JobReport:
        async with runtime.uow() as uow:
            return await jobs.run_jobs(uow, as_of)

    reports = await asyncio.gather(run(), run())
    assert sum(r.anniversaries for r in reports) == 1
    assert sum(r.dormant for r in reports) == 1
    assert sum(r.renewals for r in reports) == 1
    # Both runs have committed, so every alert either wrote is in the outbox; once that is on the
    # broker and the listener has heard all the broker held, a doubled alert would be in `heard`.
    await all_published(runtime.engine)
    await rabbitmq.heard_everything()
    assert sorted(e.type for e in heard) == ["partners.anniversary.upcoming.v1", "partners.partnership.dormant.v1",
                                             "partners.renewal.due.v1"]
    async with runtime.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(Contact))).scalar_one() == 0
