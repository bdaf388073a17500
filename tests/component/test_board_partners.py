"""The board's partners pages through the embedded host: the register (filters, search, pages), a
partnership's page and logging a contact on it, the losing-touch list, the anniversaries, the
organisations and people — each with what the signed-in person's key may see and do."""

from __future__ import annotations

import re
from datetime import date, timedelta

from board.routes import partners as partners_pages
from shared.testing import eventually
from tests.component.test_board import csrf_of, sign_in
from tests.support.embedded import auth

COORDINATOR, ECON, CULT, READER = ("coordinator", "OIA"), ("department", "ECON"), ("department", "CULT"), ("reader", None)


async def create(client, host, **body) -> dict:
    body = {"partner_country": "PL", "formalised_on": "1991-05-20", **body}
    response = await client.post("/partners/partnerships", json=body, headers=auth(host, *COORDINATOR))
    assert response.status_code == 201, response.text
    return response.json()


async def timeline(client, host, partnership_id: str, who=COORDINATOR) -> list[dict]:
    response = await client.get(f"/partners/partnerships/{partnership_id}/timeline", headers=auth(host, *who))
    assert response.status_code == 200, response.text
    return response.json()


def partner_links(html: str) -> list[str]:
    """The partner cities the register's table links to, in its order."""
    return re.findall(r'<a href="/board/partners/[0-9a-f-]{36}">([^<]+)</a>', html)


async def test_the_register_filters_searches_and_pages_as_the_api_does(client, host, monkeypatch):
    await create(client, host, partner_city="Krakau", themes=["culture"])
    await create(client, host, partner_city="Lyon", partner_country="FR", kind="friendship", themes=["climate"])
    await create(client, host, partner_city="Warschau", status="dormant")
    await sign_in(client, host, ECON)

    page = await client.get("/board/partners")
    assert page.status_code == 200
    assert partner_links(page.text) == ["Kraków", "Lyon", "Warsaw"]
    assert partner_links((await client.get("/board/partners", params={"country": "pl"})).text) == ["Kraków", "Warsaw"]
    assert partner_links((await client.get("/board/partners", params={"theme": "climate"})).text) == ["Lyon"]
    assert partner_links((await client.get("/board/partners", params={"status": "dormant"})).text) == ["Warsaw"]
    assert partner_links((await client.get("/board/partners", params={"kind": "friendship"})).text) == ["Lyon"]
    assert partner_links((await client.get("/board/partners",
                                           params={"home_city": "Frankfurt am Main", "q": "krak"})).text) == ["Kraków"]
    # A filter the API refuses is said, not a crash.
    refused = await client.get("/board/partners", params={"status": "asleep"})
    assert refused.status_code == 422 and 'role="alert"' in refused.text and "status" in refused.text

    monkeypatch.setattr(partners_pages, "PAGE", 1)
    first = await client.get("/board/partners", params={"country": "PL"})
    more = re.search(r'<a href="(\?[^"]+)" rel="next">', first.text)
    assert partner_links(first.text) == ["Kraków"] and more, "a More link with the API's cursor"
    assert "country=PL" in more.group(1)  # the next page keeps the filters
    second = await client.get("/board/partners" + more.group(1).replace("&amp;", "&"))
    assert partner_links(second.text) == ["Warsaw"]


async def test_the_register_speaks_the_readers_city_names_and_is_searched_by_them(client, host):
    await create(client, host, partner_city="Warsaw")
    await create(client, host, partner_city="Lyon", partner_country="FR")
    await sign_in(client, host, ECON)
    page = await client.get("/board/partners")
    await client.post("/board/language", data={"language": "de", "csrf": csrf_of(page.text), "back": "/board/partners"})

    german = (await client.get("/board/partners", params={"q": "warschau"})).text
    assert partner_links(german) == ["Warschau"] and "Polen" in german and "Partnerschaften" in german


async def test_a_partnerships_page_shows_its_facts_and_a_logged_contact_joins_its_timeline(client, host):
    krakow = await create(client, host, partner_city="Krakau", themes=["culture", "youth"],
                          desk_officer_name="Eva Nowak", desk_officer_email="eva.nowak@city.example",
                          last_contact_on=(date.today() - timedelta(days=30)).isoformat())
    await sign_in(client, host, ECON)

    page = await client.get(f"/board/partners/{krakow['id']}")
    assert page.status_code == 200
    for fact in ("Frankfurt am Main and Kraków", "Poland", "twin city", "active", "culture, youth", "20 May 1991",
                 "Eva Nowak", "eva.nowak@city.example", "in touch", "No contacts recorded yet."):
        assert fact in page.text, fact
    token = csrf_of(page.text)
    on = (date.today() - timedelta(days=2)).isoformat()

    forged = await client.post(f"/board/partners/{krakow['id']}/contacts",
                               data={"kind": "meeting", "on": on, "title": "Culture talks"})
    assert forged.status_code == 403
    assert await timeline(client, host, krakow["id"]) == []  # nothing logged without the token

    wrong = await client.post(f"/board/partners/{krakow['id']}/contacts", data={
        "kind": "meeting", "on": on, "until": "2001-01-01", "title": "Culture talks", "csrf": token})
    assert wrong.status_code == 422 and 'id="c-until-error"' in wrong.text and "is before on" in wrong.text
    assert 'value="Culture talks"' in wrong.text  # what was typed is kept
    assert await timeline(client, host, krakow["id"]) == []

    logged = await client.post(f"/board/partners/{krakow['id']}/contacts", data={
        "kind": "meeting", "on": on, "title": "Culture talks", "csrf": token})
    assert logged.status_code == 303 and logged.headers["location"] == f"/board/partners/{krakow['id']}#timeline"
    [contact] = await timeline(client, host, krakow["id"])
    assert (contact["kind"], contact["on"], contact["title"], contact["department"]) == (
        "meeting", on, "Culture talks", "ECON")
    shown = (await client.get(f"/board/partners/{krakow['id']}")).text
    assert "Culture talks" in shown and "No contacts recorded yet." not in shown


async def test_a_department_sees_and_logs_what_the_api_lets_it(client, host):
    krakow = await create(client, host, partner_city="Krakau")
    start = date.today() + timedelta(days=40)
    booked = await client.post("/travel/trips", headers=auth(host, *ECON), json={
        "title": "Confidential talks", "visibility": "restricted", "legs": [
            {"city": "Kraków", "country": "PL", "start_date": start.isoformat(),
             "end_date": (start + timedelta(days=2)).isoformat()}]})
    assert booked.status_code == 201, booked.text

    async def visit_recorded() -> bool:
        return len(await timeline(client, host, krakow["id"])) == 1
    await eventually(visit_recorded, message="the restricted visit in the timeline")

    await sign_in(client, host, ECON)
    own = await client.get(f"/board/partners/{krakow['id']}")
    assert "A restricted trip" in own.text and "restricted" in own.text
    assert 'name="department"' not in own.text  # a department logs its own contacts only
    # Posted anyway for another department: the API's 403, said plainly, and nothing logged.
    other = await client.post(f"/board/partners/{krakow['id']}/contacts", data={
        "kind": "event", "on": date.today().isoformat(), "title": "Mayor's reception", "department": "MAYOR",
        "csrf": csrf_of(own.text)})
    assert other.status_code == 403 and "you may not log this contact" in other.text
    assert len(await timeline(client, host, krakow["id"])) == 1

    client.cookies.clear()
    await sign_in(client, host, CULT)
    theirs = (await client.get(f"/board/partners/{krakow['id']}")).text
    assert "A restricted trip" not in theirs and "No contacts recorded yet." in theirs

    client.cookies.clear()
    await sign_in(client, host, READER)
    read_only = await client.get(f"/board/partners/{krakow['id']}")
    assert "Log a contact" not in read_only.text
    refused = await client.post(f"/board/partners/{krakow['id']}/contacts", data={
        "kind": "meeting", "on": date.today().isoformat(), "title": "Coffee", "csrf": csrf_of(read_only.text)})
    assert refused.status_code == 403 and "you may not log this contact" in refused.text
    assert len(await timeline(client, host, krakow["id"])) == 1

    client.cookies.clear()
    await sign_in(client, host, COORDINATOR)
    coordinator = await client.get(f"/board/partners/{krakow['id']}")
    assert 'name="department"' in coordinator.text  # the office logs anyone's
    logged = await client.post(f"/board/partners/{krakow['id']}/contacts", data={
        "kind": "event", "on": date.today().isoformat(), "title": "Mayor's reception", "department": "MAYOR",
        "csrf": csrf_of(coordinator.text)})
    assert logged.status_code == 303
    assert "MAYOR" in [c["department"] for c in await timeline(client, host, krakow["id"])]

    missing = await client.get("/board/partners/not-a-partnership")
    assert missing.status_code == 404 and "not found" in missing.text


async def test_the_losing_touch_list_puts_the_worst_first_and_says_why(client, host):
    today = date.today()
    await create(client, host, partner_city="Lyon", partner_country="FR", last_contact_on=(today - timedelta(days=10)).isoformat())
    await create(client, host, partner_city="Krakau", last_contact_on=(today - timedelta(days=2000)).isoformat())
    await create(client, host, partner_city="Warsaw", last_contact_on=(today - timedelta(days=500)).isoformat())
    await sign_in(client, host, ECON)

    page = await client.get("/board/partners/losing-touch")
    assert page.status_code == 200
    assert partner_links(page.text) == ["Kraków", "Warsaw", "Lyon"]
    assert re.search(r"No contact for 2,0\d\d days, longer than the 1,095 days allowed", page.text)
    assert "past the ideal 365" in page.text and "Last contact 1" in page.text
    assert partner_links((await client.get("/board/partners/losing-touch", params={"state": "due"})).text) == ["Warsaw"]


async def test_the_anniversaries_are_the_next_twelve_months_jubilees(client, host):
    soon = date.today() + timedelta(days=45)
    formalised = date(soon.year - 25, soon.month, min(soon.day, 28))
    await create(client, host, partner_city="Krakau", formalised_on=formalised.isoformat())
    await create(client, host, partner_city="Lyon", partner_country="FR", formalised_on="1990-01-01")  # 40 in 2030
    next_year = date.today().year + 1
    await create(client, host, partner_city="Warsaw", formalised_on=f"{next_year - 30}-01-01", formalised_year_only=True)
    await sign_in(client, host, ECON)

    page = await client.get("/board/partners/anniversaries")
    assert page.status_code == 200
    assert sorted(partner_links(page.text)) == ["Frankfurt am Main – Kraków", "Frankfurt am Main – Warsaw"]
    assert "25 years" in page.text and f"<td>in {next_year}</td>" in page.text and "30 years" in page.text


async def test_organisations_and_people_show_contact_details_only_as_the_api_gives_them(client, host):
    krakow = await create(client, host, partner_city="Krakau")
    club = await client.post("/partners/organizations", headers=auth(host, *COORDINATOR), json={
        "kind": "club", "name": "Polish-German Society", "city": "Frankfurt am Main", "country": "DE",
        "partnership_id": krakow["id"], "themes": ["culture"]})
    assert club.status_code == 201, club.text
    person = await client.post("/partners/people", headers=auth(host, *COORDINATOR), json={
        "name": "Anna Kowalska", "role": "Chair", "organisation_id": club.json()["id"],
        "email": "anna@example.org", "phone": "+48 12 345 67", "languages": ["pl", "de"]})
    assert person.status_code == 201, person.text

    await sign_in(client, host, ECON)
    organisations = (await client.get("/board/partners/organisations")).text
    assert "Polish-German Society" in organisations and "club" in organisations and "Germany" in organisations
    assert "No organisations found." in (await client.get("/board/partners/organisations",
                                                          params={"kind": "consulate"})).text
    people = (await client.get("/board/partners/people")).text
    assert "Anna Kowalska" in people and "Polish-German Society" in people and "anna@example.org" in people
    assert "Polish-German Society (club)" in (await client.get(f"/board/partners/{krakow['id']}")).text

    client.cookies.clear()
    await sign_in(client, host, READER)
    read_only = (await client.get("/board/partners/people")).text
    assert "Anna Kowalska" in read_only and "anna@example.org" not in read_only and "+48" not in read_only
