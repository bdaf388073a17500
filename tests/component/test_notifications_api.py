"""Notifications through the embedded host: the directory and its bad input, routing of real travel
events into feeds and deliveries, quiet hours and digests, and mail as .eml files with no SMTP."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from services.notifications.models import Channel, Delivery, FeedItem, Recipient
from shared.testing import eventually
from tests.support.embedded import auth

ADMIN, COORDINATOR, READER = ("admin", None), ("coordinator", "OIA"), ("reader", None)
ECON, MAYOR = ("department", "ECON"), ("department", "MAYOR")
SLACK_URL = "https://hooks.slack.com/services/T000/B000/very-secret-token-1234"


def recipient(id: str = "ECON", **extra) -> dict:
    return {"id": id, "kind": "department", "name": f"{id} office", "department": id,
            "channels": [{"kind": "email", "address": f"{id.lower()}@city.example"}], **extra}


async def rows(host, model, *where) -> list:
    async with host.runtimes["notifications"].engine.connect() as conn:
        return (await conn.execute(select(model).where(*where))).all()


async def count(host, model, *where) -> int:
    async with host.runtimes["notifications"].engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


async def add(client, host, body: dict, who=COORDINATOR) -> dict:
    response = await client.post("/notifications/recipients", json=body, headers=auth(host, *who))
    assert response.status_code == 201, response.text
    return response.json()


async def book_overlap(client, host, start: date | None = None, econ_visibility: str = "normal") -> None:
    start = start or date.today() + timedelta(days=90)
    end = start + timedelta(days=3)
    for who, title, city in [(ECON, "Trade fair", "Köln"), (MAYOR, "Partner city visit", "Düsseldorf")]:
        body = {"title": title, "legs": [{"city": city, "country": "DE", "start_date": start.isoformat(),
                                          "end_date": end.isoformat()}],
                "travellers": [{"name": f"{who[1]} traveller", "email": f"{who[1].lower()}-t@city.example"}]}
        if who == ECON:
            body["visibility"] = econ_visibility
        response = await client.post("/travel/trips", json=body, headers=auth(host, *who))
        assert response.status_code == 201, response.text


# -- the directory ------------------------------------------------------------------------------

async def test_a_webhook_url_is_stored_but_never_shown_in_full(client, host):
    created = await add(client, host, recipient(channels=[{"kind": "slack", "address": SLACK_URL},
                                                          {"kind": "email", "address": "econ@city.example"}]))
    shown = {c["kind"]: c["address"] for c in created["channels"]}
    assert shown["email"] == "econ@city.example"
    assert "very-secret-token" not in shown["slack"] and shown["slack"].startswith("https://hooks.slack.com/")
    listed = (await client.get("/notifications/recipients", headers=auth(host, *COORDINATOR))).text
    assert "very-secret-token" not in listed
    [(stored,)] = await rows(host, Channel.address, Channel.kind == "slack")
    assert stored == SLACK_URL


@pytest.mark.parametrize("body, field", [
    (recipient(channels=[{"kind": "slack", "address": "http://hooks.slack.com/services/x"}]), "channels[0].address"),
    (recipient(channels=[{"kind": "teams", "address": "ftp://example.org/x"}]), "channels[0].address"),
    (recipient(channels=[{"kind": "email", "address": "not-an-address"}]), "address"),
    (recipient(channels=[{"kind": "email"}]), "channels"),
    (recipient(channels=[{"kind": "pigeon", "address": "x"}]), "kind"),
    (recipient(channels=[{"kind": "slack", "address": SLACK_URL, "signing_secret": "s" * 20}]), "signing_secret"),
    (recipient(language="fr"), "language"),
    (recipient(timezone="Europe/Atlantis"), "timezone"),
    (recipient(quiet_start="22:00"), "quiet_end"),
    (recipient(digest_hour=24), "digest_hour"),
    (recipient(id="has spaces"), "id"),
    ({**recipient(), "department": None}, "department"),
])
async def test_bad_recipients_are_422_naming_the_field_and_store_nothing(client, host, body, field):
    response = await client.post("/notifications/recipients", json=body, headers=auth(host, *COORDINATOR))
    assert response.status_code == 422, response.text
    assert field in response.text
    assert await count(host, Recipient) == 0 and await count(host, Channel) == 0


async def test_a_subscription_to_an_unknown_event_type_or_recipient_is_422(client, host):
    await add(client, host, recipient())
    for body, field in [({"recipient_id": "ECON", "event_type": "travel.trip.teleported.v1"}, "event_type"),
                        ({"recipient_id": "NOBODY", "event_type": "travel.trip.booked.v1"}, "recipient_id"),
                        ({"recipient_id": "ECON", "event_type": "travel.trip.booked.v1", "country": "Germany"},
                         "country")]:
        response = await client.post("/notifications/subscriptions", json=body, headers=auth(host, *COORDINATOR))
        assert response.status_code == 422 and field in response.text, response.text
    assert (await client.get("/notifications/subscriptions", headers=auth(host, *COORDINATOR))).json() == []


async def test_departments_manage_only_their_own_recipients_and_readers_nothing(client, host):
    # A department's desk is the coordinators' to set up; a department adds its own teams and people.
    await add(client, host, recipient("ECON"))
    await add(client, host, recipient("ECON-trade", kind="team", department="ECON"), who=ECON)
    refused = await client.post("/notifications/recipients", json=recipient("MAYOR"), headers=auth(host, *ECON))
    assert refused.status_code == 403
    assert (await client.post("/notifications/recipients", json=recipient("CULT"),
                              headers=auth(host, *READER))).status_code == 403
    assert (await client.patch("/notifications/recipients/ECON-trade", json={"language": "de"},
                               headers=auth(host, *MAYOR))).status_code == 404  # not even visible
    changed = await client.patch("/notifications/recipients/ECON-trade", json={"language": "de"},
                                 headers=auth(host, *ECON))
    assert changed.status_code == 200 and changed.json()["language"] == "de"
    assert await count(host, Recipient) == 2
    assert (await client.post("/notifications/recipients", json=recipient("ECON"),
                              headers=auth(host, *COORDINATOR))).status_code == 409


# -- routing real events ------------------------------------------------------------------------

async def settled(host) -> None:
    """Let the embedded bus and the delivery worker finish what is in flight."""

    async def quiet() -> bool:
        return await count(host, Delivery, Delivery.status.in_(["pending", "sending"]),
                           Delivery.due_at <= datetime.now(UTC)) == 0
    await eventually(quiet, message="deliveries due now are sent")


async def test_an_overlap_reaches_both_departments_and_the_coordinators_by_mail_files(client, host, tmp_path):
    await add(client, host, recipient("ECON"))
    await add(client, host, recipient("MAYOR", language="de"))
    await add(client, host, {"id": "OIA", "kind": "coordinators", "name": "OIA coordinators",
                             "channels": [{"kind": "email", "address": "oia@city.example"},
                                          {"kind": "slack"}]})  # Slack not set up yet: skipped, with the reason
    await book_overlap(client, host)
    await eventually(lambda: len(list((tmp_path / "mail").glob("*.eml"))) == 3, message="three .eml files")
    await settled(host)

    mails = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
             for p in (tmp_path / "mail").glob("*.eml")]
    assert sorted(m["To"] for m in mails) == ["econ@city.example", "mayor@city.example", "oia@city.example"]
    econ = next(m for m in mails if m["To"] == "econ@city.example")
    body = econ.get_body(("plain",)).get_content()
    assert "Trade fair" in body and "Partner city visit" in body and "mayor-t@city.example" in body
    [skipped] = await rows(host, Delivery, Delivery.channel_kind == "slack")
    assert skipped.status == "skipped" and "no slack URL" in skipped.last_error
    # Feeds: the booking news for the coordinators, the overlap for all three.
    feed = (await client.get("/notifications/feed", params={"recipient": "OIA"},
                             headers=auth(host, *COORDINATOR))).json()
    assert sorted(i["event_type"] for i in feed) == ["travel.overlap.detected.v1", "travel.trip.booked.v1",
                                                      "travel.trip.booked.v1"]
    mayor_feed = (await client.get("/notifications/feed", params={"recipient": "MAYOR"},
                                   headers=auth(host, *MAYOR))).json()
    assert [i["event_type"] for i in mayor_feed] == ["travel.overlap.detected.v1"]
    assert (await client.get("/notifications/feed", params={"recipient": "MAYOR"},
                             headers=auth(host, *ECON))).status_code == 403


async def test_a_restricted_trips_overlap_reaches_the_coordinators_only(client, host):
    for r in (recipient("ECON"), recipient("MAYOR")):
        await add(client, host, r)
    await add(client, host, {"id": "OIA", "kind": "coordinators", "name": "OIA",
                             "channels": [{"kind": "email", "address": "oia@city.example"}]})
    await book_overlap(client, host, econ_visibility="restricted")
    await eventually(lambda: count(host, Delivery), message="a delivery")
    await settled(host)
    assert [r.recipient_id for r in await rows(host, Delivery)] == ["OIA"]
    assert await count(host, FeedItem, FeedItem.event_type == "travel.overlap.detected.v1") == 1


async def test_quiet_hours_hold_a_delivery_and_a_digest_waits_for_the_morning(client, host):
    now = datetime.now(UTC)
    # A window around the present moment, in UTC, so the test holds at any hour.
    start, end = (now - timedelta(hours=1)).time().replace(second=0, microsecond=0), \
        (now + timedelta(hours=2)).time().replace(second=0, microsecond=0)
    await add(client, host, recipient("ECON", timezone="UTC", quiet_start=start.isoformat(), quiet_end=end.isoformat()))
    await add(client, host, recipient("MAYOR", timezone="UTC", digest_hour=(now + timedelta(hours=3)).hour))
    await book_overlap(client, host)
    await eventually(lambda: _is(count(host, Delivery), 2), message="two deliveries")
    econ, = await rows(host, Delivery, Delivery.recipient_id == "ECON")
    mayor, = await rows(host, Delivery, Delivery.recipient_id == "MAYOR")
    assert econ.status == "pending" and "quiet hours" in econ.held_reason
    assert econ.due_at.replace(tzinfo=UTC) > now + timedelta(hours=1)
    assert mayor.status == "digest" and mayor.due_at.replace(tzinfo=UTC) > now + timedelta(hours=2)

    # When the digest hour comes, one message carries what waited.
    worker = host.runtimes["notifications"].workers[0]
    assert await worker.run_once(mayor.due_at.replace(tzinfo=UTC) + timedelta(seconds=1)) >= 1
    mayor, = await rows(host, Delivery, Delivery.recipient_id == "MAYOR")
    assert mayor.status == "sent" and mayor.digest_id is not None


async def test_a_clash_starting_tomorrow_is_critical_and_skips_quiet_hours(client, host):
    now = datetime.now(UTC)
    start, end = (now - timedelta(hours=1)).time().replace(second=0, microsecond=0), \
        (now + timedelta(hours=2)).time().replace(second=0, microsecond=0)
    await add(client, host, recipient("ECON", timezone="UTC", quiet_start=start.isoformat(), quiet_end=end.isoformat(),
                                      digest_hour=5))
    await book_overlap(client, host, start=date.today() + timedelta(days=1))
    await settled(host)
    await eventually(lambda: _sent(host, "ECON"), message="sent at once")
    feed = (await client.get("/notifications/feed", params={"recipient": "ECON"}, headers=auth(host, *ECON))).json()
    assert feed[0]["critical"] is True


async def _is(awaitable, expected) -> bool:
    return await awaitable == expected


async def _sent(host, recipient_id: str) -> bool:
    return [r.status for r in await rows(host, Delivery, Delivery.recipient_id == recipient_id)] == ["sent"]


async def test_feed_items_are_read_and_acknowledged(client, host):
    await add(client, host, recipient("ECON"))
    await book_overlap(client, host)

    async def feed() -> list:
        return (await client.get("/notifications/feed", params={"recipient": "ECON"}, headers=auth(host, *ECON))).json()
    await eventually(lambda: _nonempty(feed()), message="a feed item")
    [item] = await feed()
    assert item["read_at"] is None
    acknowledged = await client.post(f"/notifications/feed/{item['id']}/acknowledged", headers=auth(host, *ECON))
    assert acknowledged.status_code == 200
    assert acknowledged.json()["read_at"] and acknowledged.json()["acknowledged_at"]
    unread = (await client.get("/notifications/feed", params={"recipient": "ECON", "unread": "true"},
                               headers=auth(host, *ECON))).json()
    assert unread == []
    assert (await client.post(f"/notifications/feed/{item['id']}/read", headers=auth(host, *MAYOR))).status_code == 403


async def _nonempty(awaitable) -> bool:
    return bool(await awaitable)


async def test_subscriptions_narrow_by_country(client, host):
    await add(client, host, {"id": "j.doe", "kind": "person", "name": "J. Doe", "department": "CULT",
                             "channels": [{"kind": "email", "address": "j.doe@city.example"}]})
    for country in ("DE", "PL"):
        response = await client.post("/notifications/subscriptions", headers=auth(host, *COORDINATOR), json={
            "recipient_id": "j.doe", "event_type": "travel.trip.booked.v1", "country": country})
        assert response.status_code == 201
    await book_overlap(client, host)  # two trips to Germany
    await eventually(lambda: _is(count(host, Delivery, Delivery.recipient_id == "j.doe"), 2), message="two")
    await settled(host)
    assert await count(host, FeedItem, FeedItem.recipient == "j.doe") == 2



async def test_a_directory_change_applies_from_the_next_event_on(client, host, tmp_path):
    await add(client, host, recipient("ECON"))
    await book_overlap(client, host)
    await eventually(lambda: len(list((tmp_path / "mail").glob("*.eml"))) == 1, message="the first mail")
    changed = await client.patch("/notifications/recipients/ECON", headers=auth(host, *COORDINATOR), json={
        "channels": [{"kind": "email", "address": "econ-desk@city.example"}]})
    assert changed.status_code == 200
    await book_overlap(client, host, start=date.today() + timedelta(days=200))
    await eventually(lambda: len(list((tmp_path / "mail").glob("*.eml"))) == 2, message="the second mail")
    await settled(host)
    addressed = sorted(email.message_from_bytes(p.read_bytes(), policy=email.policy.default)["To"]
                       for p in (tmp_path / "mail").glob("*.eml"))
    assert addressed == ["econ-desk@city.example", "econ@city.example"]


# -- pages --------------------------------------------------------------------------------------

async def pages(client, host, path: str, limit: int, **params) -> list[list[str]]:
    """Every page of a list, following X-Next-Cursor, as lists of ids."""
    found, cursor = [], None
    while True:
        response = await client.get(path, headers=auth(host, *COORDINATOR),
                                    params={**params, "limit": limit, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        found.append([item["id"] for item in response.json()])
        if (cursor := response.headers.get("X-Next-Cursor")) is None:
            return found


async def test_the_directory_deliveries_and_feed_come_in_pages_that_miss_and_repeat_none(client, host):
    for department in ("ECON", "MAYOR", "CULT", "ENV", "SPORT"):
        await add(client, host, recipient(department))
    await add(client, host, {"id": "OIA", "kind": "coordinators", "name": "OIA coordinators",
                             "channels": [{"kind": "email", "address": "oia@city.example"}]})
    await book_overlap(client, host)
    await book_overlap(client, host, start=date.today() + timedelta(days=200))
    # Both overlaps routed (to ECON, MAYOR and the coordinators each), the four bookings in the
    # coordinators' feed, and what is due sent.
    await eventually(lambda: _is(count(host, Delivery), 6), message="six deliveries")
    await eventually(lambda: _is(count(host, FeedItem, FeedItem.recipient == "OIA"), 6), message="the OIA's feed")
    await settled(host)

    directory = await pages(client, host, "/notifications/recipients", 4)
    assert [len(p) for p in directory] == [4, 2] and sum(directory, []) == sorted(sum(directory, []))

    every = [d["id"] for d in (await client.get("/notifications/deliveries", params={"limit": 500},
                                                headers=auth(host, *COORDINATOR))).json()]
    assert len(every) == 6
    paged = await pages(client, host, "/notifications/deliveries", 4)
    assert sum(paged, []) == every and all(len(p) == 4 for p in paged[:-1])

    feed = (await client.get("/notifications/feed", params={"recipient": "OIA", "limit": 500},
                             headers=auth(host, *COORDINATOR))).json()
    assert len(feed) == 6
    assert sum(await pages(client, host, "/notifications/feed", 4, recipient="OIA"), []) == [i["id"] for i in feed]

    refused = await client.get("/notifications/deliveries", params={"cursor": "soon|x"},
                               headers=auth(host, *COORDINATOR))
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "query.cursor"
