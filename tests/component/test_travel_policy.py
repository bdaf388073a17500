"""Travel's authorization, generated from its policy table: every action × role × ownership is tried
through the API with a key of that role, and its effect (or the absence of one) is read back with the
admin key. Then the leaks this table was written against, one test each."""

from __future__ import annotations

import pytest

from services.travel.policy import POLICY
from shared.auth import Principal
from shared.policy import ANY
from tests.support.embedded import auth
from tests.support.policy_cases import KEYS, MINE, THEIRS, cases, check_probes, owner, suggests_places

THIRD = "MAYOR"  # the other party of an overlap or crossing, neither MINE nor THEIRS
PLACE = {"city": "Katowice", "country": "PL"}
DATES = {"start_date": "2031-06-02", "end_date": "2031-06-05"}
SECRET_TITLE, SECRET_TRAVELLER = "Confidential talks", "Quiet Envoy"


def key(role: str) -> dict:
    return {"Authorization": f"Bearer {KEYS[role]}"}


def admin(host) -> dict:
    return auth(host, "admin")


def trip_body(department: str, **extra) -> dict:
    return {"title": f"{department} trip", "department": department, "legs": [{**PLACE, **DATES}], **extra}


def delegation_body(host_department: str, **extra) -> dict:
    return {"origin_city": PLACE["city"], "origin_country": PLACE["country"], "host_department": host_department,
            "visitors": 5, "arrival": DATES["start_date"], "departure": DATES["end_date"], **extra}


async def created(response) -> dict:
    assert response.status_code == 201, response.text
    return response.json()


async def book(client, host, department: str, **extra) -> dict:
    return await created(await client.post("/travel/trips", json=trip_body(department, **extra), headers=admin(host)))


async def announce(client, host, department: str, **extra) -> dict:
    return await created(await client.post("/travel/delegations", json=delegation_body(department, **extra),
                                           headers=admin(host)))


async def listed(client, path: str, headers: dict, **params) -> list[dict]:
    response = await client.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def as_admin(client, host, path: str) -> dict:
    response = await client.get(path, headers=admin(host))
    assert response.status_code == 200, response.text
    return response.json()


def went_through(response, refusal: int = 403) -> bool:
    """True when the action was done; False, after checking the refusal is the one expected."""
    if response.status_code < 300:
        return True
    assert response.status_code == refusal, response.text
    return False


def written(response, seen, *, done, untouched) -> bool:
    """Whether a write went through, having checked what the admin reads back: its effect if it did,
    the record untouched if it was refused."""
    if went_through(response):
        assert seen == done
        return True
    assert seen == untouched
    return False


# -- trips -------------------------------------------------------------------------------------------

async def probe_trip_book(client, host, role, whose):
    response = await client.post("/travel/trips", json=trip_body(owner(whose)), headers=key(role))
    stored = await listed(client, "/travel/trips", admin(host))
    if went_through(response):
        assert [t["id"] for t in stored] == [response.json()["id"]] and stored[0]["department"] == owner(whose)
        return True
    assert stored == []
    return False


async def probe_trip_check(client, host, role, whose):
    """Checking tells the overlap booking would make, and stores nothing either way."""
    other = await book(client, host, THIRD)
    response = await client.post("/travel/trips/check", json=trip_body(owner(whose)), headers=key(role))
    assert [t["id"] for t in await listed(client, "/travel/trips", admin(host))] == [other["id"]]
    assert await listed(client, "/travel/overlaps", admin(host)) == []
    if went_through(response):
        assert [o["trip_id"] for o in response.json()["overlaps"]] == [other["id"]]
        return True
    return False


async def probe_trip_read(client, host, role, whose):
    trip = await book(client, host, owner(whose), title="Plain trip")
    return await _reads_trip(client, role, trip)


async def _reads_trip(client, role, trip) -> bool:
    """Whether `role` reads the trip, alone and in the list, and the two agree."""
    one = await client.get(f"/travel/trips/{trip['id']}", headers=key(role))
    in_list = [t["id"] for t in await listed(client, "/travel/trips", key(role))]
    if one.status_code == 200:
        assert trip["id"] in in_list
        return True
    assert one.status_code == 404 and trip["title"] not in one.text
    assert trip["id"] not in in_list
    return False


async def probe_trip_read_restricted(client, host, role, whose):
    """A restricted trip, in an overlap and a crossing: every surface shows it, or none does."""
    secret = await book(client, host, owner(whose), title=SECRET_TITLE, visibility="restricted",
                        travellers=[{"name": SECRET_TRAVELLER}])
    await book(client, host, THIRD, title="Open trip")
    await announce(client, host, THIRD)
    [overlap] = await listed(client, "/travel/overlaps", admin(host))
    [crossing] = [c for c in await listed(client, "/travel/crossings", admin(host)) if c["trip_id"] == secret["id"]]

    overlaps = await client.get("/travel/overlaps", headers=key(role))
    crossings = await client.get("/travel/crossings", headers=key(role))
    summary = await client.get("/travel/summary", params={"year": 2031}, headers=key(role))
    seen = {
        "trip": await _reads_trip(client, role, secret),
        "overlaps": overlap["id"] in [o["id"] for o in overlaps.json()],
        "crossings": crossing["id"] in [c["id"] for c in crossings.json()],
        "summary": summary.json()["trips"] == 2,  # the open trip, and the restricted one if readable
    }
    assert len(set(seen.values())) == 1, seen
    if not seen["trip"]:
        assert summary.json()["trips"] == 1
        for body in (overlaps.text, crossings.text, summary.text):
            assert secret["id"] not in body and SECRET_TITLE not in body and SECRET_TRAVELLER not in body
    return seen["trip"]


async def probe_trip_read_busy(client, host, role, whose):
    """Whether `role` may ask who is away on restricted trips; what it is told is only what it could not
    read otherwise (another department's trip), and then only the department and dates."""
    secret = await book(client, host, owner(whose), title=SECRET_TITLE, visibility="restricted",
                        travellers=[{"name": SECRET_TRAVELLER}])
    response = await client.get("/travel/busy", params={"from": "2031-06-01", "to": "2031-06-30"}, headers=key(role))
    if not went_through(response):
        assert SECRET_TITLE not in response.text
        return False
    reads_it = await _reads_trip(client, role, secret)
    told = response.json()
    assert told == ([] if reads_it else [{"department": owner(whose), "start_date": DATES["start_date"],
                                          "end_date": DATES["end_date"]}])
    for secret_part in (SECRET_TITLE, SECRET_TRAVELLER, PLACE["city"], secret["id"]):
        assert secret_part not in response.text
    return True


async def probe_trip_change(client, host, role, whose):
    trip = await book(client, host, owner(whose), title="Before")
    response = await client.patch(f"/travel/trips/{trip['id']}", json={"title": "After"}, headers=key(role))
    title = (await as_admin(client, host, f"/travel/trips/{trip['id']}"))["title"]
    return written(response, title, done="After", untouched="Before")


async def probe_trip_cancel(client, host, role, whose):
    trip = await book(client, host, owner(whose))
    response = await client.post(f"/travel/trips/{trip['id']}/cancel", headers=key(role))
    status = (await as_admin(client, host, f"/travel/trips/{trip['id']}"))["status"]
    return written(response, status, done="cancelled", untouched="planned")


# -- delegations and crossings -------------------------------------------------------------------------

async def probe_delegation_announce(client, host, role, whose):
    response = await client.post("/travel/delegations", json=delegation_body(owner(whose)), headers=key(role))
    stored = await listed(client, "/travel/delegations", admin(host))
    if went_through(response):
        assert [d["host_department"] for d in stored] == [owner(whose)]
        return True
    assert stored == []
    return False


async def probe_delegation_read(client, host, role, whose):
    delegation = await announce(client, host, owner(whose))
    one = await client.get(f"/travel/delegations/{delegation['id']}", headers=key(role))
    in_list = delegation["id"] in [d["id"] for d in await listed(client, "/travel/delegations", key(role))]
    assert (one.status_code == 200) == in_list and one.status_code in (200, 404)
    return in_list


async def probe_delegation_change(client, host, role, whose):
    delegation = await announce(client, host, owner(whose))
    response = await client.patch(f"/travel/delegations/{delegation['id']}", json={"visitors": 9}, headers=key(role))
    visitors = (await as_admin(client, host, f"/travel/delegations/{delegation['id']}"))["visitors"]
    return written(response, visitors, done=9, untouched=5)


async def probe_delegation_cancel(client, host, role, whose):
    delegation = await announce(client, host, owner(whose))
    response = await client.post(f"/travel/delegations/{delegation['id']}/cancel", headers=key(role))
    status = (await as_admin(client, host, f"/travel/delegations/{delegation['id']}"))["status"]
    return written(response, status, done="cancelled", untouched="announced")


async def probe_crossing_read(client, host, role, whose):
    await announce(client, host, THIRD)
    trip = await book(client, host, owner(whose))
    [crossing] = await listed(client, "/travel/crossings", admin(host))
    assert crossing["trip_id"] == trip["id"]
    return crossing["id"] in [c["id"] for c in await listed(client, "/travel/crossings", key(role))]


# -- overlaps ----------------------------------------------------------------------------------------

async def _overlap(client, host, whose) -> dict:
    """An overlap between a trip of `whose` and one of a third department."""
    await book(client, host, owner(whose))
    await book(client, host, THIRD)
    [overlap] = await listed(client, "/travel/overlaps", admin(host))
    return overlap


async def probe_overlap_read(client, host, role, whose):
    overlap = await _overlap(client, host, whose)
    return overlap["id"] in [o["id"] for o in await listed(client, "/travel/overlaps", key(role))]


async def probe_overlap_mark(client, host, role, whose):
    overlap = await _overlap(client, host, whose)
    visible = overlap["id"] in [o["id"] for o in await listed(client, "/travel/overlaps", key(role))]
    response = await client.post(f"/travel/overlaps/{overlap['id']}/status", json={"status": "coordinated"},
                                 headers=key(role))
    [after] = await listed(client, "/travel/overlaps", admin(host))
    if went_through(response, 403 if visible else 404):  # one it may not see is not there for it
        assert after["status"] == "coordinated"
        return True
    assert after["status"] == "open"
    return False


# -- reporting and calendar feeds ------------------------------------------------------------------

async def probe_summary_read(client, host, role, whose):
    await book(client, host, owner(whose))
    response = await client.get("/travel/summary", params={"year": 2031}, headers=key(role))
    if went_through(response):
        assert response.json()["departments"] == {owner(whose): 1}
        return True
    return False


async def _tokens(client, host) -> list[dict]:
    return await listed(client, "/travel/calendar/tokens", admin(host))


async def _subscribes_and_revokes(client, host, role, department: str | None) -> bool:
    """Whether `role` makes, sees and revokes a feed of `department` (None: the whole city); all must agree."""
    before = {t["id"] for t in await _tokens(client, host)}
    response = await client.post("/travel/calendar/tokens", json={"department": department}, headers=key(role))
    made = [t for t in await _tokens(client, host) if t["department"] == department and t["id"] not in before]
    # A department key asking for no department is given its own feed, which is not the city's.
    subscribed = went_through(response) and response.json()["department"] == department
    if subscribed:
        assert [t["id"] for t in made] == [response.json()["id"]]
        assert (await client.get(response.json()["url"])).status_code == 200
    else:
        assert made == []

    theirs = await created(await client.post("/travel/calendar/tokens", json={"department": department},
                                             headers=admin(host)))
    shown = await listed(client, "/travel/calendar/tokens", key(role))
    assert all("url" not in t for t in shown)  # the secret address is shown once, when made
    assert (theirs["id"] in [t["id"] for t in shown]) == subscribed
    response = await client.delete(f"/travel/calendar/tokens/{theirs['id']}", headers=key(role))
    [after] = [t for t in await _tokens(client, host) if t["id"] == theirs["id"]]
    if went_through(response, refusal=404):  # a token one may not manage is not there for one
        assert after["revoked_at"] is not None and (await client.get(theirs["url"])).status_code == 404
        revoked = True
    else:
        assert after["revoked_at"] is None and (await client.get(theirs["url"])).status_code == 200
        revoked = False
    assert subscribed == revoked
    return subscribed


async def probe_calendar_subscribe(client, host, role, whose):
    """A department's feed as the table says; the whole city's only for those who reach every record."""
    city = await _subscribes_and_revokes(client, host, role, None)
    assert city == (POLICY.reach(Principal(role, MINE, "probe"), "calendar.subscribe") is ANY)
    return await _subscribes_and_revokes(client, host, role, owner(whose))


async def probe_place_read(client, host, role, whose):
    return await suggests_places(client, "travel", KEYS[role])


PROBES = {
    "trip.book": probe_trip_book,
    "trip.check": probe_trip_check,
    "trip.read": probe_trip_read,
    "trip.read_restricted": probe_trip_read_restricted,
    "trip.read_busy": probe_trip_read_busy,
    "trip.change": probe_trip_change,
    "trip.cancel": probe_trip_cancel,
    "delegation.announce": probe_delegation_announce,
    "delegation.read": probe_delegation_read,
    "delegation.change": probe_delegation_change,
    "delegation.cancel": probe_delegation_cancel,
    "overlap.read": probe_overlap_read,
    "overlap.mark": probe_overlap_mark,
    "crossing.read": probe_crossing_read,
    "summary.read": probe_summary_read,
    "calendar.subscribe": probe_calendar_subscribe,
    "place.read": probe_place_read,
}


def test_every_action_has_a_probe():
    check_probes(POLICY, PROBES)


@pytest.mark.parametrize("action,role,whose,allowed", list(cases(POLICY)))
async def test_the_policy_holds(client, host, action, role, whose, allowed):
    assert await PROBES[action](client, host, role, whose) is allowed


# -- the leaks the table was written against ---------------------------------------------------------

RESTRICTED = {"title": SECRET_TITLE, "visibility": "restricted", "travellers": [{"name": SECRET_TRAVELLER}],
              "legs": [{"city": "Kyiv", "country": "UA", "start_date": "2031-04-01", "end_date": "2031-04-03"}]}
# What a restricted trip must not show to those who may not read it: its title, place, dates and travellers.
SECRETS = (SECRET_TITLE, SECRET_TRAVELLER, "Kyiv", "2031-04-01", "2031-04-03")


def assert_nothing_of(secret: dict, body: str) -> None:
    for value in (secret["id"], *SECRETS):
        assert value not in body, f"{value!r} leaked: {body}"


async def test_readers_and_other_departments_do_not_list_a_restricted_trip(client, host):
    secret = await created(await client.post("/travel/trips", json={**RESTRICTED, "department": THIRD},
                                             headers=admin(host)))
    for who in (key("reader"), auth(host, "reader"), auth(host, "department", THEIRS)):
        for params in ({}, {"country": "UA"}, {"city": "Kyiv"}, {"department": THIRD}):
            response = await client.get("/travel/trips", params=params, headers=who)
            assert response.status_code == 200 and response.json() == [], response.text
            assert_nothing_of(secret, response.text)
        assert (await client.get(f"/travel/trips/{secret['id']}", headers=who)).status_code == 404
    for who in (auth(host, "coordinator", "OIA"), auth(host, "department", THIRD)):
        assert [t["id"] for t in await listed(client, "/travel/trips", who)] == [secret["id"]]


async def test_crossings_do_not_show_a_restricted_trip_to_the_hosts_or_anyone_who_may_not_read_it(client, host):
    visit = await created(await client.post("/travel/delegations", headers=admin(host), json={
        "origin_city": "Kyiv", "origin_country": "UA", "host_department": THEIRS, "visitors": 4,
        "arrival": "2031-03-30", "departure": "2031-04-02"}))
    secret = await created(await client.post("/travel/trips", json={**RESTRICTED, "department": THIRD},
                                             headers=admin(host)))
    for who in (key("department"), auth(host, "department", THEIRS), key("reader"), auth(host, "reader")):
        response = await client.get("/travel/crossings", headers=who)
        assert response.status_code == 200 and response.json() == [], response.text
        assert_nothing_of(secret, response.text)
    for who in (auth(host, "coordinator", "OIA"), auth(host, "department", THIRD)):
        [crossing] = await listed(client, "/travel/crossings", who)
        assert (crossing["trip_id"], crossing["delegation_id"]) == (secret["id"], visit["id"])


async def test_a_restricted_overlap_reaches_the_coordinators_and_the_restricted_trips_department_only(client, host):
    secret = await created(await client.post("/travel/trips", json={**RESTRICTED, "department": THIRD},
                                             headers=admin(host)))
    await created(await client.post("/travel/trips", headers=admin(host), json={
        **RESTRICTED, "department": THEIRS, "title": "Reconstruction conference", "visibility": "normal",
        "travellers": []}))
    for who in (key("reader"), auth(host, "reader"), auth(host, "department", THEIRS), key("department")):
        response = await client.get("/travel/overlaps", headers=who)
        assert response.status_code == 200 and response.json() == [], response.text
        assert secret["id"] not in response.text and "Kyiv" not in response.text
    for who in (auth(host, "coordinator", "OIA"), auth(host, "department", THIRD)):
        [overlap] = await listed(client, "/travel/overlaps", who)
        assert secret["id"] in overlap["trip_ids"] and overlap["restricted"] is True
    refused = await client.post(f"/travel/overlaps/{overlap['id']}/status", json={"status": "coordinated"},
                                headers=auth(host, "department", THEIRS))
    assert refused.status_code == 404  # it is not there for them
    assert "Kyiv" not in refused.text


async def test_the_summary_does_not_count_a_restricted_trip_for_those_who_may_not_read_it(client, host):
    await created(await client.post("/travel/trips", json={**RESTRICTED, "department": THIRD}, headers=admin(host)))
    for who in (key("reader"), auth(host, "department", THEIRS)):
        response = await client.get("/travel/summary", params={"year": 2031}, headers=who)
        assert response.status_code == 200, response.text
        s = response.json()
        assert (s["trips"], s["travellers"], s["destinations_by_country"], s["departments"]) == (0, 0, {}, {})
    full = (await client.get("/travel/summary", params={"year": 2031}, headers=auth(host, "coordinator", "OIA"))).json()
    assert (full["trips"], full["destinations_by_country"], full["departments"]) == (1, {"UA": 1}, {THIRD: 1})


async def test_feeds_show_a_restricted_trip_whole_to_its_department_busy_to_the_city_and_not_to_others(client, host):
    await created(await client.post("/travel/trips", json={**RESTRICTED, "department": THIRD}, headers=admin(host)))

    async def feed(department: str | None) -> str:
        token = await created(await client.post("/travel/calendar/tokens", json={"department": department},
                                                headers=admin(host)))
        response = await client.get(token["url"])
        assert response.status_code == 200
        return response.text

    own, city, other = await feed(THIRD), await feed(None), await feed(THEIRS)
    assert SECRET_TITLE in own and SECRET_TRAVELLER in own
    assert "restricted trip" in city and "Kyiv" in city  # busy there, for the coordinators
    assert SECRET_TITLE not in city and SECRET_TRAVELLER not in city
    assert "VEVENT" not in other and "Kyiv" not in other and SECRET_TITLE not in other
