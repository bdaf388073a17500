"""The platform surface every service shares, exercised through the embedded host (memory bus, SQLite)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from oia.catalog import SERVICES
from services.travel.models import Traveller, Trip
from shared.app import PLATFORM
from shared.envelope import Envelope
from shared.testing import eventually
from tests.support.embedded import auth
from tests.support.policy_cases import KEYS, cases

TRIP = {"title": "Trade fair", "legs": [{"city": "Chongqing", "country": "CN",
                                         "start_date": "2027-05-12", "end_date": "2027-05-15"}]}


async def trips_stored(host) -> int:
    async with host.runtimes["travel"].engine.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(Trip.__table__))


@pytest.mark.parametrize("service", SERVICES)
async def test_every_service_serves_probes_docs_and_metrics_under_its_prefix(client, service):
    assert (await client.get(f"/{service}/health")).json() == {"status": "ok"}
    ready = await client.get(f"/{service}/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}
    assert (await client.get(f"/{service}/docs")).status_code == 200
    spec = (await client.get(f"/{service}/openapi.json")).json()
    assert all(path.startswith(f"/{service}/") for path in spec["paths"])
    metrics = await client.get(f"/{service}/metrics")
    assert f'oia_outbox_backlog{{service="{service}"}}' in metrics.text


async def test_ready_reports_an_unreachable_broker_as_503(client, host):
    await host.bus.close()
    ready = await client.get("/travel/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["broker"] == "unreachable"


async def test_booking_over_http_reaches_the_notifications_feed(client, host):
    booked = await client.post("/travel/trips", json=TRIP, headers=auth(host, "department", "ECON"))
    assert booked.status_code == 201
    assert booked.json()["department"] == "ECON"

    async def feed():
        r = await client.get("/notifications/feed", params={"recipient": "OIA"}, headers=auth(host, "coordinator", "OIA"))
        return r.json()

    await eventually(feed, message="the coordinators' feed item")
    [item] = await feed()
    assert item["title"] == "ECON is planning a trip: Trade fair"  # TRIP is planned, not booked
    assert booked.headers["X-Correlation-ID"]


@pytest.mark.parametrize("headers,status,detail", [
    ({}, 401, "missing API key"),
    ({"Authorization": "Bearer oia_not-a-real-key"}, 401, "unknown or revoked"),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, 401, "missing API key"),
])
async def test_requests_without_a_valid_key_are_401_problems(client, host, headers, status, detail):
    response = await client.post("/travel/trips", json=TRIP, headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert detail in response.json()["detail"]
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert await trips_stored(host) == 0


async def test_a_reader_and_another_department_are_refused_with_403(client, host):
    reader = await client.post("/travel/trips", json=TRIP, headers=auth(host, "reader"))
    other = await client.post("/travel/trips", json={**TRIP, "department": "CULT"}, headers=auth(host, "department", "ECON"))
    assert (reader.status_code, other.status_code) == (403, 403)
    assert "CULT" in other.json()["detail"]
    assert await trips_stored(host) == 0
    coordinator = await client.post("/travel/trips", json={**TRIP, "department": "CULT"}, headers=auth(host, "coordinator", "OIA"))
    assert coordinator.status_code == 201 and coordinator.json()["department"] == "CULT"


async def test_keys_provisioned_from_the_environment_work(client, host):
    response = await client.post("/travel/trips", json=TRIP, headers={"Authorization": "Bearer env-env-key"})
    assert response.status_code == 201
    assert response.json()["department"] == "ENV"
    letters = await client.get("/travel/admin/dead-letters", headers={"Authorization": "Bearer env-admin-key"})
    assert letters.status_code == 200 and letters.json() == []


async def test_admin_routes_need_the_admin_role(client, host):
    response = await client.get("/notifications/admin/dead-letters", headers=auth(host, "coordinator", "OIA"))
    assert response.status_code == 403
    assert "dead letters" in response.json()["detail"]


async def _manage_dead_letters(client, host, role: str) -> bool:
    """Whether `role` may inspect and re-drive notifications' dead letters; both must agree, and a refusal
    shows and re-drives nothing (the poison letter stays where it is)."""
    queue = host.runtimes["notifications"].queue
    poison = Envelope(type="travel.trip.booked.v1", source="/tests", data={"trip_id": "poison"})
    await host.bus.publish([poison])
    await eventually(lambda: _dead(host, queue, poison.id), message="the poison dead-lettered")
    headers = {"Authorization": f"Bearer {KEYS[role]}"}
    listed = await client.get("/notifications/admin/dead-letters", headers=headers)
    replayed = await client.post("/notifications/admin/dead-letters/replay", json={"event_ids": ["not-this-one"]},
                                 headers=headers)
    assert {listed.status_code, replayed.status_code} <= {200, 403}
    assert await _dead(host, queue, poison.id)  # what was asked to be re-driven was not this one
    if listed.status_code == 200:
        assert poison.id in [letter["event_id"] for letter in listed.json()]
        assert replayed.status_code == 200 and replayed.json() == {"replayed": 0}
        return True
    assert replayed.status_code == 403 and "poison" not in listed.text + replayed.text
    return False


async def _dead(host, queue: str, event_id: str) -> bool:
    return event_id in [letter.event_id for letter in await host.bus.dead_letters(queue)]


async def _read_caller(client, host, role: str) -> bool:
    """Whether `role`'s key may ask who it is; the answer names its role and key id, never the key."""
    response = await client.get("/travel/me", headers={"Authorization": f"Bearer {KEYS[role]}"})
    assert response.status_code in (200, 403)
    if response.status_code == 403:
        return False
    caller = response.json()
    assert caller["role"] == role and caller["key_id"].startswith("key_") and KEYS[role] not in response.text
    return True


async def _read_audit(client, host, role: str) -> bool:
    """Whether `role`'s key may read the audit trail; a refusal shows none of it (not even that a
    trip was booked)."""
    booked = await client.post("/travel/trips", json=TRIP, headers=auth(host, "department", "ECON"))
    assert booked.status_code == 201
    response = await client.get("/travel/audit", params={"resource": "trip"},
                                headers={"Authorization": f"Bearer {KEYS[role]}"})
    assert response.status_code in (200, 403)
    if response.status_code == 403:
        assert booked.json()["id"] not in response.text
        return False
    assert [e["resource"] for e in response.json()] == [f"trip/{booked.json()['id']}"]
    return True


async def _run_retention(client, host, role: str) -> bool:
    """Whether `role` may run the retention rules; a refusal removes nothing (the traveller stays named)."""
    booked = await client.post("/travel/trips", json={**TRIP, "travellers": [{"name": "Jonas Berg"}]},
                               headers=auth(host, "department", "ECON"))
    assert booked.status_code == 201
    response = await client.post("/travel/admin/retention", json={"now": "2199-01-01T00:00:00+00:00"},
                                 headers={"Authorization": f"Bearer {KEYS[role]}"})
    assert response.status_code in (200, 403)
    async with host.runtimes["travel"].engine.connect() as conn:
        named = await conn.scalar(select(func.count()).select_from(Traveller).where(Traveller.name == "Jonas Berg"))
    if response.status_code == 403:
        assert named == 1
        return False
    assert named == 0 and response.json()["removed"]["travellers of ended trips"] == 1
    return True


async def _subject(client, host, role: str, what: str) -> bool:
    """Whether `role` may export or erase a person; a refusal shows and changes nothing."""
    booked = await client.post("/travel/trips", json={**TRIP, "travellers": [{"name": "Jonas Berg",
                                                                              "email": "jonas@city.example"}]},
                               headers=auth(host, "department", "ECON"))
    assert booked.status_code == 201
    response = await client.post(f"/travel/admin/subjects/{what}", json={"email": "jonas@city.example"},
                                 headers={"Authorization": f"Bearer {KEYS[role]}"})
    assert response.status_code in (200, 403)
    async with host.runtimes["travel"].engine.connect() as conn:
        named = await conn.scalar(select(func.count()).select_from(Traveller).where(Traveller.name == "Jonas Berg"))
    if response.status_code == 403:
        assert named == 1 and "Jonas" not in response.text
        return False
    if what == "export":
        assert response.json()["names"] == ["Jonas Berg"] and named == 1
    else:
        assert response.json()["erased"]["travellers"] == 1 and named == 0
    return True


async def _export_subject(client, host, role: str) -> bool:
    return await _subject(client, host, role, "export")


async def _erase_subject(client, host, role: str) -> bool:
    return await _subject(client, host, role, "erase")


PROBES = {"dead_letters.manage": _manage_dead_letters, "caller.read": _read_caller, "audit.read": _read_audit,
          "retention.run": _run_retention, "subject.export": _export_subject, "subject.erase": _erase_subject}


@pytest.mark.parametrize("action, role, whose, allowed", cases(PLATFORM))
async def test_the_platform_routes_follow_their_table(client, host, action, role, whose, allowed):
    assert await PROBES[action](client, host, role) is allowed  # a new row needs its probe here


async def test_who_a_key_is_needs_a_key(client):
    response = await client.get("/travel/me")
    assert response.status_code == 401


@pytest.mark.parametrize("body,fields", [
    ({**TRIP, "title": ""}, ["title"]),
    ({**TRIP, "legs": []}, ["legs"]),
    ({"title": "x", "legs": [{**TRIP["legs"][0], "end_date": "2027-05-01"}]}, ["legs[0].end_date"]),
    ({"title": "x", "legs": [{**TRIP["legs"][0], "start_date": "12.05.2027"}]}, ["legs[0].start_date"]),
    ({"title": "x", "legs": [{**TRIP["legs"][0], "country": "Cathay"}]}, ["legs[0].country"]),
    ({"title": "x", "legs": [{**TRIP["legs"][0], "city": "Atlantis"}]}, ["legs[0].city"]),
    ({"legs": TRIP["legs"]}, ["title"]),
])
async def test_bad_input_is_a_422_naming_the_field_and_stores_nothing(client, host, body, fields):
    response = await client.post("/travel/trips", json=body, headers=auth(host, "department", "ECON"))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert [e["field"] for e in problem["errors"]] == fields
    assert all(f in problem["detail"] for f in fields)
    assert await trips_stored(host) == 0


async def test_malformed_json_is_a_422_not_a_500(client, host):
    response = await client.post("/travel/trips", content=b'{"title": ', headers={
        **auth(host, "department", "ECON"), "content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body"


async def test_a_body_of_several_megabytes_is_refused_with_413(client, host):
    huge = json.dumps({**TRIP, "title": "x" * 3_000_000})
    response = await client.post("/travel/trips", content=huge, headers={
        **auth(host, "department", "ECON"), "content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["errors"][0]["field"] == "body"

    async def chunks():
        for _ in range(30):
            yield b"x" * 100_000

    chunked = await client.post("/travel/trips", content=chunks(), headers={
        **auth(host, "department", "ECON"), "content-type": "application/json"})
    assert chunked.status_code == 413
    assert await trips_stored(host) == 0


async def test_bad_query_parameters_are_422_naming_them(client, host):
    response = await client.get("/travel/trips", params={"limit": "0", "department": "econ"},
                                headers=auth(host, "reader"))
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"query.limit", "query.department"}
