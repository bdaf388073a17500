"""Hostile input: every class that once made a service answer 5xx now gets a 4xx naming the field and
stores nothing, and the widest values the services accept never break a read (calendar feeds, lists)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select, update

from services.grants.models import Application, Call
from services.notifications.models import Recipient
from services.partners.models import Organisation, Partnership, Person
from services.travel.models import Delegation, Leg, Trip
from shared.tables import outbox
from tests.component.test_grants_api import create_call, start_application, twinning_call
from tests.support.embedded import auth

ECON, COORDINATOR, ADMIN = ("department", "ECON"), ("coordinator", "OIA"), ("admin", None)
LEG = {"city": "Chongqing", "country": "CN", "start_date": "2027-05-12", "end_date": "2027-05-15"}
TRIP = {"title": "Trade fair", "purpose": "trade_fair", "legs": [LEG]}
DELEGATION = {"origin_city": "Kraków", "origin_country": "PL", "visitors": 5,
              "arrival": "2027-06-01", "departure": "2027-06-03"}
PARTNERSHIP = {"partner_city": "Kraków", "partner_country": "PL", "formalised_on": "1991-05-20"}
HUGE = 2 ** 70


async def count(host, service: str, table) -> int:
    async with host.runtimes[service].engine.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(table))


async def nothing_stored(host, service: str, *tables) -> bool:
    return all([await count(host, service, t) == 0 for t in (*tables, outbox)])


def refused(response, field: str, status: int = 422) -> dict:
    """The answer is a problem of `status` whose errors name `field`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert field in [e["field"] for e in problem.get("errors", [])], problem
    return problem


# -- dates at the calendar's edges, ids past 64 bits ------------------------------------------------

@pytest.mark.parametrize("leg,field", [
    ({**LEG, "start_date": "0001-01-01", "end_date": "0001-01-02"}, "legs[0].start_date"),
    ({**LEG, "start_date": "9999-12-30", "end_date": "9999-12-31"}, "legs[0].start_date"),
    ({**LEG, "start_date": "2200-12-31", "end_date": "2201-01-01"}, "legs[0].end_date"),
    ({**LEG, "place_id": HUGE}, "legs[0].place_id"),
    ({**LEG, "place_id": -1}, "legs[0].place_id"),
])
async def test_a_trip_beyond_what_the_system_represents_is_refused(client, host, leg, field):
    problem = refused(await client.post("/travel/trips", json={**TRIP, "legs": [leg]}, headers=auth(host, *ECON)),
                      field)
    assert "1900-01-01 and 2200-12-31" in json.dumps(problem) or "place_id" in field
    assert await nothing_stored(host, "travel", Trip, Leg)


@pytest.mark.parametrize("body,field", [
    ({**DELEGATION, "arrival": "9999-12-31", "departure": "9999-12-31"}, "arrival"),
    ({**DELEGATION, "arrival": "0001-01-01", "departure": "0001-01-01"}, "arrival"),
    ({**DELEGATION, "origin_place_id": HUGE}, "origin_place_id"),
])
async def test_a_delegation_beyond_what_the_system_represents_is_refused(client, host, body, field):
    refused(await client.post("/travel/delegations", json=body, headers=auth(host, *ECON)), field)
    assert await nothing_stored(host, "travel", Delegation)


@pytest.mark.parametrize("change,field", [
    ({"arrival": "1900-01-01"}, "arrival"),
    ({"departure": "2200-12-31"}, "departure"),
])
async def test_a_delegation_patched_past_the_longest_visit_is_refused(client, host, change, field):
    announced = await client.post("/travel/delegations", json=DELEGATION, headers=auth(host, *ECON))
    assert announced.status_code == 201
    refused(await client.patch(f"/travel/delegations/{announced.json()['id']}", json=change,
                               headers=auth(host, *ECON)), field)
    stored = (await client.get(f"/travel/delegations/{announced.json()['id']}", headers=auth(host, *ECON))).json()
    assert (stored["arrival"], stored["departure"]) == (DELEGATION["arrival"], DELEGATION["departure"])


@pytest.mark.parametrize("body,field", [
    ({**PARTNERSHIP, "formalised_on": "0001-01-01"}, "formalised_on"),
    ({**PARTNERSHIP, "ends_on": "9999-12-31", "kind": "time_limited"}, "ends_on"),
    ({**PARTNERSHIP, "last_contact_on": "9999-12-31"}, "last_contact_on"),
    ({**PARTNERSHIP, "partner_place_id": HUGE}, "partner_place_id"),
])
async def test_a_partnership_beyond_what_the_system_represents_is_refused(client, host, body, field):
    refused(await client.post("/partners/partnerships", json=body, headers=auth(host, *COORDINATOR)), field)
    assert await nothing_stored(host, "partners", Partnership)


@pytest.mark.parametrize("service", ["partners", "grants"])
@pytest.mark.parametrize("now", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:30:00+01:00"])
async def test_jobs_run_as_of_an_instant_at_the_calendars_edge_are_refused(client, host, service, now):
    refused(await client.post(f"/{service}/jobs/run", json={"now": now}, headers=auth(host, *ADMIN)), "now")


@pytest.mark.parametrize("change,field", [
    ({"deadlines": ["9999-12-31T23:59:59-14:00"]}, "deadlines[0]"),
    ({"deadlines": ["9999-12-31"]}, "deadlines[0]"),
    ({"opens_at": "0001-01-01T00:00:00+14:00"}, "opens_at"),
])
async def test_a_call_with_dates_at_the_calendars_edge_is_refused(client, host, change, field):
    body = {"identifier": "CERV-2027-CITIZENS-TOWN-TT", "programme": "cerv", "title": "Town-Twinning",
            "deadlines": ["2027-03-31"], **change}
    refused(await client.post("/grants/calls", json=body, headers=auth(host, *COORDINATOR)), field)
    assert await nothing_stored(host, "grants", Call)


# -- empty-string references -------------------------------------------------------------------------

@pytest.mark.parametrize("path,body,field,table", [
    ("organizations", {"kind": "partnership_club", "name": "Friends of Kraków", "partnership_id": ""},
     "partnership_id", Organisation),
    ("people", {"name": "Marta Wiśniewska", "organisation_id": ""}, "organisation_id", Person),
    ("people", {"name": "Marta Wiśniewska", "partnership_id": ""}, "partnership_id", Person),
])
async def test_an_empty_reference_is_refused_not_stored(client, host, path, body, field, table):
    refused(await client.post(f"/partners/{path}", json=body, headers=auth(host, *COORDINATOR)), field)
    assert await count(host, "partners", table) == 0


async def test_an_empty_partnership_reference_in_a_consortium_is_refused(client, host):
    call = await create_call(client, host, twinning_call())
    body = {"call_id": call["id"], "title": "Twinning", "requested_amount": 25_000,
            "owner": {"name": "Jana Weber", "email": "jana.weber@city.example"},
            "consortium": [{"name": "City of Kraków", "city": "Krakau", "country": "PL", "partnership_id": ""}]}
    refused(await client.post("/grants/applications", json=body, headers=auth(host, *ECON)),
            "consortium[0].partnership_id")
    assert await count(host, "grants", Application) == 0


# -- numbers JSON cannot carry back, cursors and URLs that do not parse --------------------------

async def test_an_amount_that_overflows_to_infinity_is_refused_not_stored(client, host):
    # 1e400 parses as infinity: stored, it would break every list of organisations (JSON has no Infinity).
    body = b'{"kind": "network", "name": "Eurocities", "dues_amount": 1e400, "dues_currency": "EUR"}'
    refused(await client.post("/partners/organizations", content=body,
                              headers={**auth(host, *COORDINATOR), "content-type": "application/json"}), "dues_amount")
    assert await count(host, "partners", Organisation) == 0
    assert (await client.get("/partners/organizations", headers=auth(host, *COORDINATOR))).status_code == 200


@pytest.mark.parametrize("path", ["/travel/trips", "/grants/applications"])
@pytest.mark.parametrize("instant", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"])
async def test_a_list_cursor_at_the_calendars_edge_is_refused(client, host, path, instant):
    refused(await client.get(path, params={"cursor": f"{instant}|x"}, headers=auth(host, *COORDINATOR)),
            "query.cursor")


async def test_an_import_url_that_is_no_url_is_refused(client, host):
    response = await client.post("/grants/calls/import", params={"url": "http://\x06"},
                                 headers=auth(host, *COORDINATOR))
    refused(response, "query.url")


async def test_a_partner_finder_filter_partners_refuses_is_the_callers_422_not_a_503(client, host):
    call = await create_call(client, host, twinning_call())
    started = await start_application(client, host, call["id"], who=ECON)
    response = await client.get(f"/grants/applications/{started['id']}/partner-candidates",
                                params={"theme": "0"}, headers=auth(host, *ECON))
    refused(response, "query.theme")


@pytest.mark.parametrize("change,field", [
    ({"timezone": "America"}, "timezone"),  # a directory of the zone database: IsADirectoryError
    ({"timezone": "zone.tab"}, "timezone"),
    ({"quiet_start": "22:00+05:00", "quiet_end": "07:00"}, "quiet_start"),  # aware vs. local: TypeError later
    ({"quiet_start": 79200, "quiet_end": "07:00"}, "quiet_start"),  # seconds: not the HH:MM the document says
])
async def test_a_recipient_whose_time_zone_or_quiet_hours_cannot_be_used_is_refused(client, host, change, field):
    body = {"id": "ECON", "kind": "department", "name": "ECON office", "department": "ECON",
            "channels": [{"kind": "email", "address": "econ@city.example"}], **change}
    refused(await client.post("/notifications/recipients", json=body, headers=auth(host, *COORDINATOR)), field)
    assert await count(host, "notifications", Recipient) == 0


@pytest.mark.parametrize("body", [
    b'{"title": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
    b'{"title": "\\u0000", "x": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",  # also past the NUL guard's parse
])
async def test_a_json_body_nested_past_the_parsers_limit_is_a_4xx_naming_the_body(client, host, body):
    response = await client.post("/travel/trips", content=body,
                                 headers={**auth(host, *ECON), "content-type": "application/json"})
    refused(response, "body", status=400)
    assert await nothing_stored(host, "travel", Trip)


# -- NUL characters (PostgreSQL text cannot hold them) -------------------------------------------

async def test_a_nul_in_a_json_body_is_refused_naming_the_field(client, host):
    body = {**TRIP, "legs": [LEG, {**LEG, "city": "Chong\x00qing", "start_date": "2027-05-15",
                                   "end_date": "2027-05-16"}]}
    refused(await client.post("/travel/trips", json=body, headers=auth(host, *ECON)), "legs[1].city")
    refused(await client.post("/travel/trips", json={**TRIP, "title": "\x00"}, headers=auth(host, *ECON)), "title")
    assert await nothing_stored(host, "travel", Trip)
    # An escaped backslash before "u0000" is ordinary text, not a NUL.
    fine = await client.post("/travel/trips", json={**TRIP, "title": "C:\\u0000"}, headers=auth(host, *ECON))
    assert fine.status_code == 201 and fine.json()["title"] == "C:\\u0000"


@pytest.mark.parametrize("encoding,content_type", [
    ("utf-16", "application/json"),  # the escape is no longer the bytes the cheap check looks for
    ("utf-8", "APPLICATION/JSON"),  # media types are case-insensitive
])
async def test_a_nul_in_any_json_body_is_refused(client, host, encoding, content_type):
    body = json.dumps({**TRIP, "title": "Trade\x00fair"}).encode(encoding)
    refused(await client.post("/travel/trips", content=body,
                              headers={**auth(host, *ECON), "content-type": content_type}), "title")
    assert await nothing_stored(host, "travel", Trip)


async def test_a_nul_in_the_query_or_path_is_refused(client, host):
    refused(await client.get("/travel/trips?city=K%00ln", headers=auth(host, *ECON)), "query.city")
    refused(await client.get("/partners/partnerships/abc%00def", headers=auth(host, *COORDINATOR)), "path")


# -- imports: the partners' CSV register and the portal's SEDIA JSON -----------------------------

CSV_HEADER = "home_city,home_country,partner_city,partner_country,year\n"


@pytest.mark.parametrize("register,words", [
    (CSV_HEADER + "Frankfurt am Main,DE,Lyon,FR,1960\n" + "Frankfurt am Main,DE," + "x" * 140_000 + ",FR,1960\n",
     "line 3"),
    (CSV_HEADER + "Frankfurt am Main,DE,Lyon,FR,1960\rFrankfurt am Main,DE,Kraków,PL,1991\n", "line 2"),
])
async def test_a_csv_line_the_csv_module_cannot_read_is_refused_naming_it(client, host, register, words):
    response = await client.post("/partners/partnerships/import", params={"mode": "row_by_row"},
                                 content=register.encode(),
                                 headers={**auth(host, *COORDINATOR), "content-type": "text/csv"})
    problem = refused(response, "body")
    assert words in problem["detail"], problem
    assert await nothing_stored(host, "partners", Partnership)


async def portal_import(client, host, document: bytes | str):
    return await client.post("/grants/calls/import", content=document,
                             headers={**auth(host, *COORDINATOR), "Content-Type": "application/json"})


async def test_a_portal_answer_nested_ten_thousand_deep_is_refused(client, host):
    refused(await portal_import(client, host, '{"results": ' + "[" * 10_000 + "]" * 10_000 + "}"), "body")
    refused(await portal_import(client, host, '{"results": [' + "1" * 5000 + "]}"), "body")
    assert await nothing_stored(host, "grants", Call)


@pytest.mark.parametrize("title", ["Nature\x00", "Nature\ud800"])
async def test_text_no_database_can_store_in_a_portal_answer_is_refused_naming_where(client, host, title):
    document = {"results": [{"metadata": {"identifier": ["LIFE-2027-NUL"], "deadlineDate": ["2027-05-01"],
                                          "title": [title]}}]}
    refused(await portal_import(client, host, json.dumps(document)), "results[0].metadata.title[0]")
    assert await nothing_stored(host, "grants", Call)


async def test_portal_fields_of_the_wrong_type_skip_the_row_with_the_reason(client, host):
    rows = [
        {"identifier": ["LIFE-2027-A"], "deadlineDate": [20270501]},
        {"identifier": ["LIFE-2027-B"], "deadlineDate": [{"at": "2027-05-01"}]},
        {"identifier": ["LIFE-2027-C"], "deadlineDate": ["9999-12-31T23:00:00-05:00"]},
        {"identifier": ["LIFE-2027-D"], "deadlineDate": ["0001-01-01T00:00:00+01:00"]},
        {"identifier": ["LIFE-2027-" + "E" * 200], "deadlineDate": ["2027-05-01"]},
        {"identifier": ["LIFE-2027-F"], "deadlineDate": ["2027-05-01"], "budgetOverview": ["[1, 2]"]},
        {"identifier": ["LIFE-2027-G"], "deadlineDate": ["2027-05-01"], "budgetOverview": [json.dumps(
            {"budgetTopicActionMap": {"1": ["not an action", {"action": "LIFE-2027-G", "budgetYearMap": [1],
                                                              "maxContribution": 10 ** 400}]}})]},
        {"identifier": ["LIFE-2027-H"], "deadlineDate": ["2027-05-01"], "keywords": ["[" * 5000 + "]" * 5000],
         "startDate": [["2027-01-01"]], "title": [{"en": "x"}], "callTitle": ["t" * 2000]},
    ]
    response = await portal_import(client, host, json.dumps({"results": [{"metadata": m} for m in rows]}))
    assert response.status_code == 200, response.text
    report = {r["identifier"][:12]: r for r in response.json()["report"]}
    assert {k: r["status"] for k, r in report.items()} == {
        "LIFE-2027-A": "skipped", "LIFE-2027-B": "skipped", "LIFE-2027-C": "skipped", "LIFE-2027-D": "skipped",
        "LIFE-2027-EE": "skipped", "LIFE-2027-F": "created", "LIFE-2027-G": "created", "LIFE-2027-H": "skipped"}
    assert "is not between 1900-01-01 and 2200-12-31" in report["LIFE-2027-C"]["reason"]
    assert "longer than 120" in report["LIFE-2027-EE"]["reason"]
    assert await count(host, "grants", Call) == 2
    calls = (await client.get("/grants/calls", headers=auth(host, *COORDINATOR))).json()
    assert {c["identifier"]: c["grant_max"] for c in calls} == {"LIFE-2027-F": None, "LIFE-2027-G": None}


# -- the widest allowed values never break a read ------------------------------------------------

async def feeds(client, host) -> list:
    urls = []
    for who, body in ((ECON, {}), (COORDINATOR, {})):
        response = await client.post("/travel/calendar/tokens", json=body, headers=auth(host, *who))
        assert response.status_code == 201, response.text
        urls.append(response.json()["url"])
    for who in (ECON, COORDINATOR):
        response = await client.post("/grants/calendar/tokens", json={}, headers=auth(host, *who))
        assert response.status_code == 201, response.text
        urls.append(response.json()["url"])
    return urls


async def test_the_widest_dates_allowed_never_break_a_feed_or_a_list(client, host):
    last = {**TRIP, "legs": [{**LEG, "start_date": "2200-12-30", "end_date": "2200-12-31"}]}
    first = {**TRIP, "legs": [{**LEG, "start_date": "1900-01-01", "end_date": "1900-01-02"}]}
    for body in (last, first):
        assert (await client.post("/travel/trips", json=body, headers=auth(host, *ECON))).status_code == 201
    for arrival, departure in (("1900-01-01", "1900-01-01"), ("2200-12-31", "2200-12-31")):
        response = await client.post("/travel/delegations", headers=auth(host, *ECON),
                                     json={**DELEGATION, "arrival": arrival, "departure": departure})
        assert response.status_code == 201, response.text
    call = {"identifier": "CERV-2200-LAST", "programme": "cerv", "title": "The last call",
            "opens_at": "1900-01-01T00:00:00+14:00", "deadlines": ["2200-12-31T23:59:59-12:00"]}
    assert (await client.post("/grants/calls", json=call, headers=auth(host, *COORDINATOR))).status_code == 201
    partnership = {**PARTNERSHIP, "formalised_on": "1900-01-01", "kind": "time_limited", "ends_on": "2200-12-31",
                   "last_contact_on": "1900-01-01"}
    assert (await client.post("/partners/partnerships", json=partnership,
                              headers=auth(host, *COORDINATOR))).status_code == 201

    travel_econ, travel_city, grants_econ, grants_city = await feeds(client, host)
    for url in (travel_econ, travel_city, grants_econ, grants_city):
        response = await client.get(url)
        assert response.status_code == 200, (url, response.text)
        # ECON has no grant applications; every other feed shows the edge dates.
        assert url == grants_econ or b"BEGIN:VEVENT" in response.content
    assert b"DTEND;VALUE=DATE:22010101" in (await client.get(travel_city)).content
    for path in ("/travel/trips", "/travel/delegations", "/travel/overlaps", "/travel/summary?year=2200",
                 "/grants/calls", "/grants/reports?year=2100", "/partners/partnerships",
                 "/partners/anniversaries?within_days=36500", "/partners/relationship-health"):
        response = await client.get(path, headers=auth(host, *COORDINATOR))
        assert response.status_code == 200, (path, response.text)
    for service in ("partners", "grants"):
        response = await client.post(f"/{service}/jobs/run", json={"now": "2200-12-31T23:59:59-12:00"},
                                     headers=auth(host, *ADMIN))
        assert response.status_code == 200, (service, response.text)


async def test_a_trip_stored_ending_on_the_last_day_python_knows_does_not_break_the_feeds(client, host):
    """Stored before the bounds existed (or written by other means): the feeds still answer."""
    booked = await client.post("/travel/trips", json=TRIP, headers=auth(host, *ECON))
    assert booked.status_code == 201
    delegation = await client.post("/travel/delegations", json=DELEGATION, headers=auth(host, *ECON))
    assert delegation.status_code == 201
    async with host.runtimes["travel"].engine.begin() as conn:
        await conn.execute(update(Leg).values(end_date=date.max))
        await conn.execute(update(Delegation).values(departure=date.max))
    urls = (await feeds(client, host))[:2]
    for url in urls:
        response = await client.get(url)
        assert response.status_code == 200, response.text
        assert b"DTEND;VALUE=DATE:99991231" in response.content
    for path in ("/travel/trips", "/travel/delegations", f"/travel/trips/{booked.json()['id']}"):
        assert (await client.get(path, headers=auth(host, *ECON))).status_code == 200


async def test_partnerships_and_calls_stored_at_the_calendars_edges_do_not_break_a_read(client, host):
    """Dates stored before the bounds existed: every read, feed and scheduled job still answers."""
    coordinator = auth(host, *COORDINATOR)
    late = (await client.post("/partners/partnerships", headers=coordinator, json={
        **PARTNERSHIP, "kind": "time_limited", "ends_on": "2030-01-01"})).json()
    early = (await client.post("/partners/partnerships", headers=coordinator, json={
        **PARTNERSHIP, "partner_city": "Lyon", "partner_country": "FR"})).json()
    call = await create_call(client, host, twinning_call())
    application = await start_application(client, host, call["id"], who=ECON)
    async with host.runtimes["partners"].engine.begin() as conn:
        await conn.execute(update(Partnership).where(Partnership.id == late["id"]).values(
            formalised_on=date.max, ends_on=date.max, last_contact_on=date.max))
        await conn.execute(update(Partnership).where(Partnership.id == early["id"]).values(
            formalised_on=date.min, last_contact_on=date.min))
    async with host.runtimes["grants"].engine.begin() as conn:
        await conn.execute(update(Call).values(deadlines=[{"stage": 1, "at": "9999-12-31T23:59:59+00:00"}],
                                               opens_at=datetime(1, 1, 1, tzinfo=UTC)))
    for path in ("/partners/partnerships", f"/partners/partnerships/{late['id']}", "/partners/relationship-health",
                 "/partners/anniversaries?within_days=36500", "/partners/finder", "/grants/calls",
                 f"/grants/calls/{call['id']}", "/grants/applications", f"/grants/applications/{application['id']}",
                 f"/grants/applications/{application['id']}/eligibility"):
        response = await client.get(path, headers=coordinator)
        assert response.status_code == 200, (path, response.text)
    for service in ("partners", "grants"):
        response = await client.post(f"/{service}/jobs/run", json={}, headers=auth(host, *ADMIN))
        assert response.status_code == 200, (service, response.text)
    feed = (await client.post("/grants/calendar/tokens", json={}, headers=coordinator)).json()["url"]
    response = await client.get(feed)
    assert response.status_code == 200 and b"BEGIN:VEVENT" in response.content
    shown = (await client.get(f"/grants/calls/{call['id']}", headers=coordinator)).json()
    assert shown["deadlines"][0]["at"].startswith("2201-01-01T00:59:59")  # held at the bound, in Brussels
