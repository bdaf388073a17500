"""Notifications on PostgreSQL and RabbitMQ, delivering to real servers on loopback: an SMTP
server, Slack and Teams stand-ins (one failing twice with 500, one answering 429) and a signed
generic webhook. Every alert arrives exactly once, however often the event is delivered."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import date, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from oia.catalog import spec_of
from services.notifications.main import delivery_worker
from services.notifications.models import Delivery, DeliveryAttempt
from shared.app import create_service_app
from shared.envelope import Envelope
from shared.migrations import upgrade
from shared.testing import eventually
from shared.uow import UnitOfWork, utcnow
from tests.support.standins import SmtpStandIn, WebhookStandIn

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer it-admin"}
SIGNING_SECRET = "a-webhook-signing-secret"


def overlap_event(overlap_id: str = "o-1", start: date | None = None) -> Envelope:
    start = start or date.today() + timedelta(days=60)  # far enough ahead not to be critical
    leg = {"city": "Köln", "country": "DE", "start_date": start.isoformat(),
           "end_date": (start + timedelta(days=2)).isoformat(), "place_id": 2886242, "place_name": "Köln",
           "latitude": 50.93, "longitude": 6.95, "timezone": "Europe/Berlin"}
    trips = [{"trip_id": f"t-{d}", "department": d, "title": title, "purpose": purpose, "visibility": "normal",
              "travellers": [{"name": name, "email": mail, "role": None, "elected_official": d == "MAYOR"}],
              "leg": leg}
             for d, title, purpose, name, mail in [
                 ("ECON", "Trade fair", "trade_fair", "Anna Schmidt", "anna@city.example"),
                 ("MAYOR", "Partner city visit", "partner_city_visit", "The Mayor", "mayor@city.example")]]
    return Envelope(type="travel.overlap.detected.v1", source="/travel", data={
        "overlap_id": overlap_id, "kind": "trips", "place_name": "Köln", "country": "DE", "distance_km": 0.0,
        "shared_start": leg["start_date"], "shared_end": leg["end_date"], "restricted": False, "trips": trips,
        "delegations": [], "detected_at": "2027-03-01T09:00:00+00:00"})


async def start_notifications(rabbitmq, smtp: SmtpStandIn, **overrides):
    spec = spec_of("notifications")
    url = await rabbitmq.database_url("notifications")
    await upgrade("notifications", spec.migrations_dir, spec.metadata, url)
    runtime = await rabbitmq.runtime(spec, url, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_starttls=False,
                                     allow_http_loopback=True, retry_base_seconds=0.05, api_keys="it-admin:admin",
                                     slack_rate_per_second=100, teams_rate_per_second=100, **overrides)
    await runtime.start()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_service_app(runtime, manage_lifecycle=False)),
                               base_url="http://notifications")
    return runtime, client


async def add_recipients(client: httpx.AsyncClient, hooks: WebhookStandIn) -> None:
    for body in [
        {"id": "ECON", "kind": "department", "name": "Economic Development", "department": "ECON",
         "channels": [{"kind": "email", "address": "econ@city.example"},
                      {"kind": "slack", "address": hooks.url("slack/econ")}]},
        {"id": "MAYOR", "kind": "department", "name": "Mayor's office", "department": "MAYOR", "language": "de",
         "channels": [{"kind": "email", "address": "mayor-office@city.example"},
                      {"kind": "teams", "address": hooks.url("teams/mayor")}]},
        {"id": "OIA", "kind": "coordinators", "name": "OIA coordinators",
         "channels": [{"kind": "email", "address": "oia@city.example"},
                      {"kind": "webhook", "address": hooks.url("hook/oia"), "signing_secret": SIGNING_SECRET}]},
    ]:
        response = await client.post("/notifications/recipients", json=body, headers=ADMIN)
        assert response.status_code == 201, response.text


async def count(runtime, statement) -> int:
    async with runtime.engine.connect() as connection:
        return (await connection.execute(statement)).scalar_one()


async def _is(awaitable, expected) -> bool:
    return await awaitable == expected


async def test_an_overlap_reaches_every_channel_once_through_failures_and_redeliveries(rabbitmq):
    async with WebhookStandIn() as hooks:
        with SmtpStandIn() as smtp:
            hooks.script("slack/econ", fail_first=2)
            hooks.script("teams/mayor", throttle_first=1, retry_after="1")
            runtime, client = await start_notifications(rabbitmq, smtp)
            async with client:
                await add_recipients(client, hooks)
                producer = await rabbitmq.bus()
                event = overlap_event()
                await producer.publish([event])
                await producer.publish([event])  # a redelivery: must change nothing

                await eventually(lambda: len(hooks.accepted("slack/econ")) == 1, timeout=20, message="slack")
                await eventually(lambda: len(hooks.accepted("teams/mayor")) == 1, timeout=20, message="teams")
                await eventually(lambda: len(hooks.accepted("hook/oia")) == 1, timeout=20, message="webhook")
                await eventually(lambda: len(smtp.messages) == 3, timeout=20, message="three mails")

                # Let any stray resend show itself before counting.
                await eventually(lambda: _all_settled(runtime), timeout=20, message="all deliveries settled")
                assert len(hooks.attempts["/slack/econ"]) == 3  # 500, 500, 200
                assert len(hooks.attempts["/teams/mayor"]) == 2  # 429, then accepted after Retry-After
                assert len(hooks.accepted("slack/econ")) == len(hooks.accepted("teams/mayor")) == 1
                assert [len(smtp.to(a)) for a in ("econ@", "mayor-office@", "oia@")] == [1, 1, 1]

                # What each received names the place and both trips, in the recipient's language.
                econ_mail = smtp.to("econ@")[0]
                text = econ_mail.get_body(("plain",)).get_content()
                assert "Köln" in econ_mail["Subject"] and "Trade fair" in text and "Partner city visit" in text
                assert "anna@city.example" in text
                assert econ_mail.get_body(("html",)) is not None
                mayor_mail = smtp.to("mayor-office@")[0]
                assert mayor_mail["Subject"] != econ_mail["Subject"]  # German
                slack = hooks.accepted("slack/econ")[0].json()
                assert "Köln" in slack["text"] and slack["blocks"]
                teams = hooks.accepted("teams/mayor")[0].json()
                assert teams["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"

                # The generic webhook is signed over the body it carries.
                hook = hooks.accepted("hook/oia")[0]
                expected = hmac.new(SIGNING_SECRET.encode(), hook.body, hashlib.sha256).hexdigest()
                assert hook.headers["x-diplomacity-signature"] == f"sha256={expected}"
                assert hook.json()["event_id"] == event.id

                # The delivery log: six deliveries, all sent, the failures on record.
                deliveries = (await client.get("/notifications/deliveries", params={"event_id": event.id},
                                               headers=ADMIN)).json()
                assert sorted((d["recipient_id"], d["channel_kind"], d["status"]) for d in deliveries) == [
                    ("ECON", "email", "sent"), ("ECON", "slack", "sent"), ("MAYOR", "email", "sent"),
                    ("MAYOR", "teams", "sent"), ("OIA", "email", "sent"), ("OIA", "webhook", "sent")]
                slack_delivery = next(d for d in deliveries if d["channel_kind"] == "slack")
                log = (await client.get(f"/notifications/deliveries/{slack_delivery['id']}", headers=ADMIN)).json()["log"]
                assert [(a["outcome"], a["status_code"]) for a in log] == [
                    ("failed", 500), ("failed", 500), ("sent", 200)]
                assert log[1]["started_at"] > log[0]["finished_at"]
                teams_delivery = next(d for d in deliveries if d["channel_kind"] == "teams")
                log = (await client.get(f"/notifications/deliveries/{teams_delivery['id']}", headers=ADMIN)).json()["log"]
                assert [(a["outcome"], a["status_code"]) for a in log] == [("failed", 429), ("sent", 202)]
                # Retry-After: 1 was respected.
                from datetime import datetime
                gap = datetime.fromisoformat(log[1]["started_at"]) - datetime.fromisoformat(log[0]["finished_at"])
                assert gap.total_seconds() >= 0.95
                assert await count(runtime, select(func.count()).select_from(Delivery)) == 6

                feed = (await client.get("/notifications/feed", params={"recipient": "MAYOR"}, headers=ADMIN)).json()
                assert len(feed) == 1 and "Köln" in feed[0]["title"]


async def _all_settled(runtime) -> bool:
    return await count(runtime, select(func.count()).select_from(Delivery).where(
        Delivery.status.not_in(["sent", "dead", "skipped"]))) == 0


async def test_a_dead_delivery_is_published_and_an_admin_can_re_drive_it(rabbitmq):
    async with WebhookStandIn() as hooks:
        with SmtpStandIn() as smtp:
            hooks.script("slack/econ", fail_first=100)
            # Dead once failing for a second (the time budget; hours by default), the breaker out of it.
            runtime, client = await start_notifications(rabbitmq, smtp, delivery_retry_budget_seconds=1,
                                                        breaker_failures=1000)
            async with client:
                response = await client.post("/notifications/recipients", headers=ADMIN, json={
                    "id": "ECON", "kind": "department", "name": "Economic Development", "department": "ECON",
                    "channels": [{"kind": "slack", "address": hooks.url("slack/econ")}]})
                assert response.status_code == 201
                watcher = await rabbitmq.bus()
                failed = []

                async def collect(envelopes):
                    failed.extend(envelopes)
                    return [True] * len(envelopes)

                await watcher.subscribe(rabbitmq.queue_prefix + "audit", ["notifications.delivery.failed.v1"], collect)
                event = overlap_event()
                await (await rabbitmq.bus()).publish([event])

                await eventually(lambda: len(failed) == 1, timeout=30, message="delivery.failed published")
                [dead] = (await client.get("/notifications/deliveries", headers=ADMIN,
                                           params={"status": "dead"})).json()
                tried = dead["attempts"]
                assert tried >= 2 and "HTTP 500" in dead["last_error"] and "retried for 1 s" in dead["last_error"]
                assert failed[0].data["delivery_id"] == dead["id"] and failed[0].data["attempts"] == tried
                assert len(hooks.attempts["/slack/econ"]) == tried

                # Not an admin: refused. The admin re-drives it once Slack is back.
                refused = await client.post(f"/notifications/deliveries/{dead['id']}/retry")
                assert refused.status_code == 401
                hooks.script("slack/econ")
                redriven = await client.post(f"/notifications/deliveries/{dead['id']}/retry", headers=ADMIN)
                assert redriven.status_code == 200 and redriven.json()["status"] == "pending"
                await eventually(lambda: len(hooks.accepted("slack/econ")) == 1, timeout=20, message="re-driven")
                again = await client.post(f"/notifications/deliveries/{dead['id']}/retry", headers=ADMIN)
                assert again.status_code == 409
                # The attempt is written just after the receiver accepts: poll for it, not race it.
                attempts = select(func.count()).select_from(DeliveryAttempt)
                await eventually(lambda: _is(count(runtime, attempts), tried + 1), message="the re-driven attempt recorded")


async def test_an_event_that_does_not_validate_is_dead_lettered_with_the_reason_and_the_queue_flows(rabbitmq):
    with SmtpStandIn() as smtp:
        runtime, client = await start_notifications(rabbitmq, smtp)
        async with client:
                response = await client.post("/notifications/recipients", headers=ADMIN, json={
                    "id": "ECON", "kind": "department", "name": "Economic Development", "department": "ECON",
                    "channels": [{"kind": "email", "address": "econ@city.example"}]})
                assert response.status_code == 201
                producer = await rabbitmq.bus()
                poison = Envelope(type="travel.overlap.detected.v1", source="/travel", data={"overlap_id": 7})
                await producer.publish([poison, overlap_event("o-after")])

                await eventually(lambda: len(smtp.to("econ@")) == 1, timeout=20, message="the good event's mail")
                letters = await runtime.bus.dead_letters(runtime.queue)
                assert [letter.event_id for letter in letters] == [poison.id]
                assert "place_name" in letters[0].reason


# -- the send → record window, a refusing mail server, a receiver's outage -----------------------------------

def database_away() -> UnitOfWork:
    raise ConnectionRefusedError("the database is away")


async def routed_not_sending(rabbitmq, smtp: SmtpStandIn, hooks: WebhookStandIn, **overrides):
    """Notifications consuming and routing, its own delivery worker not started: the test runs
    workers of its own (each one `delivery_worker(runtime)`, as a process would make it)."""
    spec = spec_of("notifications")
    url = await rabbitmq.database_url("notifications")
    await upgrade("notifications", spec.migrations_dir, spec.metadata, url)
    runtime = await rabbitmq.runtime(spec, url, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_starttls=False,
                                     allow_http_loopback=True, api_keys="it-admin:admin", slack_rate_per_second=100,
                                     teams_rate_per_second=100, **overrides)
    await runtime.prepare()
    await runtime.connect()
    await runtime.start_consuming()
    runtime.start_relay()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_service_app(runtime, manage_lifecycle=False)),
                                 base_url="http://notifications") as client:
        await add_recipients(client, hooks)
    await (await rabbitmq.bus()).publish([overlap_event()])
    await eventually(lambda: _is(count(runtime, select(func.count()).select_from(Delivery)), 6),
                     timeout=20, message="six deliveries routed")
    return runtime


async def send_and_lose_the_outcomes(runtime, smtp: SmtpStandIn, hooks: WebhookStandIn) -> None:
    """A worker sends all six, cannot write one outcome (the database away), and dies."""
    crashed = delivery_worker(runtime)
    crashed.uow = database_away
    assert await crashed.run_once() == 6
    assert len(smtp.messages) == 3 and all(len(hooks.accepted(p)) == 1 for p in ("slack/econ", "teams/mayor",
                                                                                 "hook/oia"))
    await crashed.stop()  # what it held in memory is gone with it


def after_the_lease(runtime) -> Callable[[], datetime]:
    lease = runtime.settings.delivery_lease_seconds
    return lambda: utcnow() + timedelta(seconds=lease + 5)


async def test_a_resend_after_a_lost_outcome_carries_the_same_message_id_and_idempotency_key(rabbitmq):
    async with WebhookStandIn() as hooks:
        with SmtpStandIn() as smtp:
            runtime = await routed_not_sending(rabbitmq, smtp, hooks)  # no journal
            await send_and_lose_the_outcomes(runtime, smtp, hooks)

            successor = delivery_worker(runtime)
            successor.clock = after_the_lease(runtime)  # the claims left behind have lapsed
            assert await successor.run_once() == 6  # taken over: sent again …
            await successor.stop()
            ids = {d.id: d for d in (await rows_of(runtime))}
            assert {d.status for d in ids.values()} == {"sent"}
            for address in ("econ@", "mayor-office@", "oia@"):  # … as the same message
                first, again = smtp.to(address)
                assert first["Message-ID"] == again["Message-ID"]
                assert first["Message-ID"].strip("<>").split("@")[0] in ids
            for path in ("slack/econ", "teams/mayor", "hook/oia"):
                first, again = hooks.accepted(path)
                assert first.headers["idempotency-key"] == again.headers["idempotency-key"]
                assert first.headers["idempotency-key"] in ids


async def test_with_the_journal_a_crash_between_send_and_commit_sends_nothing_again(rabbitmq, tmp_path):
    async with WebhookStandIn() as hooks:
        with SmtpStandIn() as smtp:
            runtime = await routed_not_sending(rabbitmq, smtp, hooks, delivery_journal_dir=tmp_path / "journal")
            await send_and_lose_the_outcomes(runtime, smtp, hooks)

            successor = delivery_worker(runtime)
            successor.clock = after_the_lease(runtime)
            assert await successor.run_once() == 0  # the journal replayed before any claim
            await successor.stop()
            assert {(d.status, d.attempts) for d in await rows_of(runtime)} == {("sent", 1)}
            assert await count(runtime, select(func.count()).select_from(DeliveryAttempt)) == 6
            assert len(smtp.messages) == 3 and all(len(hooks.attempts[p]) == 1 for p in (
                "/slack/econ", "/teams/mayor", "/hook/oia"))


async def test_a_mail_server_refusing_with_5xx_makes_the_delivery_dead_at_once(rabbitmq):
    async with WebhookStandIn() as hooks:
        with SmtpStandIn(refuse="550 5.1.1 no such mailbox") as smtp:
            runtime, client = await start_notifications(rabbitmq, smtp)
            async with client:
                await add_recipients(client, hooks)
                await (await rabbitmq.bus()).publish([overlap_event()])
                await eventually(lambda: _is(count(runtime, select(func.count()).select_from(Delivery)), 6),
                                 timeout=20, message="six deliveries routed")
                await eventually(lambda: _all_settled(runtime), timeout=20, message="all deliveries settled")
            mails = [d for d in await rows_of(runtime) if d.channel_kind == "email"]
            assert [(d.status, d.attempts) for d in mails] == [("dead", 1)] * 3
            assert all(d.last_error.startswith("SMTP 550") for d in mails)
            assert len(smtp.refused) == 3 and smtp.messages == []


async def test_a_failing_receivers_breaker_opens_then_lets_one_probe_through(rabbitmq):
    async with WebhookStandIn() as slack:
        with SmtpStandIn() as smtp:
            slack.script("econ", fail_first=3)
            runtime, client = await start_notifications(rabbitmq, smtp, breaker_failures=2,
                                                        breaker_cooldown_seconds=1.5, delivery_poll_seconds=0.1)
            async with client:
                response = await client.post("/notifications/recipients", headers=ADMIN, json={
                    "id": "ECON", "kind": "department", "name": "Economic Development", "department": "ECON",
                    "channels": [{"kind": "slack", "address": slack.url("econ")}]})
                assert response.status_code == 201
                await (await rabbitmq.bus()).publish([overlap_event()])
                await eventually(lambda: len(slack.accepted("econ")) == 1, timeout=30, message="delivered")
                await eventually(lambda: _all_settled(runtime), timeout=20, message="settled")
            tried = slack.attempts["/econ"]
            assert len(tried) == 4  # 500, 500 (the breaker opens), the probe 500 (opens again), the probe 200
            gaps = [b.at - a.at for a, b in zip(tried, tried[1:], strict=False)]
            assert gaps[0] < 1.0 and gaps[1] >= 1.4 and gaps[2] >= 1.4  # retries, then the cool-downs
            [delivery] = await rows_of(runtime)
            assert (delivery.status, delivery.attempts) == ("sent", 4)


async def rows_of(runtime) -> list:
    async with runtime.engine.connect() as connection:
        return list((await connection.execute(select(Delivery))).all())
