"""Travel's audit trail: every kind of write leaves one entry, in the change's own transaction,
naming its actor (never a key) and masking the travellers; only admins and coordinators read it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from shared.tables import audit
from tests.component.test_travel_delegations import DELEGATION, announce
from tests.component.test_travel_overlaps import book, trip
from tests.support.embedded import auth

ECON, CULT, OIA = ("department", "ECON"), ("department", "CULT"), ("coordinator", "OIA")
TRAVELLERS = [{"name": "Henriette Reker", "email": "h.reker@stadt-koeln.de", "role": "Mayor",
               "elected_official": True}]


async def trail(client, host, who=OIA, **params) -> list[dict]:
    response = await client.get("/travel/audit", params=params, headers=auth(host, *who))
    assert response.status_code == 200, response.text
    return response.json()


async def stored(host) -> list:
    """Every audit row in travel's database, oldest first, as stored."""
    async with host.runtimes["travel"].engine.connect() as conn:
        return (await conn.execute(select(audit).order_by(audit.c.seq))).all()


async def test_a_booking_is_recorded_with_its_caller_and_its_travellers_masked(client, host):
    booked = await book(client, host, ECON, trip("Trade fair", "Chongqing", "CN", "2027-05-12", "2027-05-15",
                                                 travellers=TRAVELLERS, estimated_cost="1200.50", currency="EUR"))
    [entry] = await trail(client, host, resource=f"trip/{booked['id']}")
    assert entry["action"] == "booked" and entry["resource"] == f"trip/{booked['id']}"
    assert entry["actor"].startswith("department ECON (")
    assert entry["changes"]["title"] == [None, "Trade fair"]
    assert entry["changes"]["estimated_cost"] == [None, "1200.50"]
    assert entry["changes"]["legs"] == [None, ["Chongqing (CN) 2027-05-12 – 2027-05-15"]]
    assert entry["changes"]["travellers"] == [None, "***"]
    # Neither the answer nor the stored row names the traveller, or carries the caller's key.
    rows = await stored(host)
    everything = repr([tuple(row) for row in rows]) + repr(entry)
    for secret in ("Reker", "h.reker@", host.keys[ECON]):
        assert secret not in everything


async def test_a_change_records_old_and_new_values_of_the_fields_that_changed_only(client, host):
    booked = await book(client, host, ECON, trip("Trade fair", "Chongqing", "CN", "2027-05-12", "2027-05-15"))
    moved = await client.patch(f"/travel/trips/{booked['id']}", headers=auth(host, *ECON), json={
        "title": "Trade fair (moved)", "travellers": TRAVELLERS,
        "legs": [{"city": "Chongqing", "country": "CN", "start_date": "2027-05-13", "end_date": "2027-05-16"}]})
    assert moved.status_code == 200
    unchanged = await client.patch(f"/travel/trips/{booked['id']}", headers=auth(host, *ECON),
                                   json={"title": "Trade fair (moved)"})
    assert unchanged.status_code == 200
    changed, _booked = await trail(client, host, resource=f"trip/{booked['id']}")
    assert changed["action"] == "changed"
    assert changed["changes"] == {
        "title": ["Trade fair", "Trade fair (moved)"],
        "legs": [["Chongqing (CN) 2027-05-12 – 2027-05-15"], ["Chongqing (CN) 2027-05-13 – 2027-05-16"]],
        "travellers": [[], "***"],
    }


async def test_cancelling_a_trip_is_recorded_once(client, host):
    booked = await book(client, host, ECON, trip("Trade fair", "Chongqing", "CN", "2027-05-12", "2027-05-15"))
    for _ in range(2):  # the second cancel asks for what is already so: nothing changes, nothing is recorded
        assert (await client.post(f"/travel/trips/{booked['id']}/cancel", headers=auth(host, *ECON))).status_code == 200
    cancelled, _booked = await trail(client, host, resource=f"trip/{booked['id']}")
    assert cancelled["action"] == "cancelled" and cancelled["changes"] == {"status": ["planned", "cancelled"]}


async def test_a_refused_or_invalid_write_records_nothing(client, host):
    booked = await book(client, host, ECON, trip("Trade fair", "Chongqing", "CN", "2027-05-12", "2027-05-15"))
    before = len(await stored(host))
    refused = await client.patch(f"/travel/trips/{booked['id']}", headers=auth(host, *CULT), json={"title": "Mine"})
    invalid = await client.patch(f"/travel/trips/{booked['id']}", headers=auth(host, *ECON), json={
        "legs": [{"city": "Atlantis", "country": "GR", "start_date": "2027-05-13", "end_date": "2027-05-16"}]})
    assert (refused.status_code, invalid.status_code) == (403, 422)
    assert len(await stored(host)) == before


async def test_an_overlap_is_recorded_as_detected_with_the_booking_that_caused_it_then_as_marked(client, host):
    await book(client, host, ECON, trip("Trade fair", "Chongqing", "CN", "2027-05-12", "2027-05-15"))
    second = await client.post("/travel/trips", headers={**auth(host, *CULT), "X-Correlation-ID": "booking-42"},
                               json=trip("Festival", "Chongqing", "CN", "2027-05-14", "2027-05-18"))
    assert second.status_code == 201
    [detected] = await trail(client, host, resource="overlap")
    assert detected["action"] == "detected" and detected["changes"]["status"] == [None, "open"]
    assert detected["correlation_id"] == "booking-42" and detected["actor"].startswith("department CULT (")
    overlap_id = detected["resource"].removeprefix("overlap/")
    marked = await client.post(f"/travel/overlaps/{overlap_id}/status", headers=auth(host, *OIA),
                               json={"status": "coordinated", "note": "one delegation, two programmes"})
    assert marked.status_code == 200
    latest, _detected = await trail(client, host, resource=f"overlap/{overlap_id}")
    assert latest["action"] == "marked" and latest["actor"].startswith("coordinator OIA (")
    assert latest["changes"] == {"status": ["open", "coordinated"],
                                 "triage_note": [None, "one delegation, two programmes"]}
    # Cancelling one trip resolves the overlap: recorded too, as the cancelling caller's doing.
    await client.post(f"/travel/trips/{second.json()['id']}/cancel", headers=auth(host, *CULT))
    resolved = (await trail(client, host, resource=f"overlap/{overlap_id}"))[0]
    assert resolved["action"] == "resolved" and resolved["changes"] == {"status": ["coordinated", "resolved"]}


async def test_delegations_are_recorded_when_announced_changed_and_cancelled(client, host):
    delegation = await announce(client, host)
    changed = await client.patch(f"/travel/delegations/{delegation['id']}", headers=auth(host, "department", "MAYOR"),
                                 json={"visitors": 14})
    cancelled = await client.post(f"/travel/delegations/{delegation['id']}/cancel",
                                  headers=auth(host, "department", "MAYOR"))
    assert (changed.status_code, cancelled.status_code) == (200, 200)
    entries = await trail(client, host, resource=f"delegation/{delegation['id']}")
    assert [e["action"] for e in entries] == ["cancelled", "changed", "announced"]
    assert entries[1]["changes"] == {"visitors": [DELEGATION["visitors"], 14]}
    assert entries[2]["changes"]["origin"] == [None, "Katowice (PL)"]


async def test_calendar_urls_are_recorded_when_made_and_revoked(client, host):
    made = await client.post("/travel/calendar/tokens", json={"label": "ECON's Outlook"}, headers=auth(host, *ECON))
    assert made.status_code == 201
    token = made.json()
    assert (await client.delete(f"/travel/calendar/tokens/{token['id']}", headers=auth(host, *ECON))).status_code == 204
    revoked, created = await trail(client, host, resource=f"calendar_token/{token['id']}")
    assert (created["action"], revoked["action"]) == ("created", "revoked")
    assert created["changes"] == {"department": [None, "ECON"], "label": [None, "ECON's Outlook"]}
    assert token["url"].rsplit("/", 1)[-1].removesuffix(".ics") not in repr(await stored(host))


async def test_the_trail_is_filtered_by_resource_actor_and_time_and_paged_without_repeats(client, host):
    first = await book(client, host, ECON, trip("One", "Chongqing", "CN", "2027-05-12", "2027-05-15"))
    for n in range(4):
        await book(client, host, CULT, trip(f"Culture {n}", "Lagos", "NG", f"2027-0{n + 1}-01", f"2027-0{n + 1}-02"))
    everything = await trail(client, host, resource="trip")
    assert len(everything) == 5 and [e["seq"] for e in everything] == sorted((e["seq"] for e in everything), reverse=True)
    econ_actor = everything[-1]["actor"]
    assert [e["resource"] for e in await trail(client, host, actor=econ_actor)] == [f"trip/{first['id']}"]
    assert await trail(client, host, since="2199-01-01T00:00:00+00:00") == []
    assert len(await trail(client, host, resource="trip", since=everything[-1]["at"])) == 5
    pages, cursor = [], None
    while True:
        response = await client.get("/travel/audit", params={"resource": "trip", "limit": 2,
                                                             **({"cursor": cursor} if cursor else {})},
                                    headers=auth(host, *OIA))
        pages.append([e["seq"] for e in response.json()])
        cursor = response.headers.get("X-Next-Cursor")
        if cursor is None:
            break
    assert [seq for page in pages for seq in page] == [e["seq"] for e in everything]


@pytest.mark.parametrize("params, field", [
    ({"resource": "Trip/../etc"}, "query.resource"),
    ({"resource": "trip/a/b"}, "query.resource"),
    ({"since": "2027-05-12T10:00:00"}, "query.since"),  # an instant needs its offset
    ({"limit": 0}, "query.limit"),
    ({"cursor": "not-a-number"}, "query.cursor"),
])
async def test_bad_filters_are_a_422_naming_them(client, host, params, field):
    response = await client.get("/travel/audit", params=params, headers=auth(host, *OIA))
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_each_service_keeps_its_own_trail(client, host):
    await book(client, host, ECON, trip("Trade fair", "Chongqing", "CN", "2027-05-12", "2027-05-15"))
    for service in ("partners", "grants", "notifications"):
        response = await client.get(f"/{service}/audit", headers=auth(host, *OIA))
        assert response.status_code == 200 and all(not e["resource"].startswith("trip/") for e in response.json())
