"""Grants on PostgreSQL and RabbitMQ: the reminder job, run twice for one instant (and twice at
once, as two replicas would), puts each reminder on the bus once; a moved deadline re-plans them;
the same call recorded by four requests at once is one call and three 409s."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import httpx
import pytest
from sqlalchemy import func, select

from oia.catalog import spec_of
from services.grants import domain
from services.grants.models import Call, Reminder
from services.grants.schemas import JobReport
from services.grants.service import applications, calls, reminders
from shared.app import create_service_app
from shared.migrations import upgrade
from shared.testing import eventually
from tests.support.settle import all_published, events_heard

pytestmark = pytest.mark.integration
UTC = UTC


async def start_grants(rabbitmq):
    spec = spec_of("grants")
    url = await rabbitmq.database_url("grants")
    await upgrade("grants", spec.migrations_dir, spec.metadata, url)
    runtime = await rabbitmq.runtime(spec, url, jobs_interval_seconds=3600)
    await runtime.start()
    return runtime, runtime.context


async def an_application(runtime, ctx, deadline: date) -> tuple[Call, str]:
    async with runtime.uow() as uow:
        call = await calls.create_call(uow, ctx, {
            "identifier": "CERV-2027-CITIZENS-TOWN-TT", "programme": "cerv", "title": "Town-Twinning",
            "deadlines": [domain.deadline_at(deadline)], "grant_max": 30_000})
    async with runtime.uow() as uow:
        application = await applications.create_application(uow, ctx, {
            "call_id": call.id, "lead_department": "ENV", "title": "Twinning for climate action",
            "owner": {"name": "Jana Weber", "email": "jana.weber@city.example"}, "requested_amount": 25_000,
            "consortium": [{"name": "City of Kraków", "city": "Kraków", "country": "PL", "role": "partner"}]})
    return call, application.id


async def run_jobs(runtime, now: datetime) -> JobReport:
    async with runtime.uow() as uow:
        return await reminders.run_jobs(uow, now)


async def test_the_reminder_job_run_twice_for_one_instant_emits_once(rabbitmq):
    runtime, ctx = await start_grants(rabbitmq)
    _, application_id = await an_application(runtime, ctx, date(2027, 3, 31))
    heard = await rabbitmq.listen("grants.deadline.approaching.v1")
    week_before = datetime(2027, 3, 24, 16, 30, tzinfo=UTC)

    first = await run_jobs(runtime, week_before)
    again = await run_jobs(runtime, week_before)
    both_at_once = await asyncio.gather(run_jobs(runtime, week_before), run_jobs(runtime, week_before))
    assert (first.reminders, again.reminders, sum(r.reminders for r in both_at_once)) == (2, 0, 0)

    # Every run has committed, so every reminder any of them wrote is in the outbox; once that is on
    # the broker and the listener has heard all the broker held, a doubled reminder would be in `heard`.
    await all_published(runtime.engine)
    await rabbitmq.heard_everything()
    reminders = events_heard(heard)
    assert len(reminders) == 2
    assert sorted((e.data["kind"], e.data["days_ahead"]) for e in reminders) == [("call", 7), ("internal", 2)]
    assert {e.data["application_id"] for e in reminders} == {application_id}
    assert reminders[0].data["owner"]["email"] == "jana.weber@city.example"


async def test_two_replicas_running_the_jobs_at_once_say_each_reminder_once(rabbitmq):
    runtime, ctx = await start_grants(rabbitmq)
    await an_application(runtime, ctx, date(2027, 3, 31))
    other = await rabbitmq.runtime(spec_of("grants"), runtime.settings.database_url, jobs_interval_seconds=3600)
    await other.start()
    heard = await rabbitmq.listen("grants.deadline.approaching.v1")
    try:
        # The day before the call's deadline (the internal one has passed): the last, critical reminder.
        day_before = datetime(2027, 3, 30, 15, 30, tzinfo=UTC)
        reports = await asyncio.gather(*(run_jobs(r, day_before) for r in (runtime, other) for _ in range(3)))
        assert sum(r.reminders for r in reports) == 1
        # As above: all six runs committed; their rows (both replicas share one database, so one
        # outbox) on the broker, and everything the broker held heard.
        await all_published(runtime.engine)
        await rabbitmq.heard_everything()
        assert [(e.data["kind"], e.data["days_ahead"], e.data["critical"])
                for e in events_heard(heard)] == [("call", 1, True)]
    finally:
        await other.stop()


async def test_a_moved_deadline_replans_the_reminders(rabbitmq):
    runtime, ctx = await start_grants(rabbitmq)
    call, _ = await an_application(runtime, ctx, date(2027, 3, 31))
    heard = await rabbitmq.listen("grants.deadline.approaching.v1", "grants.call.updated.v1")
    now = datetime(2027, 3, 25, 16, 30, tzinfo=UTC)
    assert (await run_jobs(runtime, now)).reminders == 2  # 7 days to the call's, 1 to the internal deadline

    async with runtime.uow() as uow:
        await calls.update_call(uow, call.id, {"deadlines": [domain.deadline_at(date(2027, 4, 20))]})
    assert (await run_jobs(runtime, now)).reminders == 2  # 26 days to the call's, 21 to the internal deadline
    assert (await run_jobs(runtime, now)).reminders == 0

    await eventually(lambda: len(heard) == 5, message="four reminders and the update")
    updated = next(e for e in heard if e.type == "grants.call.updated.v1")
    assert [c["field"] for c in updated.data["changes"]] == ["deadlines"]
    assert len(updated.data["applications"]) == 1
    replanned = [e.data for e in heard if e.type == "grants.deadline.approaching.v1"][2:]
    assert sorted((r["kind"], r["days_ahead"], r["deadline"][:10]) for r in replanned) == [
        ("call", 26, "2027-04-20"), ("internal", 21, "2027-04-15")]
    async with runtime.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(Reminder))).scalar_one() == 4


async def test_the_same_call_recorded_four_times_at_once_is_one_call_and_409s(rabbitmq):
    runtime, _ = await start_grants(rabbitmq)
    runtime.settings = runtime.settings.model_copy(update={"api_keys": "it-oia:coordinator:OIA"})
    runtime.keyring = type(runtime.keyring)(runtime.engine, runtime.settings.secret_key, runtime.settings.api_keys)
    app = create_service_app(runtime, manage_lifecycle=False)
    body = {"identifier": "CERV-2027-CITIZENS-TOWN-TT", "programme": "cerv", "title": "Town-Twinning",
            "deadlines": ["2027-03-31"]}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://grants") as client:
        answers = await asyncio.gather(*(client.post("/grants/calls", json=body,
                                                     headers={"Authorization": "Bearer it-oia"}) for _ in range(4)))
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409], [a.text for a in answers]
    # They passed the "exists already?" check together; the unique key kept one, the rest are told why.
    assert all("at the same moment" in a.json()["detail"] for a in answers if a.status_code == 409)
    async with runtime.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(Call))).scalar_one() == 1
