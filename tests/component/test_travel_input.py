"""Bad input to travel: each a 4xx naming the field, and nothing stored or published."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from services.travel.models import Trip
from shared.tables import outbox
from tests.support.embedded import auth

ECON = ("department", "ECON")
LEG = {"city": "Chongqing", "country": "CN", "start_date": "2027-05-12", "end_date": "2027-05-15"}
TRIP = {"title": "Trade fair", "purpose": "trade_fair", "legs": [LEG],
        "travellers": [{"name": "Anna Weber", "email": "anna.weber@city.example"}]}


async def stored(host) -> tuple[int, int]:
    async with host.runtimes["travel"].engine.connect() as conn:
        trips = await conn.scalar(select(func.count()).select_from(Trip.__table__))
        events = await conn.scalar(select(func.count()).select_from(outbox))
    return trips, events


@pytest.mark.parametrize("body,field,words", [
    ({**TRIP, "legs": [{**LEG, "end_date": "2027-05-01"}]}, "legs[0].end_date", "before start_date"),
    ({**TRIP, "legs": [{**LEG, "end_date": "2028-06-01"}]}, "legs[0].end_date", "366 days"),
    ({**TRIP, "legs": []}, "legs", "at least 1"),
    ({**TRIP, "legs": [LEG, {**LEG, "city": "Shanghai", "start_date": "2027-05-14", "end_date": "2027-05-16"}]},
     "legs[1]", "before the previous leg ends"),
    ({**TRIP, "legs": [{**LEG, "start_date": "2027-02-30"}]}, "legs[0].start_date", "date"),
    ({**TRIP, "legs": [{**LEG, "start_date": "12/05/2027"}]}, "legs[0].start_date", "date"),
    ({**TRIP, "legs": [{**LEG, "city": "Atlantis", "country": "GR"}]}, "legs[0].city", "no city 'Atlantis' in GR"),
    ({**TRIP, "legs": [{**LEG, "city": "Springfield", "country": "US"}]}, "legs[0].city", "ambiguous"),
    ({**TRIP, "legs": [{**LEG, "country": "Cathay"}]}, "legs[0].country", "unknown country"),
    ({**TRIP, "legs": [{**LEG, "city": "Kyiv", "country": "USSR"}]}, "legs[0].country", "UA (Ukraine)"),
    ({**TRIP, "legs": [{**LEG, "city": "Köln", "country": "DE", "place_id": 1814906}]}, "legs[0].place_id", "is in CN"),
    ({**TRIP, "estimated_cost": "-5", "currency": "EUR"}, "estimated_cost", "greater than or equal to 0"),
    ({**TRIP, "estimated_cost": "500"}, "currency", "required with estimated_cost"),
    ({**TRIP, "currency": "euro"}, "currency", "pattern"),
    ({**TRIP, "travellers": [{"email": "a@b.example"}]}, "travellers[0].name", "required"),
    ({**TRIP, "travellers": [{"name": ""}]}, "travellers[0].name", "at least 1"),
    ({**TRIP, "travellers": [{"name": "X", "email": "not-an-address"}]}, "travellers[0].email", "email"),
    ({**TRIP, "purpose": "holiday"}, "purpose", "partner_city_visit"),
    ({**TRIP, "visibility": "secret"}, "visibility", "restricted"),
    ({**TRIP, "status": "completed"}, "status", "planned"),
    ({**TRIP, "department": "econ"}, "department", "pattern"),
])
async def test_bad_trip_is_refused_naming_the_field(client, host, body, field, words):
    response = await client.post("/travel/trips", json=body, headers=auth(host, *ECON))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in problem["errors"]], problem
    assert words in response.text
    assert await stored(host) == (0, 0)


async def test_an_ambiguous_city_lists_the_candidates_to_pick_from(client, host):
    response = await client.post("/travel/trips", headers=auth(host, *ECON),
                                 json={**TRIP, "legs": [{**LEG, "city": "Springfield", "country": "US"}]})
    [error] = response.json()["errors"]
    candidates = error["candidates"]
    assert len(candidates) > 2 and all(c["country"] == "US" for c in candidates)
    assert [c["name"] for c in candidates[:2]] == ["Springfield", "Springfield"]
    picked = await client.post("/travel/trips", headers=auth(host, *ECON), json={
        **TRIP, "legs": [{**LEG, "city": "Springfield", "country": "US", "place_id": candidates[1]["place_id"]}]})
    assert picked.status_code == 201
    assert picked.json()["legs"][0]["place_id"] == candidates[1]["place_id"]


async def test_a_misspelt_city_is_answered_with_the_likeliest_places_first(client, host):
    response = await client.post("/travel/trips", headers=auth(host, *ECON),
                                 json={**TRIP, "legs": [{**LEG, "city": "Dusseldorff", "country": "DE"}]})
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert "did you mean Düsseldorf" in error["message"]
    assert error["candidates"][0]["name"] == "Düsseldorf" and len(error["candidates"]) > 1
    assert await stored(host) == (0, 0)

    suggested = await client.get("/travel/places", params={"q": "Kolnn", "country": "Germany"},
                                 headers=auth(host, *ECON))
    assert suggested.status_code == 200, suggested.text
    assert suggested.json()[0] == {"place_id": 2886242, "name": "Köln", "country": "DE", "population": 1024621,
                                   "latitude": 50.93333, "longitude": 6.95, "timezone": "Europe/Berlin"}
    anywhere = await client.get("/travel/places", params={"q": "Barcelonna"}, headers=auth(host, *ECON))
    assert [(p["name"], p["country"]) for p in anywhere.json()[:2]] == [("Barcelona", "ES"), ("Barcelona", "VE")]
    unknown = await client.get("/travel/places", params={"q": "Kolnn", "country": "Cathay"}, headers=auth(host, *ECON))
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "country"


async def test_a_country_written_as_people_write_it_resolves_and_a_former_union_lists_todays(client, host):
    for country in ("Turkey", "Türkiye", "TR"):
        booked = await client.post("/travel/trips", headers=auth(host, *ECON),
                                   json={**TRIP, "legs": [{**LEG, "city": "Izmir", "country": country}]})
        assert booked.status_code == 201, booked.text
        assert booked.json()["legs"][0]["country"] == "TR"
    refused = await client.post("/travel/trips", headers=auth(host, *ECON),
                                json={**TRIP, "legs": [{**LEG, "city": "Bratislava", "country": "Czechoslovakia"}]})
    assert refused.status_code == 422
    [error] = refused.json()["errors"]
    assert error["candidates"] == [{"country": "CZ", "name": "Czechia"}, {"country": "SK", "name": "Slovakia"}]


async def test_changing_someone_elses_trip_is_403_and_changes_nothing(client, host):
    trip = (await client.post("/travel/trips", json=TRIP, headers=auth(host, *ECON))).json()
    before = await stored(host)
    for method, path, body in (("PATCH", f"/travel/trips/{trip['id']}", {"title": "Mine now"}),
                               ("POST", f"/travel/trips/{trip['id']}/cancel", None)):
        response = await client.request(method, path, json=body, headers=auth(host, "department", "CULT"))
        assert response.status_code == 403, response.text
        assert "ECON" in response.json()["detail"]
        reader = await client.request(method, path, json=body, headers=auth(host, "reader"))
        assert reader.status_code == 403
    assert await stored(host) == before
    assert (await client.get(f"/travel/trips/{trip['id']}", headers=auth(host, "reader"))).json()["title"] == "Trade fair"


async def test_a_status_change_that_is_not_allowed_is_a_409(client, host):
    trip = (await client.post("/travel/trips", json=TRIP, headers=auth(host, *ECON))).json()
    assert (await client.post(f"/travel/trips/{trip['id']}/cancel", headers=auth(host, *ECON))).status_code == 200
    before = await stored(host)
    revived = await client.patch(f"/travel/trips/{trip['id']}", json={"status": "booked"}, headers=auth(host, *ECON))
    assert revived.status_code == 409
    assert "cancelled" in revived.json()["detail"]
    assert await stored(host) == before

    other = (await client.post("/travel/trips", json=TRIP, headers=auth(host, *ECON))).json()
    sideways = await client.patch(f"/travel/trips/{other['id']}", json={"status": "cancelled"}, headers=auth(host, *ECON))
    assert sideways.status_code == 422 and sideways.json()["errors"][0]["field"] == "status"
    assert "/cancel" in sideways.json()["detail"]
    done = await client.patch(f"/travel/trips/{other['id']}", json={"status": "completed"}, headers=auth(host, *ECON))
    assert done.status_code == 200
    reopened = await client.patch(f"/travel/trips/{other['id']}", json={"status": "planned"}, headers=auth(host, *ECON))
    assert reopened.status_code == 409


async def test_null_for_a_required_field_in_a_patch_is_a_422(client, host):
    trip = (await client.post("/travel/trips", json=TRIP, headers=auth(host, *ECON))).json()
    response = await client.patch(f"/travel/trips/{trip['id']}", json={"title": None}, headers=auth(host, *ECON))
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "title"


async def test_unknown_trip_is_404_and_a_restricted_one_is_hidden_from_other_departments(client, host):
    assert (await client.get("/travel/trips/nope", headers=auth(host, "reader"))).status_code == 404
    secret = (await client.post("/travel/trips", json={**TRIP, "visibility": "restricted"},
                                headers=auth(host, *ECON))).json()
    assert (await client.get(f"/travel/trips/{secret['id']}", headers=auth(host, "department", "CULT"))).status_code == 404
    assert (await client.get(f"/travel/trips/{secret['id']}", headers=auth(host, "coordinator", "OIA"))).status_code == 200


async def test_trips_are_filtered_and_paged(client, host):
    for i in range(5):
        body = {**TRIP, "title": f"T{i}", "legs": [{**LEG, "city": "Köln" if i % 2 else "Chongqing",
                                                     "country": "DE" if i % 2 else "CN"}]}
        assert (await client.post("/travel/trips", json=body, headers=auth(host, *ECON))).status_code == 201
    german = (await client.get("/travel/trips", params={"country": "DE"}, headers=auth(host, "reader"))).json()
    assert sorted(t["title"] for t in german) == ["T1", "T3"]
    by_city = (await client.get("/travel/trips", params={"city": "Köln"}, headers=auth(host, "reader"))).json()
    assert len(by_city) == 2
    window = (await client.get("/travel/trips", params={"from": "2027-05-16"}, headers=auth(host, "reader"))).json()
    assert window == []
    first = await client.get("/travel/trips", params={"limit": 3}, headers=auth(host, "reader"))
    second = await client.get("/travel/trips", params={"limit": 3, "cursor": first.headers["X-Next-Cursor"]},
                              headers=auth(host, "reader"))
    titles = [t["title"] for t in first.json() + second.json()]
    assert sorted(titles) == ["T0", "T1", "T2", "T3", "T4"]
    bad = await client.get("/travel/trips", params={"cursor": "garbage"}, headers=auth(host, "reader"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.cursor"


@pytest.mark.parametrize("window, words", [
    ({"from": "2031-06-30", "to": "2031-06-01"}, "before"),
    ({"from": "2031-01-01", "to": "2032-12-31"}, "400 days"),
    ({"from": "2031-06-01"}, "to"),
])
async def test_a_busy_window_backwards_too_long_or_open_is_a_422_naming_it(client, host, window, words):
    response = await client.get("/travel/busy", params=window, headers=auth(host, "department", "ECON"))
    assert response.status_code == 422, response.text
    assert "to" in response.json()["errors"][0]["field"] and words in response.text
