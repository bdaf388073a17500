"""Partners' alerts reach the partnership's desk officer by email without any set-up (embedded host:
mail as .eml files), registered in the notifications directory on first mention."""

from __future__ import annotations

import email
import email.policy
from datetime import date, timedelta

from shared.testing import eventually
from tests.support.embedded import auth

COORDINATOR, ADMIN, ECON = ("coordinator", "OIA"), ("admin", None), ("department", "ECON")


def mails(tmp_path, to: str) -> list:
    found = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
             for p in sorted((tmp_path / "mail").glob("*.eml"))]
    return [m for m in found if m["To"] == to]


async def test_the_desk_officer_hears_of_a_visit_and_of_an_anniversary_by_email(client, host, tmp_path):
    created = await client.post("/partners/partnerships", headers=auth(host, *COORDINATOR), json={
        "partner_city": "Kraków", "partner_country": "PL", "formalised_on": "1991-05-20",
        "desk_officer_name": "Eva Nowak", "desk_officer_email": "Eva.Nowak@city.example"})
    assert created.status_code == 201, created.text
    start = date.today() + timedelta(days=40)
    booked = await client.post("/travel/trips", headers=auth(host, *ECON), json={
        "title": "Trade mission", "legs": [{"city": "Krakow", "country": "PL", "start_date": start.isoformat(),
                                            "end_date": (start + timedelta(days=2)).isoformat()}]})
    assert booked.status_code == 201

    await eventually(lambda: len(mails(tmp_path, "eva.nowak@city.example")) == 1, message="the visit mail")
    [visit] = mails(tmp_path, "eva.nowak@city.example")
    assert "Kraków" in visit["Subject"] and "ECON" in visit["Subject"]
    assert "Trade mission" in visit.get_body(("plain",)).get_content()

    # In 2031, 90 days before the 40th anniversary — and years after the last contact.
    ran = await client.post("/partners/jobs/run", headers=auth(host, *ADMIN), json={"now": "2031-02-19T08:00:00Z"})
    assert ran.status_code == 200 and (ran.json()["anniversaries"], ran.json()["dormant"]) == (1, 1)
    await eventually(lambda: len(mails(tmp_path, "eva.nowak@city.example")) == 3, message="two more mails")
    subjects = [m["Subject"] for m in mails(tmp_path, "eva.nowak@city.example")]
    assert any("40 years" in s and "Kraków" in s for s in subjects), subjects
    assert any("Losing touch with Kraków" in s for s in subjects), subjects

    # Registered once, as a person, with the address it was given.
    people = (await client.get("/notifications/recipients", params={"kind": "person"},
                               headers=auth(host, *COORDINATOR))).json()
    assert [(p["name"], [c["address"] for c in p["channels"]]) for p in people] == [
        ("Eva Nowak", ["eva.nowak@city.example"])]
    # The department looking after it (OIA, the coordinators) has both in its feed.
    feed = (await client.get("/notifications/feed", params={"recipient": "OIA"},
                             headers=auth(host, *COORDINATOR))).json()
    assert {"partners.visit.planned.v1", "partners.anniversary.upcoming.v1"} <= {i["event_type"] for i in feed}
