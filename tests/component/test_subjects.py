"""A person's data in each of the four services: exported, then erased, by their email; afterwards no
table of any service's database holds their email or name, and the people around them are kept."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import MetaData, select

from services.notifications.models import Delivery, FeedItem
from shared.testing import eventually
from tests.component.test_grants_api import create_call, start_application, twinning_call
from tests.component.test_notifications_api import add, recipient
from tests.component.test_partners_api import create, krakow
from tests.support.embedded import auth

ADMIN, OIA, ECON, CULT, ENV = (("admin", None), ("coordinator", "OIA"), ("department", "ECON"),
                                ("department", "CULT"), ("department", "ENV"))
EMAIL, NAME = "Hanna.Vogel@stadt.example", "Hanna Vogel"
SERVICES = ("travel", "partners", "grants", "notifications")


async def everything_stored(host, service: str) -> str:
    """Every row of every table of the service's database, as text, lower-cased."""
    engine = host.runtimes[service].engine
    metadata = MetaData()
    async with engine.connect() as conn:
        await conn.run_sync(metadata.reflect)
        rows = [tuple(row) for table in metadata.sorted_tables for row in (await conn.execute(select(table))).all()]
    return repr(rows).lower()


async def person_everywhere(client, host) -> None:
    """Hanna Vogel travels, looks after a partnership, owns an application and hears of overlaps."""
    host.keys[ENV] = "env-env-key"
    start = date.today() + timedelta(days=120)
    legs = [{"city": "Köln", "country": "DE", "start_date": start.isoformat(),
             "end_date": (start + timedelta(days=2)).isoformat()}]
    await add(client, host, {**recipient("hanna"), "kind": "person", "name": NAME, "department": None,
                             "channels": [{"kind": "email", "address": EMAIL.lower()}]})
    subscribed = await client.post("/notifications/subscriptions", headers=auth(host, *OIA), json={
        "recipient_id": "hanna", "event_type": "travel.overlap.detected.v1"})
    assert subscribed.status_code == 201, subscribed.text
    for who, body in ((ECON, {"title": f"Trade fair with {NAME}", "travellers": [
            {"name": NAME, "email": EMAIL, "role": "Head of delegation"}, {"name": "Jonas Berg"}]}),
                      (CULT, {"title": "Festival", "travellers": [{"name": "Ida Roth"}]})):
        booked = await client.post("/travel/trips", headers=auth(host, *who), json={**body, "legs": legs})
        assert booked.status_code == 201, booked.text
    partnership = await create(client, host, krakow(desk_officer_name=NAME, desk_officer_email=EMAIL))
    logged = await client.post(f"/partners/partnerships/{partnership['id']}/contacts", headers=auth(host, *OIA),
                               json={"kind": "meeting", "on": date.today().isoformat(), "title": f"Call with {NAME}"})
    assert logged.status_code == 201, logged.text
    chair = await client.post("/partners/people", headers=auth(host, *OIA), json={
        "name": NAME, "role": "Chair", "email": EMAIL, "phone": "+49 221 000"})
    assert chair.status_code == 201, chair.text
    call = await create_call(client, host, twinning_call())
    await start_application(client, host, call["id"], owner={"name": NAME, "email": EMAIL},
                            notes=f"{NAME} drafts the work plan")

    async def alerted() -> bool:
        async with host.runtimes["notifications"].engine.connect() as conn:
            delivered = (await conn.execute(select(Delivery.id).where(Delivery.recipient_id == "hanna"))).all()
            fed = (await conn.execute(select(FeedItem.id).where(FeedItem.recipient == "hanna"))).all()
        return bool(delivered and fed)
    await eventually(alerted, message="the overlap's alert for her")


async def test_a_person_is_exported_from_each_service_then_erased_from_every_table(client, host):
    await person_everywhere(client, host)
    exports = {}
    for service in SERVICES:
        response = await client.post(f"/{service}/admin/subjects/export", json={"email": EMAIL},
                                     headers=auth(host, *ADMIN))
        assert response.status_code == 200, response.text
        exports[service] = response.json()
    assert [t["as_traveller"]["name"] for t in exports["travel"]["records"]["trips"]] == [NAME]
    assert exports["partners"]["records"]["people"][0]["phone"] == "+49 221 000"
    assert exports["partners"]["records"]["partnerships looked after"][0]["desk_officer_email"] == EMAIL
    assert exports["grants"]["records"]["applications owned"][0]["owner_email"] == EMAIL
    assert exports["notifications"]["records"]["recipients"][0]["id"] == "hanna"
    assert exports["notifications"]["records"]["deliveries"] and exports["notifications"]["records"]["feed items"]
    names = sorted({name for answer in exports.values() for name in answer["names"]})
    assert names == [NAME]
    for service in SERVICES:
        assert NAME.lower() in await everything_stored(host, service)

    erased = {}
    for service in SERVICES:
        response = await client.post(f"/{service}/admin/subjects/erase", json={"email": EMAIL, "names": names},
                                     headers=auth(host, *ADMIN))
        assert response.status_code == 200, response.text
        erased[service] = response.json()["erased"]
    assert erased["travel"]["travellers"] == 1 and erased["travel"]["trip titles"] == 1
    assert erased["partners"]["people"] == 1 and erased["partners"]["desk officers"] == 1
    assert erased["grants"]["application owners"] == 1
    assert erased["notifications"]["recipients"] == 1 and erased["notifications"]["deliveries"] >= 1
    for service in SERVICES:
        stored = await everything_stored(host, service)
        assert EMAIL.lower() not in stored and "vogel" not in stored, service
    # The people around her and the records themselves stay.
    assert "jonas berg" in await everything_stored(host, "travel")
    trips = (await client.get("/travel/trips", headers=auth(host, *OIA))).json()
    assert sorted(t["title"] for t in trips) == ["Festival", "Trade fair with (erased)"]
    # Erased once: asked again, nothing is left to find or change.
    for service in SERVICES:
        again = await client.post(f"/{service}/admin/subjects/export", json={"email": EMAIL}, headers=auth(host, *ADMIN))
        assert again.json()["records"] == {}, service
        twice = await client.post(f"/{service}/admin/subjects/erase", json={"email": EMAIL, "names": names},
                                  headers=auth(host, *ADMIN))
        assert twice.json()["erased"] == {}, service


@pytest.mark.parametrize("body", [{"email": "not an email"}, {}, {"email": EMAIL, "names": ["ab"]}])
async def test_a_bad_request_is_a_422_and_erases_nothing(client, host, body):
    booked = await client.post("/travel/trips", headers=auth(host, *ECON), json={
        "title": "Fair", "travellers": [{"name": NAME, "email": EMAIL}],
        "legs": [{"city": "Köln", "country": "DE", "start_date": "2031-05-01", "end_date": "2031-05-02"}]})
    assert booked.status_code == 201
    response = await client.post("/travel/admin/subjects/erase", json=body, headers=auth(host, *ADMIN))
    assert response.status_code == 422
    assert NAME.lower() in await everything_stored(host, "travel")


async def test_a_name_beyond_ascii_is_found_and_scrubbed_where_json_escapes_it(client, host):
    # Outbox events and audit entries store JSON, which writes "Weiß" as "Wei\u00df".
    booked = await client.post("/travel/trips", headers=auth(host, *ECON), json={
        "title": "Messe mit Jürgen Weiß", "travellers": [{"name": "Jürgen Weiß", "email": "jw@stadt.example"}],
        "legs": [{"city": "Köln", "country": "DE", "start_date": "2031-05-01", "end_date": "2031-05-02"}]})
    assert booked.status_code == 201
    before = await everything_stored(host, "travel")
    assert "weiß" in before or "wei\\\\u00df" in before
    erased = await client.post("/travel/admin/subjects/erase", json={"email": "jw@stadt.example"},
                               headers=auth(host, *ADMIN))
    assert erased.status_code == 200, erased.text
    assert erased.json()["erased"]["events in the outbox"] >= 1 and erased.json()["erased"]["audit entries"] >= 1
    after = await everything_stored(host, "travel")
    assert "weiß" not in after and "wei\\\\u00df" not in after and "jw@stadt" not in after


async def test_a_name_is_scrubbed_where_it_stands_as_a_word_and_words_that_contain_it_stay(client, host):
    booked = await client.post("/travel/trips", headers=auth(host, *ECON), json={
        "title": "Annual fair, with Ann", "travellers": [{"name": "Ann", "email": "ann@stadt.example"}],
        "legs": [{"city": "Köln", "country": "DE", "start_date": "2031-05-01", "end_date": "2031-05-02"}]})
    other = await client.post("/travel/trips", headers=auth(host, *CULT), json={
        "title": "Annual concert", "legs": [{"city": "Bonn", "country": "DE", "start_date": "2031-06-01",
                                              "end_date": "2031-06-02"}]})
    assert booked.status_code == other.status_code == 201
    erased = await client.post("/travel/admin/subjects/erase", json={"email": "ann@stadt.example"},
                               headers=auth(host, *ADMIN))
    assert erased.status_code == 200, erased.text
    assert erased.json()["erased"]["trip titles"] == 1  # hers; not the concert's
    trips = (await client.get("/travel/trips", headers=auth(host, *OIA))).json()
    assert sorted(t["title"] for t in trips) == ["Annual concert", "Annual fair, with (erased)"]
