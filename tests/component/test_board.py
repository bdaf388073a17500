"""The board through the embedded host: signing in with a key, the month's overlaps with their
reasons, a coordinator's triage, what a department may see, the German board, CSRF and sign-out."""

from __future__ import annotations

import re
from datetime import date, timedelta

import httpx

from shared.testing import eventually
from tests.support.embedded import auth

ECON, MAYOR, COORDINATOR = ("department", "ECON"), ("department", "MAYOR"), ("coordinator", "OIA")


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has a form with a CSRF token"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, host, who: tuple[str, str | None]) -> httpx.Response:
    form = await client.get("/board/sign-in")
    response = await client.post("/board/sign-in", data={"key": host.keys[who], "csrf": csrf_of(form.text)})
    assert response.status_code == 303 and response.headers["location"] == "/board/today", response.text
    return response


async def book(client, host, who, title: str, city: str, start: date, visibility: str = "normal") -> dict:
    body = {"title": title, "visibility": visibility, "legs": [
        {"city": city, "country": "DE", "start_date": start.isoformat(),
         "end_date": (start + timedelta(days=3)).isoformat()}]}
    response = await client.post("/travel/trips", json=body, headers=auth(host, *who))
    assert response.status_code == 201, response.text
    return response.json()


def next_month() -> date:
    return (date.today().replace(day=1) + timedelta(days=40)).replace(day=10)


async def overlaps(client, host) -> list[dict]:
    return (await client.get("/travel/overlaps", headers=auth(host, *COORDINATOR))).json()


async def test_signing_in_with_a_key_opens_a_session_the_cookie_alone_cannot_reveal(client, host):
    page = await client.get("/board/sign-in")
    assert page.status_code == 200 and 'name="key"' in page.text
    assert "Content-Security-Policy" in page.headers and "default-src 'self'" in page.headers["content-security-policy"]

    response = await sign_in(client, host, COORDINATOR)
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/board" in cookie
    assert host.keys[COORDINATOR] not in cookie  # an opaque id, never the key
    today = await client.get("/board/today")
    assert today.status_code == 200 and "Signed in as coordinator OIA" in today.text
    assert host.keys[COORDINATOR] not in today.text


async def test_a_wrong_key_or_a_missing_token_signs_nobody_in(client, host):
    form = await client.get("/board/sign-in")
    wrong = await client.post("/board/sign-in", data={"key": "oia_not-a-key", "csrf": csrf_of(form.text)})
    assert wrong.status_code == 401 and "not known" in wrong.text and "oia_board=" not in wrong.headers.get(
        "set-cookie", "")
    forged = await client.post("/board/sign-in", data={"key": host.keys[COORDINATOR], "csrf": "guessed"})
    assert forged.status_code == 403
    assert (await client.get("/board/today")).headers["location"] == "/board/sign-in"


async def test_the_months_overlap_is_spelled_out_and_a_coordinator_triages_it(client, host):
    start = next_month()
    await book(client, host, ECON, "Trade fair", "Köln", start)
    await book(client, host, MAYOR, "Partner city visit", "Düsseldorf", start + timedelta(days=1))
    await eventually(lambda: _count(overlaps(client, host), 1), message="the overlap detected")
    [overlap] = await overlaps(client, host)
    await sign_in(client, host, COORDINATOR)

    page = await client.get("/board/today", params={"month": start.strftime("%Y-%m")})
    assert page.status_code == 200
    assert f'id="overlap-{overlap["id"]}"' in page.text
    assert re.search(r"(ECON and MAYOR|MAYOR and ECON) are both within [\d.]+ km of", page.text)
    assert "Trade fair" in page.text and "Partner city visit" in page.text
    token = csrf_of(page.text)

    refused = await client.post(f"/board/overlaps/{overlap['id']}/status", data={"status": "coordinated"})
    assert refused.status_code == 403
    assert (await overlaps(client, host))[0]["status"] == "open"  # nothing changed without the token

    done = await client.post(f"/board/overlaps/{overlap['id']}/status",
                             data={"status": "coordinated", "note": "Both go together", "csrf": token})
    assert done.status_code == 303
    assert (await overlaps(client, host))[0]["status"] == "coordinated"


async def test_a_department_sees_its_own_overlap_but_not_anothers_restricted_trip_nor_triage(client, host):
    start = next_month()
    await book(client, host, ECON, "Trade fair", "Köln", start)
    await book(client, host, MAYOR, "Partner city visit", "Düsseldorf", start)
    await book(client, host, MAYOR, "Confidential talks", "Leipzig", start, visibility="restricted")
    await eventually(lambda: _count(overlaps(client, host), 1), message="the overlap detected")
    await sign_in(client, host, ECON)

    page = (await client.get("/board/today", params={"month": start.strftime("%Y-%m")})).text
    assert "Trade fair" in page and "are both within" in page
    assert "Confidential talks" not in page and "Leipzig" not in page
    assert "/status" not in page  # no triage form for a department
    # Busy, no details: MAYOR is away then, and that is all ECON is told.
    assert re.search(r"MAYOR: away \d+ \w+ \d{4} – \d+ \w+ \d{4}", page)


async def test_the_board_speaks_german_when_asked(client, host):
    await sign_in(client, host, ECON)
    page = await client.get("/board/today")
    switched = await client.post("/board/language", data={"language": "de", "csrf": csrf_of(page.text),
                                                          "back": "/board/today"})
    assert switched.status_code == 303 and switched.headers["location"] == "/board/today"
    german = (await client.get("/board/today")).text
    assert '<html lang="de">' in german and "Überschneidungen" in german and "Abmelden" in german
    # Somewhere else than our own pages is never a place it sends you back to.
    away = await client.post("/board/language", data={"language": "en", "csrf": csrf_of(german),
                                                      "back": "//evil.example/board/"})
    assert away.headers["location"] == "/board/"


async def test_a_browser_asking_for_german_gets_the_sign_in_page_in_german(client):
    page = await client.get("/board/sign-in", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})
    assert '<html lang="de">' in page.text and "API-Schlüssel" in page.text


async def test_signing_out_ends_the_session(client, host):
    await sign_in(client, host, ECON)
    page = await client.get("/board/today")
    old = client.cookies.get("oia_board")
    out = await client.post("/board/sign-out", data={"csrf": csrf_of(page.text)})
    assert out.status_code == 303 and out.headers["location"] == "/board/sign-in"
    client.cookies.set("oia_board", old, path="/board")  # the old cookie, kept by someone: worthless now
    assert (await client.get("/board/today")).headers["location"] == "/board/sign-in"


async def test_the_board_assets_are_served_from_the_board_itself(client):
    page = (await client.get("/board/sign-in")).text
    assets = re.findall(r'(?:src|href)="([^"#?]+)"', page)
    assert assets and all(a.startswith("/board/") for a in assets)  # no other host: works on an intranet
    for asset in assets:
        assert (await client.get(asset)).status_code in (200, 303), asset


async def _count(listing, n: int) -> bool:
    return len(await listing) == n


async def test_today_narrows_to_a_partner_city_and_the_months_crossings(client, host):
    created = await client.post("/partners/partnerships", headers=auth(host, *COORDINATOR), json={
        "partner_city": "Krakau", "partner_country": "PL", "formalised_on": "1991-05-20"})
    assert created.status_code == 201, created.text
    start = next_month()
    krakow = {"title": "Culture week", "legs": [{"city": "Krakau", "country": "PL", "start_date": start.isoformat(),
                                                  "end_date": (start + timedelta(days=2)).isoformat()}]}
    assert (await client.post("/travel/trips", json=krakow, headers=auth(host, *ECON))).status_code == 201
    await book(client, host, MAYOR, "Trade fair", "Köln", start)
    await sign_in(client, host, COORDINATOR)

    month = start.strftime("%Y-%m")
    everything = (await client.get("/board/today", params={"month": month})).text
    assert "Culture week" in everything and "Trade fair" in everything
    assert '<option value="Kraków|PL"' in everything  # the partner cities this key may read of
    narrowed = (await client.get("/board/today", params={"month": month, "partner": "Kraków|PL"})).text
    assert "Culture week" in narrowed and "Trade fair" not in narrowed
