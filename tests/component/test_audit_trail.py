"""Partners', grants' and notifications' audit trails (travel's: test_travel_audit.py): each kind of
write leaves its entry in the service's own database, personal values masked, and a change made
on an event names the event and the request that caused it."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from shared.tables import audit
from shared.testing import eventually
from tests.component.test_grants_api import create_call, move, start_application, twinning_call
from tests.component.test_notifications_api import add, book_overlap, recipient
from tests.component.test_partners_api import create, krakow
from tests.support.embedded import auth

OIA, ECON, ENV = ("coordinator", "OIA"), ("department", "ECON"), ("department", "ENV")


async def trail(client, host, service: str, **params) -> list[dict]:
    response = await client.get(f"/{service}/audit", params=params, headers=auth(host, *OIA))
    assert response.status_code == 200, response.text
    return response.json()


async def stored(host, service: str) -> str:
    """Every audit row the service stored, as text: what a database dump would show."""
    async with host.runtimes[service].engine.connect() as conn:
        return repr([tuple(row) for row in (await conn.execute(select(audit))).all()])


# -- partners -------------------------------------------------------------------------------------

async def test_partnerships_are_recorded_with_their_desk_officer_masked(client, host):
    partnership = await create(client, host, krakow())
    changed = await client.patch(f"/partners/partnerships/{partnership['id']}", headers=auth(host, *OIA),
                                 json={"desk_officer_name": "Jan Kowalski", "ideal_contact_days": 200})
    assert changed.status_code == 200
    latest, created = await trail(client, host, "partners", resource=f"partnership/{partnership['id']}")
    assert created["action"] == "created" and created["changes"]["partner_city"] == [None, "Kraków"]
    assert created["changes"]["desk_officer_email"] == [None, "***"]
    assert latest["action"] == "changed" and latest["actor"].startswith("coordinator OIA (")
    assert latest["changes"] == {"desk_officer_name": ["***", "***"], "ideal_contact_days": [365, 200]}
    dump = await stored(host, "partners")
    assert "Eva Nowak" not in dump and "Kowalski" not in dump and "eva.nowak@" not in dump


async def test_organisations_and_people_are_recorded_created_changed_and_deleted(client, host):
    club = await client.post("/partners/organizations", headers=auth(host, *OIA),
                             json={"kind": "club", "name": "Frankfurt/Krakow Friendship Club"})
    person = await client.post("/partners/people", headers=auth(host, *OIA), json={
        "name": "Marta Wiśniewska", "role": "Chair", "organisation_id": club.json()["id"],
        "email": "marta@club.example", "phone": "+48 12 345 67 89"})
    assert (club.status_code, person.status_code) == (201, 201)
    person_id = person.json()["id"]
    assert (await client.patch(f"/partners/people/{person_id}", headers=auth(host, *OIA),
                               json={"phone": "+48 12 000 00 00"})).status_code == 200
    assert (await client.delete(f"/partners/people/{person_id}", headers=auth(host, *OIA))).status_code == 204
    assert (await client.delete(f"/partners/organizations/{club.json()['id']}",
                                headers=auth(host, *OIA))).status_code == 204
    deleted, changed, created = await trail(client, host, "partners", resource=f"person/{person_id}")
    assert [created["action"], changed["action"], deleted["action"]] == ["created", "changed", "deleted"]
    assert changed["changes"] == {"phone": ["***", "***"]}
    assert deleted["changes"]["name"] == ["***", None]
    organisation = await trail(client, host, "partners", resource="organisation")
    assert [e["action"] for e in organisation] == ["deleted", "created"]
    assert organisation[1]["changes"]["name"] == [None, "Frankfurt/Krakow Friendship Club"]
    dump = await stored(host, "partners")
    assert "Wiśniewska" not in dump and "marta@" not in dump and "345 67" not in dump


async def test_a_contact_recorded_from_a_trip_names_the_event_and_the_booking_request(client, host):
    partnership = await create(client, host, krakow())
    start = date.today() + timedelta(days=40)
    booked = await client.post("/travel/trips", headers={**auth(host, *ECON), "X-Correlation-ID": "booking-7"}, json={
        "title": "Trade mission", "legs": [{"city": "Kraków", "country": "PL", "start_date": start.isoformat(),
                                            "end_date": (start + timedelta(days=2)).isoformat()}]})
    assert booked.status_code == 201

    async def recorded() -> list[dict]:
        return await trail(client, host, "partners", resource="contact")
    await eventually(recorded, message="the contact's audit entry")
    [entry] = await recorded()
    assert entry["action"] == "recorded" and entry["actor"] == "event travel.trip.booked.v1"
    assert entry["correlation_id"] == "booking-7"
    assert entry["changes"]["partnership_id"] == [None, partnership["id"]]
    logged = await client.post(f"/partners/partnerships/{partnership['id']}/contacts", headers=auth(host, *OIA),
                               json={"kind": "meeting", "on": date.today().isoformat(), "title": "Call with the desk"})
    assert logged.status_code == 201, logged.text
    staff = (await recorded())[0]
    assert staff["action"] == "logged" and staff["actor"].startswith("coordinator OIA (")


async def test_an_import_records_each_partnership_it_creates(client, host):
    csv = ("home_city,home_country,partner_city,partner_country,year,kind,themes\n"
           "Frankfurt am Main,DE,Krakau,PL,1991,sister,culture\nFrankfurt am Main,DE,Lyon,FR,1960,sister,\n")
    imported = await client.post("/partners/partnerships/import", content=csv.encode(),
                                 headers={**auth(host, *OIA), "content-type": "text/csv"})
    assert imported.status_code == 200, imported.text
    entries = await trail(client, host, "partners", resource="partnership")
    assert sorted(e["changes"]["partner_city"][1] for e in entries) == ["Kraków", "Lyon"]
    assert {e["action"] for e in entries} == {"imported"}
    assert all(e["actor"].startswith("coordinator OIA (") for e in entries)


# -- grants ---------------------------------------------------------------------------------------

async def test_applications_are_recorded_with_their_owner_masked_and_each_stage_move(client, host):
    host.keys[ENV] = "env-env-key"
    call = await create_call(client, host, twinning_call())
    started = await start_application(client, host, call["id"])
    changed = await client.patch(f"/grants/applications/{started['id']}", headers=auth(host, *ENV), json={
        "requested_amount": 28_000, "owner": {"name": "Paul Weber", "email": "paul.weber@city.example"}})
    assert changed.status_code == 200, changed.text
    assert (await move(client, host, started["id"], "preparing")).status_code == 200
    moved, edited, created = await trail(client, host, "grants", resource=f"application/{started['id']}")
    assert [created["action"], edited["action"], moved["action"]] == ["created", "changed", "stage_changed"]
    assert created["changes"]["owner_email"] == [None, "***"]
    assert edited["changes"] == {"requested_amount": [25_000, 28_000], "owner_name": ["***", "***"],
                                 "owner_email": ["***", "***"]}
    assert moved["changes"]["stage"] == ["idea", "preparing"] and moved["actor"].startswith("department ENV (")
    [call_created] = await trail(client, host, "grants", resource=f"call/{call['id']}")
    assert call_created["changes"]["identifier"] == [None, "CERV-2027-CITIZENS-TOWN-TT"]
    dump = await stored(host, "grants")
    assert "Weber" not in dump and "city.example" not in dump


async def test_calls_and_text_blocks_are_recorded_when_changed(client, host):
    call = await create_call(client, host, twinning_call())
    changed = await client.patch(f"/grants/calls/{call['id']}", headers=auth(host, *OIA), json={"budget": 5_000_000})
    assert changed.status_code == 200, changed.text
    latest = (await trail(client, host, "grants", resource=f"call/{call['id']}"))[0]
    assert latest["action"] == "changed" and latest["changes"]["budget"] == [4_000_000, 5_000_000]
    for body in ("Frankfurt is a city of trade.", "Frankfurt is a city of trade and finance."):
        written = await client.put("/grants/boilerplate/blocks/city", headers=auth(host, *OIA),
                                   json={"title": "The city", "body": body})
        assert written.status_code == 200, written.text
    assert (await client.delete("/grants/boilerplate/blocks/city", headers=auth(host, *OIA))).status_code == 204
    deleted, rewritten, first = await trail(client, host, "grants", resource="text_block/city.en")
    assert [first["action"], rewritten["action"], deleted["action"]] == ["written", "written", "deleted"]
    assert rewritten["changes"] == {"body": ["Frankfurt is a city of trade.", "Frankfurt is a city of trade and finance."]}


# -- notifications --------------------------------------------------------------------------------

async def test_recipients_are_recorded_with_their_addresses_and_quiet_hours_masked(client, host):
    await add(client, host, recipient("ECON"))
    changed = await client.patch("/notifications/recipients/ECON", headers=auth(host, *OIA), json={
        "quiet_start": "22:00", "quiet_end": "07:00", "language": "de",
        "channels": [{"kind": "email", "address": "econ-desk@city.example"}]})
    assert changed.status_code == 200, changed.text
    subscribed = await client.post("/notifications/subscriptions", headers=auth(host, *OIA), json={
        "recipient_id": "ECON", "event_type": "grants.call.published.v1"})
    assert subscribed.status_code == 201, subscribed.text
    assert (await client.delete("/notifications/recipients/ECON", headers=auth(host, *OIA))).status_code == 204
    deleted, edited, created = await trail(client, host, "notifications", resource="recipient/ECON")
    assert [created["action"], edited["action"], deleted["action"]] == ["created", "changed", "deleted"]
    assert created["changes"]["channels"] == [None, "***"]
    assert edited["changes"] == {"language": ["en", "de"], "quiet_start": [None, "***"], "quiet_end": [None, "***"],
                                 "channels": ["***", "***"]}
    [subscription] = await trail(client, host, "notifications", resource="subscription")
    assert subscription["changes"]["event_type"] == [None, "grants.call.published.v1"]
    assert "city.example" not in await stored(host, "notifications")


async def test_a_feed_item_acknowledged_is_recorded(client, host):
    await add(client, host, recipient("ECON"))
    await book_overlap(client, host)

    async def feed() -> list:
        return (await client.get("/notifications/feed", params={"recipient": "ECON"}, headers=auth(host, *ECON))).json()
    await eventually(feed, message="a feed item")
    [item] = await feed()
    assert (await client.post(f"/notifications/feed/{item['id']}/acknowledged",
                              headers=auth(host, *ECON))).status_code == 200
    [entry] = await trail(client, host, "notifications", resource=f"feed_item/{item['id']}")
    assert entry["action"] == "acknowledged" and entry["actor"].startswith("department ECON (")
    assert entry["changes"]["read_at"][0] is None and entry["changes"]["acknowledged_at"][1]
