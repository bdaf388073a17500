"""Grants' applications through the service layer on the fake unit of work: the pipeline's stage
machine (each move recorded and said, a move not allowed refused with nothing said), a two-stage
call's invitation, the edits a submitted application refuses, and the year's report."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import select

from services.grants import domain
from services.grants.models import Application, StageChange
from services.grants.service import applications, calls
from shared.problems import FieldError, Problem
from shared.uow import utcnow
from tests.unit.grants_support import application, grants_context, grants_database, twinning_call

STAGE_CHANGED = "grants.application.stage_changed.v1"
TO_SUBMISSION = ("preparing", "partner_search", "drafting", "internal_review", "submitted")


@pytest.fixture(scope="module")
def ctx():
    return grants_context()


async def start(db, ctx, **call) -> str:
    async with db.uow() as uow:
        made = await calls.create_call(uow, ctx, twinning_call(**call))
    async with db.uow() as uow:
        return (await applications.create_application(uow, ctx, application(made.id))).id


async def move(db, application_id: str, stage: domain.Stage, reason: str | None = None,
               awarded_amount: float | None = None) -> Application:
    async with db.uow() as uow:
        found = await applications.load_application(uow, application_id)
        return await applications.move_stage(uow, found, stage, reason, awarded_amount, "department ENV")


async def test_an_application_resolves_its_consortium_and_starts_as_an_idea_said_to_nobody(ctx):
    async with grants_database() as db:
        application_id = await start(db, ctx)
        async with db.uow() as uow:
            stored = await applications.load_application(uow, application_id)
            call = await applications.call_of(uow, stored)
        assert (stored.stage, stored.internal_buffer_days) == ("idea", domain.DEFAULT_INTERNAL_BUFFER_DAYS)
        assert (stored.consortium[0]["city"], stored.consortium[0]["country"]) == ("Kraków", "PL")
        assert all(c.passed for c in applications.eligibility(ctx, stored, call))  # DE and PL: a twinning
        assert db.events(STAGE_CHANGED) == []


async def test_the_pipeline_records_and_says_each_move_and_refuses_one_not_allowed(ctx):
    async with grants_database() as db:
        application_id = await start(db, ctx)
        with pytest.raises(Problem, match="allowed: preparing, withdrawn") as skipped:
            await move(db, application_id, "submitted")
        assert skipped.value.status == 409
        for stage in TO_SUBMISSION:
            await move(db, application_id, stage)
        with pytest.raises(FieldError) as no_reason:
            await move(db, application_id, "rejected")
        assert no_reason.value.field == "reason"
        rejected = await move(db, application_id, "rejected", reason="Consortium too small for the strand")
        assert (rejected.stage, rejected.stage_reason) == ("rejected", "Consortium too small for the strand")
        assert rejected.submitted_at is not None and rejected.decided_at is not None
        with pytest.raises(Problem):
            await move(db, application_id, "awarded")

        said = db.events(STAGE_CHANGED)
        assert [(e["from_stage"], e["to_stage"]) for e in said] == [
            ("idea", "preparing"), ("preparing", "partner_search"), ("partner_search", "drafting"),
            ("drafting", "internal_review"), ("internal_review", "submitted"), ("submitted", "rejected")]
        assert said[-1]["owner"] == {"name": "Jana Weber", "email": "jana.weber@city.example"}
        assert said[-1]["call"]["identifier"] == "CERV-2027-CITIZENS-TOWN-TT" and said[-1]["changed_by"]
        async with db.uow() as uow:
            history = await applications.stage_history(uow, application_id)
            assert len((await uow.session.exec(select(StageChange))).all()) == 6
        assert history[-1].to_stage == "rejected"


async def test_an_award_is_the_amount_requested_unless_given(ctx):
    async with grants_database() as db:
        application_id = await start(db, ctx)
        for stage in TO_SUBMISSION:
            await move(db, application_id, stage)
        with pytest.raises(FieldError) as early:
            await move(db, application_id, "withdrawn", awarded_amount=1)
        assert early.value.field == "awarded_amount"
        awarded = await move(db, application_id, "awarded", awarded_amount=24_000)
        assert awarded.awarded_amount == 24_000
        assert db.events(STAGE_CHANGED)[-1]["awarded_amount"] == 24_000


async def test_an_application_to_a_two_stage_call_is_invited_to_its_second_stage_once(ctx):
    async with grants_database() as db:
        application_id = await start(db, ctx, identifier="CERV-2027-CITIZENS-TOWN-2S", deadlines=[
            domain.deadline_at(date(2027, 2, 15)), domain.deadline_at(date(2027, 9, 16))])
        for stage in ("preparing", "drafting", "internal_review", "submitted"):
            await move(db, application_id, stage)
        invited = await move(db, application_id, "invited")
        assert (invited.stage, invited.call_stage) == ("invited", 2)
        for stage in ("drafting", "internal_review", "submitted"):
            await move(db, application_id, stage)
        with pytest.raises(Problem, match="first stage of a two-stage call"):
            await move(db, application_id, "invited")
        assert db.events(STAGE_CHANGED)[-1]["to_stage"] == "submitted"


async def test_a_submitted_application_changes_its_notes_only(ctx):
    async with grants_database() as db:
        application_id = await start(db, ctx)
        for stage in TO_SUBMISSION:
            await move(db, application_id, stage)
        async with db.uow() as uow:
            found = await applications.load_application(uow, application_id)
            with pytest.raises(Problem) as refused:
                await applications.update_application(uow, ctx, found, {"requested_amount": 10})
        assert refused.value.status == 409
        async with db.uow() as uow:
            found = await applications.load_application(uow, application_id)
            await applications.update_application(uow, ctx, found, {"notes": "Sent by courier too"})
        async with db.uow() as uow:
            stored = await applications.load_application(uow, application_id)
        assert (stored.requested_amount, stored.notes) == (25_000, "Sent by courier too")


async def test_the_years_report_counts_stages_programmes_sums_and_win_rate(ctx):
    async with grants_database() as db:
        won, lost = await start(db, ctx), await start(db, ctx, identifier="CERV-2027-B")
        await start(db, ctx, identifier="CERV-2027-C")  # still an idea
        for application_id in (won, lost):
            for stage in TO_SUBMISSION:
                await move(db, application_id, stage)
        await move(db, won, "awarded", awarded_amount=24_000)
        await move(db, lost, "rejected", reason="Scored below threshold")
        year = utcnow().astimezone(domain.BRUSSELS).year
        async with db.uow() as uow:
            report = await applications.year_report(uow, year, None)
            own = await applications.year_report(uow, year, "ECON")
        assert (report.applications, report.by_stage) == (3, {"awarded": 1, "rejected": 1, "idea": 1})
        assert (report.by_programme, report.requested, report.awarded) == ({"cerv": 3}, 75_000, 24_000)
        assert (report.decided, report.won, report.win_rate) == (2, 1, 0.5)
        assert report.won_by_department == {"ENV": 24_000}
        assert (own.applications, own.win_rate) == (0, None)
