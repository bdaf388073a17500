"""The year's numbers for the council report, one query away."""

from __future__ import annotations

from tests.component.test_travel_delegations import DELEGATION, announce
from tests.component.test_travel_overlaps import book, trip
from tests.support.embedded import auth

ECON, MAYOR = ("department", "ECON"), ("department", "MAYOR")


async def test_the_summary_counts_trips_travellers_destinations_costs_and_visitors(client, host):
    anna = {"name": "Anna Weber", "email": "anna@city.example"}
    mayor = {"name": "The Mayor", "email": "mayor@city.example", "elected_official": True}
    await book(client, host, ECON, {**trip("Expo", "Chongqing", "CN", "2027-05-12", "2027-05-15", purpose="trade_fair"),
                                    "travellers": [anna], "estimated_cost": "4200.50", "currency": "EUR"})
    await book(client, host, MAYOR, {**trip("Visit", "Kraków", "PL", "2027-06-01", "2027-06-03",
                                            purpose="partner_city_visit"),
                                     "travellers": [mayor, anna], "estimated_cost": "1800", "currency": "EUR"})
    two_countries = await book(client, host, ECON, {
        "title": "Tour", "purpose": "conference", "travellers": [{"name": "Ben Ort"}],
        "legs": [{"city": "Paris", "country": "FR", "start_date": "2027-12-30", "end_date": "2027-12-31"},
                 {"city": "Brussels", "country": "BE", "start_date": "2028-01-01", "end_date": "2028-01-02"}]})
    cancelled = await book(client, host, ECON, trip("Dropped", "Oslo", "NO", "2027-03-01", "2027-03-02"))
    assert (await client.post(f"/travel/trips/{cancelled['id']}/cancel", headers=auth(host, *ECON))).status_code == 200
    await book(client, host, ECON, trip("Next year", "Oslo", "NO", "2028-03-01", "2028-03-02"))
    await announce(client, host)
    await announce(client, host, {**DELEGATION, "origin_city": "Lyon", "origin_country": "FR", "visitors": 30,
                                  "official_guest": False})

    response = await client.get("/travel/summary", params={"year": 2027}, headers=auth(host, "reader"))
    assert response.status_code == 200, response.text
    s = response.json()
    assert s["trips"] == 3 and s["legs"] == 4
    assert s["travellers"] == 4 and s["distinct_travellers"] == 3
    assert s["trips_with_elected_officials"] == 1
    assert s["destinations_by_country"] == {"CN": 1, "PL": 1, "FR": 1, "BE": 1}
    assert s["purposes"] == {"trade_fair": 1, "partner_city_visit": 1, "conference": 1}
    assert s["departments"] == {"ECON": 2, "MAYOR": 1}
    assert s["estimated_cost"] == {"EUR": "6000.50"}
    assert (s["delegations"], s["visitors"], s["official_guest_delegations"]) == (2, 42, 1)
    assert s["visitors_by_origin_country"] == {"PL": 12, "FR": 30}
    assert two_countries["id"]


async def test_a_year_out_of_range_is_a_422(client, host):
    response = await client.get("/travel/summary", params={"year": 20270}, headers=auth(host, "reader"))
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "query.year"
    missing = await client.get("/travel/summary", headers=auth(host, "reader"))
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "query.year"
