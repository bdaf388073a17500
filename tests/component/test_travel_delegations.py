"""Inbound delegations and crossings: our trip to X while X's delegation visits us."""

from __future__ import annotations

import pytest

from tests.component.test_travel_overlaps import book, events, trip
from tests.support.embedded import auth

MAYOR, ECON = ("department", "MAYOR"), ("department", "ECON")
DELEGATION = {"origin_city": "Kattowitz", "origin_country": "PL", "organisation": "City of Katowice",
              "visitors": 12, "arrival": "2027-06-02", "departure": "2027-06-05", "official_guest": True}


async def announce(client, host, body=DELEGATION, who=MAYOR) -> dict:
    response = await client.post("/travel/delegations", json=body, headers=auth(host, *who))
    assert response.status_code == 201, response.text
    return response.json()


async def test_announcing_a_delegation_resolves_its_origin_and_publishes_it(client, host):
    delegation = await announce(client, host)
    assert delegation["origin_place_name"] == "Katowice" and delegation["host_department"] == "MAYOR"
    [announced] = await events(host, "travel.delegation.announced.v1")
    assert announced["delegation_id"] == delegation["id"]
    assert announced["visitors"] == 12 and announced["official_guest"] is True
    assert abs(announced["origin_latitude"] - 50.26) < 0.05
    listed = (await client.get("/travel/delegations", params={"country": "PL"}, headers=auth(host, "reader"))).json()
    assert [d["id"] for d in listed] == [delegation["id"]]


async def test_a_trip_there_while_they_are_here_is_a_crossing_either_way_round(client, host):
    delegation = await announce(client, host)
    away = await book(client, host, ECON, trip("Trade mission", "Katowice", "PL", "2027-06-04", "2027-06-08"))

    [crossing] = await events(host, "travel.crossing.detected.v1")
    assert crossing["trip"]["trip_id"] == away["id"]
    assert crossing["delegation"]["delegation_id"] == delegation["id"]
    assert (crossing["shared_start"], crossing["shared_end"]) == ("2027-06-04", "2027-06-05")

    # The other order: the trip is booked first, the delegation announced after.
    await book(client, host, ("department", "CULT"), trip("Festival", "Kraków", "PL", "2027-09-01", "2027-09-04"))
    await announce(client, host, {**DELEGATION, "origin_city": "Krakau", "arrival": "2027-09-03",
                                  "departure": "2027-09-06"})
    assert len(await events(host, "travel.crossing.detected.v1")) == 2
    listed = (await client.get("/travel/crossings", params={"status": "open"}, headers=auth(host, "reader"))).json()
    assert len(listed) == 2


async def test_no_crossing_on_other_dates_or_elsewhere_and_a_moved_trip_closes_it_quietly(client, host):
    await announce(client, host)
    await book(client, host, ECON, trip("Before", "Katowice", "PL", "2027-05-01", "2027-06-01"))
    await book(client, host, ECON, trip("Elsewhere", "Gdańsk", "PL", "2027-06-02", "2027-06-05"))
    assert await events(host, "travel.crossing.detected.v1") == []

    there = await book(client, host, ECON, trip("There", "Katowice", "PL", "2027-06-03", "2027-06-03"))
    moved = await client.patch(f"/travel/trips/{there['id']}", headers=auth(host, *ECON), json={
        "legs": [{"city": "Katowice", "country": "PL", "start_date": "2027-07-03", "end_date": "2027-07-04"}]})
    assert moved.status_code == 200
    assert len(await events(host, "travel.crossing.detected.v1")) == 1
    [closed] = (await client.get("/travel/crossings", headers=auth(host, "reader"))).json()
    assert closed["status"] == "resolved"


@pytest.mark.parametrize("body,field", [
    ({**DELEGATION, "departure": "2027-06-01"}, "departure"),
    ({**DELEGATION, "visitors": 0}, "visitors"),
    ({**DELEGATION, "origin_city": "Atlantis"}, "origin_city"),
    ({**DELEGATION, "origin_country": "Cathay"}, "origin_country"),
    ({**DELEGATION, "arrival": "2027-13-01"}, "arrival"),
])
async def test_bad_delegations_are_refused_naming_the_field(client, host, body, field):
    response = await client.post("/travel/delegations", json=body, headers=auth(host, *MAYOR))
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]
    assert await events(host, "travel.delegation.announced.v1") == []


async def test_a_department_announces_only_its_own_delegations(client, host):
    response = await client.post("/travel/delegations", json={**DELEGATION, "host_department": "CULT"},
                                 headers=auth(host, *MAYOR))
    assert response.status_code == 403
    reader = await client.post("/travel/delegations", json=DELEGATION, headers=auth(host, "reader"))
    assert reader.status_code == 403
    assert await events(host, "travel.delegation.announced.v1") == []


async def test_two_departments_hosting_delegations_from_one_place_at_once_overlap(client, host):
    first = await announce(client, host)
    second = await announce(client, host, {**DELEGATION, "origin_city": "Katowice", "organisation": "Silesian chamber",
                                           "arrival": "2027-06-04", "departure": "2027-06-09"}, who=ECON)
    [detected] = await events(host, "travel.overlap.detected.v1")
    assert detected["kind"] == "delegations" and detected["trips"] == []
    assert {d["delegation_id"] for d in detected["delegations"]} == {first["id"], second["id"]}
    assert (detected["shared_start"], detected["shared_end"]) == ("2027-06-04", "2027-06-05")
    [listed] = (await client.get("/travel/overlaps", headers=auth(host, *ECON))).json()
    assert listed["kind"] == "delegations" and sorted(listed["delegation_ids"]) == sorted([first["id"], second["id"]])
    hosts = {first["id"]: first["host_department"], second["id"]: "ECON"}
    assert listed["departments"] == [hosts[d] for d in listed["delegation_ids"]]

    # The same department twice is no overlap; a later arrival resolves it; a cancel stays quiet after.
    await announce(client, host, {**DELEGATION, "arrival": "2027-06-03"})
    assert len(await events(host, "travel.overlap.detected.v1")) == 2  # MAYOR's second one meets ECON's only
    moved = await client.patch(f"/travel/delegations/{second['id']}", json={"arrival": "2027-07-01",
                                                                            "departure": "2027-07-02"},
                               headers=auth(host, *ECON))
    assert moved.status_code == 200, moved.text
    resolved = await events(host, "travel.overlap.resolved.v1")
    assert len(resolved) == 2 and all(r["kind"] == "delegations" for r in resolved)
    [updated] = await events(host, "travel.delegation.updated.v1")
    assert sorted(updated["changed"]) == ["arrival", "departure"]


async def test_a_cancelled_delegation_ends_its_crossings_and_overlaps(client, host):
    delegation = await announce(client, host)
    await announce(client, host, {**DELEGATION, "origin_city": "Katowice"}, who=ECON)
    await book(client, host, ("department", "CULT"), trip("Festival", "Katowice", "PL", "2027-06-03", "2027-06-04"))
    assert len(await events(host, "travel.crossing.detected.v1")) == 2

    refused = await client.post(f"/travel/delegations/{delegation['id']}/cancel", headers=auth(host, *ECON))
    assert refused.status_code == 403
    cancelled = await client.post(f"/travel/delegations/{delegation['id']}/cancel", headers=auth(host, *MAYOR))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    [gone] = await events(host, "travel.delegation.cancelled.v1")
    assert gone["delegation_id"] == delegation["id"]
    [resolved] = await events(host, "travel.overlap.resolved.v1")
    assert "cancelled" in resolved["reason"]
    crossings = (await client.get("/travel/crossings", params={"status": "open"}, headers=auth(host, "reader"))).json()
    assert [c["delegation_id"] for c in crossings] != [delegation["id"]] and len(crossings) == 1
    again = await client.patch(f"/travel/delegations/{delegation['id']}", json={"visitors": 3},
                               headers=auth(host, *MAYOR))
    assert again.status_code == 409


async def test_delegations_are_filtered(client, host):
    katowice = await announce(client, host)
    lyon = await announce(client, host, {**DELEGATION, "origin_city": "Lyon", "origin_country": "FR",
                                         "arrival": "2027-08-01", "departure": "2027-08-02"}, who=ECON)
    await client.post(f"/travel/delegations/{lyon['id']}/cancel", headers=auth(host, *ECON))

    async def ids(**params) -> list[str]:
        response = await client.get("/travel/delegations", params=params, headers=auth(host, "reader"))
        assert response.status_code == 200, response.text
        return [d["id"] for d in response.json()]

    assert await ids(city="Katowice") == [katowice["id"]]
    assert await ids(status="cancelled") == [lyon["id"]]
    assert await ids(department="ECON") == [lyon["id"]]
    assert await ids(**{"from": "2027-07-01"}) == [lyon["id"]]
    assert await ids(**{"to": "2027-07-01"}) == [katowice["id"]]
    bad = await client.get("/travel/delegations", params={"status": "maybe"}, headers=auth(host, "reader"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.status"
