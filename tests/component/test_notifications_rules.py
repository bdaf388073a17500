"""Notification rules: default routing, what cannot wait, quiet hours, digests, back-off."""

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.notifications import domain
from services.notifications.directory import Snapshot
from services.notifications.events import (
    ApplicationStageChanged,
    CallPublished,
    CallUpdated,
    CrossingDetected,
    DeadlineApproaching,
    OverlapDetected,
    OverlapResolved,
    TripBooked,
)
from services.notifications.service.routing import recipients_of

UTC = UTC


def _trip(department: str, visibility: str = "normal") -> dict:
    return {"trip_id": f"t-{department}", "department": department, "title": "Visit", "purpose": "other",
            "visibility": visibility, "travellers": [],
            "leg": {"city": "Köln", "country": "DE", "start_date": "2027-09-01", "end_date": "2027-09-03"}}


def _overlap(*departments: str, restricted: bool = False, start: str = "2027-09-01") -> OverlapDetected:
    return OverlapDetected.model_validate({
        "overlap_id": "o-1", "place_name": "Köln", "country": "DE", "distance_km": 0.0, "shared_start": start,
        "shared_end": "2027-09-03", "restricted": restricted, "trips": [_trip(d) for d in departments],
        "detected_at": "2027-03-01T09:00:00Z"})


def _delegation(host: str) -> dict:
    return {"delegation_id": "d-1", "host_department": host, "origin_city": "Katowice", "origin_country": "PL",
            "origin_place_name": "Katowice", "organisation": None, "visitors": 5, "arrival": "2027-09-01",
            "departure": "2027-09-04", "official_guest": True}


def test_an_overlap_goes_to_both_departments_and_the_coordinators():
    assert domain.audiences(_overlap("ECON", "MAYOR")) == [
        domain.Audience("ECON"), domain.Audience("MAYOR"), domain.Audience("OIA")]


def test_a_restricted_overlap_goes_to_the_coordinators_only():
    assert domain.audiences(_overlap("ECON", "POLICE", restricted=True)) == [domain.Audience("OIA")]
    resolved = OverlapResolved(overlap_id="o-1", trip_ids=["a", "b"], departments=["ECON", "POLICE"],
                               reason="cancelled", restricted=True, resolved_at=datetime(2027, 3, 2, tzinfo=UTC))
    assert domain.audiences(resolved) == [domain.Audience("OIA")]


def test_a_resolution_goes_where_the_detection_went():
    resolved = OverlapResolved(overlap_id="o-1", trip_ids=["a", "b"], departments=["CULT", "ECON"],
                               reason="changed", restricted=False, resolved_at=datetime(2027, 3, 2, tzinfo=UTC))
    assert [a.department for a in domain.audiences(resolved)] == ["CULT", "ECON", "OIA"]
    assert domain.topic_of(resolved) == domain.topic_of(_overlap("CULT", "ECON")) == "overlap/o-1"


def test_a_crossing_goes_to_the_traveller_and_the_host():
    crossing = CrossingDetected.model_validate({
        "crossing_id": "c-1", "place_name": "Katowice", "shared_start": "2027-09-01", "shared_end": "2027-09-03",
        "trip": _trip("ECON"), "delegation": _delegation("CULT"), "detected_at": "2027-03-01T09:00:00Z"})
    assert [a.department for a in domain.audiences(crossing)] == ["ECON", "CULT", "OIA"]
    secret = crossing.model_copy(update={"trip": crossing.trip.model_copy(update={"visibility": "restricted"})})
    assert [a.department for a in domain.audiences(secret)] == ["OIA"]  # the trip's details: coordinators only


def test_a_booked_trip_is_news_for_the_coordinators_feed_not_an_alert():
    booked = TripBooked.model_validate({"trip_id": "t", "department": "ECON", "title": "Fair", "legs": [
        {"city": "Köln", "country": "DE", "start_date": "2027-09-01", "end_date": "2027-09-03"}],
        "booked_at": "2027-03-01T09:00:00Z"})
    assert domain.audiences(booked) == [domain.Audience("OIA", channels=False)]
    assert domain.facets(booked) == ({"ECON"}, {"DE"})


def test_a_clash_starting_within_two_days_is_critical():
    now = datetime(2027, 8, 30, 12, 0, tzinfo=UTC)
    assert domain.is_critical(_overlap("ECON", "CULT", start="2027-09-01"), now)
    assert not domain.is_critical(_overlap("ECON", "CULT", start="2027-09-02"), now)


# -- EU funding (grants.* events) ------------------------------------------------------------------

OIA = domain.COORDINATORS
JANA = domain.Audience(email="jana.weber@city.example", name="Jana Weber")


def _call(**changes) -> dict:
    return {"call_id": "c-1", "identifier": "CERV-2027-CITIZENS-TOWN-TT", "programme": "cerv",
            "title": "Town-Twinning", "url": None, "deadlines": [{"stage": 1, "at": "2027-09-16T15:00:00Z"}],
            **changes}


def _application(lead: str = "ENV", email: str | None = "Jana.Weber@City.example", **changes) -> dict:
    return {"application_id": "a-1", "title": "Twinning for climate action", "lead_department": lead,
            "owner": {"name": "Jana Weber", "email": email}, "call": _call(), **changes}


def _affected(application_id: str, lead: str, email: str, name: str = "Jana Weber") -> dict:
    return {"application_id": application_id, "title": f"Application {application_id}", "lead_department": lead,
            "owner": {"name": name, "email": email}, "stage": "drafting"}


def _stage_changed(to_stage: str, lead: str = "ENV", **changes) -> ApplicationStageChanged:
    return ApplicationStageChanged.model_validate({
        **_application(lead, **changes), "from_stage": "submitted", "to_stage": to_stage, "reason": None,
        "requested_amount": 30_000, "awarded_amount": None, "changed_by": "OIA", "changed_at": "2027-11-20T10:00:00Z"})


def _deadline(critical: bool = False, lead: str = "ENV", **changes) -> DeadlineApproaching:
    return DeadlineApproaching.model_validate({
        **_application(lead, **changes), "kind": "call", "stage": 1, "deadline": "2027-09-16T17:00:00+02:00",
        "days_ahead": 1 if critical else 7, "internal_buffer_days": 5, "application_stage": "drafting",
        "critical": critical, "as_of": "2027-09-15T17:05:00+02:00"})


def _updated(*applications: dict) -> CallUpdated:
    return CallUpdated.model_validate({
        **_call(), "version": 2, "status": "open",
        "changes": [{"field": "deadlines", "before": "1: 2027-09-16T17:00:00+02:00",
                     "after": "1: 2027-09-23T17:00:00+02:00"}],
        "applications": list(applications), "updated_at": "2027-05-02T08:00:00Z"})


def _distinct_recipients(audiences: list[domain.Audience]) -> bool:
    keys = [(a.department, a.email) for a in audiences]
    return len(keys) == len(set(keys))


def test_a_published_call_goes_to_the_eu_funding_team_with_the_coordinators():
    published = CallPublished.model_validate({**_call(), "status": "forthcoming", "budget": 4_000_000,
                                              "matched_themes": ["citizens"], "published_at": "2027-02-01T09:00:00Z"})
    assert domain.audiences(published) == [domain.Audience(OIA)]
    assert domain.topic_of(published) == "call/c-1"
    assert domain.facets(published) == (set(), set())
    assert not domain.is_critical(published, datetime(2027, 9, 16, tzinfo=UTC))


def test_a_changed_call_goes_to_the_coordinators_and_each_owner_once():
    updated = _updated(_affected("a-1", "ENV", "Jana.Weber@city.example"),
                       _affected("a-2", "CULT", "jana.weber@CITY.example"),  # the same owner
                       _affected("a-3", "ENV", "piotr@city.example", "Piotr Nowak"))

    assert domain.audiences(updated) == [
        domain.Audience(OIA), JANA, domain.Audience("ENV", channels=False), domain.Audience("CULT", channels=False),
        domain.Audience(email="piotr@city.example", name="Piotr Nowak")]
    assert domain.topic_of(updated) == "call/c-1"
    assert domain.facets(updated) == ({"ENV", "CULT"}, set())
    assert domain.audiences(_updated()) == [domain.Audience(OIA)]


def test_a_changed_call_led_by_the_oia_names_the_coordinators_once_on_their_channels():
    audiences = domain.audiences(_updated(_affected("a-1", OIA, "jana.weber@city.example")))

    assert audiences == [domain.Audience(OIA), JANA]
    assert _distinct_recipients(audiences)


@pytest.mark.parametrize("to_stage, coordinators_hear", [
    ("awarded", True), ("rejected", True), ("invited", True), ("submitted", False), ("drafting", False),
    ("withdrawn", False)])
def test_a_stage_change_goes_to_the_owner_and_outcomes_to_the_coordinators(to_stage, coordinators_hear):
    changed = _stage_changed(to_stage)

    assert domain.audiences(changed) == [JANA, domain.Audience("ENV", channels=False),
                                         domain.Audience(OIA, channels=coordinators_hear)]
    assert domain.topic_of(changed) == "application/a-1"
    assert domain.facets(changed) == ({"ENV"}, set())
    assert not domain.is_critical(changed, datetime(2027, 11, 20, tzinfo=UTC))


@pytest.mark.parametrize("to_stage, channels", [("awarded", True), ("drafting", False)])
def test_a_stage_change_led_by_the_oia_names_it_once(to_stage, channels):
    audiences = domain.audiences(_stage_changed(to_stage, lead=OIA))

    assert audiences == [JANA, domain.Audience(OIA, channels=channels)]
    assert _distinct_recipients(audiences)


def test_without_an_owners_email_the_lead_department_hears_on_its_channels():
    assert domain.audiences(_stage_changed("drafting", email=None)) == [
        domain.Audience("ENV"), domain.Audience(OIA, channels=False)]
    assert domain.audiences(_deadline(email=None)) == [domain.Audience("ENV"), domain.Audience(OIA, channels=False)]


def test_a_deadline_reminder_goes_to_the_owner_and_the_coordinators_feed():
    reminder = _deadline()

    assert domain.audiences(reminder) == [JANA, domain.Audience("ENV", channels=False),
                                          domain.Audience(OIA, channels=False)]
    assert domain.topic_of(reminder) == "application/a-1"
    assert domain.facets(reminder) == ({"ENV"}, set())
    assert not domain.is_critical(reminder, datetime(2027, 9, 9, tzinfo=UTC))


def test_the_last_reminder_is_critical_and_reaches_the_coordinators_channels():
    reminder = _deadline(critical=True)

    assert domain.audiences(reminder) == [JANA, domain.Audience("ENV", channels=False), domain.Audience(OIA)]
    # grants says which reminder is the last; how near the deadline is does not matter here
    assert domain.is_critical(reminder, datetime(2027, 1, 1, tzinfo=UTC))
    assert domain.audiences(_deadline(critical=True, lead=OIA)) == [JANA, domain.Audience(OIA)]


def test_an_owner_nobody_set_up_is_registered_as_a_person_and_reached_by_email():
    routes = recipients_of(Snapshot(), _deadline(critical=True, lead=OIA), "grants.deadline.approaching.v1")

    person, coordinators = routes
    assert (person.recipient.kind, person.recipient.name, person.channels) == ("person", "Jana Weber", True)
    assert person.registered.kind == "email" and person.registered.address == "jana.weber@city.example"
    assert (coordinators.recipient.id, coordinators.recipient.kind, coordinators.channels) == (
        OIA, "coordinators", True)


@pytest.mark.parametrize("local, expected", [
    ("2027-01-10 21:59", None),                       # before the window
    ("2027-01-10 22:00", "2027-01-11 07:00"),         # the window crosses midnight
    ("2027-01-11 03:30", "2027-01-11 07:00"),
    ("2027-01-11 07:00", None),                       # the end is outside
])
def test_quiet_hours_across_midnight_in_the_recipients_time(local, expected):
    from zoneinfo import ZoneInfo
    berlin = ZoneInfo("Europe/Berlin")
    now = datetime.fromisoformat(local).replace(tzinfo=berlin)
    got = domain.quiet_until(now.astimezone(UTC), "Europe/Berlin", time(22), time(7))
    assert got == (None if expected is None else datetime.fromisoformat(expected).replace(tzinfo=berlin))


def test_quiet_hours_within_one_day_and_none():
    now = datetime(2027, 6, 1, 12, 30, tzinfo=UTC)  # 14:30 in Berlin (summer time)
    assert domain.quiet_until(now, "Europe/Berlin", time(14), time(15)) == datetime(2027, 6, 1, 13, 0, tzinfo=UTC)
    assert domain.quiet_until(now, "Europe/Berlin", None, None) is None
    assert domain.quiet_until(now, "America/New_York", time(14), time(15)) is None  # 08:30 there


def test_the_digest_goes_at_the_next_local_morning():
    assert domain.next_digest(datetime(2027, 1, 10, 6, 0, tzinfo=UTC), "Europe/Berlin", 8) == \
        datetime(2027, 1, 10, 7, 0, tzinfo=UTC)  # 07:00 Berlin → 08:00 the same day
    assert domain.next_digest(datetime(2027, 1, 10, 9, 0, tzinfo=UTC), "Europe/Berlin", 8) == \
        datetime(2027, 1, 11, 7, 0, tzinfo=UTC)  # already past: tomorrow
    assert domain.next_digest(datetime(2027, 1, 10, 9, 0, tzinfo=UTC), "Asia/Tokyo", 8).date() == date(2027, 1, 10)


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    rng = random.Random(1)
    waits = [[domain.backoff(attempt, rng) for _ in range(200)] for attempt in range(1, 12)]
    for attempt, samples in enumerate(waits, start=1):
        ceiling = min(domain.BACKOFF_CAP_SECONDS, domain.BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
        assert ceiling / 2 <= min(samples) and max(samples) <= ceiling
        assert len({round(s, 6) for s in samples}) > 100  # jittered, not in step
    assert max(waits[-1]) <= domain.BACKOFF_CAP_SECONDS


def test_backoff_never_undercuts_a_retry_after():
    assert domain.backoff(1, random.Random(1), retry_after=30) == 30
    assert domain.backoff(10, random.Random(1), retry_after=0.5) >= domain.BACKOFF_CAP_SECONDS / 2


# Berlin's clocks: 2027-03-28 02:00 CET → 03:00 CEST (the night is an hour short); 2027-10-31
# 03:00 CEST → 02:00 CET (an hour long). What is held is released at the local hour, not 24 h on.
@pytest.mark.parametrize(("local_now", "quiet", "released_local", "released_utc"), [
    # Held on the eve of the change, released at 07:00 local, summer time already: 05:00 UTC.
    ("2027-03-27 23:00", (time(22), time(7)), "2027-03-28 07:00", "2027-03-28 05:00"),
    ("2027-03-28 01:30", (time(22), time(7)), "2027-03-28 07:00", "2027-03-28 05:00"),
    ("2027-03-28 03:30", (time(22), time(7)), "2027-03-28 07:00", "2027-03-28 05:00"),
    # Autumn: the long night, winter time by the morning: 06:00 UTC.
    ("2027-10-30 23:00", (time(22), time(7)), "2027-10-31 07:00", "2027-10-31 06:00"),
    # A window ending at 02:30, a time that does not exist that night: released at the jump (01:00 UTC).
    ("2027-03-28 01:00", (time(22), time(2, 30)), "2027-03-28 03:00", "2027-03-28 01:00"),
    # Ending at 02:30 in the night that has two of them: the first (still summer time).
    ("2027-10-31 01:00", (time(22), time(2, 30)), "2027-10-31 02:30", "2027-10-31 00:30"),
])
def test_quiet_hours_end_at_the_local_hour_across_a_dst_change(local_now, quiet, released_local, released_utc):
    from zoneinfo import ZoneInfo
    berlin = ZoneInfo("Europe/Berlin")
    now = datetime.fromisoformat(local_now).replace(tzinfo=berlin).astimezone(UTC)
    got = domain.quiet_until(now, "Europe/Berlin", *quiet)
    assert got == datetime.fromisoformat(released_utc).replace(tzinfo=UTC)
    assert got.astimezone(berlin).replace(tzinfo=None) == datetime.fromisoformat(released_local)
    # And the moment just before it is still inside the window (the worker would not send yet).
    assert domain.quiet_until(got - timedelta(minutes=1), "Europe/Berlin", *quiet) == got


@pytest.mark.parametrize(("utc_now", "hour", "digest_utc"), [
    ("2027-03-27 08:00", 8, "2027-03-28 06:00"),  # 09:00 CET → tomorrow's 08:00 CEST, 23 h later
    ("2027-03-28 00:30", 2, "2027-03-28 01:00"),  # 01:30 CET; 02:00 never comes: sent at the jump (03:00 CEST)
    ("2027-10-30 07:00", 8, "2027-10-31 07:00"),  # 09:00 CEST → tomorrow's 08:00 CET, 25 h later
    ("2027-10-31 06:30", 8, "2027-10-31 07:00"),  # 07:30 CET on the long day: 08:00 CET the same morning
])
def test_the_digest_goes_at_its_local_hour_across_a_dst_change(utc_now, hour, digest_utc):
    got = domain.next_digest(datetime.fromisoformat(utc_now).replace(tzinfo=UTC), "Europe/Berlin", hour)
    assert got == datetime.fromisoformat(digest_utc).replace(tzinfo=UTC)
    # Waiting there, the next one is a day on at the same local hour (the worker releases it once).
    following = domain.next_digest(got, "Europe/Berlin", hour)
    assert following.astimezone(ZoneInfo("Europe/Berlin")).hour == hour and following > got
