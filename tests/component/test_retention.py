"""Retention on dated data: what is past its period is deleted or anonymised, what is not stays;
a second run finds nothing; each removal is counted once in oia_retention_removed_total and said in
one log line; the council report's numbers survive the travellers' anonymising."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from services.grants.models import Application, StageChange
from services.notifications.models import Delivery, DeliveryAttempt, FeedItem, Notice
from services.travel.models import Traveller
from shared.tables import audit, inbox
from shared.testing import eventually
from tests.component.test_grants_api import create_call, move, start_application, twinning_call
from tests.component.test_notifications_api import add, book_overlap, recipient
from tests.component.test_travel_overlaps import book, trip
from tests.support.embedded import auth

ADMIN, OIA, ECON, CULT = ("admin", None), ("coordinator", "OIA"), ("department", "ECON"), ("department", "CULT")
YEAR = date.today().year + 1


async def retention(client, host, service: str, now: datetime, who=ADMIN) -> dict[str, int]:
    response = await client.post(f"/{service}/admin/retention", json={"now": now.isoformat()},
                                 headers=auth(host, *who))
    assert response.status_code == 200, response.text
    return response.json()["removed"]


async def count(host, service: str, table, *where) -> int:
    async with host.runtimes[service].engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table).where(*where))).scalar_one()


async def removed_metric(client, service: str, data: str) -> float:
    text = (await client.get(f"/{service}/metrics")).text
    line = f'oia_retention_removed_total{{data="{data}",service="{service}"}} '
    found = [row for row in text.splitlines() if row.startswith(line)]
    return float(found[0].removeprefix(line)) if found else 0.0


def day(month: int, dd: int, year: int = YEAR) -> str:
    return date(year, month, dd).isoformat()


async def test_travellers_of_long_ended_trips_are_anonymised_once_and_the_years_numbers_stay(client, host, caplog):
    mayor = {"name": "Henriette Reker", "email": "h.reker@stadt.example", "role": "Mayor", "elected_official": True}
    aide = {"name": "Jonas Berg", "email": "j.berg@stadt.example", "role": "Aide"}
    first = await book(client, host, ECON, trip("Fair", "Chongqing", "CN", day(3, 1), day(3, 4), travellers=[mayor, aide]))
    await book(client, host, ECON, trip("Summit", "Lagos", "NG", day(6, 1), day(6, 3), travellers=[mayor]))
    later = await book(client, host, CULT, trip("Festival", "Lyon", "FR", day(2, 1, YEAR + 2), day(2, 3, YEAR + 2),
                                                  travellers=[{"name": "Ida Roth", "email": "ida@stadt.example"}]))
    summary = (await client.get("/travel/summary", params={"year": YEAR}, headers=auth(host, *OIA))).json()
    assert (summary["travellers"], summary["distinct_travellers"], summary["trips_with_elected_officials"]) == (3, 2, 2)

    # Two years and a month after the first year's trips ended; the later trip ended only 13 months before.
    # (The audit trail is kept longer here: run as of a later date, retention would also prune the
    # entries its own first run wrote today.)
    travel = host.runtimes["travel"]
    travel.settings = travel.settings.model_copy(update={"audit_retention_days": 3650})
    now = datetime(YEAR + 3, 3, 5, tzinfo=UTC)
    counted = await removed_metric(client, "travel", "travellers of ended trips")  # the process's, so far
    with caplog.at_level(logging.INFO):
        assert (await retention(client, host, "travel", now))["travellers of ended trips"] == 3
        assert (await retention(client, host, "travel", now))["travellers of ended trips"] == 0
    assert len([r for r in caplog.records if "past its period" in r.getMessage()]) == 1
    assert await removed_metric(client, "travel", "travellers of ended trips") == counted + 3

    async with host.runtimes["travel"].engine.connect() as conn:
        stored = (await conn.execute(select(Traveller.trip_id, Traveller.name, Traveller.email, Traveller.role,
                                            Traveller.elected_official))).all()
    kept = [t for t in stored if t.trip_id == later["id"]]
    assert [(t.name, t.email) for t in kept] == [("Ida Roth", "ida@stadt.example")]
    gone = [t for t in stored if t.trip_id != later["id"]]
    assert all(t.email is None and t.role is None and t.name.startswith("anonymised ") for t in gone)
    assert "Reker" not in repr(stored) and "Berg" not in repr(stored)
    # The same person on two trips of the year is still one person; the elected office is kept.
    assert len({t.name for t in gone}) == 2 and sum(t.elected_official for t in gone) == 2
    after = (await client.get("/travel/summary", params={"year": YEAR}, headers=auth(host, *OIA))).json()
    assert after == summary
    anonymised = (await client.get("/travel/audit", params={"resource": f"trip/{first['id']}"},
                                   headers=auth(host, *OIA))).json()[0]
    assert anonymised["action"] == "anonymised" and anonymised["changes"] == {"named_travellers": [2, 0]}
    assert anonymised["actor"].startswith("admin (")


async def test_the_delivery_log_the_feed_and_the_inbox_are_deleted_after_their_periods(client, host):
    await add(client, host, recipient("ECON"))
    await book_overlap(client, host)

    async def delivered() -> bool:
        return await count(host, "notifications", Delivery, Delivery.status == "sent") > 0 and \
            await count(host, "notifications", FeedItem) > 0
    await eventually(delivered, message="an alert sent and in the feed")
    log = {table: await count(host, "notifications", table) for table in (Delivery, DeliveryAttempt, Notice, FeedItem)}
    handled = await count(host, "notifications", inbox)
    assert all(log.values()) and handled
    counted = await removed_metric(client, "notifications", "feed items")

    soon = await retention(client, host, "notifications", datetime.now(UTC) + timedelta(days=20))
    assert set(soon.values()) == {0}  # nothing is past any period yet
    year_on = datetime.now(UTC) + timedelta(days=366)
    removed = await retention(client, host, "notifications", year_on)
    assert removed["inbox rows"] == handled
    assert removed["feed items"] == log[FeedItem]
    # Only finished deliveries go, with their attempts and, once nothing refers to them, their events.
    pending = await count(host, "notifications", Delivery, Delivery.status.not_in(["sent", "skipped", "dead"]))
    assert await count(host, "notifications", Delivery) == pending
    assert removed["delivery log"] == (log[Delivery] - pending) + log[DeliveryAttempt] + \
        (log[Notice] - await count(host, "notifications", Notice))
    assert await count(host, "notifications", FeedItem) == 0 and await count(host, "notifications", inbox) == 0
    assert set((await retention(client, host, "notifications", year_on)).values()) == {0}  # said once
    assert await removed_metric(client, "notifications", "feed items") == counted + log[FeedItem]


async def test_audit_entries_are_kept_for_their_period_then_deleted(client, host):
    await book(client, host, ECON, trip("Fair", "Chongqing", "CN", day(3, 1), day(3, 4)))
    entries = await count(host, "travel", audit)  # the booking's, and the demo keys' made by `oia dev`
    assert await count(host, "travel", audit, audit.c.resource_type == "trip") == 1
    assert (await retention(client, host, "travel", datetime.now(UTC) + timedelta(days=700)))["audit entries"] == 0
    assert (await retention(client, host, "travel", datetime.now(UTC) + timedelta(days=731)))["audit entries"] == entries
    assert await count(host, "travel", audit) == 0


@pytest.mark.parametrize("who", [OIA, ECON, ("reader", None)])
async def test_only_admins_run_retention_and_a_refusal_removes_nothing(client, host, who):
    await book(client, host, ECON, trip("Fair", "Chongqing", "CN", day(3, 1), day(3, 4),
                                        travellers=[{"name": "Jonas Berg"}]))
    refused = await client.post("/travel/admin/retention", json={"now": "2199-01-01T00:00:00+00:00"},
                                headers=auth(host, *who))
    assert refused.status_code == 403
    assert await count(host, "travel", Traveller, Traveller.name == "Jonas Berg") == 1
    assert await count(host, "travel", audit, audit.c.resource_type == "trip") == 1


async def test_a_naive_instant_is_refused_naming_the_field(client, host):
    response = await client.post("/travel/admin/retention", json={"now": "2030-01-01T00:00:00"},
                                 headers=auth(host, *ADMIN))
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["now"]


async def test_without_a_body_retention_runs_as_of_now(client, host):
    await book(client, host, ECON, trip("Fair", "Chongqing", "CN", day(3, 1), day(3, 4), travellers=[{"name": "Jonas Berg"}]))
    response = await client.post("/travel/admin/retention", headers=auth(host, *ADMIN))
    assert response.status_code == 200, response.text
    assert response.json()["removed"]["travellers of ended trips"] == 0  # the trip has not even begun
    assert await count(host, "travel", Traveller, Traveller.name == "Jonas Berg") == 1


async def test_owners_of_applications_that_ended_long_ago_are_removed_once_and_the_pipeline_stays(client, host):
    call = await create_call(client, host, twinning_call())
    ended = await start_application(client, host, call["id"], owner={"name": "Clara Neumann",
                                                                     "email": "clara@stadt.example"},
                                    notes="Clara Neumann drafts it")
    assert (await move(client, host, ended["id"], "withdrawn", reason="No partner found")).status_code == 200
    going = await start_application(client, host, call["id"], title="Still preparing")
    assert (await move(client, host, going["id"], "preparing")).status_code == 200
    grants = host.runtimes["grants"]
    grants.settings = grants.settings.model_copy(update={"audit_retention_days": 36500})

    soon = datetime.now(UTC) + timedelta(days=365)  # within the period: nothing
    assert (await retention(client, host, "grants", soon))["owners of ended applications"] == 0
    years_on = datetime.now(UTC) + timedelta(days=1826)
    assert (await retention(client, host, "grants", years_on))["owners of ended applications"] == 1
    assert (await retention(client, host, "grants", years_on))["owners of ended applications"] == 0

    async with grants.engine.connect() as conn:
        stored = {row.id: row for row in (await conn.execute(select(Application))).all()}
        moves = (await conn.execute(select(StageChange.application_id, StageChange.changed_by))).all()
    assert (stored[ended["id"]].owner_name, stored[ended["id"]].owner_email, stored[ended["id"]].notes) == (
        "(anonymised)", "", None)
    assert stored[ended["id"]].stage == "withdrawn" and stored[ended["id"]].requested_amount == 25_000
    assert stored[going["id"]].owner_email == "jana.weber@city.example"  # still being prepared: kept
    assert {who for app, who in moves if app == ended["id"]} == {"department ENV"}
    assert {who for app, who in moves if app == going["id"]} == {"department ENV (demo)"}
    trail = await client.get("/grants/audit", params={"resource": f"application/{ended['id']}"},
                             headers=auth(host, *OIA))
    assert trail.json()[0]["action"] == "anonymised" and trail.json()[0]["actor"].startswith("admin")
    assert trail.json()[0]["changes"]["owner_email"] == ["***", ""]  # masked; now empty
    assert "clara" not in repr(trail.json()).lower()  # neither her name nor the notes that quote her
