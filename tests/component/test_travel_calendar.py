"""Calendar feeds behind revocable secret URLs, read the way a calendar app reads them."""

from __future__ import annotations

import icalendar

from tests.component.test_travel_delegations import announce
from tests.component.test_travel_overlaps import book, trip
from tests.support.embedded import auth

ECON, CULT = ("department", "ECON"), ("department", "CULT")


async def subscribe(client, host, who, **body) -> dict:
    response = await client.post("/travel/calendar/tokens", json=body, headers=auth(host, *who))
    assert response.status_code == 201, response.text
    return response.json()


def events(ics: bytes) -> dict[str, icalendar.Event]:
    calendar = icalendar.Calendar.from_ical(ics)
    return {str(e["summary"]): e for e in calendar.walk("VEVENT")}


async def test_a_department_feed_shows_its_trips_as_all_day_events(client, host):
    fair = await book(client, host, ECON, {**trip("Expo", "Chongqing", "CN", "2027-05-12", "2027-05-15"),
                                           "travellers": [{"name": "Anna Weber"}], "status": "booked"})
    await book(client, host, CULT, trip("Festival", "Kraków", "PL", "2027-06-01", "2027-06-03"))
    feed = await subscribe(client, host, ECON, label="ECON team calendar")
    assert feed["department"] == "ECON" and feed["url"].endswith(".ics")
    assert feed["url"].startswith(f"{client.base_url}/travel/calendar/")  # absolute, for a calendar app

    response = await client.get(feed["url"])  # no API key: calendar apps cannot send one
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    found = events(response.content)
    assert list(found) == ["ECON: Expo — Chongqing"]
    event = found["ECON: Expo — Chongqing"]
    assert event.decoded("dtstart").isoformat() == "2027-05-12"
    assert event.decoded("dtend").isoformat() == "2027-05-16"  # exclusive end of an all-day event
    assert str(event["status"]) == "CONFIRMED"
    assert "Anna Weber" in str(event["description"])
    assert str(event["uid"]) == f"trip-{fair['id']}-leg-0@diplomacity"


async def test_the_city_feed_is_for_coordinators_and_hides_restricted_details(client, host):
    await book(client, host, ECON, trip("Secret talks", "Kyiv", "UA", "2027-04-01", "2027-04-02", visibility="restricted"))
    await announce(client, host)
    own_by_default = await client.post("/travel/calendar/tokens", json={}, headers=auth(host, *ECON))
    assert own_by_default.json()["department"] == "ECON"  # a department key never gets the city's feed
    other = await client.post("/travel/calendar/tokens", json={"department": "CULT"}, headers=auth(host, *ECON))
    assert other.status_code == 403

    city = await subscribe(client, host, ("coordinator", "OIA"))
    found = events((await client.get(city["url"])).content)
    assert "ECON: restricted trip — Kyiv" in found
    assert not any("Secret" in summary for summary in found)
    assert any(summary.startswith("Delegation from Katowice (12 visitors, guests of the city)") for summary in found)
    own = events((await client.get((await subscribe(client, host, ECON))["url"])).content)
    assert "ECON: Secret talks — Kyiv" in own  # its own department sees it whole


async def test_a_revoked_or_made_up_url_shows_nothing(client, host):
    await book(client, host, ECON, trip("Expo", "Chongqing", "CN", "2027-05-12", "2027-05-15"))
    feed = await subscribe(client, host, ECON)
    assert (await client.get(feed["url"])).status_code == 200
    tokens = (await client.get("/travel/calendar/tokens", headers=auth(host, *ECON))).json()
    assert [t["id"] for t in tokens] == [feed["id"]] and "url" not in tokens[0]

    # another department's address is not there for CULT to revoke
    assert (await client.delete(f"/travel/calendar/tokens/{feed['id']}", headers=auth(host, *CULT))).status_code == 404
    assert (await client.delete(f"/travel/calendar/tokens/{feed['id']}", headers=auth(host, *ECON))).status_code == 204
    assert (await client.get(feed["url"])).status_code == 404
    assert (await client.get("/travel/calendar/not-a-token.ics")).status_code == 404


async def test_a_cancelled_trip_stays_in_the_feed_as_cancelled(client, host):
    expo = await book(client, host, ECON, trip("Expo", "Chongqing", "CN", "2027-05-12", "2027-05-15"))
    await client.post(f"/travel/trips/{expo['id']}/cancel", headers=auth(host, *ECON))
    feed = await subscribe(client, host, ECON)
    [event] = events((await client.get(feed["url"])).content).values()
    assert str(event["status"]) == "CANCELLED"
