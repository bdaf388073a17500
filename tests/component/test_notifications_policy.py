"""Notifications' authorization, generated from its policy table (services/notifications/policy.py),
and the trust examples of issue 12: a subscription never widens what a recipient hears, reserved
ids cannot be squatted, a routing conflict never dead-letters an event, and restricted items stay
out of every list but the coordinators' and admins'."""

from __future__ import annotations

import email
import email.policy
import hashlib
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from sqlmodel import col

from oia.catalog import spec_of
from services.notifications import directory, domain
from services.notifications.models import Channel, Delivery, DeliveryAttempt, FeedItem, Notice, Recipient, Subscription
from services.notifications.policy import POLICY
from shared.db import make_engine
from shared.envelope import Envelope
from shared.migrations import upgrade
from shared.testing import eventually
from tests.support.embedded import auth
from tests.support.policy_cases import KEYS, cases, check_probes, owner

COORDINATOR = ("coordinator", "OIA")
BOOKED = "travel.trip.booked.v1"


# -- helpers --------------------------------------------------------------------------------------

async def rows(host, model, *where) -> list:
    async with host.runtimes["notifications"].engine.connect() as conn:
        return (await conn.execute(select(model).where(*where))).all()


async def count(host, model, *where) -> int:
    async with host.runtimes["notifications"].engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


async def store(host, *records) -> None:
    """Rows written straight to notifications' database (what routing or a worker would have left)."""
    async with host.runtimes["notifications"].uow() as uow:
        for record in records:
            uow.session.add(record)
            await uow.session.flush()
        await directory.changed(await uow.session.connection())
        await uow.commit()


async def add(client, host, body: dict, who=COORDINATOR) -> None:
    response = await client.post("/notifications/recipients", json=body, headers=auth(host, *who))
    assert response.status_code == 201, response.text


def team(department: str) -> str:
    return f"{department}-team"


async def add_team(client, host, department: str, channels: list[dict] | None = None) -> str:
    await add(client, host, {"id": team(department), "kind": "team", "name": f"{department} team",
                             "department": department, "channels": channels or []})
    return team(department)


async def subscribe(client, host, recipient_id: str, event_type: str = BOOKED, who=COORDINATOR) -> dict:
    response = await client.post("/notifications/subscriptions", json={
        "recipient_id": recipient_id, "event_type": event_type}, headers=auth(host, *who))
    assert response.status_code == 201, response.text
    return response.json()


async def book(client, host, department: str, visibility: str = "normal", title: str = "Trade fair",
               city: str = "Köln", start: date | None = None) -> str:
    start = start or date.today() + timedelta(days=90)
    response = await client.post("/travel/trips", headers=auth(host, "department", department), json={
        "title": title, "visibility": visibility, "legs": [{
            "city": city, "country": "DE", "start_date": start.isoformat(),
            "end_date": (start + timedelta(days=3)).isoformat()}],
        "travellers": [{"name": f"{department} traveller"}]})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def notice_of(host, trip_id: str) -> Notice:
    """The notice of a trip's booking, once notifications has routed it."""
    found: list = []

    async def routed() -> bool:
        found[:] = [n for n in await rows(host, Notice) if n.data.get("trip_id") == trip_id]
        return bool(found)
    await eventually(routed, message=f"the booking of {trip_id} routed")
    return found[0]


async def add_coordinators(client, host) -> None:
    """The coordinators' recipient, hearing of every booking on a channel not set up yet (so each
    booking leaves a skipped delivery in the log)."""
    await add(client, host, {"id": "OIA", "kind": "coordinators", "name": "OIA", "channels": [{"kind": "slack"}]})
    await subscribe(client, host, "OIA")


def key(role: str) -> dict:
    return {"Authorization": f"Bearer {KEYS[role]}"}


def notice(event_id: str, restricted: bool = False) -> Notice:
    now = datetime.now(UTC)
    return Notice(event_id=event_id, event_type=BOOKED, topic=f"trip/{event_id}", restricted=restricted,
                  data={"trip_id": event_id}, occurred_at=now, received_at=now)


def feed_item(recipient_id: str, event_id: str) -> FeedItem:
    return FeedItem(recipient=recipient_id, event_id=event_id, event_type=BOOKED, title="A trip", body="A trip",
                    created_at=datetime.now(UTC))


def failed_delivery(recipient_id: str, channel_id: str, event_id: str) -> tuple[Delivery, DeliveryAttempt]:
    now = datetime.now(UTC)
    delivery = Delivery(event_id=event_id, recipient_id=recipient_id, channel_id=channel_id, channel_kind="webhook",
                        status="dead", due_at=now, attempts=1, attempt_limit=1, created_at=now,
                        last_error="HTTP 500: internal token tk-SECRET-42 leaked by the receiver")
    attempt = DeliveryAttempt(delivery_id=delivery.id, number=1, started_at=now, finished_at=now, outcome="failed",
                              status_code=500, error=delivery.last_error)
    return delivery, attempt


# -- one probe per action: try it with the key, check the effect, say whether it was allowed --------

async def probe_recipient_create(client, host, headers, department) -> bool:
    response = await client.post("/notifications/recipients", headers=headers, json={
        "id": team(department), "kind": "team", "name": "A team", "department": department})
    created = await count(host, Recipient, Recipient.id == team(department)) == 1
    assert created == (response.status_code == 201), response.text
    return created


async def probe_recipient_read(client, host, headers, department) -> bool:
    recipient_id = await add_team(client, host, department)
    one = await client.get(f"/notifications/recipients/{recipient_id}", headers=headers)
    listed = [r["id"] for r in (await client.get("/notifications/recipients", headers=headers)).json()]
    assert (one.status_code == 200) == (recipient_id in listed), one.text
    return recipient_id in listed


async def probe_recipient_change(client, host, headers, department) -> bool:
    recipient_id = await add_team(client, host, department)
    response = await client.patch(f"/notifications/recipients/{recipient_id}", headers=headers, json={"language": "de"})
    [(language,)] = await rows(host, Recipient.language, Recipient.id == recipient_id)
    assert (language == "de") == (response.status_code == 200), response.text
    return language == "de"


async def probe_recipient_delete(client, host, headers, department) -> bool:
    recipient_id = await add_team(client, host, department)
    response = await client.delete(f"/notifications/recipients/{recipient_id}", headers=headers)
    gone = await count(host, Recipient, Recipient.id == recipient_id) == 0
    assert gone == (response.status_code == 204), response.text
    return gone


async def probe_recipient_reserved(client, host, headers, department) -> bool:
    """Set up a department's desk, then change it: both or neither."""
    desk = {"id": department, "kind": "department", "name": f"{department} desk", "department": department}
    created = (await client.post("/notifications/recipients", json=desk, headers=headers)).status_code == 201
    assert await count(host, Recipient, Recipient.id == department) == int(created)
    if not created:
        await add(client, host, desk)
    response = await client.patch(f"/notifications/recipients/{department}", headers=headers,
                                  json={"name": "Someone else's"})
    [(name,)] = await rows(host, Recipient.name, Recipient.id == department)
    assert (name == "Someone else's") == (response.status_code == 200) == created, response.text
    return created


async def probe_subscription_create(client, host, headers, department) -> bool:
    recipient_id = await add_team(client, host, department)
    response = await client.post("/notifications/subscriptions", headers=headers,
                                 json={"recipient_id": recipient_id, "event_type": BOOKED})
    stored = await count(host, Subscription, Subscription.recipient_id == recipient_id) == 1
    assert stored == (response.status_code == 201), response.text
    return stored


async def probe_subscription_read(client, host, headers, department) -> bool:
    subscription = await subscribe(client, host, await add_team(client, host, department))
    listed = [s["id"] for s in (await client.get("/notifications/subscriptions", headers=headers)).json()]
    return subscription["id"] in listed


async def probe_subscription_delete(client, host, headers, department) -> bool:
    subscription = await subscribe(client, host, await add_team(client, host, department))
    response = await client.delete(f"/notifications/subscriptions/{subscription['id']}", headers=headers)
    gone = await count(host, Subscription, Subscription.id == subscription["id"]) == 0
    assert gone == (response.status_code == 204), response.text
    return gone


async def _delivery_of(client, host, department: str, channels: list[dict]) -> Delivery:
    """A delivery to a team of `department`: it hears of its department's bookings."""
    recipient_id = await add_team(client, host, department, channels)
    await subscribe(client, host, recipient_id)
    await book(client, host, department)
    await eventually(lambda: count(host, Delivery, Delivery.recipient_id == recipient_id), message="a delivery")
    [delivery] = await rows(host, Delivery, Delivery.recipient_id == recipient_id)
    return delivery


async def probe_delivery_read(client, host, headers, department) -> bool:
    delivery = await _delivery_of(client, host, department, [{"kind": "slack"}])
    one = await client.get(f"/notifications/deliveries/{delivery.id}", headers=headers)
    listed = [d["id"] for d in (await client.get("/notifications/deliveries", headers=headers)).json()]
    assert (one.status_code == 200) == (delivery.id in listed), one.text
    return delivery.id in listed


async def probe_delivery_retry(client, host, headers, department) -> bool:
    delivery = await _delivery_of(client, host, department, [{"kind": "slack"}])  # no URL yet: skipped
    assert delivery.status == "skipped" and delivery.attempts == 0
    response = await client.post(f"/notifications/deliveries/{delivery.id}/retry", headers=headers)
    if response.status_code != 200:
        [after] = await rows(host, Delivery, Delivery.id == delivery.id)
        assert (after.status, after.attempts) == ("skipped", 0)
        return False
    # Re-driven: the worker tries again (and skips again, with a logged attempt).
    await eventually(lambda: count(host, DeliveryAttempt, DeliveryAttempt.delivery_id == delivery.id),
                     message="a fresh attempt")
    return True


async def probe_delivery_error_body(client, host, headers, department) -> bool:
    recipient_id = await add_team(client, host, department, [{"kind": "webhook"}])
    [channel] = await rows(host, Channel, Channel.recipient_id == recipient_id)
    delivery, attempt = failed_delivery(recipient_id, channel.id, f"e-{department}")
    await store(host, notice(f"e-{department}"), delivery, attempt)
    shown = (await client.get(f"/notifications/deliveries/{delivery.id}", headers=headers)).text
    listed = (await client.get("/notifications/deliveries", headers=headers)).text
    if "tk-SECRET-42" not in shown:
        assert "tk-SECRET-42" not in listed
        return False
    assert "tk-SECRET-42" in listed
    return True


async def probe_feed_read(client, host, headers, department) -> bool:
    recipient_id = await add_team(client, host, department)
    item = feed_item(recipient_id, f"e-{department}")
    await store(host, notice(f"e-{department}"), item)
    response = await client.get("/notifications/feed", params={"recipient": recipient_id}, headers=headers)
    shown = response.status_code == 200 and [i["id"] for i in response.json()] == [item.id]
    assert shown or response.status_code == 403, response.text
    return shown


async def probe_feed_mark(client, host, headers, department) -> bool:
    recipient_id = await add_team(client, host, department)
    item = feed_item(recipient_id, f"e-{department}")
    await store(host, notice(f"e-{department}"), item)
    response = await client.post(f"/notifications/feed/{item.id}/acknowledged", headers=headers)
    [marked] = await rows(host, FeedItem, FeedItem.id == item.id)
    assert (marked.read_at is not None) == (marked.acknowledged_at is not None) == (response.status_code == 200), \
        response.text
    return marked.acknowledged_at is not None


async def probe_restricted_read(client, host, headers, department) -> bool:
    """A restricted trip of `department`: its booking lands in the coordinators' feed and log."""
    await add_coordinators(client, host)
    event_id = (await notice_of(host, await book(client, host, department, visibility="restricted"))).event_id
    response = await client.get("/notifications/feed", params={"recipient": "OIA"}, headers=headers)
    in_feed = response.status_code == 200 and event_id in [i["event_id"] for i in response.json()]
    logged = [d["event_id"] for d in (await client.get("/notifications/deliveries", headers=headers)).json()]
    assert in_feed == (event_id in logged)
    return in_feed


PROBES = {
    "recipient.create": probe_recipient_create,
    "recipient.read": probe_recipient_read,
    "recipient.change": probe_recipient_change,
    "recipient.delete": probe_recipient_delete,
    "recipient.reserved": probe_recipient_reserved,
    "subscription.create": probe_subscription_create,
    "subscription.read": probe_subscription_read,
    "subscription.delete": probe_subscription_delete,
    "delivery.read": probe_delivery_read,
    "delivery.retry": probe_delivery_retry,
    "delivery.error_body": probe_delivery_error_body,
    "feed.read": probe_feed_read,
    "feed.mark": probe_feed_mark,
    "restricted.read": probe_restricted_read,
}


def test_every_action_has_a_probe():
    check_probes(POLICY, PROBES)


@pytest.mark.parametrize("action, role, whose, allowed", list(cases(POLICY)))
async def test_the_policy_table_is_what_the_api_does(client, host, action, role, whose, allowed):
    assert await PROBES[action](client, host, key(role), owner(whose)) is allowed


# -- issue 12's examples --------------------------------------------------------------------------

async def test_a_subscription_never_brings_another_departments_restricted_trip(client, host, tmp_path):
    await add(client, host, {"id": "ECON-news", "kind": "team", "name": "ECON news",
                             "channels": [{"kind": "email", "address": "econ-news@city.example"}]},
              who=("department", "ECON"))
    await subscribe(client, host, "ECON-news", who=("department", "ECON"))
    restricted = await notice_of(host, await book(client, host, "CULT", visibility="restricted", title="Quiet talks"))
    public = await notice_of(host, await book(client, host, "CULT", title="Open fair", city="Hamburg",
                                           start=date.today() + timedelta(days=200)))
    assert restricted.restricted and not public.restricted

    heard = {r.event_id for r in await rows(host, FeedItem, FeedItem.recipient == "ECON-news")}
    assert heard == {public.event_id}
    assert [r.event_id for r in await rows(host, Delivery, Delivery.recipient_id == "ECON-news")] == [public.event_id]
    # The coordinators still hear of it, in their feed.
    assert await count(host, FeedItem, FeedItem.event_id == restricted.event_id, FeedItem.recipient == "OIA") == 1

    def mails() -> list[str]:  # whole ones: a file being written has no Subject yet
        found = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
                 for p in (tmp_path / "mail").glob("*.eml")]
        return [m.as_string() for m in found if m["Subject"] is not None]
    await eventually(lambda: len(mails()) == 1, message="the open fair's mail")
    [mail] = mails()
    assert "Open fair" in mail and "Quiet talks" not in mail


async def test_a_subscription_to_overlaps_brings_only_the_departments_own(client, host):
    """Travel shows a department only the overlaps its own trips are in; so does its subscription."""
    await add(client, host, {"id": "ENV-watch", "kind": "team", "name": "ENV", "department": "ENV"})
    await add(client, host, {"id": "CULT-watch", "kind": "team", "name": "CULT", "department": "CULT"})
    for recipient_id in ("ENV-watch", "CULT-watch"):
        await subscribe(client, host, recipient_id, "travel.overlap.detected.v1")
    await book(client, host, "CULT", title="Fair")
    await book(client, host, "ECON", title="Fair too", city="Düsseldorf")
    await eventually(lambda: count(host, Notice, Notice.event_type == "travel.overlap.detected.v1"),
                     message="the overlap routed")
    assert [r.recipient for r in await rows(host, FeedItem, FeedItem.event_type == "travel.overlap.detected.v1",
                                            col(FeedItem.recipient).like("%-watch"))] == ["CULT-watch"]


@pytest.mark.parametrize("squatted", ["CULT", "OIA"])
async def test_a_department_cannot_take_another_departments_or_the_coordinators_id(client, host, squatted):
    econ = auth(host, "department", "ECON")
    for body in ({"id": squatted, "kind": "team", "name": "mine now", "department": "ECON"},
                 {"id": squatted, "kind": "department", "name": "mine now", "department": squatted},
                 {"id": f"{squatted}-desk", "kind": "team", "name": "mine now"}):
        response = await client.post("/notifications/recipients", json=body, headers=econ)
        assert response.status_code == 403, response.text
    assert await count(host, Recipient) == 0
    # ECON's own namespace is ECON's, and the real desk can still be set up.
    await add(client, host, {"id": "ECON-desk", "kind": "team", "name": "ours"}, who=("department", "ECON"))
    [(department,)] = await rows(host, Recipient.department, Recipient.id == "ECON-desk")
    assert department == "ECON"
    await add(client, host, {"id": squatted, "kind": "coordinators" if squatted == "OIA" else "department",
                             "name": "the real one", "department": squatted,
                             "channels": [{"kind": "email", "address": f"{squatted.lower()}@city.example"}]})
    await book(client, host, "CULT", title="Fair")
    await book(client, host, "MAYOR", title="Fair too", city="Düsseldorf")
    await eventually(lambda: count(host, Delivery, Delivery.recipient_id == squatted), message="the real desk alerted")


async def test_a_desk_id_taken_before_the_api_refused_it_gets_nothing_and_dead_letters_nothing(client, host):
    """A row from before: ECON's recipient under CULT's code. CULT's alerts do not go to it (nor to a
    feed it could read); everyone else still hears, and the conflict is counted."""
    now = datetime.now(UTC)
    await store(host, Recipient(id="CULT", kind="team", name="squatter", department="ECON", created_at=now,
                                updated_at=now),
                Channel(recipient_id="CULT", kind="email", address="squatter@city.example", created_at=now))
    await add(client, host, {"id": "MAYOR", "kind": "department", "name": "Mayor", "department": "MAYOR",
                             "channels": [{"kind": "email", "address": "mayor@city.example"}]})
    before = conflicts("id_taken")
    await book(client, host, "CULT", title="Fair")
    await book(client, host, "MAYOR", title="Fair too", city="Düsseldorf")
    await eventually(lambda: count(host, Notice, Notice.event_type == "travel.overlap.detected.v1"),
                     message="the overlap routed")
    [overlap] = await rows(host, Notice, Notice.event_type == "travel.overlap.detected.v1")
    assert {r.recipient for r in await rows(host, FeedItem, FeedItem.event_id == overlap.event_id)} == {"MAYOR", "OIA"}
    assert [d.recipient_id for d in await rows(host, Delivery, Delivery.event_id == overlap.event_id)] == ["MAYOR"]
    assert await host.bus.dead_letters(host.runtimes["notifications"].queue) == []
    assert conflicts("id_taken") == before + 1


def person_id(email: str) -> str:
    return f"{domain.PERSON_PREFIX}{email.split('@')[0]}-{hashlib.sha256(email.encode()).hexdigest()[:8]}"


def dormant(email: str) -> Envelope:
    return Envelope(type="partners.partnership.dormant.v1", source="/partners", data={
        "partnership_id": "p-1", "home_city": "Münster", "partner_city": "Kraków", "partner_country": "PL",
        "department": "CULT", "desk_officer": {"name": "Jana Nowak", "email": email},
        "last_contact_on": "2025-01-10", "days_since_contact": 400, "max_contact_days": 365,
        "as_of": date.today().isoformat()})


def conflicts(reason: str) -> float:
    return REGISTRY.get_sample_value("oia_notifications_routing_conflicts_total",
                                     {"service": "notifications", "reason": reason}) or 0.0


async def test_the_routers_ids_cannot_be_claimed_and_a_taken_one_dead_letters_nothing(client, host):
    email = "jana.nowak@city.example"
    for who in (COORDINATOR, ("department", "ECON"), ("admin", None)):
        response = await client.post("/notifications/recipients", headers=auth(host, *who), json={
            "id": person_id(email), "kind": "person", "name": "me", "department": "ECON"})
        assert response.status_code == 422 and "id" in response.text, response.text
    # Taken anyway (a row from before the API refused it): the person still hears, under another id.
    now = datetime.now(UTC)
    await store(host, Recipient(id=person_id(email), kind="team", name="squatter", department="ECON",
                                created_at=now, updated_at=now),
                Channel(recipient_id=person_id(email), kind="email", address="squatter@city.example", created_at=now))
    before = conflicts("id_taken")
    event = dormant(email)
    await host.bus.publish([event])
    await eventually(lambda: count(host, Notice, Notice.event_id == event.id), message="the event routed")

    [(jana,)] = await rows(host, Channel.recipient_id, Channel.address == email)
    assert jana != person_id(email) and jana.startswith(domain.PERSON_PREFIX)
    assert {r.recipient for r in await rows(host, FeedItem, FeedItem.event_id == event.id)} == {jana, "CULT"}
    assert [d.recipient_id for d in await rows(host, Delivery, Delivery.event_id == event.id)] == [jana]
    assert await host.bus.dead_letters(host.runtimes["notifications"].queue) == []
    assert conflicts("id_taken") == before + 1
    # The next event finds her by her address: no new conflict, no new recipient.
    again = dormant(email)
    await host.bus.publish([again])
    await eventually(lambda: count(host, Delivery, Delivery.event_id == again.id, Delivery.recipient_id == jana),
                     message="the second event reaches her")
    assert conflicts("id_taken") == before + 1 and await count(host, Recipient, Recipient.kind == "person") == 1


async def test_another_departments_recipient_with_a_persons_address_does_not_take_their_alerts(client, host):
    email = "jana.nowak@city.example"
    await add(client, host, {"id": "ECON-jana", "kind": "person", "name": "J",
                             "channels": [{"kind": "email", "address": email}]}, who=("department", "ECON"))
    before = conflicts("email_held_elsewhere")
    event = dormant(email)  # about CULT's partnership
    await host.bus.publish([event])
    await eventually(lambda: count(host, Notice, Notice.event_id == event.id), message="the event routed")
    heard = {r.recipient for r in await rows(host, FeedItem, FeedItem.event_id == event.id)}
    assert heard == {person_id(email), "CULT"}
    assert [d.recipient_id for d in await rows(host, Delivery, Delivery.event_id == event.id)] == [person_id(email)]
    assert conflicts("email_held_elsewhere") == before + 1


async def test_readers_and_departments_do_not_see_restricted_trips_in_the_coordinators_feed(client, host):
    await add_coordinators(client, host)
    secret = await notice_of(host, await book(client, host, "ECON", visibility="restricted", title="Quiet talks"))
    public = await notice_of(host, await book(client, host, "CULT", title="Open fair", city="Hamburg",
                                           start=date.today() + timedelta(days=200)))
    for who, shown in [(("reader", None), {public.event_id}), (COORDINATOR, {public.event_id, secret.event_id}),
                       (("admin", None), {public.event_id, secret.event_id})]:
        feed = await client.get("/notifications/feed", params={"recipient": "OIA"}, headers=auth(host, *who))
        assert {i["event_id"] for i in feed.json()} == shown, who
        log = await client.get("/notifications/deliveries", headers=auth(host, *who))
        assert {d["event_id"] for d in log.json()} == shown, who
        if secret.event_id not in shown:
            assert "Quiet talks" not in feed.text + log.text
    [hidden] = await rows(host, Delivery, Delivery.event_id == secret.event_id)
    assert (await client.get(f"/notifications/deliveries/{hidden.id}",
                             headers=auth(host, "reader", None))).status_code == 404
    [item] = await rows(host, FeedItem, FeedItem.event_id == secret.event_id)
    assert item.restricted
    assert (await client.post(f"/notifications/feed/{item.id}/read", headers=auth(host, "reader", None))
            ).status_code == 404


async def test_the_migration_marks_what_was_routed_about_restricted_trips_before(tmp_path):
    spec, url = spec_of("notifications"), f"sqlite+aiosqlite:///{tmp_path / 'notifications.db'}"
    await upgrade("notifications", spec.migrations_dir, spec.metadata, url, "1937d201b4c6")
    now = datetime.now(UTC)
    notices = {"overlap": {"restricted": True, "trips": []}, "booking": {"trip_id": "t", "visibility": "restricted"},
               "crossing": {"trip": {"visibility": "restricted"}}, "open": {"trip_id": "u", "visibility": "normal"}}
    notice_table = sa.table("notice", *(sa.column(c) for c in ("event_id", "event_type", "critical", "occurred_at",
                                                                "received_at")), sa.column("data", sa.JSON))
    feed_table = sa.table("feeditem", *(sa.column(c) for c in ("id", "recipient", "event_id", "event_type", "title",
                                                              "body", "critical", "created_at")))
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            for event_id, data in notices.items():
                await conn.execute(notice_table.insert().values(event_id=event_id, event_type=BOOKED, critical=False,
                                                                data=data, occurred_at=now, received_at=now))
                await conn.execute(feed_table.insert().values(id=event_id, recipient="OIA", event_id=event_id,
                                                              event_type=BOOKED, title="t", body="b", critical=False,
                                                              created_at=now))
        await upgrade("notifications", spec.migrations_dir, spec.metadata, url)
        async with engine.connect() as conn:
            marked = {table: {r.event_id for r in await conn.execute(sa.text(
                f"SELECT event_id FROM {table} WHERE restricted"))} for table in ("notice", "feeditem")}
    finally:
        await engine.dispose()
    assert marked == {"notice": {"overlap", "booking", "crossing"}, "feeditem": {"overlap", "booking", "crossing"}}
