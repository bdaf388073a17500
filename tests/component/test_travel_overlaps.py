"""Overlap rules, through the travel API on the embedded host; effects read from rows and the outbox."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from services.travel.domain import bounding_box, legs_of_one_trip_overlap
from services.travel.models import Crossing, Overlap, Trip
from shared.db import table_of
from shared.tables import outbox
from tests.support.embedded import auth

ECON, MAYOR, CULT = ("department", "ECON"), ("department", "MAYOR"), ("department", "CULT")


def trip(title: str, city: str, country: str, start: str, end: str, **extra) -> dict:
    return {"title": title, "purpose": extra.pop("purpose", "other"),
            "legs": [{"city": city, "country": country, "start_date": start, "end_date": end}], **extra}


async def book(client, host, who, body) -> dict:
    response = await client.post("/travel/trips", json=body, headers=auth(host, *who))
    assert response.status_code == 201, response.text
    return response.json()


async def events(host, event_type: str) -> list[dict]:
    async with host.runtimes["travel"].engine.connect() as conn:
        rows = (await conn.execute(select(outbox).where(outbox.c.type == event_type).order_by(outbox.c.seq))).all()
    return [json.loads(row.payload) for row in rows]


async def overlaps(client, host, who=("coordinator", "OIA"), **params) -> list[dict]:
    response = await client.get("/travel/overlaps", params=params, headers=auth(host, *who))
    assert response.status_code == 200, response.text
    return response.json()


async def test_same_city_same_days_two_departments_is_one_overlap_with_its_reason(client, host):
    fair = await book(client, host, ECON, trip("Trade fair delegation", "Chongqing", "CN", "2027-05-10", "2027-05-15",
                                               purpose="trade_fair"))
    visit = await book(client, host, MAYOR, {
        **trip("Partner-city visit", "Chongqing", "CN", "2027-05-12", "2027-05-18", purpose="partner_city_visit"),
        "travellers": [{"name": "Henriette Reker", "email": "mayor@city.example", "role": "Mayor",
                        "elected_official": True}]})

    [detected] = await events(host, "travel.overlap.detected.v1")
    assert detected["place_name"] == "Chongqing" and detected["country"] == "CN"
    assert detected["distance_km"] == 0.0
    assert (detected["shared_start"], detected["shared_end"]) == ("2027-05-12", "2027-05-15")
    by_department = {t["department"]: t for t in detected["trips"]}
    assert by_department["ECON"]["purpose"] == "trade_fair"
    assert by_department["MAYOR"]["travellers"][0]["email"] == "mayor@city.example"
    assert by_department["MAYOR"]["leg"]["timezone"] == "Asia/Shanghai"
    [stored] = await overlaps(client, host, status="open")
    assert sorted(stored["trip_ids"]) == sorted([fair["id"], visit["id"]])
    departments = {fair["id"]: "ECON", visit["id"]: "MAYOR"}
    assert stored["departments"] == [departments[t] for t in stored["trip_ids"]]
    assert stored["id"] == detected["overlap_id"]


async def test_34_km_apart_overlaps_and_200_km_does_not(client, host):
    await book(client, host, ECON, trip("Expo", "Köln", "DE", "2027-09-01", "2027-09-03"))
    await book(client, host, CULT, trip("Art fair", "Düsseldorf", "DE", "2027-09-02", "2027-09-02"))
    await book(client, host, MAYOR, trip("Meeting", "Brussels", "BE", "2027-09-01", "2027-09-03"))  # ~175 km

    [detected] = await events(host, "travel.overlap.detected.v1")
    assert 33 < detected["distance_km"] < 36
    assert {t["department"] for t in detected["trips"]} == {"ECON", "CULT"}


@pytest.mark.parametrize("second_start,overlapping", [("2027-05-15", True), ("2027-05-16", False)])
async def test_dates_are_inclusive_a_shared_day_counts(client, host, second_start, overlapping):
    await book(client, host, ECON, trip("A", "Katowice", "PL", "2027-05-12", "2027-05-15"))
    await book(client, host, CULT, trip("B", "Kattowitz", "PL", second_start, "2027-05-20"))
    assert len(await events(host, "travel.overlap.detected.v1")) == (1 if overlapping else 0)


async def test_the_same_department_twice_is_not_an_overlap(client, host):
    await book(client, host, ECON, trip("A", "Wrocław", "PL", "2027-05-12", "2027-05-15"))
    await book(client, host, ECON, trip("B", "Breslau", "PL", "2027-05-12", "2027-05-15"))
    assert await events(host, "travel.overlap.detected.v1") == []


async def test_a_restricted_trip_still_overlaps_but_only_coordinators_see_it(client, host):
    await book(client, host, MAYOR, trip("Confidential talks", "Kyiv", "UA", "2027-04-01", "2027-04-03",
                                         visibility="restricted"))
    await book(client, host, ECON, trip("Reconstruction conference", "Kiev", "UA", "2027-04-02", "2027-04-04"))

    [detected] = await events(host, "travel.overlap.detected.v1")
    assert detected["restricted"] is True
    assert len(await overlaps(client, host)) == 1  # coordinator
    assert await overlaps(client, host, who=ECON) == []  # a department never sees a restricted overlap
    listed = (await client.get("/travel/trips", headers=auth(host, *ECON))).json()
    assert [t["title"] for t in listed] == ["Reconstruction conference"]


async def test_a_change_that_removes_the_overlap_resolves_it_and_a_cancel_does_too(client, host):
    a = await book(client, host, ECON, trip("A", "Rotterdam", "NL", "2027-06-01", "2027-06-05"))
    b = await book(client, host, CULT, trip("B", "Rotterdam", "NL", "2027-06-03", "2027-06-04"))
    c = await book(client, host, MAYOR, trip("C", "Rotterdam", "NL", "2027-06-04", "2027-06-06"))
    assert len(await events(host, "travel.overlap.detected.v1")) == 3  # every pair once

    moved = await client.patch(f"/travel/trips/{b['id']}", headers=auth(host, *CULT), json={
        "legs": [{"city": "Rotterdam", "country": "NL", "start_date": "2027-07-03", "end_date": "2027-07-04"}]})
    assert moved.status_code == 200, moved.text
    resolved = await events(host, "travel.overlap.resolved.v1")
    assert len(resolved) == 2 and all(b["id"] in r["trip_ids"] for r in resolved)

    cancelled = await client.post(f"/travel/trips/{c['id']}/cancel", headers=auth(host, *MAYOR))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    resolved = await events(host, "travel.overlap.resolved.v1")
    assert len(resolved) == 3
    assert "cancelled" in resolved[-1]["reason"]
    assert await overlaps(client, host, status="open") == []
    assert len(await events(host, "travel.trip.cancelled.v1")) == 1
    assert a["id"]


async def test_an_unrelated_change_does_not_alert_again_and_a_lasting_overlap_stays_one(client, host):
    await book(client, host, ECON, trip("A", "Brussels", "BE", "2027-03-01", "2027-03-03"))
    b = await book(client, host, CULT, trip("B", "Bruxelles", "BE", "2027-03-02", "2027-03-02"))

    renamed = await client.patch(f"/travel/trips/{b['id']}", json={"title": "B, renamed", "status": "booked"},
                                 headers=auth(host, *CULT))
    assert renamed.status_code == 200
    extended = await client.patch(f"/travel/trips/{b['id']}", headers=auth(host, *CULT), json={
        "legs": [{"city": "Brussels", "country": "BE", "start_date": "2027-03-02", "end_date": "2027-03-04"}]})
    assert extended.status_code == 200

    assert len(await events(host, "travel.overlap.detected.v1")) == 1
    assert await events(host, "travel.overlap.resolved.v1") == []
    updates = await events(host, "travel.trip.updated.v1")
    assert [sorted(u["changed"]) for u in updates] == [["status", "title"], ["legs"]]
    [open_overlap] = await overlaps(client, host, status="open")
    assert open_overlap["shared_end"] == "2027-03-03"  # kept up to date silently


async def test_an_overlap_that_comes_back_is_detected_again(client, host):
    await book(client, host, ECON, trip("A", "Granada", "ES", "2027-10-01", "2027-10-05"))
    b = await book(client, host, CULT, trip("B", "Granada", "ES", "2027-10-02", "2027-10-03"))
    away = {"legs": [{"city": "Granada", "country": "ES", "start_date": "2027-11-02", "end_date": "2027-11-03"}]}
    back = {"legs": [{"city": "Granada", "country": "ES", "start_date": "2027-10-04", "end_date": "2027-10-06"}]}
    for body in (away, back):
        assert (await client.patch(f"/travel/trips/{b['id']}", json=body, headers=auth(host, *CULT))).status_code == 200
    detected = await events(host, "travel.overlap.detected.v1")
    assert len(detected) == 2 and detected[0]["overlap_id"] == detected[1]["overlap_id"]
    assert len(await overlaps(client, host, status="open")) == 1


async def test_coordinators_mark_an_overlap_and_departments_may_not(client, host):
    await book(client, host, ECON, trip("A", "Birmingham", "GB", "2027-02-01", "2027-02-02"))
    await book(client, host, CULT, trip("B", "Birmingham", "GB", "2027-02-02", "2027-02-03"))
    [overlap] = await overlaps(client, host)
    refused = await client.post(f"/travel/overlaps/{overlap['id']}/status", json={"status": "coordinated"},
                                headers=auth(host, *ECON))
    assert refused.status_code == 403
    marked = await client.post(f"/travel/overlaps/{overlap['id']}/status", json={"status": "coordinated"},
                               headers=auth(host, "coordinator", "OIA"))
    assert marked.status_code == 200
    assert (await overlaps(client, host))[0]["status"] == "coordinated"
    bad = await client.post(f"/travel/overlaps/{overlap['id']}/status", json={"status": "ignored"},
                            headers=auth(host, "coordinator", "OIA"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"


async def test_a_mark_keeps_its_note_and_who_gave_it_and_the_parties_read_them(client, host):
    await book(client, host, ECON, trip("A", "Birmingham", "GB", "2027-02-01", "2027-02-02"))
    await book(client, host, CULT, trip("B", "Birmingham", "GB", "2027-02-02", "2027-02-03"))
    [overlap] = await overlaps(client, host)
    assert (overlap["triage_note"], overlap["triaged_by"], overlap["triaged_at"]) == (None, None, None)
    coordinator = auth(host, "coordinator", "OIA")
    path = f"/travel/overlaps/{overlap['id']}/status"

    too_long = await client.post(path, json={"status": "coordinated", "note": "x" * 1001}, headers=coordinator)
    assert too_long.status_code == 422 and too_long.json()["errors"][0]["field"] == "note"
    assert (await overlaps(client, host))[0]["status"] == "open"
    refused = await client.post(path, json={"status": "coordinated", "note": "not theirs"},
                                headers=auth(host, *MAYOR))  # no party to it: it is not there for MAYOR
    assert refused.status_code == 404 and (await overlaps(client, host))[0]["triage_note"] is None

    marked = await client.post(path, json={"status": "coordinated", "note": "One car from the airport"},
                               headers=coordinator)
    assert marked.status_code == 200, marked.text
    for who in (("coordinator", "OIA"), ECON, CULT):  # both parties see the state of their own overlap
        [seen] = await overlaps(client, host, who)
        assert (seen["status"], seen["triage_note"]) == ("coordinated", "One car from the airport")
        assert seen["triaged_by"].startswith("coordinator OIA (") and seen["triaged_at"] is not None
        assert host.keys[("coordinator", "OIA")] not in seen["triaged_by"]
    assert await overlaps(client, host, MAYOR) == []


async def test_checking_a_trip_tells_the_overlaps_and_crossings_booking_would_make_and_stores_nothing(client, host):
    fair = await book(client, host, ECON, trip("Trade fair", "Chongqing", "CN", "2027-05-10", "2027-05-15"))
    await book(client, host, CULT, trip("Confidential talks", "Chongqing", "CN", "2027-05-10", "2027-05-15",
                                        visibility="restricted"))
    visit = await client.post("/travel/delegations", headers=auth(host, *CULT), json={
        "origin_city": "Chongqing", "origin_country": "CN", "visitors": 3, "arrival": "2027-05-14",
        "departure": "2027-05-20"})
    assert visit.status_code == 201, visit.text

    async def stored() -> tuple[int, ...]:
        async with host.runtimes["travel"].engine.connect() as conn:
            return tuple([len((await conn.execute(select(table))).all())
                          for table in (outbox, table_of(Trip), table_of(Overlap), table_of(Crossing))])

    before = await stored()
    body = trip("Partner-city visit", "Chungking", "CN", "2027-05-12", "2027-05-18")
    checked = await client.post("/travel/trips/check", json=body, headers=auth(host, *MAYOR))
    assert checked.status_code == 200, checked.text
    [overlap] = checked.json()["overlaps"]  # CULT's restricted trip is not told of, not even as busy
    assert overlap == {"trip_id": fair["id"], "department": "ECON", "place_name": "Chongqing", "country": "CN",
                       "distance_km": 0.0, "shared_start": "2027-05-12", "shared_end": "2027-05-15",
                       "restricted": False}
    [crossing] = checked.json()["crossings"]
    assert crossing == {"delegation_id": visit.json()["id"], "host_department": "CULT",
                        "origin_place_name": "Chongqing", "place_name": "Chongqing", "distance_km": 0.0,
                        "shared_start": "2027-05-14", "shared_end": "2027-05-18"}
    assert "Confidential" not in checked.text
    everything = await client.post("/travel/trips/check", json=body, headers=auth(host, "coordinator", "OIA"))
    assert sorted(o["department"] for o in everything.json()["overlaps"]) == ["CULT", "ECON"]
    assert await stored() == before

    for_another = await client.post("/travel/trips/check", json={**body, "department": "ECON"},
                                    headers=auth(host, *MAYOR))
    assert for_another.status_code == 403
    nowhere = await client.post("/travel/trips/check", headers=auth(host, *MAYOR),
                                json=trip("Lost", "Kolnn", "XX", "2027-05-12", "2027-05-18"))
    assert nowhere.status_code == 422 and nowhere.json()["errors"][0]["field"].startswith("legs[0]")
    assert await stored() == before


def test_bounding_box_contains_the_radius():
    lat0, lat1, lon0, lon1 = bounding_box(50.94, 6.96, 50)  # Köln
    assert lat0 < 50.94 - 0.44 and lat1 > 50.94 + 0.44
    assert lon0 < 6.96 - 0.7 and lon1 > 6.96 + 0.7


def test_legs_of_one_trip_may_touch_but_not_overlap():
    from datetime import date

    d = date.fromisoformat
    assert legs_of_one_trip_overlap([(d("2027-05-01"), d("2027-05-03")), (d("2027-05-03"), d("2027-05-05"))]) is None
    assert legs_of_one_trip_overlap([(d("2027-05-01"), d("2027-05-04")), (d("2027-05-03"), d("2027-05-05"))]) == 1


def test_the_cells_around_a_point_hold_every_point_within_the_radius():
    import math
    import random

    from services.travel.domain import cell_of, cells_around
    from shared.places import haversine_km

    rng = random.Random(3)
    for _ in range(300):
        lat, lon = rng.uniform(-85, 85), rng.uniform(-180, 180)
        if rng.random() < 0.2:
            lon = rng.choice([-179.95, 179.95])  # the date line
        cells = set(cells_around(lat, lon, 50))
        for _ in range(20):
            bearing, distance = rng.uniform(0, 2 * math.pi), rng.uniform(0, 49.9)
            dlat = math.degrees(distance / 6371.0088 * math.cos(bearing))
            dlon = math.degrees(distance / 6371.0088 * math.sin(bearing) / math.cos(math.radians(lat)))
            other_lat, other_lon = lat + dlat, (lon + dlon + 540) % 360 - 180
            if haversine_km(lat, lon, other_lat, other_lon) <= 50:
                assert cell_of(other_lat, other_lon) in cells, (lat, lon, other_lat, other_lon)
