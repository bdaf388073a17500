"""Partners through the embedded host: the register and its bad input, contacts from travel's
events, relationship health and anniversaries, and the jobs saying each alert once."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from services.partners.models import Contact, Partnership
from services.partners.service import partnerships
from shared.tables import outbox
from shared.testing import eventually
from tests.support.embedded import auth

COORDINATOR, ADMIN, ECON, READER = ("coordinator", "OIA"), ("admin", None), ("department", "ECON"), ("reader", None)
CULT = ("department", "CULT")


def krakow(**extra) -> dict:
    return {"partner_city": "Krakau", "partner_country": "PL", "formalised_on": "1991-05-20", "themes": ["culture"],
            "desk_officer_name": "Eva Nowak", "desk_officer_email": "eva.nowak@city.example", **extra}


def frankfurt_today() -> date:
    """The office's date (the embedded host's home city is Frankfurt am Main)."""
    return datetime.now(ZoneInfo("Europe/Berlin")).date()


async def create(client, host, body: dict, who=COORDINATOR) -> dict:
    response = await client.post("/partners/partnerships", json=body, headers=auth(host, *who))
    assert response.status_code == 201, response.text
    return response.json()


async def count(host, model, *where) -> int:
    async with host.runtimes["partners"].engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


async def events(host, event_type: str) -> list[dict]:
    async with host.runtimes["partners"].engine.connect() as conn:
        rows = (await conn.execute(select(outbox).where(outbox.c.type == event_type).order_by(outbox.c.seq))).all()
    return [json.loads(row.payload) for row in rows]


async def test_a_partnership_resolves_its_city_and_defaults_to_the_offices_home(client, host):
    created = await create(client, host, krakow())
    assert (created["home_city"], created["partner_city"], created["partner_country"]) == \
        ("Frankfurt am Main", "Kraków", "PL")
    assert created["partner_timezone"] == "Europe/Warsaw"
    listed = (await client.get("/partners/partnerships", params={"country": "PL", "theme": "culture"},
                               headers=auth(host, *READER))).json()
    assert [p["id"] for p in listed] == [created["id"]]


@pytest.mark.parametrize("body, field, status", [
    (krakow(partner_city="Frankfurt", partner_country="DE"), "partner_city", 422),
    # Dates relative to today are worked out when the test runs, not when it is collected (which
    # may be the day before).
    (lambda: krakow(formalised_on=(frankfurt_today() + timedelta(days=1)).isoformat()), "formalised_on", 422),
    (krakow(kind="time_limited", ends_on="1990-01-01"), "ends_on", 422),
    (krakow(kind="time_limited"), "ends_on", 422),
    (krakow(themes=["knitting"]), "themes", 422),
    (krakow(status="asleep"), "status", 422),
    (krakow(status="suspended"), "status_reason", 422),
    (krakow(partner_city="Atlantis"), "partner_city", 422),
    (krakow(partner_country="Narnia"), "partner_country", 422),
    (krakow(annual_themes={"next year": "climate"}), "annual_themes", 422),
    (krakow(ideal_contact_days=400, max_contact_days=300), "max_contact_days", 422),
    (krakow(desk_officer_email="eva"), "desk_officer_email", 422),
    (lambda: krakow(last_contact_on=(frankfurt_today() + timedelta(days=1)).isoformat()), "last_contact_on", 422),
])
async def test_bad_partnerships_are_refused_naming_the_field_and_store_nothing(client, host, body, field, status):
    body = body() if callable(body) else body
    response = await client.post("/partners/partnerships", json=body, headers=auth(host, *COORDINATOR))
    assert response.status_code == status, response.text
    assert field in response.text
    assert await count(host, Partnership) == 0


async def test_today_is_the_offices_date_not_utcs(client, host, monkeypatch):
    """At 00:30 in Frankfurt it is still yesterday in UTC: a contact logged for Frankfurt's today
    is not in the future, and a partnership formalised today may be recorded."""
    just_after_midnight = datetime(2026, 11, 28, 23, 30, tzinfo=UTC)
    monkeypatch.setattr(partnerships, "utcnow", lambda: just_after_midnight)
    created = await create(client, host, krakow(formalised_on="2026-11-29", last_contact_on="2026-11-29"))
    assert (created["formalised_on"], created["last_contact_on"]) == ("2026-11-29", "2026-11-29")
    refused = await client.post("/partners/partnerships", headers=auth(host, *COORDINATOR),
                                json=krakow(partner_city="Lyon", partner_country="FR", last_contact_on="2026-11-30"))
    assert refused.status_code == 422 and "last_contact_on" in refused.text
    assert await count(host, Partnership) == 1


async def test_a_naive_instant_for_the_jobs_is_refused_and_says_nothing(client, host):
    await create(client, host, krakow(formalised_on="1991-05-20", last_contact_on="2020-01-01"))
    # With an offset, this instant says a jubilee and a lapse (see the test below); without, nothing.
    response = await client.post("/partners/jobs/run", json={"now": "2031-02-19T08:00:00"}, headers=auth(host, *ADMIN))
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "now"
    assert await events(host, "partners.anniversary.upcoming.v1") == []
    assert await events(host, "partners.partnership.dormant.v1") == []


async def test_a_duplicate_is_409_and_only_coordinators_edit(client, host):
    created = await create(client, host, krakow())
    duplicate = await client.post("/partners/partnerships", json=krakow(partner_city="Kraków"),
                                  headers=auth(host, *COORDINATOR))
    assert duplicate.status_code == 409 and created["id"] in duplicate.text
    assert (await client.post("/partners/partnerships", json=krakow(partner_city="Lyon", partner_country="FR"),
                              headers=auth(host, *ECON))).status_code == 403
    refused = await client.patch(f"/partners/partnerships/{created['id']}", json={"status": "dormant"},
                                 headers=auth(host, *ECON))
    assert refused.status_code == 403
    ended = await client.patch(f"/partners/partnerships/{created['id']}", headers=auth(host, *COORDINATOR),
                               json={"status": "suspended"})
    assert ended.status_code == 422 and "status_reason" in ended.text
    assert (await client.get(f"/partners/partnerships/{created['id']}",
                             headers=auth(host, *READER))).json()["status"] == "active"
    assert await count(host, Partnership) == 1


async def test_a_trip_to_a_partner_city_is_a_contact_and_news_for_its_desk_officer(client, host):
    partnership = await create(client, host, krakow())
    start = date.today() + timedelta(days=40)
    booked = await client.post("/travel/trips", headers=auth(host, *ECON), json={
        "title": "Trade mission", "legs": [
            {"city": "Kraków", "country": "PL", "start_date": start.isoformat(),
             "end_date": (start + timedelta(days=2)).isoformat()},
            {"city": "Katowice", "country": "PL", "start_date": (start + timedelta(days=2)).isoformat(),
             "end_date": (start + timedelta(days=3)).isoformat()}]})
    assert booked.status_code == 201
    delegation = await client.post("/travel/delegations", headers=auth(host, *COORDINATOR), json={
        "host_department": "MAYOR", "origin_city": "Krakow", "origin_country": "PL", "organisation": "City of Kraków",
        "visitors": 8, "arrival": (start + timedelta(days=60)).isoformat(),
        "departure": (start + timedelta(days=63)).isoformat(), "official_guest": True})
    assert delegation.status_code == 201, delegation.text

    await eventually(lambda: _is(count(host, Contact), 2), message="two contacts")
    timeline = (await client.get(f"/partners/partnerships/{partnership['id']}/timeline",
                                 headers=auth(host, *READER))).json()
    assert [(c["kind"], c["title"]) for c in timeline] == [
        ("delegation", "Delegation from Kraków (City of Kraków)"), ("trip", "Trade mission")]
    planned = await events(host, "partners.visit.planned.v1")
    assert [(e["kind"], e["by_department"]) for e in planned] == [("trip", "ECON"), ("delegation", "MAYOR")]
    assert planned[0]["desk_officer"] == {"name": "Eva Nowak", "email": "eva.nowak@city.example"}
    assert planned[0]["start_date"] == start.isoformat()
    stored = (await client.get(f"/partners/partnerships/{partnership['id']}", headers=auth(host, *READER))).json()
    assert stored["last_contact_on"] == (start + timedelta(days=60)).isoformat()


async def _is(awaitable, expected) -> bool:
    return await awaitable == expected


async def test_jobs_say_each_anniversary_and_lapse_once_however_often_they_run(client, host):
    partnership = await create(client, host, krakow(formalised_on="1991-05-20", last_contact_on="2020-01-01"))
    run_at = "2031-02-19T08:00:00Z"  # 90 days before the 40th anniversary, long past the maximum interval
    for _ in range(3):
        response = await client.post("/partners/jobs/run", json={"now": run_at}, headers=auth(host, *ADMIN))
        assert response.status_code == 200, response.text
    [jubilee] = await events(host, "partners.anniversary.upcoming.v1")
    assert (jubilee["years"], jubilee["on"], jubilee["days_ahead"]) == (40, "2031-05-20", 90)
    [lapse] = await events(host, "partners.partnership.dormant.v1")
    assert lapse["last_contact_on"] == "2020-01-01" and lapse["days_since_contact"] > 1095
    # 30 days before: the next lead; the lapse is not said again.
    await client.post("/partners/jobs/run", json={"now": "2031-04-25T08:00:00Z"}, headers=auth(host, *ADMIN))
    assert [e["days_ahead"] for e in await events(host, "partners.anniversary.upcoming.v1")] == [90, 25]
    assert len(await events(host, "partners.partnership.dormant.v1")) == 1
    # A new contact, then a new lapse: said again.
    today = date.today()
    logged = await client.post(f"/partners/partnerships/{partnership['id']}/contacts", headers=auth(host, *COORDINATOR),
                               json={"kind": "meeting", "on": today.isoformat(), "title": "Video call with the mayor"})
    assert logged.status_code == 201, logged.text
    later = (today + timedelta(days=1200)).isoformat() + "T08:00:00Z"
    await client.post("/partners/jobs/run", json={"now": later}, headers=auth(host, *ADMIN))
    assert [e["last_contact_on"] for e in await events(host, "partners.partnership.dormant.v1")] == \
        ["2020-01-01", today.isoformat()]
    assert (await client.post("/partners/jobs/run", json={}, headers=auth(host, *COORDINATOR))).status_code == 403


async def test_losing_touch_list_and_anniversaries_window(client, host):
    await create(client, host, krakow(last_contact_on=(date.today() - timedelta(days=2000)).isoformat()))
    await create(client, host, {"partner_city": "Lyon", "partner_country": "FR", "formalised_on": "1960-10-01",
                                "formalised_year_only": True})
    report = (await client.get("/partners/relationship-health", headers=auth(host, *READER))).json()
    assert [(r["partner_city"], r["health"]) for r in report] == [("Kraków", "overdue"), ("Lyon", "ok")]
    overdue = (await client.get("/partners/relationship-health", params={"state": "overdue"},
                                headers=auth(host, *READER))).json()
    assert [r["partner_city"] for r in overdue] == ["Kraków"]
    window = (await client.get("/partners/anniversaries", params={"within_days": 36500, "as_of": "2029-06-01"},
                               headers=auth(host, *READER))).json()
    assert [(a["partner_city"], a["years"], a["on"]) for a in window] == [
        ("Kraków", 40, "2031-05-20"), ("Lyon", 75, "2035-01-01")]  # 70 years is no jubilee


async def test_the_limit_applies_to_partnerships_of_the_theme_asked_for(client, host):
    await create(client, host, {"partner_city": "Birmingham", "partner_country": "GB", "formalised_on": "1966-01-01"})
    krakow_ = await create(client, host, krakow(themes=["climate"]))
    found = (await client.get("/partners/partnerships", params={"theme": "climate", "limit": 1},
                              headers=auth(host, *READER))).json()
    assert [p["id"] for p in found] == [krakow_["id"]]  # Birmingham sorts first but is not about climate


async def test_partnerships_come_in_pages_that_miss_and_repeat_none(client, host):
    cities = [("Lyon", "FR"), ("Birmingham", "GB"), ("Krakau", "PL"), ("Prag", "CZ"), ("Wien", "AT")]
    made = {}
    for i, (city, country) in enumerate(cities):
        themes = ["climate"] if i % 2 == 0 else ["culture"]
        made[city] = (await create(client, host, {"partner_city": city, "partner_country": country,
                                                  "formalised_on": "1990-01-01", "themes": themes}))["id"]

    async def walk(**params) -> list[list[str]]:
        pages, cursor = [], None
        while True:
            response = await client.get("/partners/partnerships", headers=auth(host, *READER),
                                        params={**params, "limit": 2, **({"cursor": cursor} if cursor else {})})
            assert response.status_code == 200, response.text
            pages.append([p["partner_city"] for p in response.json()])
            if (cursor := response.headers.get("X-Next-Cursor")) is None:
                return pages

    assert await walk() == [["Birmingham", "Kraków"], ["Lyon", "Prague"], ["Vienna"]]
    # Three match the theme, in an order with others between them: still pages of two, none lost.
    assert await walk(theme="climate") == [["Kraków", "Lyon"], ["Vienna"]]
    refused = await client.get("/partners/partnerships", params={"cursor": "nonsense"}, headers=auth(host, *READER))
    assert refused.status_code == 422 and "cursor" in refused.text


async def test_a_restricted_trip_to_a_partner_city_is_seen_only_by_the_coordinators_and_its_department(client, host):
    partnership = await create(client, host, krakow())
    start = date.today() + timedelta(days=40)
    booked = await client.post("/travel/trips", headers=auth(host, *ECON), json={
        "title": "Confidential talks", "visibility": "restricted", "legs": [
            {"city": "Kraków", "country": "PL", "start_date": start.isoformat(),
             "end_date": (start + timedelta(days=2)).isoformat()}]})
    assert booked.status_code == 201, booked.text
    await eventually(lambda: _is(count(host, Contact), 1), message="the visit recorded")

    def timeline(*who):
        return client.get(f"/partners/partnerships/{partnership['id']}/timeline", headers=auth(host, *who))
    for who in (COORDINATOR, ECON):
        [visit] = (await timeline(*who)).json()
        assert (visit["title"], visit["department"], visit["restricted"]) == ("A restricted trip", "ECON", True)
    for who in (READER, CULT):
        response = await timeline(*who)
        assert response.status_code == 200 and response.json() == []
    # Its dates are not the partnership's last contact (read by everyone) ...
    stored = (await client.get(f"/partners/partnerships/{partnership['id']}", headers=auth(host, *READER))).json()
    assert stored["last_contact_on"] != start.isoformat()
    # ... and the news says it is restricted, so notifications tells the coordinators alone.
    [planned] = await events(host, "partners.visit.planned.v1")
    assert planned["restricted"] is True and "Confidential" not in json.dumps(planned)
    async def coordinators_heard() -> bool:
        return len(await _feed(client, host, "OIA")) == 1
    await eventually(coordinators_heard, message="the coordinators' feed has the visit")
    assert await _feed(client, host, "person-eva.nowak", prefix=True) == []


async def _feed(client, host, recipient: str, prefix: bool = False) -> list[dict]:
    """The recipient's feed items about visits (with `prefix`, every recipient whose id starts so)."""
    ids = [recipient]
    if prefix:
        listed = (await client.get("/notifications/recipients", headers=auth(host, *COORDINATOR))).json()
        ids = [r["id"] for r in listed if r["id"].startswith(recipient)]
    items = []
    for rid in ids:
        items += (await client.get("/notifications/feed", params={"recipient": rid},
                                   headers=auth(host, *COORDINATOR))).json()
    return [i for i in items if i["event_type"] == "partners.visit.planned.v1"]
