"""Alerts end to end: the four services as separate processes on PostgreSQL and RabbitMQ, an SMTP
server and Slack stand-ins on loopback. Two departments book overlapping trips over HTTP; both
departments and the coordinators each get exactly one email and one Slack message; a change that
ends the overlap brings a "resolved" message; notifications killed and started again loses nothing
and doubles nothing. One of the trips goes to a partner city (Köln, of Frankfurt), so the
partnership's desk officer hears of the visit, and later of its anniversary, by email. An EU
application seven days from its call's deadline brings its owner one reminder email; its partner
candidates and the city profile come from the partners process over HTTP."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from services.grants.events import DeadlineApproachingV1
from shared.bus.amqp import AmqpBus
from shared.envelope import Envelope
from shared.testing import (
    AMQP_URL,
    eventually,
)
from tests.support.deployment import DESK_OFFICER, RECIPIENTS, bearer, deployment, set_up_desks
from tests.support.settle import all_published
from tests.support.standins import SmtpStandIn, WebhookStandIn

pytestmark = pytest.mark.e2e

APPLICATION_OWNER = "clara.neumann@city.example"
MARKER_OWNER = "marker@city.example"  # the marker's reminder goes to this address alone


async def test_an_overlap_alert_end_to_end_exactly_once_through_a_crash(start):
    async with WebhookStandIn() as slack:
        with SmtpStandIn() as smtp:
            async with deployment(start, env={"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port),
                                              "SMTP_STARTTLS": "false"}) as d:
                travel, notifications = d.client("travel"), d.client("notifications")
                async with travel, notifications:
                    await set_up_desks(d, slack.url)
                    partners = d.client("partners")

                    start_day = date.today() + timedelta(days=120)
                    trips = {}
                    for who, title, city in [("ECON", "Trade fair", "Köln"), ("MAYOR", "Partner city visit", "Düsseldorf")]:
                        response = await travel.post("/trips", headers=bearer(who), json={
                            "title": title, "travellers": [{"name": f"{who} lead", "email": f"{who.lower()}@x.example"}],
                            "legs": [{"city": city, "country": "DE", "start_date": start_day.isoformat(),
                                      "end_date": (start_day + timedelta(days=2)).isoformat()}]})
                        assert response.status_code == 201, response.text
                        trips[who] = response.json()

                    def mails(to: str) -> list:
                        return smtp.to(to)

                    def arrived(n: int) -> bool:
                        return all(len(mails(a)) == n for a in RECIPIENTS.values()) and \
                            all(len(slack.accepted(f"slack/{w}")) == n for w in RECIPIENTS)

                    await eventually(lambda: arrived(1), timeout=10, message="one email and one Slack message each")
                    await eventually(lambda: len(mails(DESK_OFFICER)) == 1, timeout=10, message="the visit, planned")
                    assert "Köln" in mails(DESK_OFFICER)[0]["Subject"] and "ECON" in mails(DESK_OFFICER)[0]["Subject"]
                    for who, address in RECIPIENTS.items():
                        [mail] = mails(address)
                        text = mail.get_body(("plain",)).get_content()
                        assert "Köln" in mail["Subject"] or "Düsseldorf" in mail["Subject"]
                        assert "Trade fair" in text and "Partner city visit" in text
                        message = slack.accepted(f"slack/{who}")[0].json()
                        blocks = json.dumps(message["blocks"], ensure_ascii=False)  # `text` is only the subject
                        assert "Trade fair" in blocks and "Partner city visit" in blocks

                    # Each outcome is written right after the receiver accepted the message; a crash in
                    # that instant would send it again (with the same Message-ID / Idempotency-Key).
                    # So the crash comes once those are written, with the next event still to come.
                    async def settled() -> bool:
                        found = (await notifications.get("/deliveries", headers=bearer("admin"))).json()
                        return len(found) == 7 and {d["status"] for d in found} == {"sent"}  # and the visit's
                    await eventually(settled, timeout=10, message="the outcomes written")

                    # Notifications dies; meanwhile the MAYOR's trip moves to Lisbon, ending the overlap.
                    d.processes["notifications"].proc.kill()
                    d.processes["notifications"].proc.wait()
                    moved = await travel.patch(f"/trips/{trips['MAYOR']['id']}", headers=bearer("MAYOR"), json={
                        "legs": [{"city": "Lisbon", "country": "PT", "start_date": start_day.isoformat(),
                                  "end_date": (start_day + timedelta(days=2)).isoformat()}]})
                    assert moved.status_code == 200, moved.text
                    # Travel's outbox published: the resolution waits on the broker, in notifications'
                    # durable queue, while nobody consumes.
                    await all_published(d.engines["travel"], timeout=30)

                    d.launch("notifications")
                    await d.ready("notifications")
                    await eventually(lambda: arrived(2), timeout=15, message="the resolution, once each")
                    for address in RECIPIENTS.values():
                        resolved = mails(address)[1]
                        assert resolved["Subject"] != mails(address)[0]["Subject"]
                        assert "Köln" in resolved.get_body(("plain",)).get_content()

                    # The scheduled jobs, run for the day a year before the 75th anniversary (admin).
                    ran = await partners.post("/jobs/run", headers=bearer("admin"), json={"now": "2032-06-14T06:00:00Z"})
                    assert ran.status_code == 200 and ran.json()["anniversaries"] == 1, ran.text
                    await eventually(lambda: any("75" in m["Subject"] for m in mails(DESK_OFFICER)), timeout=10,
                                     message="the anniversary mail")

                    # An EU application, its call closing on 31 March 2027 at 17:00 Brussels time; the
                    # reminder job runs a week before (twice, as a restart would). The call is on none of
                    # the city's themes, so the coordinators' inboxes stay as they are.
                    grants = d.client("grants")
                    call = await grants.post("/calls", headers=bearer("OIA"), json={
                        "identifier": "LIFE-2027-SAP-NAT", "programme": "life", "title": "Nature and biodiversity",
                        "deadlines": ["2027-03-31"], "grant_max": 2_000_000})
                    assert call.status_code == 201, call.text
                    application = await grants.post("/applications", headers=bearer("ECON"), json={
                        "call_id": call.json()["id"], "title": "Green trade corridors", "requested_amount": 25_000,
                        "owner": {"name": "Clara Neumann", "email": APPLICATION_OWNER}, "internal_buffer_days": 0,
                        "consortium": [{"name": "City of Lyon", "city": "Lyon", "country": "FR", "role": "partner"}]})
                    assert application.status_code == 201, application.text
                    candidates = await grants.get(f"/applications/{application.json()['id']}/partner-candidates",
                                                  headers=bearer("ECON"))
                    assert candidates.status_code == 200, candidates.text
                    assert [c["city"] for c in candidates.json()["candidates"]] == ["Köln"]  # from partners
                    profile = await grants.get("/boilerplate", params={"lang": "de"}, headers=bearer("ECON"))
                    assert "- Köln (Deutschland), seit 1958" in profile.text
                    for _ in range(2):
                        ran = await grants.post("/jobs/run", headers=bearer("admin"), json={"now": "2027-03-24T16:05:00Z"})
                        assert ran.status_code == 200, ran.text
                    await grants.aclose()
                    await eventually(lambda: len(mails(APPLICATION_OWNER)) == 1, timeout=10, message="the reminder")

                    # Anything doubled has shown itself once everything said has been handled and sent:
                    # every outbox is published, so all of it sits in notifications' queue ahead of a
                    # marker published now (a reminder, as grants would say it, to an address of its
                    # own); the queue's one consumer handles in order, so once the marker's mail is out
                    # every delivery before it is written, and then none is left to send.
                    await all_published(*d.engines.values(), timeout=30)
                    await say_to_notifications(d.exchange, {
                        **DeadlineApproachingV1.model_config["json_schema_extra"]["examples"][0],
                        "owner": {"name": "Marker", "email": MARKER_OWNER}})
                    await eventually(lambda: len(mails(MARKER_OWNER)) == 1, timeout=30, message="the marker's mail")

                    async def all_sent() -> bool:
                        found = (await notifications.get("/deliveries", headers=bearer("admin"),
                                                         params={"limit": 500})).json()
                        return {d["status"] for d in found} == {"sent"}
                    await eventually(all_sent, timeout=30, message="every delivery sent")
                    assert arrived(2)
                    [reminder] = mails(APPLICATION_OWNER)
                    assert "Green trade corridors" in reminder["Subject"] and "7" in reminder["Subject"]
                    assert "17:00" in reminder.get_body(("plain",)).get_content()
                    assert sum("75" in m["Subject"] for m in mails(DESK_OFFICER)) == 1
                    assert sum("Visit planned" in m["Subject"] for m in mails(DESK_OFFICER)) == 1
                    await partners.aclose()
                    deliveries = (await notifications.get("/deliveries", headers=bearer("admin"),
                                                          params={"limit": 500})).json()
                    overlap_alerts = [d for d in deliveries if d["recipient_id"] in RECIPIENTS]
                    assert len(overlap_alerts) == 12 and {delivery["status"] for delivery in deliveries} == {"sent"}


async def say_to_notifications(exchange: str, reminder: dict) -> None:
    bus = AmqpBus(AMQP_URL, exchange)
    await bus.connect()
    try:
        await bus.publish([Envelope(type="grants.deadline.approaching.v1", source="/grants", data=reminder)])
    finally:
        await bus.close()
