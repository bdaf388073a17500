"""Partnership arithmetic: jubilees (leap days, year-only dates), lead times, relationship health."""

from datetime import date

import pytest

from services.partners import domain


def test_a_partnership_of_1958_is_not_a_jubilee_at_70_but_is_at_75():
    formalised = date(1958, 6, 14)
    assert domain.next_jubilee(formalised, False, date(2028, 1, 1)) == domain.Jubilee(75, date(2033, 6, 14))
    assert domain.next_jubilee(formalised, False, date(2008, 6, 14)) == domain.Jubilee(50, date(2008, 6, 14))
    assert domain.next_jubilee(formalised, False, date(2008, 6, 15)) == domain.Jubilee(60, date(2018, 6, 14))


def test_formalised_on_a_leap_day_is_celebrated_on_28_february_in_common_years():
    assert domain.anniversary(date(1992, 2, 29), 25, False) == date(2017, 2, 28)
    assert domain.anniversary(date(1992, 2, 29), 20, False) == date(2012, 2, 29)  # 2012 is a leap year


def test_known_only_by_its_year_the_jubilee_year_starts_on_1_january():
    # 35 years is no jubilee; 40 is, and its year begins on 1 January.
    assert domain.next_jubilee(date(1991, 1, 1), True, date(2025, 6, 1)) == domain.Jubilee(40, date(2031, 1, 1))
    assert domain.anniversary(date(1991, 7, 1), 40, True) == date(2031, 1, 1)


def test_beyond_a_hundred_years_there_is_no_next_jubilee():
    assert domain.next_jubilee(date(1900, 5, 1), False, date(2001, 1, 1)) is None


@pytest.mark.parametrize("today, lead", [
    (date(2032, 6, 13), None),   # more than a year ahead
    (date(2032, 6, 14), 365),
    (date(2033, 3, 1), 365),
    (date(2033, 3, 16), 90),
    (date(2033, 5, 15), 30),
    (date(2033, 6, 14), 30),     # the day itself
    (date(2033, 6, 15), None),   # past
])
def test_the_nearest_lead_reached_is_the_one_said(today, lead):
    assert domain.current_lead(date(2033, 6, 14), today) == lead


@pytest.mark.parametrize("days, state", [(0, "ok"), (365, "ok"), (366, "due"), (1095, "due"), (1096, "overdue")])
def test_health_against_the_ideal_and_the_maximum_interval(days, state):
    from datetime import timedelta
    report = domain.health(date(2027, 1, 1), 365, 1095, date(2027, 1, 1) + timedelta(days=days))
    assert report.health == state and report.days_since_contact == days
    assert report.urgency == round(days / 1095, 3)
