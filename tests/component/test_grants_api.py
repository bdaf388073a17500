"""Grants through the embedded host: calls and their import, applications and the pipeline,
eligibility, partner search (partners asked over HTTP), the city profile, reports, reminders and
the deadline calendar — and every bad input refused with nothing stored."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import icalendar
import pytest
from sqlalchemy import func, select

from services.grants import domain
from services.grants.models import Application, Call, Reminder, StageChange
from shared.tables import outbox
from tests.support.embedded import auth

COORDINATOR, ADMIN, ENV, ECON, READER = (("coordinator", "OIA"), ("admin", None), ("department", "ENV"),
                                         ("department", "ECON"), ("reader", None))
FIXTURE = Path(__file__).parents[2] / "services" / "grants" / "data" / "portal_calls.json"
UTC = UTC


@pytest.fixture
def env_key(host):
    host.keys[ENV] = "env-env-key"  # provisioned from OIA_API_KEYS by the host fixture
    return host


def reconfigure(host, **settings) -> None:
    """Grants with other settings: its context is built from them anew, as a restart would."""
    grants = host.runtimes["grants"]
    grants.settings = grants.settings.model_copy(update=settings)
    grants._context = grants.spec.bootstrap(grants)


async def count(host, model, *where) -> int:
    async with host.runtimes["grants"].engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


async def events(host, event_type: str) -> list[dict]:
    async with host.runtimes["grants"].engine.connect() as conn:
        rows = (await conn.execute(select(outbox).where(outbox.c.type == event_type).order_by(outbox.c.seq))).all()
    return [json.loads(row.payload) for row in rows]


def twinning_call(**extra) -> dict:
    return {"identifier": "CERV-2027-CITIZENS-TOWN-TT", "programme": "cerv", "title": "Town-Twinning",
            "opens_at": "2027-01-10", "deadlines": ["2027-03-31"], "budget": 4_000_000, "grant_max": 30_000,
            "themes": ["town twinning", "citizens"], **extra}


async def create_call(client, host, body: dict) -> dict:
    response = await client.post("/grants/calls", json=body, headers=auth(host, *COORDINATOR))
    assert response.status_code == 201, response.text
    return response.json()


def application(call_id: str, **extra) -> dict:
    return {"call_id": call_id, "title": "Twinning for climate action", "requested_amount": 25_000,
            "owner": {"name": "Jana Weber", "email": "jana.weber@city.example"},
            "consortium": [{"name": "City of Kraków", "city": "Krakau", "country": "PL", "role": "partner"}], **extra}


async def start_application(client, host, call_id: str, who=ENV, **extra) -> dict:
    response = await client.post("/grants/applications", json=application(call_id, **extra), headers=auth(host, *who))
    assert response.status_code == 201, response.text
    return response.json()


async def move(client, host, application_id: str, stage: str, who=ENV, **extra):
    return await client.post(f"/grants/applications/{application_id}/stage", json={"stage": stage, **extra},
                             headers=auth(host, *who))


# -- calls ----------------------------------------------------------------------------------------

async def test_a_call_stores_its_deadlines_at_17_00_brussels_and_derives_status_and_rules(client, host):
    call = await create_call(client, host, twinning_call(deadlines=["2027-02-15", "2027-03-31"]))
    assert [d["at"] for d in call["deadlines"]] == ["2027-02-15T17:00:00+01:00", "2027-03-31T17:00:00+02:00"]
    assert call["rules"] == {"min_applicants": 1, "min_countries": 2, "min_eu_members": 1,
                             "source": domain.TOWN_TWINNING.source}
    assert call["status"] in ("forthcoming", "open", "closed")
    async with host.runtimes["grants"].engine.connect() as conn:
        stored = (await conn.execute(select(Call.deadlines))).scalar_one()
    assert stored == [{"stage": 1, "at": "2027-02-15T17:00:00+01:00"}, {"stage": 2, "at": "2027-03-31T17:00:00+02:00"}]
    # It speaks of the city's themes: the EU funding team hears of it.
    [published] = await events(host, "grants.call.published.v1")
    assert published["identifier"] == "CERV-2027-CITIZENS-TOWN-TT"
    assert set(published["matched_themes"]) >= {"town twinning", "citizens"}


@pytest.mark.parametrize("change,field", [
    ({"opens_at": "2027-04-01"}, "deadlines[0]"),  # a deadline before the opening date
    ({"deadlines": ["2027-05-01", "2027-03-01"]}, "deadlines[1]"),  # stage deadlines reversed
    ({"deadlines": []}, "deadlines"),
    ({"deadlines": ["2027-01-01", "2027-02-01", "2027-03-01"]}, "deadlines"),
    ({"programme": "eurovision"}, "programme"),
    ({"budget": -1}, "budget"),
    ({"grant_max": 5_000_000}, "grant_max"),  # above the call's budget
    ({"deadlines": ["31/03/2027"]}, "deadlines[0]"),
    ({"deadlines": ["2027-03-31T17:00:00"]}, "deadlines[0]"),  # a time without its offset is ambiguous
    ({"identifier": "CERV 2027 / TT"}, "identifier"),
    ({"url": "javascript:alert(1)"}, "url"),
])
async def test_bad_calls_are_refused_naming_the_field_and_nothing_is_stored(client, host, change, field):
    response = await client.post("/grants/calls", json=twinning_call(**change), headers=auth(host, *COORDINATOR))
    assert response.status_code == 422, response.text
    assert field in {e["field"] for e in response.json()["errors"]}
    assert await count(host, Call) == 0
    assert await events(host, "grants.call.published.v1") == []


async def test_calls_are_listed_soonest_deadline_first_page_by_page(client, host):
    soon = date.today() + timedelta(days=10)
    for n, days in enumerate((40, 10, 25, -5)):  # the last one closed five days ago
        await create_call(client, host, twinning_call(identifier=f"CERV-2027-LIST-{n}", opens_at=None,
                                                      deadlines=[(soon + timedelta(days=days - 10)).isoformat()]))
    seen, cursor = [], None
    while True:
        page = await client.get("/grants/calls", params={"limit": 3, **({"cursor": cursor} if cursor else {})},
                                headers=auth(host, *READER))
        seen += [(c["identifier"][-1], c["status"]) for c in page.json()]
        cursor = page.headers.get("X-Next-Cursor")
        if not cursor:
            break
    assert seen == [("1", "open"), ("2", "open"), ("0", "open"), ("3", "closed")]
    open_only = await client.get("/grants/calls", params={"status": "open"}, headers=auth(host, *READER))
    assert len(open_only.json()) == 3


async def test_only_coordinators_record_calls_and_an_identifier_is_recorded_once(client, host):
    response = await client.post("/grants/calls", json=twinning_call(), headers=auth(host, *ECON))
    assert response.status_code == 403 and "coordinators" in response.json()["detail"]
    await create_call(client, host, twinning_call())
    again = await client.post("/grants/calls", json=twinning_call(), headers=auth(host, *COORDINATOR))
    assert again.status_code == 409 and again.json()["errors"][0]["field"] == "identifier"
    assert await count(host, Call) == 1


async def test_importing_the_portals_answer_upserts_by_identifier_and_says_what_changed(client, host):
    headers = {**auth(host, *COORDINATOR), "Content-Type": "application/json"}
    response = await client.post("/grants/calls/import", content=FIXTURE.read_bytes(), headers=headers)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["rows"], report["created"], report["updated"], report["skipped"]) == (8, 5, 0, 3)
    assert [r["reason"] for r in report["report"] if r["status"] == "skipped"] == [
        "no deadline yet", "the identifier appears earlier in the file",
        "programme of EDF-2027-DA-SPACE-SSA is not one the office follows"]
    assert await count(host, Call) == 5
    # The ones on the city's themes are announced (the space call was skipped; all five match something).
    published = {e["identifier"] for e in await events(host, "grants.call.published.v1")}
    assert "CERV-2027-CITIZENS-TOWN-TT" in published and "HORIZON-MISS-2027-CIT-01-01" in published

    # The same answer again: nothing changes, nothing is said.
    again = (await client.post("/grants/calls/import", content=FIXTURE.read_bytes(), headers=headers)).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 5)
    assert await events(host, "grants.call.updated.v1") == []

    # The portal moves a deadline and raises a budget: a new version, and an event naming the changes.
    document = json.loads(FIXTURE.read_bytes())
    metadata = document["results"][0]["metadata"]
    metadata["deadlineDate"] = ["2027-02-26T00:00:00.000+0000"]
    metadata["budgetOverview"] = [metadata["budgetOverview"][0].replace("4000000", "4500000")]
    moved = (await client.post("/grants/calls/import", content=json.dumps(document), headers=headers)).json()
    assert moved["updated"] == 1
    assert next(r for r in moved["report"] if r["status"] == "updated")["changes"] == ["deadlines", "budget"]
    [updated] = await events(host, "grants.call.updated.v1")
    assert updated["version"] == 2 and updated["identifier"] == "CERV-2027-CITIZENS-TOWN-TT"
    assert {c["field"]: (c["before"], c["after"]) for c in updated["changes"]} == {
        "deadlines": ("1: 2027-02-19T17:00:00+01:00", "1: 2027-02-26T17:00:00+01:00"),
        "budget": ("4000000.00", "4500000.00")}
    call_id = updated["call_id"]
    versions = (await client.get(f"/grants/calls/{call_id}/versions", headers=auth(host, *READER))).json()
    assert [v["version"] for v in versions] == [2]

    # A new title is taken over, but it is no news: no version, no event.
    metadata["title"] = ["Town-Twinning 2027"]
    retitled = (await client.post("/grants/calls/import", content=json.dumps(document), headers=headers)).json()
    assert next(r for r in retitled["report"] if r["status"] == "updated")["changes"] == ["title"]
    assert len(await events(host, "grants.call.updated.v1")) == 1
    call = (await client.get(f"/grants/calls/{call_id}", headers=auth(host, *READER))).json()
    assert (call["title"], call["version"]) == ("Town-Twinning 2027", 2)


async def test_an_imported_row_that_breaks_a_calls_rules_is_skipped_with_the_reason(client, host):
    overview = json.dumps({"budgetTopicActionMap": {"1": [{"action": "LIFE-2027-BAD - GRANT",
                                                            "budgetYearMap": {"2027": 100_000},
                                                            "maxContribution": 2_000_000}]}})
    document = {"results": [
        {"metadata": {"identifier": ["LIFE-2027-BAD"], "deadlineDate": ["2027-05-01"], "budgetOverview": [overview]}},
        {"metadata": {"identifier": ["LIFE-2027-GOOD"], "deadlineDate": ["2027-05-01"]}}]}
    response = await client.post("/grants/calls/import", content=json.dumps(document),
                                 headers={**auth(host, *COORDINATOR), "Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert [(r["identifier"], r["status"], r["reason"]) for r in response.json()["report"]] == [
        ("LIFE-2027-BAD", "skipped", "grant_max: is above the call's budget"), ("LIFE-2027-GOOD", "created", None)]
    assert await count(host, Call) == 1


async def test_an_import_fetches_the_portals_answer_from_a_url(client, host):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(FIXTURE.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    allow_portal_host(host)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{FIXTURE.name}"
        response = await client.post("/grants/calls/import", params={"url": url}, headers=auth(host, *COORDINATOR))
        assert response.status_code == 200, response.text
        assert response.json()["created"] == 5 and await count(host, Call) == 5
        missing = await client.post("/grants/calls/import", params={"url": url + ".gone"},
                                    headers=auth(host, *COORDINATOR))
        assert missing.status_code == 502 and "answered 404" in missing.json()["detail"]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("body,status,field", [
    (b'{"results": [{"metadata": {"identifier": ["CERV-2027-X"], "deadlineDate": ["2027-0', 422, "body"),
    (b'{"calls": []}', 422, "results"),
    (b'', 422, "body"),
])
async def test_a_malformed_import_file_is_refused_and_nothing_is_half_imported(client, host, body, status, field):
    response = await client.post("/grants/calls/import", content=body,
                                 headers={**auth(host, *COORDINATOR), "Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert response.json()["errors"][0]["field"] == field
    assert await count(host, Call) == 0


async def test_an_import_of_fifty_megabytes_is_refused_without_being_read_whole(client, host):
    chunk = b" " * 1_000_000

    async def fifty_megabytes():
        yield b'{"results": ['
        for _ in range(50):
            yield chunk

    response = await client.post("/grants/calls/import", content=fifty_megabytes(),
                                 headers={**auth(host, *COORDINATOR), "Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["errors"][0]["field"] == "body"
    assert await count(host, Call) == 0


def allow_portal_host(host, name: str = "127.0.0.1") -> None:
    # The stand-in portal is plain http on loopback: the test switch allows that (and only that).
    reconfigure(host, portal_hosts=[name], allow_http_loopback=True)


async def test_an_import_fetches_only_from_the_portals_hosts(client, host):
    response = await client.post("/grants/calls/import", params={"url": "http://169.254.169.254/latest/meta-data"},
                                 headers=auth(host, *COORDINATOR))
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "query.url"
    assert "169.254.169.254 is not a portal host" in response.json()["detail"]


async def test_an_import_from_an_unreachable_url_says_so(client, host):
    allow_portal_host(host)
    response = await client.post("/grants/calls/import", params={"url": "http://127.0.0.1:9/search"},
                                 headers=auth(host, *COORDINATOR))
    assert response.status_code == 502
    assert response.json()["errors"][0]["field"] == "query.url" and "upload the file" in response.json()["detail"]


# -- applications ---------------------------------------------------------------------------------

async def test_an_application_resolves_its_consortium_and_shows_eligibility_with_its_rules(client, host, env_key):
    call = await create_call(client, host, twinning_call())
    alone = await start_application(client, host, call["id"], consortium=[])
    assert alone["lead_department"] == "ENV" and alone["stage"] == "idea"
    assert alone["next_stages"] == ["preparing", "withdrawn"]
    assert alone["internal_deadline"] == "2027-03-26T17:00:00+01:00"  # 5 days before, in winter time
    assert not alone["eligibility"]["eligible"]
    countries = next(c for c in alone["eligibility"]["checks"] if c["rule"] == "countries")
    assert (countries["required"], countries["actual"], countries["passed"]) == (2, 1, False)
    assert "town twinning" in countries["source"]

    created = await start_application(client, host, call["id"])
    assert created["consortium"][0]["city"] == "Kraków" and created["consortium"][0]["country"] == "PL"
    eligibility = (await client.get(f"/grants/applications/{created['id']}/eligibility",
                                    headers=auth(host, *READER))).json()
    assert eligibility["eligible"] is True
    assert {c["rule"]: c["counted"] for c in eligibility["checks"]}["countries"] == ["DE", "PL"]


@pytest.mark.parametrize("change,field", [
    ({"requested_amount": -5}, "requested_amount"),
    ({"requested_amount": 30_001}, "requested_amount"),  # above the call's maximum grant
    ({"consortium": [{"name": "Atlantis", "city": "Atlantis", "country": "Atlantis", "role": "partner"}]},
     "consortium[0].country"),
    ({"consortium": [{"name": "X", "city": "Nowhereville", "country": "PL", "role": "partner"}]},
     "consortium[0].city"),
    ({"consortium": [{"name": "Us", "city": "Frankfurt", "country": "DE", "role": "partner"}]}, "consortium[0].city"),
    ({"consortium": [{"name": "X", "city": "Lyon", "country": "FR", "role": "sponsor"}]}, "consortium[0].role"),
    ({"call_id": "no-such-call"}, "call_id"),
    ({"owner": {"name": "Jana", "email": "not-an-email"}}, "owner.email"),
    ({"internal_buffer_days": -1}, "internal_buffer_days"),
])
async def test_bad_applications_are_refused_naming_the_field(client, host, env_key, change, field):
    call = await create_call(client, host, twinning_call())
    response = await client.post("/grants/applications", json={**application(call["id"]), **change},
                                 headers=auth(host, *ENV))
    assert response.status_code == 422, response.text
    assert field in {e["field"] for e in response.json()["errors"]}
    assert await count(host, Application) == 0


async def test_applications_are_listed_page_by_page_and_filtered(client, host, env_key):
    call = await create_call(client, host, twinning_call())
    made = [(await start_application(client, host, call["id"], title=f"Application {n}"))["id"] for n in range(5)]
    await start_application(client, host, call["id"], who=COORDINATOR, lead_department="ECON")
    seen, cursor = [], None
    while True:
        page = await client.get("/grants/applications", params={"department": "ENV", "limit": 2,
                                                                 **({"cursor": cursor} if cursor else {})},
                                headers=auth(host, *READER))
        seen += [a["id"] for a in page.json()]
        cursor = page.headers.get("X-Next-Cursor")
        if not cursor:
            break
    assert seen == list(reversed(made))
    bad = await client.get("/grants/applications", params={"cursor": "yesterday|x"}, headers=auth(host, *READER))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.cursor"
    unknown = await client.get("/grants/applications", params={"stage": "won"}, headers=auth(host, *READER))
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "query.stage"


async def test_a_department_changes_only_its_own_applications(client, host, env_key):
    call = await create_call(client, host, twinning_call())
    refused = await client.post("/grants/applications", json=application(call["id"], lead_department="ENV"),
                                headers=auth(host, *ECON))
    assert refused.status_code == 403
    created = await start_application(client, host, call["id"])
    for response in (await move(client, host, created["id"], "preparing", who=ECON),
                     await client.patch(f"/grants/applications/{created['id']}", json={"title": "Mine now"},
                                        headers=auth(host, *ECON)),
                     await move(client, host, created["id"], "preparing", who=READER)):
        assert response.status_code == 403, response.text
    unchanged = await client.get(f"/grants/applications/{created['id']}", headers=auth(host, *ECON))
    assert unchanged.json()["stage"] == "idea"
    # Coordinators move anyone's.
    assert (await move(client, host, created["id"], "preparing", who=COORDINATOR)).status_code == 200


async def test_the_pipeline_refuses_a_disallowed_move_with_409_and_records_each_move(client, host, env_key):
    call = await create_call(client, host, twinning_call())
    app_id = (await start_application(client, host, call["id"]))["id"]
    skipped = await move(client, host, app_id, "submitted")
    assert skipped.status_code == 409 and "allowed: preparing, withdrawn" in skipped.json()["detail"]
    unknown = await move(client, host, app_id, "won")
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "stage"
    for stage in ("preparing", "partner_search", "drafting", "internal_review", "submitted"):
        response = await move(client, host, app_id, stage)
        assert response.status_code == 200, response.text
    no_reason = await move(client, host, app_id, "rejected")
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
    rejected = await move(client, host, app_id, "rejected", reason="Consortium too small for the strand")
    assert rejected.json()["stage_reason"] == "Consortium too small for the strand"
    assert (await move(client, host, app_id, "awarded")).status_code == 409

    changes = await events(host, "grants.application.stage_changed.v1")
    assert [(e["from_stage"], e["to_stage"]) for e in changes] == [
        ("idea", "preparing"), ("preparing", "partner_search"), ("partner_search", "drafting"),
        ("drafting", "internal_review"), ("internal_review", "submitted"), ("submitted", "rejected")]
    assert changes[-1]["owner"] == {"name": "Jana Weber", "email": "jana.weber@city.example"}
    assert changes[-1]["reason"] == "Consortium too small for the strand" and changes[-1]["call"]["identifier"]
    assert await count(host, StageChange) == 6
    history = (await client.get(f"/grants/applications/{app_id}/stages", headers=auth(host, *READER))).json()
    assert history[-1]["to_stage"] == "rejected"
    assert history[-1]["changed_by"] == "department ENV (OIA_API_KEYS)"  # named by its label, never by the key
    # Once submitted, only notes change.
    edit = await client.patch(f"/grants/applications/{app_id}", json={"requested_amount": 10}, headers=auth(host, *ENV))
    assert edit.status_code == 409


async def test_partner_candidates_come_from_the_partners_service_gaps_first(client, host, env_key):
    for city, country in (("Krakau", "PL"), ("Lyon", "FR"), ("Birmingham", "GB")):
        response = await client.post("/partners/partnerships", json={
            "partner_city": city, "partner_country": country, "formalised_on": "1990-01-01"},
            headers=auth(host, *COORDINATOR))
        assert response.status_code == 201, response.text
    call = await create_call(client, host, twinning_call(identifier="CERV-2027-CITIZENS-TOWN-NT", grant_max=150_000))
    app_id = (await start_application(client, host, call["id"]))["id"]  # Kraków is in already
    found = (await client.get(f"/grants/applications/{app_id}/partner-candidates", headers=auth(host, *ENV))).json()
    assert {c["rule"] for c in found["missing"]} == {"applicants", "countries"}
    assert [(c["city"], c["adds_country"], c["adds_eu_member_state"]) for c in found["candidates"]] == [
        ("Lyon", True, True), ("Birmingham", True, False)]


async def test_partner_search_says_clearly_when_partners_is_down(client, host, env_key):
    call = await create_call(client, host, twinning_call())
    app_id = (await start_application(client, host, call["id"]))["id"]
    host.runtimes["grants"].peer_transport = None
    reconfigure(host, partners_url="http://127.0.0.1:9", partners_timeout_seconds=0.5)
    response = await client.get(f"/grants/applications/{app_id}/partner-candidates", headers=auth(host, *ENV))
    assert response.status_code == 503
    assert "partners service is unreachable" in response.json()["detail"]


async def test_a_members_partnership_must_be_ours_and_with_that_city(client, host, env_key):
    async def partnership(**body) -> dict:
        response = await client.post("/partners/partnerships", headers=auth(host, *COORDINATOR),
                                     json={"formalised_on": "1991-05-20", **body})
        assert response.status_code == 201, response.text
        return response.json()

    krakow = await partnership(partner_city="Krakau", partner_country="PL")
    koeln_lille = await partnership(home_city="Köln", home_country="DE", partner_city="Lille", partner_country="FR")
    call = await create_call(client, host, twinning_call())
    member = {"name": "City of Kraków", "city": "Krakau", "country": "PL", "role": "partner"}
    linked = await start_application(client, host, call["id"], consortium=[{**member, "partnership_id": krakow["id"]}])
    assert linked["consortium"][0]["partnership_id"] == krakow["id"]
    for consortium, says in (
            ([{**member, "partnership_id": "no-such-partnership"}], "partners has no partnership no-such-partnership"),
            ([{**member, "partnership_id": koeln_lille["id"]}], "is Köln's, not ours"),
            ([{"name": "Ville de Lyon", "city": "Lyon", "country": "FR", "partnership_id": krakow["id"]}],
             "is with Kraków (PL), not Lyon")):
        response = await client.post("/grants/applications", json=application(call["id"], consortium=consortium),
                                     headers=auth(host, *ENV))
        assert response.status_code == 422, response.text
        assert "consortium[0].partnership_id" in response.text and says in response.text
    refused = await client.patch(f"/grants/applications/{linked['id']}", headers=auth(host, *ENV),
                                 json={"consortium": [{**member, "partnership_id": koeln_lille["id"]}]})
    assert refused.status_code == 422 and "consortium[0].partnership_id" in refused.text
    kept = (await client.get(f"/grants/applications/{linked['id']}", headers=auth(host, *ENV))).json()
    assert kept["consortium"][0]["partnership_id"] == krakow["id"]
    # Partners down: naming a partnership is a 503 and stores nothing; an application naming none
    # does not need partners.
    host.runtimes["grants"].peer_transport = None
    reconfigure(host, partners_url="http://127.0.0.1:9", partners_timeout_seconds=0.5)
    down = await client.post("/grants/applications", headers=auth(host, *ENV), json=application(
        call["id"], consortium=[{**member, "partnership_id": krakow["id"]}]))
    assert down.status_code == 503 and "partners service is unreachable" in down.text
    assert await count(host, Application) == 1
    await start_application(client, host, call["id"])
    assert await count(host, Application) == 2


# -- the city profile -----------------------------------------------------------------------------

async def test_the_city_profile_in_english_and_german_holds_texts_partnerships_and_networks(client, host):
    await client.post("/partners/partnerships", json={"partner_city": "Krakau", "partner_country": "PL",
                                                      "formalised_on": "1991-05-20", "themes": ["culture"]},
                      headers=auth(host, *COORDINATOR))
    await client.post("/partners/organizations", json={"kind": "network", "name": "Eurocities",
                                                       "role_held": "Member of the Executive Committee"},
                      headers=auth(host, *COORDINATOR))
    for lang, title, body in (("en", "Our EU track record", "Twelve EU projects since 2014."),
                              ("de", "Unsere EU-Erfahrung", "Zwölf EU-Projekte seit 2014.")):
        response = await client.put("/grants/boilerplate/blocks/track_record", params={"lang": lang},
                                    json={"title": title, "body": body}, headers=auth(host, *COORDINATOR))
        assert response.status_code == 200, response.text
    english = await client.get("/grants/boilerplate", params={"lang": "en"}, headers=auth(host, *READER))
    assert english.headers["content-type"].startswith("text/markdown")
    text = english.text
    assert text.startswith("# Frankfurt am Main — City profile")
    assert "about 650,000 inhabitants" in text and "## Our EU track record" in text
    assert "- Kraków (Poland), since 1991; themes: culture" in text
    assert "- Eurocities — role: Member of the Executive Committee" in text
    german = (await client.get("/grants/boilerplate", params={"lang": "de"}, headers=auth(host, *READER))).text
    assert "# Frankfurt am Main — Stadtprofil" in german and "rund 650.000 Einwohnerinnen" in german
    assert "- Kraków (Polen), seit 1991" in german and "Zwölf EU-Projekte" in german
    refused = await client.put("/grants/boilerplate/blocks/x", json={"title": "t", "body": "b"},
                               headers=auth(host, *ECON))
    assert refused.status_code == 403
    bad = await client.get("/grants/boilerplate", params={"lang": "fr"}, headers=auth(host, *READER))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.lang"


# -- reminders ------------------------------------------------------------------------------------

async def run_jobs(client, host, now: datetime) -> dict:
    response = await client.post("/grants/jobs/run", json={"now": now.isoformat()}, headers=auth(host, *ADMIN))
    assert response.status_code == 200, response.text
    return response.json()


async def test_reminders_are_said_once_stop_at_submission_and_follow_a_moved_deadline(client, host, env_key):
    call = await create_call(client, host, twinning_call())  # 31 March 2027, 17:00 CEST
    app_id = (await start_application(client, host, call["id"]))["id"]
    week_before = datetime(2027, 3, 24, 16, 5, tzinfo=UTC)
    assert (await run_jobs(client, host, week_before))["reminders"] == 2
    assert (await run_jobs(client, host, week_before))["reminders"] == 0
    said = await events(host, "grants.deadline.approaching.v1")
    # The internal deadline's 3-day reminder was due yesterday: it says how far off it really is.
    assert sorted((e["kind"], e["days_ahead"], e["critical"]) for e in said) == [("call", 7, False),
                                                                                 ("internal", 2, False)]
    assert said[0]["owner"]["email"] == "jana.weber@city.example" and said[0]["call"]["identifier"]

    # The call's deadline moves a week: its reminders are planned anew.
    moved = await client.patch(f"/grants/calls/{call['id']}", json={"deadlines": ["2027-04-07"]},
                               headers=auth(host, *COORDINATOR))
    assert moved.status_code == 200 and moved.json()["version"] == 2
    [updated] = await events(host, "grants.call.updated.v1")
    assert updated["applications"][0]["application_id"] == app_id
    assert (await run_jobs(client, host, week_before))["reminders"] == 2  # now 14 days and 9 days ahead
    latest = (await events(host, "grants.deadline.approaching.v1"))[2:]
    assert sorted((e["kind"], e["days_ahead"]) for e in latest) == [("call", 14), ("internal", 9)]

    # The day before: critical. Then submitted: no more.
    day_before = datetime(2027, 4, 6, 15, 30, tzinfo=UTC)
    assert (await run_jobs(client, host, day_before))["reminders"] == 1
    assert (await events(host, "grants.deadline.approaching.v1"))[-1]["critical"] is True
    for stage in ("preparing", "drafting", "internal_review", "submitted"):
        assert (await move(client, host, app_id, stage)).status_code == 200
    assert (await run_jobs(client, host, datetime(2027, 4, 7, 14, tzinfo=UTC)))["reminders"] == 0
    assert await count(host, Reminder) == 5


async def test_a_two_stage_application_invited_to_the_second_stage_is_reminded_of_its_deadline(
        client, host, env_key):
    call = await create_call(client, host, twinning_call(identifier="CERV-2027-CITIZENS-TOWN-2S",
                                                         deadlines=["2027-02-15", "2027-09-16"]))
    app_id = (await start_application(client, host, call["id"]))["id"]
    for stage in ("preparing", "drafting", "internal_review", "submitted"):
        assert (await move(client, host, app_id, stage)).status_code == 200
    submitted = (await client.get(f"/grants/applications/{app_id}", headers=auth(host, *ENV))).json()
    assert submitted["call_stage"] == 1 and "invited" in submitted["next_stages"]
    assert submitted["next_deadline"] == "2027-02-15T17:00:00+01:00"
    # Waiting for the first stage's result: the second stage's deadline is not this application's yet.
    week_before_second = datetime(2027, 9, 9, 15, 5, tzinfo=UTC)
    assert (await run_jobs(client, host, week_before_second))["reminders"] == 0

    invited = await move(client, host, app_id, "invited")
    assert invited.status_code == 200, invited.text
    assert (invited.json()["call_stage"], invited.json()["next_deadline"], invited.json()["internal_deadline"]) == \
        (2, "2027-09-16T17:00:00+02:00", "2027-09-11T17:00:00+02:00")
    assert invited.json()["next_stages"] == ["drafting", "withdrawn"]
    assert (await run_jobs(client, host, week_before_second))["reminders"] == 2
    said = await events(host, "grants.deadline.approaching.v1")
    assert sorted((e["kind"], e["stage"], e["days_ahead"]) for e in said) == [("call", 2, 7), ("internal", 2, 2)]
    assert (await events(host, "grants.application.stage_changed.v1"))[-1]["to_stage"] == "invited"

    # The full proposal goes through review and is submitted again; there is no third stage.
    for stage in ("drafting", "internal_review", "submitted"):
        assert (await move(client, host, app_id, stage)).status_code == 200
    again = await move(client, host, app_id, "invited")
    assert again.status_code == 409 and "first stage of a two-stage call" in again.json()["detail"]
    assert (await move(client, host, app_id, "awarded")).status_code == 200

    # A one-stage call has no second stage to be invited to.
    single = await create_call(client, host, twinning_call())
    other_id = (await start_application(client, host, single["id"]))["id"]
    for stage in ("preparing", "drafting", "internal_review", "submitted"):
        assert (await move(client, host, other_id, stage)).status_code == 200
    other = (await client.get(f"/grants/applications/{other_id}", headers=auth(host, *ENV))).json()
    assert "invited" not in other["next_stages"]
    assert (await move(client, host, other_id, "invited")).status_code == 409
    assert (await client.get(f"/grants/applications/{other_id}", headers=auth(host, *ENV))).json()["stage"] == \
        "submitted"


async def test_only_admins_run_the_jobs(client, host, env_key):
    call = await create_call(client, host, twinning_call())
    await start_application(client, host, call["id"])
    response = await client.post("/grants/jobs/run", json={"now": "2027-03-24T16:05:00Z"},
                                 headers=auth(host, *COORDINATOR))
    assert response.status_code == 403
    assert await count(host, Reminder) == 0 and await events(host, "grants.deadline.approaching.v1") == []


# -- reports and the calendar ---------------------------------------------------------------------

async def test_the_years_report_counts_stages_programmes_sums_win_rate_and_funds_per_department(client, host, env_key):
    call = await create_call(client, host, twinning_call())
    life = await create_call(client, host, twinning_call(identifier="LIFE-2027-SAP-CLIMA-GOV", programme="life",
                                                         grant_max=2_000_000))
    won = (await start_application(client, host, call["id"]))["id"]
    lost = (await start_application(client, host, life["id"], requested_amount=500_000))["id"]
    await start_application(client, host, life["id"], who=COORDINATOR, lead_department="ECON",
                            requested_amount=100_000)
    for app_id in (won, lost):
        for stage in ("preparing", "drafting", "internal_review", "submitted"):
            assert (await move(client, host, app_id, stage)).status_code == 200
    await move(client, host, won, "awarded", awarded_amount=24_000)
    await move(client, host, lost, "rejected", reason="Scored below threshold")
    year = datetime.now(UTC).year
    report = (await client.get("/grants/reports", params={"year": year}, headers=auth(host, *READER))).json()
    assert report["applications"] == 3
    assert report["by_stage"] == {"awarded": 1, "rejected": 1, "idea": 1}
    assert report["by_programme"] == {"cerv": 1, "life": 2}
    assert (report["requested"], report["awarded"]) == (625_000, 24_000)
    assert (report["decided"], report["won"], report["win_rate"]) == (2, 1, 0.5)
    assert report["won_by_department"] == {"ENV": 24_000}
    empty = (await client.get("/grants/reports", params={"year": year - 5}, headers=auth(host, *READER))).json()
    assert empty["applications"] == 0 and empty["win_rate"] is None
    bad = await client.get("/grants/reports", params={"year": "last"}, headers=auth(host, *READER))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.year"


async def test_the_deadline_calendar_behind_a_revocable_token(client, host, env_key):
    call = await create_call(client, host, twinning_call(deadlines=[(date.today() + timedelta(days=40)).isoformat()],
                                                         opens_at=None))
    await start_application(client, host, call["id"])
    token = (await client.post("/grants/calendar/tokens", json={}, headers=auth(host, *COORDINATOR))).json()
    feed = await client.get(token["url"])
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    events_ = [c for c in icalendar.Calendar.from_ical(feed.content).walk("VEVENT")]
    summaries = sorted(str(e["summary"]) for e in events_)
    assert summaries[0].startswith("Deadline: CERV-2027-CITIZENS-TOWN-TT")
    assert summaries[1].startswith("Internal deadline: Twinning for climate action (ENV")
    deadline = next(e for e in events_ if str(e["summary"]).startswith("Deadline"))
    assert deadline.decoded("dtend").astimezone(domain.BRUSSELS).hour == 17
    assert (await client.delete(f"/grants/calendar/tokens/{token['id']}",
                                headers=auth(host, *COORDINATOR))).status_code == 204
    assert (await client.get(token["url"])).status_code == 404
    own = await client.post("/grants/calendar/tokens", json={}, headers=auth(host, *ECON))
    assert own.status_code == 201 and own.json()["department"] == "ECON"  # a department's own calendar
    whole_city = await client.post("/grants/calendar/tokens", json={"department": None}, headers=auth(host, *READER))
    assert whole_city.status_code == 403
