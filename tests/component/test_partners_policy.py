"""Partners' authorization, generated from its policy table (services/partners/policy.py): for every
action, role and ownership, a probe tries the action and says whether it was allowed, having checked
that a refused write changed nothing and a refused read showed nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from services.partners.policy import POLICY
from shared.tables import outbox
from shared.testing import eventually
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


async def partnership(client, department: str, city: str = "Krakau", country: str = "PL", **extra) -> dict:
    response = await client.post("/partners/partnerships", headers=bearer(ADMIN), json={
        "partner_city": city, "partner_country": country, "formalised_on": "1991-05-20", "themes": ["culture"],
        "department": department, **extra})
    assert response.status_code == 201, response.text
    return response.json()


async def organisation(client, lead: str, **extra) -> dict:
    response = await client.post("/partners/organizations", headers=bearer(ADMIN), json={
        "kind": "network", "name": "Eurocities", "lead_department": lead, "themes": ["mobility"],
        "members": [{"city": "Gent", "country": "BE"}], **extra})
    assert response.status_code == 201, response.text
    return response.json()


async def person(client) -> dict:
    response = await client.post("/partners/people", headers=bearer(ADMIN), json={
        "name": "Marta Wiśniewska", "role": "Chair", "email": "marta@club.example", "phone": "+48 12 345 67"})
    assert response.status_code == 201, response.text
    return response.json()


async def admin_get(client, path: str, **params):
    response = await client.get(path, headers=bearer(ADMIN), params=params)
    assert response.status_code == 200, response.text
    return response.json()


# -- one probe per action -------------------------------------------------------------------------

async def read_partnerships(client, host, key, whose) -> bool:
    made = await partnership(client, whose)
    one = await client.get(f"/partners/partnerships/{made['id']}", headers=bearer(key))
    timeline = await client.get(f"/partners/partnerships/{made['id']}/timeline", headers=bearer(key))
    assert one.status_code in (200, 404) and timeline.status_code in (200, 404), (one.text, timeline.text)
    listed = (await client.get("/partners/partnerships", headers=bearer(key))).json()
    health = (await client.get("/partners/relationship-health", headers=bearer(key))).json()
    jubilees = (await client.get("/partners/anniversaries", params={"within_days": 36500},
                                 headers=bearer(key))).json()
    return one_answer(record=one.status_code == 200, timeline=timeline.status_code == 200,
                      listed=[p["id"] for p in listed] == [made["id"]],
                      health=[h["partnership_id"] for h in health] == [made["id"]],
                      anniversaries=[a["partnership_id"] for a in jubilees] == [made["id"]])


async def record_partnerships(client, host, key, whose) -> bool:
    made = await partnership(client, whose)
    refused_with = await refusal(client, key, f"/partners/partnerships/{made['id']}")
    changed = await client.patch(f"/partners/partnerships/{made['id']}", json={"themes": ["economy"]},
                                 headers=bearer(key))
    created = await client.post("/partners/partnerships", headers=bearer(key), json={
        "partner_city": "Lyon", "partner_country": "FR", "formalised_on": "1960-01-01", "department": whose})
    stored = await admin_get(client, "/partners/partnerships")
    return one_answer(changed=went_through(changed, refused_with), changed_stored=stored[0]["themes"] == ["economy"],
                      created=went_through(created), created_stored=len(stored) == 2)


async def import_partnerships(client, host, key, whose) -> bool:
    register = "home_city,home_country,partner_city,partner_country,year,kind,themes\n" \
               "Frankfurt am Main,DE,Krakau,PL,1991,twin,culture\n"
    response = await client.post("/partners/partnerships/import", content=register.encode(),
                                 headers={**bearer(key), "content-type": "text/csv"})
    stored = await admin_get(client, "/partners/partnerships")
    return one_answer(imported=went_through(response), stored=len(stored) == 1)


async def log_contacts(client, host, key, whose) -> bool:
    made = await partnership(client, "OIA")
    refused_with = await refusal(client, key, f"/partners/partnerships/{made['id']}")
    response = await client.post(f"/partners/partnerships/{made['id']}/contacts", headers=bearer(key), json={
        "kind": "meeting", "on": (date.today() - timedelta(days=3)).isoformat(), "title": "Trade talks",
        "department": whose})
    timeline = await admin_get(client, f"/partners/partnerships/{made['id']}/timeline")
    return one_answer(logged=went_through(response, refused_with),
                      stored=[(c["title"], c["department"]) for c in timeline] == [("Trade talks", whose)])


async def read_restricted_visits(client, host, key, whose) -> bool:
    made = await partnership(client, "OIA")
    start = date.today() + timedelta(days=40)
    booked = await client.post("/travel/trips", headers=bearer(ADMIN), json={
        "title": "Confidential talks", "department": whose, "visibility": "restricted", "legs": [{
            "city": "Kraków", "country": "PL", "start_date": start.isoformat(),
            "end_date": (start + timedelta(days=1)).isoformat()}]})
    assert booked.status_code == 201, booked.text
    path = f"/partners/partnerships/{made['id']}/timeline"

    async def recorded() -> bool:
        return len(await admin_get(client, path)) == 1
    await eventually(recorded, message="the visit recorded")
    shown = (await client.get(path, headers=bearer(key))).json()
    return [(c["department"], c["restricted"]) for c in shown] == [(whose, True)]


async def read_organisations(client, host, key, whose) -> bool:
    made = await organisation(client, whose)
    listed = (await client.get("/partners/organizations", headers=bearer(key))).json()
    return [o["id"] for o in listed] == [made["id"]]


async def record_organisations(client, host, key, whose) -> bool:
    made = await organisation(client, whose)
    refused_with = await refusal(client, key, "/partners/organizations", made["id"])
    changed = await client.patch(f"/partners/organizations/{made['id']}", json={"role_held": "Vice-chair"},
                                 headers=bearer(key))
    created = await client.post("/partners/organizations", json={"kind": "club", "name": "Friends of Kraków",
                                                                 "lead_department": whose}, headers=bearer(key))
    stored = {o["name"]: o for o in await admin_get(client, "/partners/organizations")}
    return one_answer(changed=went_through(changed, refused_with),
                      changed_stored=stored["Eurocities"]["role_held"] == "Vice-chair",
                      created=went_through(created), created_stored="Friends of Kraków" in stored)


async def read_people(client, host, key, whose) -> bool:
    made = await person(client)
    listed = (await client.get("/partners/people", headers=bearer(key))).json()
    return [p["id"] for p in listed] == [made["id"]]


async def read_contact_details(client, host, key, whose) -> bool:
    await person(client)
    [listed] = (await client.get("/partners/people", headers=bearer(key))).json()
    assert listed["name"] == "Marta Wiśniewska" and listed["role"] == "Chair"  # the name and office, to all
    return one_answer(email=listed["email"] == "marta@club.example", phone=listed["phone"] == "+48 12 345 67")


async def record_people(client, host, key, whose) -> bool:
    made = await person(client)
    refused_with = await refusal(client, key, "/partners/people", made["id"])
    changed = await client.patch(f"/partners/people/{made['id']}", json={"role": "Treasurer"}, headers=bearer(key))
    created = await client.post("/partners/people", json={"name": "Jana Koch"}, headers=bearer(key))
    stored = {p["name"]: p for p in await admin_get(client, "/partners/people")}
    return one_answer(changed=went_through(changed, refused_with),
                      changed_stored=stored["Marta Wiśniewska"]["role"] == "Treasurer",
                      created=went_through(created), created_stored="Jana Koch" in stored)


async def find_partners(client, host, key, whose) -> bool:
    await partnership(client, whose)
    response = await client.get("/partners/finder", headers=bearer(key))
    if response.status_code == 403:
        return False
    assert response.status_code == 200, response.text
    return [c["city"] for c in response.json()] == ["Kraków"]


async def run_jobs(client, host, key, whose) -> bool:
    # Due today, overdue in half a year: only a run as of then says it is dormant (not the start-up run).
    last_contact = date.today() - timedelta(days=1000)
    await partnership(client, whose, last_contact_on=last_contact.isoformat())
    later = datetime.now(UTC) + timedelta(days=180)
    response = await client.post("/partners/jobs/run", json={"now": later.isoformat()}, headers=bearer(key))
    async with host.runtimes["partners"].engine.connect() as conn:
        said = (await conn.execute(select(func.count()).select_from(outbox).where(
            outbox.c.type == "partners.partnership.dormant.v1"))).scalar_one()
    return one_answer(ran=went_through(response), said=said == 1)


async def suggest_places(client, host, key, whose) -> bool:
    return await suggests_places(client, "partners", key)


PROBES = {
    "partnership.read": read_partnerships,
    "partnership.record": record_partnerships,
    "partnership.import": import_partnerships,
    "contact.log": log_contacts,
    "contact.read_restricted": read_restricted_visits,
    "organisation.read": read_organisations,
    "organisation.record": record_organisations,
    "person.read": read_people,
    "person.contact": read_contact_details,
    "person.record": record_people,
    "partner.find": find_partners,
    "jobs.run": run_jobs,
    "place.read": suggest_places,
}


def test_every_action_of_the_table_has_a_probe():
    check_probes(POLICY, PROBES)


@pytest.mark.parametrize("action, role, whose, allowed", list(cases(POLICY)))
async def test_each_role_reaches_what_the_table_says(client, host, action, role, whose, allowed):
    assert await PROBES[action](client, host, KEYS[role], owner(whose)) is allowed


async def test_a_record_the_caller_may_see_but_not_change_is_403_and_one_missing_is_404(client, host):
    made = await partnership(client, "OIA")
    department = bearer(KEYS["department"])
    answer = await client.patch(f"/partners/partnerships/{made['id']}", json={"themes": []}, headers=department)
    assert answer.status_code == 403 and "may not record or change partnerships" in answer.json()["detail"]
    missing = await client.patch("/partners/partnerships/nope", json={"themes": []},
                                 headers=bearer(KEYS["coordinator"]))
    assert missing.status_code == 404
    assert (await admin_get(client, f"/partners/partnerships/{made['id']}"))["themes"] == ["culture"]
