"""Partnership rules, pure: relationship health, jubilees and when to say so."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal, get_args

Kind = Literal["twin", "sister", "friendship", "project", "time_limited"]
Status = Literal["active", "dormant", "suspended", "ended"]
Theme = Literal["culture", "sports", "youth", "education", "science", "economy", "startups", "tourism", "climate",
                "environment", "mobility", "urban_development", "digital", "health", "social", "migration",
                "development_cooperation", "governance", "security", "peace"]
OrganisationKind = Literal["club", "area_association", "consulate", "honorary_consul", "network", "ambassador",
                           "office_abroad", "school", "university", "hospital", "other"]
# A timeline entry: a trip there or a delegation from there (travel's events), a meeting or an event
# logged by staff.
ContactKind = Literal["trip", "delegation", "meeting", "event"]
VisitKind = Literal["trip", "delegation"]  # the contacts travel's events plan
LoggedContactKind = Literal["meeting", "event"]
Health = Literal["ok", "due", "overdue"]
Alert = Literal["anniversary", "dormant", "renewal"]  # said once each (models.Notice)
KINDS: tuple[Kind, ...] = get_args(Kind)
STATUSES: tuple[Status, ...] = get_args(Status)
THEMES: tuple[Theme, ...] = get_args(Theme)
# Health, anniversaries and renewals are about these (not suspended or ended ones).
LIVE_STATUSES: tuple[Status, ...] = ("active", "dormant")
# Anniversaries worth marking, and how far ahead to say so: a year to budget (Stuttgart asks its
# council for ~€25,000 extra in a jubilee year), 90 and 30 days to organise.
JUBILEES = (5, 10, 15, 20, 25, 30, 40, 50, 60, 75, 100)
LEADS = (365, 90, 30)
RENEWAL_LEADS = (90, 30)
DEFAULT_IDEAL_DAYS = 365
DEFAULT_MAX_DAYS = 3 * 365


def anniversary(formalised: date, years: int, year_only: bool) -> date:
    """The day a partnership turns `years` old. Known only by its year: the jubilee year's first
    day (what a budget plans for). Formalised on 29 February: 28 February in common years."""
    year = formalised.year + years
    if year_only:
        return date(year, 1, 1)
    try:
        return formalised.replace(year=year)
    except ValueError:
        return date(year, 2, 28)


@dataclass(frozen=True)
class Jubilee:
    years: int
    on: date


def next_jubilee(formalised: date, year_only: bool, today: date) -> Jubilee | None:
    """The next jubilee on or after `today` (None past 100 years)."""
    for years in JUBILEES:
        if formalised.year + years > date.max.year:  # a stored date at the calendar's edge: no jubilee to tell
            return None
        on = anniversary(formalised, years, year_only)
        if on >= today:
            return Jubilee(years, on)
    return None


def current_lead(on: date, today: date, leads: tuple[int, ...] = LEADS) -> int | None:
    """The nearest lead time (days ahead of `on`) already reached, or None. Said once each; one
    passed while nobody looked is not said late (only the nearest is)."""
    reached = [lead for lead in leads if on - timedelta(days=lead) <= today <= on]
    return min(reached, default=None)


@dataclass(frozen=True)
class HealthReport:
    health: Health
    days_since_contact: int
    last_contact: date
    urgency: float  # days since contact / maximum interval: > 1 is overdue


def health(last_contact: date, ideal_days: int, max_days: int, today: date) -> HealthReport:
    """ok within the ideal interval, due past it, overdue past the maximum."""
    days = (today - last_contact).days
    state: Health = "ok" if days <= ideal_days else "due" if days <= max_days else "overdue"
    return HealthReport(state, days, last_contact, round(days / max_days, 3))
