"""Grants' deadline reminders through the service layer on the fake unit of work: each said once
however often the jobs run, re-planned when the deadline moves, none once submitted."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlmodel import select

from services.grants import domain
from services.grants.models import Reminder
from services.grants.service import applications, calls, reminders
from tests.unit.grants_support import application, grants_context, grants_database, twinning_call

APPROACHING = "grants.deadline.approaching.v1"
WEEK_BEFORE = datetime(2027, 3, 24, 16, 5, tzinfo=UTC)  # the call closes on 31 March 2027, 17:00 CEST


@pytest.fixture(scope="module")
def ctx():
    return grants_context()


async def start(db, ctx) -> tuple[str, str]:
    async with db.uow() as uow:
        call = await calls.create_call(uow, ctx, twinning_call())
    async with db.uow() as uow:
        return call.id, (await applications.create_application(uow, ctx, application(call.id))).id


async def run_jobs(db, now: datetime) -> int:
    async with db.uow() as uow:
        return (await reminders.run_jobs(uow, now)).reminders


async def test_the_jobs_run_twice_say_each_reminder_once(ctx):
    async with grants_database() as db:
        _, application_id = await start(db, ctx)
        assert await run_jobs(db, WEEK_BEFORE) == 2
        assert await run_jobs(db, WEEK_BEFORE) == 0
        said = db.events(APPROACHING)
        # The internal deadline's 3-day reminder was due yesterday: it says how far off it really is.
        assert sorted((e["kind"], e["days_ahead"], e["critical"]) for e in said) == [
            ("call", 7, False), ("internal", 2, False)]
        assert {e["application_id"] for e in said} == {application_id}
        assert said[0]["owner"]["email"] == "jana.weber@city.example"
        async with db.uow() as uow:
            assert len((await uow.session.exec(select(Reminder))).all()) == 2


async def test_a_moved_deadline_replans_the_reminders_and_a_submitted_application_hears_no_more(ctx):
    async with grants_database() as db:
        call_id, application_id = await start(db, ctx)
        assert await run_jobs(db, WEEK_BEFORE) == 2
        async with db.uow() as uow:
            await calls.update_call(uow, call_id, {"deadlines": [domain.deadline_at(date(2027, 4, 7))]})
        assert await run_jobs(db, WEEK_BEFORE) == 2  # now 14 days and 9 days ahead
        assert sorted((e["kind"], e["days_ahead"]) for e in db.events(APPROACHING)[2:]) == [
            ("call", 14), ("internal", 9)]

        day_before = datetime(2027, 4, 6, 15, 30, tzinfo=UTC)
        assert await run_jobs(db, day_before) == 1
        assert db.events(APPROACHING)[-1]["critical"] is True
        for stage in ("preparing", "drafting", "internal_review", "submitted"):
            async with db.uow() as uow:
                found = await applications.load_application(uow, application_id)
                await applications.move_stage(uow, found, stage, None, None, "department ENV")
        assert await run_jobs(db, datetime(2027, 4, 7, 14, tzinfo=UTC)) == 0
        assert len(db.events(APPROACHING)) == 5
