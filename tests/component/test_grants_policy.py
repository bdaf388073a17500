"""Grants' authorization, generated from its policy table (services/grants/policy.py): for every
action, role and ownership, a probe tries the action and says whether it was allowed, having checked
that a refused write changed nothing and a refused read showed nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from services.grants.policy import POLICY
from shared.tables import outbox
from tests.support.policy_cases import (
    KEYS,
    bearer,
    cases,
    check_probes,
    one_answer,
    owner,
    refusal,
    suggests_places,
    went_through,
)

ADMIN = KEYS["admin"]  # sets up the records and reads back what a probe did
PORTAL_ANSWER = Path(__file__).parents[2] / "services" / "grants" / "data" / "portal_calls.json"


async def admin_get(client, path: str, **params):
    response = await client.get(path, headers=bearer(ADMIN), params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def call(client, identifier: str = "CERV-2027-CITIZENS-TOWN-TT") -> dict:
    response = await client.post("/grants/calls", headers=bearer(ADMIN), json={
        "identifier": identifier, "programme": "cerv", "title": "Town-Twinning", "opens_at": "2027-01-10",
        "deadlines": ["2027-03-31"], "grant_max": 30_000})
    assert response.status_code == 201, response.text
    return response.json()


def application_of(call_id: str, lead: str, title: str = "Twinning for climate action") -> dict:
    return {"call_id": call_id, "lead_department": lead, "title": title, "requested_amount": 25_000,
            "owner": {"name": "Jana Weber", "email": "jana.weber@city.example"},
            "consortium": [{"name": "City of Kraków", "city": "Krakau", "country": "PL"}]}


async def application(client, lead: str) -> dict:
    made = await call(client)
    response = await client.post("/grants/applications", json=application_of(made["id"], lead), headers=bearer(ADMIN))
    assert response.status_code == 201, response.text
    return response.json()


async def said(host, event_type: str) -> int:
    async with host.runtimes["grants"].engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(outbox)
                                   .where(outbox.c.type == event_type))).scalar_one()


# -- one probe per action -------------------------------------------------------------------------

async def read_calls(client, host, key, whose) -> bool:
    made = await call(client)
    one = await client.get(f"/grants/calls/{made['id']}", headers=bearer(key))
    versions = await client.get(f"/grants/calls/{made['id']}/versions", headers=bearer(key))
    listed = await client.get("/grants/calls", headers=bearer(key))
    return one_answer(record=went_through(one, 404), versions=went_through(versions, 404),
                      listed=listed.status_code == 200 and [c["id"] for c in listed.json()] == [made["id"]])


async def record_calls(client, host, key, whose) -> bool:
    made = await call(client)
    refused_with = await refusal(client, key, f"/grants/calls/{made['id']}")
    changed = await client.patch(f"/grants/calls/{made['id']}", json={"title": "Town-Twinning 2027"},
                                 headers=bearer(key))
    created = await client.post("/grants/calls", headers=bearer(key), json={
        "identifier": "LIFE-2027-SAP-CLIMA-GOV", "programme": "life", "title": "Climate governance",
        "deadlines": ["2027-09-23"]})
    stored = {c["identifier"]: c for c in await admin_get(client, "/grants/calls")}
    return one_answer(changed=went_through(changed, refused_with),
                      changed_stored=stored["CERV-2027-CITIZENS-TOWN-TT"]["title"] == "Town-Twinning 2027",
                      created=went_through(created), created_stored="LIFE-2027-SAP-CLIMA-GOV" in stored)


async def import_calls(client, host, key, whose) -> bool:
    response = await client.post("/grants/calls/import", content=PORTAL_ANSWER.read_bytes(),
                                 headers={**bearer(key), "Content-Type": "application/json"})
    return one_answer(imported=went_through(response), stored=len(await admin_get(client, "/grants/calls")) == 5)


async def read_applications(client, host, key, whose) -> bool:
    made = await application(client, whose)
    path = f"/grants/applications/{made['id']}"
    one, stages, eligibility = [await client.get(path + tail, headers=bearer(key))
                                for tail in ("", "/stages", "/eligibility")]
    listed = (await client.get("/grants/applications", headers=bearer(key))).json()
    report = (await client.get("/grants/reports", params={"year": datetime.now(UTC).year},
                               headers=bearer(key))).json()
    return one_answer(record=went_through(one, 404), stages=went_through(stages, 404),
                      eligibility=went_through(eligibility, 404), listed=[a["id"] for a in listed] == [made["id"]],
                      report=(report["applications"], report["requested"]) == (1, 25_000))


async def start_applications(client, host, key, whose) -> bool:
    made = await call(client)
    response = await client.post("/grants/applications", json=application_of(made["id"], whose), headers=bearer(key))
    stored = await admin_get(client, "/grants/applications")
    return one_answer(started=went_through(response), stored=[a["lead_department"] for a in stored] == [whose])


async def change_applications(client, host, key, whose) -> bool:
    made = await application(client, whose)
    refused_with = await refusal(client, key, f"/grants/applications/{made['id']}")
    response = await client.patch(f"/grants/applications/{made['id']}", headers=bearer(key), json={
        "title": "Twinning for clean air", "consortium": []})
    stored = await admin_get(client, f"/grants/applications/{made['id']}")
    return one_answer(changed=went_through(response, refused_with), title=stored["title"] == "Twinning for clean air",
                      consortium=stored["consortium"] == [])


async def move_applications(client, host, key, whose) -> bool:
    made = await application(client, whose)
    refused_with = await refusal(client, key, f"/grants/applications/{made['id']}")
    response = await client.post(f"/grants/applications/{made['id']}/stage", json={"stage": "preparing"},
                                 headers=bearer(key))
    stored = await admin_get(client, f"/grants/applications/{made['id']}")
    history = await admin_get(client, f"/grants/applications/{made['id']}/stages")
    return one_answer(moved=went_through(response, refused_with), stage=stored["stage"] == "preparing",
                      history=[h["to_stage"] for h in history][-1:] == ["preparing"])


async def find_partners(client, host, key, whose) -> bool:
    response = await client.post("/partners/partnerships", headers=bearer(ADMIN), json={
        "partner_city": "Lyon", "partner_country": "FR", "formalised_on": "1960-01-01"})
    assert response.status_code == 201, response.text
    made = await application(client, whose)
    found = await client.get(f"/grants/applications/{made['id']}/partner-candidates", headers=bearer(key))
    if found.status_code in (403, 404):
        return False
    assert found.status_code == 200, found.text
    return [c["city"] for c in found.json()["candidates"]] == ["Lyon"]


async def read_the_city_profile(client, host, key, whose) -> bool:
    put = await client.put("/grants/boilerplate/blocks/oia", json={"title": "Our office", "body": "We twin cities."},
                           headers=bearer(ADMIN))
    assert put.status_code == 200, put.text
    profile = await client.get("/grants/boilerplate", params={"lang": "en"}, headers=bearer(key))
    blocks = await client.get("/grants/boilerplate/blocks", headers=bearer(key))
    return one_answer(profile=profile.status_code == 200 and "We twin cities." in profile.text,
                      blocks=blocks.status_code == 200 and [b["key"] for b in blocks.json()] == ["oia"])


async def write_the_city_profile(client, host, key, whose) -> bool:
    put = await client.put("/grants/boilerplate/blocks/oia", json={"title": "Our office", "body": "We twin cities."},
                           headers=bearer(ADMIN))
    assert put.status_code == 200, put.text
    written = await client.put("/grants/boilerplate/blocks/track_record", json={"title": "Track record",
                                                                               "body": "Twelve projects."},
                               headers=bearer(key))
    removed = await client.delete("/grants/boilerplate/blocks/oia", headers=bearer(key))
    stored = [b["key"] for b in await admin_get(client, "/grants/boilerplate/blocks")]
    return one_answer(written=went_through(written), written_stored="track_record" in stored,
                      removed=went_through(removed), removed_stored="oia" not in stored)


async def subscribe_to_calendars(client, host, key, whose) -> bool:
    theirs = await client.post("/grants/calendar/tokens", json={"department": whose, "label": "kept"},
                               headers=bearer(ADMIN))
    assert theirs.status_code == 201, theirs.text
    made = await client.post("/grants/calendar/tokens", json={"department": whose, "label": "made"},
                             headers=bearer(key))
    revoked = await client.delete(f"/grants/calendar/tokens/{theirs.json()['id']}", headers=bearer(key))
    stored = {t["label"]: t for t in await admin_get(client, "/grants/calendar/tokens")}
    return one_answer(made=went_through(made), made_stored="made" in stored,
                      revoked=went_through(revoked, refusal=404), revoked_stored=stored["kept"]["revoked_at"] is not None)


async def run_jobs(client, host, key, whose) -> bool:
    await application(client, whose)
    week_before = "2027-03-24T16:05:00Z"  # the call's 7-day and the internal 3-day reminders are due
    response = await client.post("/grants/jobs/run", json={"now": week_before}, headers=bearer(key))
    return one_answer(ran=went_through(response), said=await said(host, "grants.deadline.approaching.v1") == 2)


async def suggest_places(client, host, key, whose) -> bool:
    return await suggests_places(client, "grants", key)


PROBES = {
    "call.read": read_calls,
    "call.record": record_calls,
    "call.import": import_calls,
    "application.read": read_applications,
    "application.start": start_applications,
    "application.change": change_applications,
    "application.move": move_applications,
    "application.find_partners": find_partners,
    "boilerplate.read": read_the_city_profile,
    "boilerplate.write": write_the_city_profile,
    "calendar.subscribe": subscribe_to_calendars,
    "jobs.run": run_jobs,
    "place.read": suggest_places,
}


def test_every_action_of_the_table_has_a_probe():
    check_probes(POLICY, PROBES)


@pytest.mark.parametrize("action, role, whose, allowed", list(cases(POLICY)))
async def test_each_role_reaches_what_the_table_says(client, host, action, role, whose, allowed):
    assert await PROBES[action](client, host, KEYS[role], owner(whose)) is allowed


async def test_an_application_the_caller_may_see_but_not_change_is_403_and_one_missing_is_404(client, host):
    made = await application(client, "CULT")
    answer = await client.patch(f"/grants/applications/{made['id']}", json={"title": "Ours now"},
                                  headers=bearer(KEYS["department"]))
    assert answer.status_code == 403 and "CULT's records" in answer.json()["detail"]
    missing = await client.post("/grants/applications/nope/stage", json={"stage": "preparing"},
                                headers=bearer(KEYS["coordinator"]))
    assert missing.status_code == 404
    assert (await admin_get(client, f"/grants/applications/{made['id']}"))["title"] == "Twinning for climate action"
