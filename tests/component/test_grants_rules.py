"""Grants' pure rules: deadlines in Brussels time (across summer time), a call's status, the stage
machine, consortium eligibility, when reminders are due, and reading the portal's JSON."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from services.grants import domain, portal
from services.grants.domain import BRUSSELS, Member
from shared.problems import FieldError

UTC = UTC
FIXTURE = Path(__file__).parents[2] / "services" / "grants" / "data" / "portal_calls.json"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# -- deadlines ------------------------------------------------------------------------------------

def test_a_deadline_given_as_a_date_is_17_00_in_brussels_winter_and_summer():
    assert domain.deadline_at(date(2027, 1, 15)).astimezone(UTC) == utc(2027, 1, 15, 16)  # CET, +01:00
    assert domain.deadline_at(date(2027, 3, 30)).astimezone(UTC) == utc(2027, 3, 30, 15)  # CEST, +02:00


def test_days_before_keeps_the_brussels_wall_clock_across_the_change_to_summer_time():
    # Summer time starts on 28 March 2027: a week before 17:00 CEST is 17:00 CET, an hour less than 7 × 24 h.
    deadline = domain.deadline_at(date(2027, 3, 31))
    week_before = domain.days_before(deadline, 7)
    assert week_before.astimezone(UTC) == utc(2027, 3, 24, 16)
    assert deadline.astimezone(UTC) - week_before.astimezone(UTC) == timedelta(days=7, hours=-1)
    # And back in autumn (31 October 2027): a day before 17:00 CET is 17:00 CEST.
    autumn = domain.deadline_at(date(2027, 11, 1))
    assert domain.days_before(autumn, 1).astimezone(UTC) == utc(2027, 10, 31, 16)
    assert domain.days_before(autumn, 3).astimezone(UTC) == utc(2027, 10, 29, 15)


def test_a_calls_status_follows_its_dates_not_the_portals_field():
    opens, closes = utc(2027, 1, 10), domain.deadline_at(date(2027, 3, 1))
    assert domain.call_status(opens, [closes], utc(2027, 1, 9)) == "forthcoming"
    assert domain.call_status(opens, [closes], utc(2027, 1, 10)) == "open"
    assert domain.call_status(opens, [closes], closes - timedelta(seconds=1)) == "open"
    assert domain.call_status(opens, [closes], closes) == "closed"
    # Two stages: open until the second deadline.
    second = domain.deadline_at(date(2027, 9, 1))
    assert domain.call_status(opens, [closes, second], utc(2027, 5, 1)) == "open"
    assert domain.next_deadline([(1, closes), (2, second)], utc(2027, 5, 1)) == (2, second)
    assert domain.next_deadline([(1, closes), (2, second)], utc(2027, 9, 2)) is None


# -- the stage machine ----------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    ["idea", "preparing", "partner_search", "drafting", "internal_review", "submitted", "awarded", "implementing",
     "reporting", "closed"],
    ["idea", "preparing", "drafting", "internal_review", "drafting", "internal_review", "submitted", "rejected"],
    ["idea", "preparing", "withdrawn"],
    ["idea", "preparing", "drafting", "internal_review", "submitted", "withdrawn"],
])
def test_the_pipeline_allows_its_paths(path):
    for current, target in pairwise(path):
        domain.check_move(current, target, reason="not eligible" if target == "rejected" else None)


def test_a_first_stage_submission_may_be_invited_to_the_second_stage_and_submitted_again():
    path = ["internal_review", "submitted", "invited", "drafting", "internal_review", "submitted", "awarded"]
    for current, target in pairwise(path):
        domain.check_move(current, target, None, invitable=target == "invited")
    assert "invited" in domain.moves("submitted", invitable=True)
    assert "invited" not in domain.moves("submitted", invitable=False)
    with pytest.raises(domain.StageMoveRefused, match="only an application submitted to the first stage"):
        domain.check_move("submitted", "invited", None)  # a one-stage call, or invited once already
    with pytest.raises(domain.StageMoveRefused, match="allowed: drafting, withdrawn"):
        domain.check_move("invited", "submitted", None)


def test_an_application_works_towards_its_own_stages_deadline():
    first, second = (1, datetime(2027, 2, 15, 17, tzinfo=BRUSSELS)), (2, datetime(2027, 9, 16, 17, tzinfo=BRUSSELS))
    assert domain.stage_deadline([first, second], 1) == first
    assert domain.stage_deadline([first, second], 2) == second
    assert domain.stage_deadline([first], 2) is None


@pytest.mark.parametrize("current,target", [
    ("idea", "submitted"), ("drafting", "awarded"), ("submitted", "drafting"), ("rejected", "submitted"),
    ("withdrawn", "idea"), ("closed", "reporting"), ("awarded", "rejected"), ("idea", "idea"),
])
def test_the_pipeline_refuses_other_moves_naming_the_allowed_ones(current, target):
    with pytest.raises(domain.StageMoveRefused) as refused:
        domain.check_move(current, target, None)
    assert current in str(refused.value) and target in str(refused.value) and "allowed" in str(refused.value)


def test_a_rejection_needs_its_reason():
    with pytest.raises(domain.MissingReason, match="why"):
        domain.check_move("submitted", "rejected", "  ")


def test_every_stage_has_its_moves_and_every_move_is_to_a_stage():
    assert set(domain.TRANSITIONS) == set(domain.STAGES)
    assert all(t in domain.STAGES for targets in domain.TRANSITIONS.values() for t in targets)


# -- eligibility ----------------------------------------------------------------------------------

def frankfurt(role="coordinator") -> Member:
    return Member("Frankfurt am Main", "DE", role)


def checks(members, rules) -> dict[str, tuple[int, bool]]:
    return {c.rule: (c.actual, c.passed) for c in domain.eligibility(members, rules)}


def test_town_twinning_needs_two_countries_one_of_them_a_member_state():
    rules = domain.known_rules("CERV-2027-CITIZENS-TOWN-TT")
    assert rules == domain.TOWN_TWINNING
    assert checks([frankfurt()], rules)["countries"] == (1, False)
    # A second German town adds an applicant but not a country.
    assert checks([frankfurt(), Member("Leipzig", "DE", "partner")], rules)["countries"] == (1, False)
    assert all(passed for _, passed in checks([frankfurt(), Member("Kraków", "PL", "partner")], rules).values())
    # A non-member country counts as a country; the member state is us.
    assert all(passed for _, passed in checks([frankfurt(), Member("Birmingham", "GB", "partner")], rules).values())


def test_networks_of_towns_need_four_applicants_from_four_countries_two_member_states():
    rules = domain.known_rules("CERV-2027-CITIZENS-TOWN-NT")
    assert rules == domain.NETWORKS_OF_TOWNS
    three = [frankfurt(), Member("Kraków", "PL", "partner"), Member("Lyon", "FR", "partner")]
    assert checks(three, rules) == {"applicants": (3, False), "countries": (3, False), "eu_member_states": (3, True)}
    # An associated partner takes part but counts towards none of the minimums.
    with_associate = [*three, Member("Birmingham", "GB", "associated")]
    assert checks(with_associate, rules)["applicants"] == (3, False)
    four = [*three, Member("Birmingham", "GB", "partner")]
    assert all(passed for _, passed in checks(four, rules).values())
    non_members = [frankfurt(), Member("Birmingham", "GB", "partner"), Member("Tbilisi", "GE", "partner"),
                   Member("Kyiv", "UA", "partner")]
    assert checks(non_members, rules)["eu_member_states"] == (1, False)


def test_each_check_says_which_rule_it_comes_from():
    [applicants, *_] = domain.eligibility([frankfurt()], domain.NETWORKS_OF_TOWNS)
    assert "networks of towns" in applicants.source and applicants.required == 4
    assert domain.known_rules("HORIZON-MISS-2027-CIT-01-01") is None


# -- reminders ------------------------------------------------------------------------------------

DEADLINE = (1, domain.deadline_at(date(2027, 3, 31)))  # 17:00 CEST


def due(now: datetime, buffer_days: int = 5) -> list[tuple[str, int, bool]]:
    return [(r.kind, r.lead, r.critical) for r in domain.due_reminders(DEADLINE, buffer_days, now)]


def test_nothing_is_due_more_than_thirty_days_ahead_of_either_deadline():
    assert due(utc(2027, 2, 1)) == []


def test_the_nearest_lead_reached_is_due_for_the_call_and_the_internal_deadline():
    # 30 days before the internal deadline (26 March 17:00 CET) is 24 February 17:00 CET.
    assert due(utc(2027, 2, 24, 15, 59)) == []
    assert due(utc(2027, 2, 24, 16, 0)) == [("internal", 30, False)]
    # 7 days before 31 March 17:00 CEST is 24 March 17:00 CET.
    assert due(utc(2027, 3, 24, 16)) == [("call", 7, False), ("internal", 3, False)]
    # A lead missed while nobody ran the jobs is not said late: only the nearest one.
    assert due(utc(2027, 3, 29, 12)) == [("call", 3, False)]


def test_the_last_reminder_before_the_calls_deadline_is_critical_and_none_come_after_it():
    assert due(utc(2027, 3, 30, 15)) == [("call", 1, True)]
    assert due(utc(2027, 3, 31, 15)) == []
    assert due(utc(2027, 3, 25, 16), buffer_days=0) == [("call", 7, False)]


def test_days_until_counts_brussels_calendar_days():
    deadline = domain.deadline_at(date(2027, 3, 31))
    assert domain.days_until(deadline, utc(2027, 3, 24, 16)) == 7
    assert domain.days_until(deadline, utc(2027, 3, 30, 21, 30)) == 1  # 23:30 in Brussels, still the 30th
    assert domain.days_until(deadline, utc(2027, 3, 30, 22, 30)) == 0  # past midnight there


def test_a_moved_deadline_is_a_new_reminder_key():
    [before] = domain.due_reminders(DEADLINE, 0, utc(2027, 3, 25, 17))
    [after] = domain.due_reminders((1, domain.deadline_at(date(2027, 4, 1))), 0, utc(2027, 3, 25, 17))
    assert before.lead == after.lead == 7 and before.key != after.key


# -- the portal's JSON ----------------------------------------------------------------------------

def test_the_fixture_gives_five_calls_and_skips_a_stub_a_repeat_and_a_programme_not_followed():
    parsed = portal.parse(FIXTURE.read_bytes())
    calls = {c.identifier: c for _, c in parsed.calls}
    assert list(calls) == ["CERV-2027-CITIZENS-TOWN-TT", "CERV-2027-CITIZENS-TOWN-NT", "HORIZON-MISS-2027-CIT-01-01",
                           "LIFE-2027-SAP-CLIMA-GOV", "DIGITAL-2027-CLOUD-AI-08-CITIES"]
    assert [(s.line, s.identifier, s.reason) for s in parsed.skipped] == [
        (6, "CERV-2027-CITIZENS-REM", "no deadline yet"),
        (7, "CERV-2027-CITIZENS-TOWN-TT", "the identifier appears earlier in the file"),
        (8, "EDF-2027-DA-SPACE-SSA", "programme of EDF-2027-DA-SPACE-SSA is not one the office follows")]
    twinning = calls["CERV-2027-CITIZENS-TOWN-TT"]
    # keywords arrived as one JSON string; the budget from budgetOverview, itself a JSON string.
    assert twinning.themes == ["town twinning", "citizens", "european remembrance", "democracy"]
    assert (twinning.budget, twinning.grant_max, twinning.programme) == (4_000_000, 30_000, "cerv")
    assert twinning.deadlines == [domain.deadline_at(date(2027, 2, 19))]
    assert twinning.rules == domain.TOWN_TWINNING
    two_stage = calls["HORIZON-MISS-2027-CIT-01-01"]
    assert [d.astimezone(UTC) for d in two_stage.deadlines] == [utc(2027, 1, 21, 16), utc(2027, 9, 16, 15)]
    assert two_stage.budget == 18_000_000  # two years of the topic's budget
    # A deadline given with its time keeps it.
    assert calls["DIGITAL-2027-CLOUD-AI-08-CITIES"].deadlines == [utc(2027, 5, 12, 15)]


@pytest.mark.parametrize("body,field,words", [
    (b'{"results": [{"metadata": {"identifier": ["CERV-1"]', "body", "not valid JSON"),
    (b'[1, 2, 3]', "results", "expected an object with a 'results' list"),
    (b'{"results": {"metadata": {}}}', "results", "expected an object"),
    (b'{"results": [42]}', "results[0].metadata", "missing"),
    (b'\xff\xfe{"results": []}', "body", "UTF-8"),
    (b'{"results": []} {"results": []}', "body", "Extra data"),
    (b'{"results": [] "more": 1}', "body", "Expecting ',' delimiter"),
    (b'{"results": [{"metadata": {}} {}]}', "body", "Expecting ',' delimiter"),
    (b'{results: []}', "body", "property name"),
    (b'{}', "results", "expected an object"),
    (b'{"totalResults": 0}', "results", "expected an object"),
    (b'{"note": "a\\u0000b", "results": []}', "note", "NUL"),
])
def test_a_file_that_is_not_a_portal_response_is_refused_as_a_whole(body, field, words):
    with pytest.raises(FieldError) as refused:
        portal.parse(body)
    assert refused.value.field == field and words in refused.value.message


def test_rows_are_read_one_by_one_wherever_results_stands_and_however_the_file_is_laid_out():
    rows = json.loads(FIXTURE.read_bytes())["results"]
    expected = portal.parse(json.dumps({"results": rows}).encode())
    for layout in (json.dumps({"totalResults": len(rows), "results": rows, "pageNumber": 1}, indent=2),
                   json.dumps({"results": rows}, separators=(",", ":")) + "\n",
                   "\ufeff" + json.dumps({"query": {"text": "town"}, "results": rows})):
        assert portal.parse(layout.encode("utf-8")) == expected
    assert portal.parse(json.dumps({"results": rows}).encode("utf-16")) == expected  # as json.loads reads it
    assert portal.parse(b' { "results" : [ ] } ') == portal.Parsed()


def test_rows_with_bad_dates_or_keywords_are_skipped_with_the_reason():
    def row(n: int, **metadata) -> dict:
        return {"metadata": {"identifier": [f"CERV-2027-X{n}"], "deadlineDate": ["2027-05-01T00:00:00.000+0000"],
                             **metadata}}
    body = json.dumps({"results": [
        row(1, deadlineDate=["1st of May"]),
        row(2, keywords=['["unclosed']),
        row(3, startDate=["2027-06-01T00:00:00.000+0000"]),
        row(4, deadlineModel=["two-stage"]),
        row(5, keywords=["citizens"]),
    ]}).encode()
    parsed = portal.parse(body)
    assert [s.reason for s in parsed.skipped] == [
        "deadlineDate '1st of May' is not a date", "keywords '[\"unclosed' is not a JSON list",
        "its deadline is before its opening date", "a two-stage call with 1 deadline(s)"]
    assert [c.identifier for _, c in parsed.calls] == ["CERV-2027-X5"]
