"""Grants' calls through the service layer on the fake unit of work: recorded (announced when on
the city's themes), imported from the portal (created, updated, unchanged, skipped) and changed
(a new version, said to the applications for the call)."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlmodel import select

from services.grants import domain
from services.grants.models import Call, CallVersion
from services.grants.service import applications, calls
from shared.problems import FieldError
from shared.uow import utcnow
from tests.unit.grants_support import FIXTURE, application, grants_context, grants_database, twinning_call

PUBLISHED, UPDATED = "grants.call.published.v1", "grants.call.updated.v1"


@pytest.fixture(scope="module")
def ctx():
    return grants_context()


async def test_a_call_on_the_citys_themes_is_recorded_and_announced(ctx):
    async with grants_database() as db:
        async with db.uow() as uow:
            call = await calls.create_call(uow, ctx, twinning_call(deadlines=[
                domain.deadline_at(date(2027, 2, 15)), domain.deadline_at(date(2027, 3, 31))]))
        async with db.uow() as uow:
            stored = (await uow.session.exec(select(Call))).one()
        assert stored.id == call.id and stored.source == "manual"
        assert stored.deadlines == [{"stage": 1, "at": "2027-02-15T17:00:00+01:00"},
                                    {"stage": 2, "at": "2027-03-31T17:00:00+02:00"}]
        # The identifier implies the town-twinning rules.
        assert (stored.min_countries, stored.rules_source) == (2, domain.TOWN_TWINNING.source)
        [published] = db.events(PUBLISHED)
        assert published["identifier"] == "CERV-2027-CITIZENS-TOWN-TT"
        assert set(published["matched_themes"]) >= {"town twinning", "citizens"}
        assert db.commits == 1


async def test_a_call_off_the_citys_themes_is_recorded_quietly(ctx):
    async with grants_database() as db:
        async with db.uow() as uow:
            await calls.create_call(uow, ctx, twinning_call(identifier="LIFE-2027-NATURE", programme="life",
                                                           title="Nature and biodiversity", themes=["wetlands"]))
        assert db.commits == 1 and db.published == []


async def test_an_identifier_is_recorded_once_and_a_broken_call_not_at_all(ctx):
    async with grants_database() as db:
        async with db.uow() as uow:
            await calls.create_call(uow, ctx, twinning_call())
        async with db.uow() as uow:
            with pytest.raises(FieldError) as again:
                await calls.create_call(uow, ctx, twinning_call())
        assert (again.value.field, again.value.status) == ("identifier", 409)
        async with db.uow() as uow:
            with pytest.raises(FieldError) as above_budget:
                await calls.create_call(uow, ctx, twinning_call(identifier="CERV-2027-X", grant_max=5_000_000))
        assert above_budget.value.field == "grant_max"
        async with db.uow() as uow:
            assert len((await uow.session.exec(select(Call))).all()) == 1
        assert len(db.events(PUBLISHED)) == 1 and db.commits == 1


async def test_an_import_creates_updates_leaves_unchanged_and_skips_saying_which(ctx):
    async with grants_database() as db:
        async with db.uow() as uow:
            report = await calls.import_answer(uow, ctx, FIXTURE.read_bytes())
        assert (report.rows, report.created, report.updated, report.unchanged, report.skipped) == (8, 5, 0, 0, 3)
        assert [r.reason for r in report.report if r.status == "skipped"] == [
            "no deadline yet", "the identifier appears earlier in the file",
            "programme of EDF-2027-DA-SPACE-SSA is not one the office follows"]
        assert "CERV-2027-CITIZENS-TOWN-TT" in {e["identifier"] for e in db.events(PUBLISHED)}

        async with db.uow() as uow:  # the same answer again: nothing changes, nothing is said
            again = await calls.import_answer(uow, ctx, FIXTURE.read_bytes())
        assert (again.created, again.updated, again.unchanged) == (0, 0, 5)
        assert db.events(UPDATED) == []

        # The portal moves a deadline and raises a budget: a new version, and an event naming the changes.
        document = json.loads(FIXTURE.read_bytes())
        metadata = document["results"][0]["metadata"]
        metadata["deadlineDate"] = ["2027-02-26T00:00:00.000+0000"]
        metadata["budgetOverview"] = [metadata["budgetOverview"][0].replace("4000000", "4500000")]
        async with db.uow() as uow:
            moved = await calls.import_answer(uow, ctx, json.dumps(document).encode())
        [updated_row] = [r for r in moved.report if r.status == "updated"]
        assert (moved.updated, moved.unchanged, updated_row.changes) == (1, 4, ["deadlines", "budget"])
        [updated] = db.events(UPDATED)
        assert (updated["version"], updated["identifier"]) == (2, "CERV-2027-CITIZENS-TOWN-TT")
        assert {c["field"]: (c["before"], c["after"]) for c in updated["changes"]} == {
            "deadlines": ("1: 2027-02-19T17:00:00+01:00", "1: 2027-02-26T17:00:00+01:00"),
            "budget": ("4000000.00", "4500000.00")}
        async with db.uow() as uow:
            assert len((await uow.session.exec(select(Call))).all()) == 5
            assert [v.version for v in await calls.call_versions(uow, updated["call_id"])] == [2]


async def test_an_imported_row_breaking_a_calls_rules_is_skipped_and_the_rest_imported(ctx):
    overview = json.dumps({"budgetTopicActionMap": {"1": [{"action": "LIFE-2027-BAD - GRANT",
                                                            "budgetYearMap": {"2027": 100_000},
                                                            "maxContribution": 2_000_000}]}})
    document = {"results": [
        {"metadata": {"identifier": ["LIFE-2027-BAD"], "deadlineDate": ["2027-05-01"], "budgetOverview": [overview]}},
        {"metadata": {"identifier": ["LIFE-2027-GOOD"], "deadlineDate": ["2027-05-01"]}}]}
    async with grants_database() as db:
        async with db.uow() as uow:
            report = await calls.import_answer(uow, ctx, json.dumps(document).encode())
        assert [(r.identifier, r.status, r.reason) for r in report.report] == [
            ("LIFE-2027-BAD", "skipped", "grant_max: is above the call's budget"), ("LIFE-2027-GOOD", "created", None)]
        async with db.uow() as uow:
            assert [c.identifier for c in (await uow.session.exec(select(Call))).all()] == ["LIFE-2027-GOOD"]


async def test_a_moved_deadline_is_a_new_version_said_to_the_applications_for_the_call(ctx):
    async with grants_database() as db:
        async with db.uow() as uow:
            call = await calls.create_call(uow, ctx, twinning_call())
        async with db.uow() as uow:
            started = await applications.create_application(uow, ctx, application(call.id))
        async with db.uow() as uow:
            changed = await calls.update_call(uow, call.id, {"deadlines": [domain.deadline_at(date(2027, 4, 7))]})
        assert changed.version == 2
        [updated] = db.events(UPDATED)
        assert [(a["application_id"], a["owner"]["email"]) for a in updated["applications"]] == [
            (started.id, "jana.weber@city.example")]
        assert updated["status"] == calls.status_of(changed, utcnow())
        async with db.uow() as uow:
            [version] = (await uow.session.exec(select(CallVersion))).all()
        assert version.changes == [{"field": "deadlines", "before": "1: 2027-03-31T17:00:00+02:00",
                                    "after": "1: 2027-04-07T17:00:00+02:00"}]

        async with db.uow() as uow:  # a new title is taken over, but it is no news
            retitled = await calls.update_call(uow, call.id, {"title": "Town-Twinning 2027"})
        assert (retitled.title, retitled.version, len(db.events(UPDATED))) == ("Town-Twinning 2027", 2, 1)
