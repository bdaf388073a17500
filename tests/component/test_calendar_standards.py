"""The travel and grants feeds read by the standard's own tools: Mozilla's ical.js (Thunderbird's
parser; tests/support/ical_events.mjs) and Python's icalendar — an empty feed is still a calendar,
an unchanged feed reads the same on every fetch (DTSTAMP is the revision time, RFC 5545 §3.8.7.2),
and Brussels deadlines after 2038 fall at the right hour in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import icalendar
from sqlalchemy import update

from services.grants.models import Application
from tests.component.test_grants_api import create_call, start_application, twinning_call
from tests.component.test_travel_overlaps import book, trip
from tests.support.embedded import auth
from tests.support.node_tools import run_script

ECON, COORDINATOR = ("department", "ECON"), ("coordinator", "OIA")


async def fetch(client, host, service: str, who) -> bytes:
    token = await client.post(f"/{service}/calendar/tokens", json={}, headers=auth(host, *who))
    assert token.status_code == 201, token.text
    feed = await client.get(token.json()["url"])
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    return feed.content


def ical_js(tmp_path: Path, *feeds: bytes) -> list[dict]:
    paths = []
    for n, feed in enumerate(feeds):
        (path := tmp_path / f"feed-{n}.ics").write_bytes(feed)
        paths.append(str(path))
    return run_script("ical_events.mjs", *paths)


def stamp(moment: str) -> datetime:
    """An API time as iCalendar says it: UTC, to the second."""
    parsed = datetime.fromisoformat(moment)
    return (parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)).replace(microsecond=0)


async def test_an_empty_feed_is_still_a_calendar(client, host, tmp_path):
    travel, grants = await fetch(client, host, "travel", ECON), await fetch(client, host, "grants", ECON)

    # RFC 5545 §3.4: a calendar holds at least one component; here its time zone, and no event.
    assert [(c["components"], c["events"]) for c in ical_js(tmp_path, travel, grants)] == [
        (["vtimezone"], []), (["vtimezone"], [])]
    for feed in (travel, grants):
        parsed = icalendar.Calendar.from_ical(feed)
        assert [c.name for c in parsed.subcomponents] == ["VTIMEZONE"] and not parsed.errors


async def test_an_unchanged_feed_reads_the_same_on_every_fetch(client, host, tmp_path):
    expo = await book(client, host, ECON, trip("Expo", "Chongqing", "CN", "2027-05-12", "2027-05-15"))
    call = await create_call(client, host, twinning_call(deadlines=["2039-03-31"], opens_at=None))

    for service, who, revised in (("travel", ECON, expo["updated_at"]), ("grants", COORDINATOR, call["updated_at"])):
        first, second = await fetch(client, host, service, who), await fetch(client, host, service, who)
        assert first == second, service
        [event] = icalendar.Calendar.from_ical(first).walk("VEVENT")
        # a published feed's DTSTAMP: when the object last changed (in UTC), as LAST-MODIFIED
        assert event.decoded("dtstamp") == event.decoded("last-modified") == stamp(revised)
        assert event.decoded("dtstamp").utcoffset().total_seconds() == 0

    await client.post(f"/travel/trips/{expo['id']}/cancel", headers=auth(host, *ECON))
    cancelled = (await client.get(f"/travel/trips/{expo['id']}", headers=auth(host, *ECON))).json()
    [event] = icalendar.Calendar.from_ical(await fetch(client, host, "travel", ECON)).walk("VEVENT")
    assert event.decoded("dtstamp") == stamp(cancelled["updated_at"]) and str(event["status"]) == "CANCELLED"


async def test_an_internal_deadline_is_revised_when_its_calls_deadline_moves(client, host):
    call = await create_call(client, host, twinning_call(deadlines=["2039-03-31"], opens_at=None))
    started = await start_application(client, host, call["id"], who=COORDINATOR, lead_department="ECON")
    async with host.runtimes["grants"].engine.begin() as conn:  # the application last changed a day ago
        await conn.execute(update(Application).where(Application.id == started["id"]).values(
            updated_at=datetime.now(UTC) - timedelta(days=1)))
    moved = await client.patch(f"/grants/calls/{call['id']}", json={"deadlines": ["2039-04-07"]},
                               headers=auth(host, *COORDINATOR))
    assert moved.status_code == 200, moved.text

    events = icalendar.Calendar.from_ical(await fetch(client, host, "grants", ECON)).walk("VEVENT")
    internal = next(e for e in events if str(e["uid"]).startswith("application-"))
    assert internal.decoded("dtstamp") == stamp(moved.json()["updated_at"])  # the call changed after the application


async def test_a_trip_and_deadlines_across_the_dst_changes_of_2040(client, host, tmp_path):
    await book(client, host, ECON, trip("Expo", "Chongqing", "CN", "2040-03-20", "2040-04-05"))
    await create_call(client, host, twinning_call(deadlines=["2040-07-02", "2040-12-04"], opens_at=None))

    travel, grants = ical_js(tmp_path, await fetch(client, host, "travel", ECON),
                             await fetch(client, host, "grants", COORDINATOR))

    assert [(e["start"], e["end"]) for e in travel["events"]] == [("2040-03-20", "2040-04-06")]  # all day
    # 17:00 in Brussels: CEST (UTC+2) in July, CET (UTC+1) in December, by the feed's own VTIMEZONE
    assert sorted(e["end"] for e in grants["events"]) == ["2040-07-02T15:00:00Z", "2040-12-04T16:00:00Z"]
    zone = icalendar.Calendar.from_ical(await fetch(client, host, "grants", COORDINATOR)).walk("VTIMEZONE")[0]
    assert zone.to_tz().utcoffset(datetime(2077, 7, 2, 17)).total_seconds() == 7200  # Python reads it so too
