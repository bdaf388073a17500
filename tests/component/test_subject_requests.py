"""One admin request for a person's data, answered by all four services over the bus and collected by
the asking service's job: one export, then one erasure after which no table of any service holds the
person's email or name (the export collected before included)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from shared.envelope import Envelope
from shared.subject_requests import SubjectAnsweredV1
from shared.tables import outbox, subject_request
from shared.testing import eventually
from tests.component.test_subjects import ADMIN, EMAIL, NAME, OIA, SERVICES, everything_stored, person_everywhere
from tests.support.embedded import auth


async def state_when(client, host, location: str, holds, message: str) -> dict:
    """The request's state, polled until `holds(state)`."""
    seen: dict = {}

    async def check() -> bool:
        response = await client.get(location, headers=auth(host, *ADMIN))
        assert response.status_code == 200, response.text
        seen.update(response.json())
        return holds(seen)
    await eventually(check, timeout=30, message=message)
    return seen


async def finished(client, host, location: str) -> dict:
    return await state_when(client, host, location, lambda s: s["status"] == "complete", f"{location} complete")


async def test_one_request_exports_a_person_from_all_four_services_then_one_erases_them(client, host):
    await person_everywhere(client, host)
    asked = await client.post("/travel/admin/subjects/requests", headers=auth(host, *ADMIN),
                              json={"kind": "export", "email": EMAIL})
    assert asked.status_code == 202, asked.text
    assert asked.json()["status"] == "pending" and asked.json()["subject"] == "h***@stadt.example"
    export = await finished(client, host, asked.headers["location"])
    assert sorted(export["result"]) == sorted(SERVICES) and export["waiting_for"] == []
    result = export["result"]
    assert [t["as_traveller"]["name"] for t in result["travel"]["records"]["trips"]] == [NAME]
    assert result["partners"]["records"]["people"][0]["phone"] == "+49 221 000"
    assert result["grants"]["records"]["applications owned"][0]["owner_email"] == EMAIL
    assert result["notifications"]["records"]["recipients"][0]["id"] == "hanna"
    assert {name for answer in result.values() for name in answer["names"]} == {NAME}
    # The same answers as each service gives alone.
    alone = await client.post("/grants/admin/subjects/export", json={"email": EMAIL}, headers=auth(host, *ADMIN))
    assert alone.json()["records"] == result["grants"]["records"]

    erase = await client.post("/partners/admin/subjects/requests", headers=auth(host, *ADMIN),
                              json={"kind": "erase", "email": EMAIL.upper()})
    assert erase.status_code == 202, erase.text
    erased = await finished(client, host, erase.headers["location"])
    counts = erased["result"]
    assert counts["travel"]["erased"]["travellers"] == 1 and counts["travel"]["erased"]["trip titles"] == 1
    assert counts["partners"]["erased"]["people"] == 1
    assert counts["grants"]["erased"]["application owners"] == 1
    assert counts["notifications"]["erased"]["recipients"] == 1
    # The export travel collected held her data: it is gone with the rest.
    assert counts["travel"]["erased"]["exports of the person"] == 1
    gone = await client.get(asked.headers["location"], headers=auth(host, *ADMIN))
    assert gone.status_code == 404
    for service in SERVICES:
        stored = await everything_stored(host, service)
        assert EMAIL.lower() not in stored and "vogel" not in stored, service
    # The erasure's own record keeps who asked and the counts, and names her only masked.
    async with host.runtimes["partners"].engine.connect() as conn:
        row = (await conn.execute(select(subject_request).where(subject_request.c.id == erased["id"]))).one()
    assert (row.email, row.names, row.subject) == (None, None, "h***@stadt.example")
    trail = await client.get("/partners/audit", params={"resource": f"subject_request/{erased['id']}"},
                             headers=auth(host, *ADMIN))
    assert [e["action"] for e in trail.json()] == ["completed", "requested"]
    assert trail.json()[1]["actor"].startswith("admin")


async def test_a_request_waits_for_a_service_that_has_not_answered(client, host):
    """A fifth service is expected and has not answered: the request stays pending, naming it, and
    completes when its answer arrives. (In memory a stopped consumer's messages are gone; the
    end-to-end test stops a process on RabbitMQ instead.)"""
    host.runtimes["grants"].settings.subject_services.append("archive")
    asked = await client.post("/grants/admin/subjects/requests", headers=auth(host, *ADMIN),
                              json={"kind": "export", "email": EMAIL})
    assert asked.status_code == 202, asked.text
    state = await state_when(client, host, asked.headers["location"],
                             lambda s: s["answered"] == sorted(SERVICES), "the four services answered")
    assert state["status"] == "pending" and state["waiting_for"] == ["archive"]
    late = SubjectAnsweredV1(request_id=state["id"], requested_by="grants", service="archive", step="export",
                             records={"letters": [{"to": EMAIL}]}, names=[NAME])
    await host.bus.publish([Envelope(type="privacy.subject.answered.v1", source="/archive",
                                     data=late.model_dump(mode="json"))])
    done = await finished(client, host, asked.headers["location"])
    assert done["result"]["archive"] == {"records": {"letters": [{"to": EMAIL}]}, "names": [NAME]}
    assert done["result"]["notifications"] == {"records": {}, "names": []}


@pytest.mark.parametrize(("who", "kind"), [(OIA, "export"), (OIA, "erase"), (("department", "ECON"), "erase"),
                                           (("reader", None), "export")])
async def test_only_an_admin_may_ask_for_a_person(client, host, who, kind):
    response = await client.post("/travel/admin/subjects/requests", headers=auth(host, *who),
                                 json={"kind": kind, "email": EMAIL})
    assert response.status_code == 403, response.text
    async with host.runtimes["travel"].engine.connect() as conn:
        assert (await conn.execute(select(subject_request))).all() == []
        assert (await conn.execute(select(outbox).where(outbox.c.type.like("privacy.%")))).all() == []


@pytest.mark.parametrize("body", [{"kind": "export", "email": "nobody"}, {"kind": "forget", "email": EMAIL},
                                  {"email": EMAIL}, {"kind": "erase", "email": EMAIL, "names": ["ab"]}])
async def test_a_bad_request_is_a_422_naming_the_field_and_asks_nobody(client, host, body):
    response = await client.post("/travel/admin/subjects/requests", headers=auth(host, *ADMIN), json=body)
    assert response.status_code == 422, response.text
    async with host.runtimes["travel"].engine.connect() as conn:
        assert (await conn.execute(select(subject_request))).all() == []


async def test_an_unknown_request_is_a_404_and_a_malformed_id_a_422(client, host):
    missing = await client.get("/travel/admin/subjects/requests/0b6a8f1e-3c2d-4e5f-8a9b-1c2d3e4f5a6b",
                               headers=auth(host, *ADMIN))
    assert missing.status_code == 404
    malformed = await client.get("/travel/admin/subjects/requests/x", headers=auth(host, *ADMIN))
    assert malformed.status_code == 422


async def test_the_requests_asked_of_a_service_are_listed_newest_first_in_pages_without_results(client, host):
    ids = []
    for kind, email in (("export", "first@stadt.example"), ("erase", "second@stadt.example")):
        asked = await client.post("/partners/admin/subjects/requests", headers=auth(host, *ADMIN),
                                  json={"kind": kind, "email": email})
        assert asked.status_code == 202, asked.text
        ids.append(asked.json()["id"])
        await finished(client, host, asked.headers["location"])
    first = await client.get("/partners/admin/subjects/requests", params={"limit": 1}, headers=auth(host, *ADMIN))
    assert first.status_code == 200, first.text
    [newest] = first.json()
    assert (newest["id"], newest["kind"], newest["subject"], newest["status"]) == (
        ids[1], "erase", "s***@stadt.example", "complete")
    assert newest["result"] is None  # on its own page only
    rest = await client.get("/partners/admin/subjects/requests", headers=auth(host, *ADMIN),
                            params={"limit": 1, "cursor": first.headers["x-next-cursor"]})
    assert [r["id"] for r in rest.json()] == [ids[0]]
    assert "second@" not in first.text and "first@" not in rest.text
    # Each service lists only what was asked of it; a coordinator may not see the list.
    assert (await client.get("/travel/admin/subjects/requests", headers=auth(host, *ADMIN))).json() == []
    assert (await client.get("/partners/admin/subjects/requests", headers=auth(host, *OIA))).status_code == 403
