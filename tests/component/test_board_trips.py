"""Booking a trip from the board: the form books through the travel API with the person's rights
(a department for itself, a coordinator for a department), a misspelt city comes back with the
places it may mean and nothing stored, the overlap check tells and stores nothing, and a form
without its CSRF token changes nothing."""

from __future__ import annotations

import re
from datetime import date, timedelta

from tests.component.test_board import COORDINATOR, ECON, MAYOR, book, csrf_of, next_month, sign_in
from tests.support.embedded import auth


def trip_form(token: str, title: str, city: str, start: date, **extra: str) -> dict[str, str]:
    return {"csrf": token, "title": title, "purpose": "trade_fair", "visibility": "normal", "status": "planned",
            "travellers-0-name": "Jana Weber", "travellers-0-email": "jana.weber@city.example",
            "travellers-0-role": "head of delegation",
            "travellers-1-name": "", "travellers-1-email": "", "travellers-1-role": "",  # a blank row: left out
            "legs-0-city": city, "legs-0-country": "DE", "legs-0-start_date": start.isoformat(),
            "legs-0-end_date": (start + timedelta(days=2)).isoformat(), **extra}


async def trips_of(client, host, who=COORDINATOR) -> list[dict]:
    return (await client.get("/travel/trips", headers=auth(host, *who))).json()


async def open_form(client) -> str:
    page = await client.get("/board/trips/new")
    assert page.status_code == 200 and 'name="legs-0-city"' in page.text
    return csrf_of(page.text)


async def test_a_department_books_a_trip_through_the_form_and_sees_what_was_stored(client, host):
    await sign_in(client, host, ECON)
    token = await open_form(client)
    start = next_month()
    booked = await client.post("/board/trips/new", data={
        **trip_form(token, "Trade fair Köln", "Cologne", start, action="book"),
        "travellers-0-elected_official": "1",
        "legs-1-city": "München", "legs-1-country": "Germany", "legs-1-start_date": (start + timedelta(days=3)).isoformat(),
        "legs-1-end_date": (start + timedelta(days=4)).isoformat(), "estimated_cost": "1200.50", "currency": "eur"})
    assert booked.status_code == 303, booked.text
    [trip] = await trips_of(client, host)
    assert booked.headers["location"] == f"/board/trips/{trip['id']}"
    assert (trip["department"], trip["title"], trip["purpose"], trip["visibility"]) == \
        ("ECON", "Trade fair Köln", "trade_fair", "normal")
    assert [(t["name"], t["email"], t["role"], t["elected_official"]) for t in trip["travellers"]] == \
        [("Jana Weber", "jana.weber@city.example", "head of delegation", True)]
    assert [(leg["place_name"], leg["country"], leg["start_date"]) for leg in trip["legs"]] == \
        [("Köln", "DE", start.isoformat()), ("Munich", "DE", (start + timedelta(days=3)).isoformat())]
    assert (trip["estimated_cost"], trip["currency"]) == ("1200.50", "EUR")

    shown = (await client.get(booked.headers["location"])).text
    assert "Trade fair Köln" in shown and "Munich" in shown and "Jana Weber" in shown
    assert f'href="/board/today?month={start.strftime("%Y-%m")}"' in shown


async def test_a_coordinator_books_for_a_department_and_a_department_cannot_book_for_another(client, host):
    await sign_in(client, host, COORDINATOR)
    page = await client.get("/board/trips/new")
    assert 'name="department"' in page.text
    booked = await client.post("/board/trips/new", data={
        **trip_form(csrf_of(page.text), "Partner city visit", "Leipzig", next_month(), action="book"),
        "department": "mayor"})
    assert booked.status_code == 303, booked.text
    [trip] = await trips_of(client, host)
    assert trip["department"] == "MAYOR"

    client.cookies.clear()
    await sign_in(client, host, ECON)
    page = await client.get("/board/trips/new")
    assert 'name="department"' not in page.text  # a department books for itself only
    sneaked = await client.post("/board/trips/new", data={
        **trip_form(csrf_of(page.text), "Sneaked", "Leipzig", next_month(), action="book"), "department": "MAYOR"})
    assert sneaked.status_code == 303  # the field is not sent for a department: booked as its own
    assert {t["department"] for t in await trips_of(client, host)} == {"MAYOR", "ECON"}


async def test_a_misspelt_city_comes_back_with_the_places_it_may_mean_and_nothing_is_stored(client, host):
    await sign_in(client, host, ECON)
    token = await open_form(client)
    refused = await client.post("/board/trips/new", data=trip_form(token, "Trade fair", "Kolnn", next_month(),
                                                                    action="book"))
    assert refused.status_code == 422
    assert await trips_of(client, host) == []
    page = refused.text
    # The message stands next to the city, the field is marked, and Köln is offered to pick.
    assert re.search(r'id="legs-0-city-error"[^>]*>.*Kolnn', page)
    assert re.search(r'id="legs-0-city"[^>]*aria-invalid="true"', page, re.S)
    pick = re.search(r'value="(pick:0:DE:(\d+):Köln)"', page)
    assert pick, "Köln is among the suggestions"
    assert 'value="Trade fair"' in page and 'value="Jana Weber"' in page  # what was typed is kept

    # Picking it (a plain submit without JavaScript) puts Köln into the leg; booking then stores it.
    picked = await client.post("/board/trips/new", data={**trip_form(token, "Trade fair", "Kolnn", next_month()),
                                                          "action": pick.group(1)})
    assert picked.status_code == 200 and 'value="Köln"' in picked.text
    assert await trips_of(client, host) == []
    form = {**trip_form(token, "Trade fair", "Köln", next_month(), action="book"),
            "legs-0-place_id": pick.group(2), "legs-0-picked": "Köln"}
    assert (await client.post("/board/trips/new", data=form)).status_code == 303
    [trip] = await trips_of(client, host)
    assert trip["legs"][0]["place_id"] == int(pick.group(2))


async def test_other_refusals_stand_next_to_their_fields(client, host):
    await sign_in(client, host, ECON)
    token = await open_form(client)
    start = next_month()
    refused = await client.post("/board/trips/new", data={
        **trip_form(token, "", "Köln", start, action="check"),
        "legs-0-end_date": (start - timedelta(days=1)).isoformat(), "travellers-1-email": "not an email"})
    assert refused.status_code == 422
    for name in ("title", "legs-0-end_date", "travellers-1-email"):
        assert f'id="{name}-error"' in refused.text, name
    assert await trips_of(client, host) == []


async def test_the_check_tells_the_overlap_before_booking_and_stores_nothing(client, host):
    start = next_month()
    await book(client, host, MAYOR, "Partner city visit", "Düsseldorf", start)
    await sign_in(client, host, ECON)
    token = await open_form(client)
    checked = await client.post("/board/trips/new", data=trip_form(token, "Trade fair", "Köln", start,
                                                                   action="check"))
    assert checked.status_code == 200
    assert re.search(r"MAYOR is within [\d.,]+ km of Düsseldorf \(DE\) from", checked.text), checked.text
    assert 'value="Trade fair"' in checked.text and 'value="Köln"' in checked.text  # the form as it was
    assert [t["department"] for t in await trips_of(client, host)] == ["MAYOR"]
    assert (await client.get("/travel/overlaps", headers=auth(host, *COORDINATOR))).json() == []

    quiet = await client.post("/board/trips/new", data=trip_form(token, "Trade fair", "Hamburg", start,
                                                                 action="check"))
    assert quiet.status_code == 200 and "No overlaps" in quiet.text

    booked = await client.post("/board/trips/new", data=trip_form(token, "Trade fair", "Köln", start, action="book"))
    shown = (await client.get(booked.headers["location"])).text
    assert "are both within" in shown and "Düsseldorf" in shown  # the overlap booking found


async def test_without_the_csrf_token_nothing_is_booked(client, host):
    await sign_in(client, host, ECON)
    await open_form(client)
    refused = await client.post("/board/trips/new", data=trip_form("", "Trade fair", "Köln", next_month(),
                                                                   action="book"))
    assert refused.status_code == 403
    assert await trips_of(client, host) == []


async def test_rows_are_added_without_javascript_and_places_are_suggested_as_one_types(client, host):
    await sign_in(client, host, ECON)
    token = await open_form(client)
    more = await client.post("/board/trips/new", data={**trip_form(token, "Trade fair", "Köln", next_month()),
                                                       "action": "add-leg"})
    assert more.status_code == 200 and 'name="legs-1-city"' in more.text and 'value="Köln"' in more.text
    assert 'name="travellers-1-name"' in more.text

    places = await client.get("/board/trips/legs/1/places", params={"legs-1-city": "Kolnn", "legs-1-country": "DE"})
    assert places.status_code == 200 and "<html" not in places.text  # a fragment for htmx
    assert re.search(r'value="pick:1:DE:\d+:Köln"', places.text)
    unknown = await client.get("/board/trips/legs/0/places", params={"legs-0-city": "Köln", "legs-0-country": "Xy"})
    assert unknown.status_code == 200 and "pick:" not in unknown.text
    assert await trips_of(client, host) == []


async def test_the_form_speaks_german(client, host):
    await sign_in(client, host, ECON)
    token = await open_form(client)
    await client.post("/board/language", data={"language": "de", "csrf": token, "back": "/board/trips/new"})
    page = (await client.get("/board/trips/new")).text
    assert '<html lang="de">' in page and "Auf Überschneidungen prüfen" in page and "Abschnitt 1" in page
    refused = await client.post("/board/trips/new", data=trip_form(token, "Messe", "Kolnn", next_month(),
                                                                    action="check"))
    assert refused.status_code == 422 and "Die Reise wurde nicht gebucht" in refused.text
    assert "Einwohner" in refused.text  # the suggested places, in German words


async def test_a_trips_page_shows_coordinators_its_history_and_departments_none(client, host):
    await sign_in(client, host, ECON)
    token = await open_form(client)
    booked = await client.post("/board/trips/new", data=trip_form(token, "Trade fair Köln", "Cologne", next_month(),
                                                                  action="book"))
    assert booked.status_code == 303, booked.text
    [trip] = await trips_of(client, host)
    moved = await client.patch(f"/travel/trips/{trip['id']}", headers=auth(host, *ECON), json={"title": "Fair Köln"})
    assert moved.status_code == 200
    own = (await client.get(booked.headers["location"])).text
    assert 'id="changes-heading"' not in own  # a department may not read the audit trail

    await sign_in(client, host, COORDINATOR)
    page = (await client.get(booked.headers["location"])).text
    history = page[page.index('id="changes-heading"'):]
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td>", history)
    assert [action for _, _, action in rows] == ["changed", "booked"]
    assert all(who.startswith("department ECON (") for _, who, _ in rows)
    assert "title: Trade fair Köln → Fair Köln" in history
    assert "travellers: – → ***" in history and "Jana Weber" not in history
