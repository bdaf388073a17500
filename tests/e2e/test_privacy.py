"""A person's data across the four `oia serve` processes on PostgreSQL and RabbitMQ: she travels, looks
after a partnership, owns an application and hears of overlaps by email; one request exports her from
all four (one of them down when asked: it is waited for), one erases her from all four; afterwards no table of any of the four databases holds her email or name, while
the records that are the city's stay. Retention and the audit trail run on the same databases."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import MetaData, select

from oia.catalog import SERVICES
from services.travel.models import Traveller
from shared.bus.amqp import AmqpBus
from shared.envelope import Envelope
from shared.testing import AMQP_URL, eventually
from tests.support.deployment import bearer, deployment, set_up_desks
from tests.support.standins import SmtpStandIn, WebhookStandIn

pytestmark = pytest.mark.e2e

EMAIL, NAME = "hanna.vogel@stadt.example", "Hanna Vogel"


async def everything_stored(d, service: str) -> str:
    """Every row of every table of the service's PostgreSQL database, as text, lower-cased."""
    metadata = MetaData()
    async with d.engines[service].connect() as conn:
        await conn.run_sync(metadata.reflect)
        rows = [tuple(row) for table in metadata.sorted_tables for row in (await conn.execute(select(table))).all()]
    return repr(rows).lower()


async def request_state(client, request_id: str, holds) -> dict:
    """A request for a person's data, polled until `holds(state)`."""
    seen: dict = {}

    async def check() -> bool:
        response = await client.get(f"/admin/subjects/requests/{request_id}")
        assert response.status_code == 200, response.text
        seen.update(response.json())
        return holds(seen)
    await eventually(check, timeout=90, interval=0.2, message=f"request {request_id}")
    return seen


async def test_a_person_is_exported_and_erased_across_the_four_services(start):
    async with WebhookStandIn() as slack:
        with SmtpStandIn() as smtp:
            async with deployment(start, env={"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port),
                                              "SMTP_STARTTLS": "false"}) as d:
                await set_up_desks(d, slack.url)
                async with d.client("notifications", "OIA") as notifications:
                    hanna = await notifications.post("/recipients", json={
                        "id": "hanna", "kind": "person", "name": NAME, "channels": [{"kind": "email", "address": EMAIL}]})
                    assert hanna.status_code == 201, hanna.text
                    subscribed = await notifications.post("/subscriptions", json={
                        "recipient_id": "hanna", "event_type": "travel.overlap.detected.v1"})
                    assert subscribed.status_code == 201, subscribed.text
                first_day = date.today() + timedelta(days=150)
                legs = [{"city": "Köln", "country": "DE", "start_date": first_day.isoformat(),
                         "end_date": (first_day + timedelta(days=2)).isoformat()}]
                async with d.client("travel") as travel:
                    for who, body in (("ECON", {"title": f"Trade fair with {NAME}", "travellers": [
                            {"name": NAME, "email": EMAIL, "role": "Head of delegation"}, {"name": "Jonas Berg"}]}),
                                      ("MAYOR", {"title": "Partner city visit"})):
                        booked = await travel.post("/trips", headers=bearer(who), json={**body, "legs": legs})
                        assert booked.status_code == 201, booked.text
                async with d.client("partners", "OIA") as partners:
                    chair = await partners.post("/people", json={"name": NAME, "role": "Chair", "email": EMAIL})
                    assert chair.status_code == 201, chair.text
                async with d.client("grants", "OIA") as grants:
                    call = await grants.post("/calls", json={
                        "identifier": "CERV-2031-CITIZENS-TOWN-TT", "programme": "cerv", "title": "Town-Twinning",
                        "opens_at": date.today().isoformat(), "deadlines": [(date.today() + timedelta(days=90)).isoformat()],
                        "budget": 4_000_000, "grant_max": 30_000})
                    assert call.status_code == 201, call.text
                    owned = await grants.post("/applications", json={
                        "call_id": call.json()["id"], "lead_department": "ECON", "title": "Twinning for climate",
                        "requested_amount": 25_000, "owner": {"name": NAME, "email": EMAIL}})
                    assert owned.status_code == 201, owned.text
                    # Jonas Berg's application was withdrawn: years on, retention removes him as its owner.
                    withdrawn = await grants.post("/applications", json={
                        "call_id": call.json()["id"], "lead_department": "ECON", "title": "Youth exchange",
                        "requested_amount": 20_000, "owner": {"name": "Jonas Berg", "email": "jonas.berg@stadt.example"}})
                    assert withdrawn.status_code == 201, withdrawn.text
                    moved = await grants.post(f"/applications/{withdrawn.json()['id']}/stage",
                                              json={"stage": "withdrawn", "reason": "No partner city found"})
                    assert moved.status_code == 200, moved.text
                await eventually(lambda: len(smtp.to(EMAIL)) == 1, timeout=30, message="her overlap alert by email")
                # An event quoting her that its consumers refuse: it waits in their dead-letter queues.
                bus = AmqpBus(AMQP_URL, d.exchange)
                await bus.connect()
                refused = Envelope(type="travel.trip.booked.v1", source="/travel",
                                   data={"trip": "none", "travellers": [{"name": NAME, "email": EMAIL}]})
                await bus.publish([refused])
                queues = [d.queue_prefix + service for service in ("partners", "notifications")]

                async def dead(queue: str) -> list:
                    return [letter for letter in await bus.dead_letters(queue) if letter.event_id == refused.id]
                for queue in queues:
                    await eventually(lambda q=queue: dead(q), timeout=30, message=f"dead-lettered in {queue}")

                # One request to travel; every service answers over RabbitMQ. Grants is down when it is
                # asked: the request waits for it, and completes once it is back.
                await asyncio.to_thread(d.processes["grants"].stop)
                async with d.client("travel", "admin") as travel:
                    asked = await travel.post("/admin/subjects/requests", json={"kind": "export", "email": EMAIL.upper()})
                    assert asked.status_code == 202, asked.text
                    waiting = await request_state(travel, asked.json()["id"],
                                                  lambda s: s["answered"] == ["notifications", "partners", "travel"])
                    assert waiting["status"] == "pending" and waiting["waiting_for"] == ["grants"]
                    d.launch("grants")
                    await d.ready("grants")
                    export = await request_state(travel, asked.json()["id"], lambda s: s["status"] == "complete")
                assert {service for service, answer in export["result"].items() if answer["records"]} == set(SERVICES)
                assert sorted({name for answer in export["result"].values() for name in answer["names"]}) == [NAME]
                for service in SERVICES:
                    assert NAME.lower() in await everything_stored(d, service), service

                # One erasure, asked of notifications: each service finds the names it knows her by, then erases.
                async with d.client("notifications", "admin") as notifications:
                    asked = await notifications.post("/admin/subjects/requests", json={"kind": "erase", "email": EMAIL})
                    assert asked.status_code == 202, asked.text
                    done = await request_state(notifications, asked.json()["id"], lambda s: s["status"] == "complete")
                erased = {service: answer["erased"] for service, answer in done["result"].items()}
                assert erased["travel"]["travellers"] == 1 and erased["partners"]["people"] == 1
                assert erased["grants"]["application owners"] == 1 and erased["notifications"]["recipients"] == 1
                assert erased["travel"]["exports of the person"] == 1  # the export travel collected above
                for service in SERVICES:
                    stored = await everything_stored(d, service)
                    assert EMAIL not in stored and "vogel" not in stored, service
                assert erased["partners"]["dead letters"] == 1 and erased["notifications"]["dead letters"] == 1
                # Replayed after the erasure, the dead letters bring nothing of her back: still refused, scrubbed.
                for queue in queues:
                    [letter] = await dead(queue)
                    assert "vogel" not in repr(letter).lower(), repr(letter)
                    assert await bus.replay_dead_letters(queue, [refused.id]) == 1
                for queue in queues:
                    await eventually(lambda q=queue: dead(q), timeout=30, message=f"dead again in {queue}")
                    assert "vogel" not in repr(await bus.dead_letters(queue)).lower()
                await bus.close()
                for service in SERVICES:
                    assert "vogel" not in await everything_stored(d, service), service
                assert "jonas berg" in await everything_stored(d, "travel")

                # The audit trail on PostgreSQL: her booking and its erasure, neither naming her.
                async with d.client("travel", "OIA") as travel:
                    trail = (await travel.get("/audit", params={"resource": "trip"})).json()
                    assert {"booked", "traveller_erased"} <= {e["action"] for e in trail}
                    assert "vogel" not in repr(trail).lower()
                # Retention on PostgreSQL: years on, Jonas Berg is anonymised too; run again, nothing.
                years_on = datetime.combine(first_day + timedelta(days=800), datetime.min.time(), UTC).isoformat()
                async with d.client("travel", "admin") as travel:
                    removed = (await travel.post("/admin/retention", json={"now": years_on})).json()["removed"]
                    assert removed["travellers of ended trips"] == 1  # Jonas Berg (she is erased already)
                    again = (await travel.post("/admin/retention", json={"now": years_on})).json()["removed"]
                    assert again["travellers of ended trips"] == 0
                async with d.engines["travel"].connect() as conn:
                    travellers = (await conn.execute(select(Traveller.name, Traveller.email))).all()
                assert len(travellers) == 2 and all(email is None for _, email in travellers)
                assert "Jonas Berg" not in repr(travellers)
                async with d.client("grants", "admin") as grants:
                    years_on = (datetime.now(UTC) + timedelta(days=1830)).isoformat()
                    removed = (await grants.post("/admin/retention", json={"now": years_on})).json()["removed"]
                    assert removed["owners of ended applications"] == 1  # his (hers is erased, and still open)
                    again = (await grants.post("/admin/retention", json={"now": years_on})).json()["removed"]
                    assert again["owners of ended applications"] == 0
                    kept = (await grants.get(f"/applications/{withdrawn.json()['id']}")).json()
                    assert kept["stage"] == "withdrawn" and kept["owner"]["email"] == ""
                # (The outbox still quotes them in this simulated future: the relay prunes it after 7 days.)
