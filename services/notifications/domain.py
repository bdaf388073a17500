"""Notification rules, pure: who hears of what by default, what cannot wait, when a held message
goes out, and how long to wait after a failure."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from services.notifications.events import (
    ApplicationRef,
    ApplicationStageChanged,
    CallPublished,
    CallUpdated,
    CrossingDetected,
    DeadlineApproaching,
    OverlapDetected,
    OverlapResolved,
    Owner,
    PartnershipRef,
    TripBooked,
    VisitPlanned,
)
from services.notifications.policy import POLICY
from shared.auth import DEPARTMENT, Principal

COORDINATORS = "OIA"  # the coordinators' recipient id, and their department
PERSON_PREFIX = "person-"  # the ids routing derives for people named by email; the API refuses them
Language = Literal["en", "de"]
RecipientKind = Literal["department", "coordinators", "team", "person"]
ChannelKind = Literal["email", "slack", "teams", "webhook"]  # each has its sender in channels/
# pending: waiting for `due_at` (now, after quiet hours, after a failed attempt); digest: waiting for
# the daily digest; sending / sending-digest: claimed by a worker until its lease ends; sent; skipped
# (nothing to send to, with the reason); dead (refused for good, or failing past its retry budget).
DeliveryStatus = Literal["pending", "digest", "sending", "sending-digest", "sent", "skipped", "dead"]
AttemptOutcome = Literal["sent", "failed", "skipped"]

# The attempt_limit a delivery is given (recorded; deliveries die on a time budget, settings), and
# the back-off between attempts.
MAX_ATTEMPTS = 6
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 600.0
# A conflict starting this soon cannot wait for quiet hours or a digest.
CRITICAL_WITHIN = timedelta(days=2)
# Stages whose news the EU funding team (with the coordinators) hears on its channels: the outcomes.
OUTCOMES = ("awarded", "rejected", "invited")  # the EU's decisions (invited: to a second stage)


@dataclass(frozen=True)
class Audience:
    """Who hears of an event by default: a department's recipients, the coordinators, or one
    person by email (a partnership's desk officer, an application's owner). `channels` False: the
    in-app feed only (it is news, not a call to act)."""

    department: str | None = None
    channels: bool = True
    email: str | None = None
    name: str | None = None


def is_reserved(recipient_id: str, kind: RecipientKind) -> bool:
    """A department's desk or the coordinators' recipient: the default alerts go to them, so
    whoever holds such an id hears what a department (or the office) is told. A department code
    as an id counts too, whatever its kind."""
    return kind in ("department", "coordinators") or DEPARTMENT.match(recipient_id) is not None


def is_restricted(payload: BaseModel) -> bool:
    """Whether an event tells of a restricted trip: then it is the coordinators' alone, whoever
    subscribed to what. Any visibility but "normal" counts, so a new kind of secrecy is kept."""
    match payload:
        case OverlapDetected():
            return payload.restricted or any(t.visibility != "normal" for t in payload.trips)
        case OverlapResolved():
            return payload.restricted
        case CrossingDetected():
            return payload.trip.visibility != "normal"
        case TripBooked():
            return payload.visibility != "normal"
        case VisitPlanned():
            return payload.restricted
    return False


def may_receive(department: str | None, payload: BaseModel) -> bool:
    """Whether a recipient of `department` (None: one of no department, kept by the coordinators)
    may hear of an event: only what its owner may read elsewhere. Restricted events: the
    coordinators' only. Overlaps and crossings: the departments in them (as travel shows them)."""
    if department == COORDINATORS:
        return True
    if is_restricted(payload):  # the API's own rule for restricted items, asked as the recipient's owner
        return POLICY.allows(Principal("department", department, "routing"), "restricted.read")
    match payload:
        case OverlapDetected() | OverlapResolved() | CrossingDetected():
            return department is None or department in facets(payload)[0]
    return True


def audiences(payload: BaseModel) -> list[Audience]:
    """The default routing of an event: no set-up needed."""
    if is_restricted(payload):
        # A restricted trip's details stay with the coordinators; a booking or a visit is news
        # for their feed, a clash an alert on their channels.
        return [Audience(COORDINATORS, channels=not isinstance(payload, (TripBooked, VisitPlanned)))]
    match payload:
        case OverlapDetected():
            departments = [t.department for t in payload.trips] + [d.host_department for d in payload.delegations]
            return _with_coordinators(departments)
        case OverlapResolved():
            return _with_coordinators(payload.departments)
        case CrossingDetected():
            return _with_coordinators([payload.trip.department, payload.delegation.host_department])
        case TripBooked():
            # The central travel coordinator knows of every trip; alerts come from overlaps.
            return [Audience(COORDINATORS, channels=False)]
        case PartnershipRef():
            # The partnership's desk officer; the department looking after it sees it in its feed
            # (and hears of it on its channels when nobody is named).
            officer = payload.desk_officer
            if officer.email:
                return [Audience(email=officer.email.lower(), name=officer.name),
                        Audience(payload.department, channels=False)]
            return [Audience(payload.department)]
        case CallPublished():
            return [Audience(COORDINATORS)]  # the EU funding team decides whether the city applies
        case CallUpdated():
            return _distinct([Audience(COORDINATORS)]
                             + [a for app in payload.applications for a in _owner(app.owner, app.lead_department)])
        case ApplicationStageChanged():
            return _distinct([*_owner(payload.owner, payload.lead_department),
                              Audience(COORDINATORS, channels=payload.to_stage in OUTCOMES)])
        case DeadlineApproaching():
            return _distinct([*_owner(payload.owner, payload.lead_department),
                              Audience(COORDINATORS, channels=payload.critical)])
    return []


def _with_coordinators(departments: list[str]) -> list[Audience]:
    return [Audience(d) for d in dict.fromkeys([*departments, COORDINATORS])]


def _owner(owner: Owner, lead_department: str) -> list[Audience]:
    """An application's owner by email, its lead department in its feed (and on its channels
    when nobody is named)."""
    if owner.email:
        return [Audience(email=owner.email.lower(), name=owner.name), Audience(lead_department, channels=False)]
    return [Audience(lead_department)]


def _distinct(audiences: list[Audience]) -> list[Audience]:
    """Each recipient once, in order of first mention, on its channels if any mention says so
    (a lead department that is the coordinators' own, an owner of two applications)."""
    merged: dict[tuple[str | None, str | None], Audience] = {}
    for a in audiences:
        key = (a.department, a.email)
        known = merged.get(key)
        merged[key] = a if known is None else Audience(known.department, known.channels or a.channels,
                                                       known.email, known.name or a.name)
    return list(merged.values())


def topic_of(payload: BaseModel) -> str | None:
    """Notices about one thing share a topic, so a resolution can name what was resolved."""
    match payload:
        case OverlapDetected() | OverlapResolved():
            return f"overlap/{payload.overlap_id}"
        case CrossingDetected():
            return f"crossing/{payload.crossing_id}"
        case TripBooked():
            return f"trip/{payload.trip_id}"
        case PartnershipRef():
            return f"partnership/{payload.partnership_id}"
        case ApplicationRef():
            return f"application/{payload.application_id}"
        case CallPublished() | CallUpdated():
            return f"call/{payload.call_id}"
    return None


def is_critical(payload: BaseModel, now: datetime) -> bool:
    """Critical alerts bypass quiet hours and digests: a clash that starts within two days, the
    last reminder before a call's deadline (grants says which)."""
    match payload:
        case OverlapDetected() | CrossingDetected():
            return payload.shared_start - now.date() <= CRITICAL_WITHIN
        case DeadlineApproaching():
            return payload.critical
    return False


def facets(payload: BaseModel) -> tuple[set[str], set[str]]:
    """(departments, countries) an event is about: what subscription filters match on."""
    match payload:
        case OverlapDetected():
            return ({t.department for t in payload.trips} | {d.host_department for d in payload.delegations},
                    {payload.country})
        case OverlapResolved():
            return set(payload.departments), set()
        case CrossingDetected():
            return {payload.trip.department, payload.delegation.host_department}, {payload.trip.leg.country}
        case TripBooked():
            return {payload.department}, {leg.country for leg in payload.legs}
        case VisitPlanned():
            return {payload.department, payload.by_department}, {payload.partner_country}
        case PartnershipRef():
            return {payload.department}, {payload.partner_country}
        case ApplicationRef():
            return {payload.lead_department}, set()
        case CallUpdated():
            return {a.lead_department for a in payload.applications}, set()
    return set(), set()  # a call just published is about no department yet


# -- when ---------------------------------------------------------------------------------------

def quiet_until(now: datetime, zone: str, start: time | None, end: time | None) -> datetime | None:
    """The end of the recipient's quiet window (UTC) if `now` falls inside it, else None. A window
    may cross midnight (22:00–07:00)."""
    if start is None or end is None or start == end:
        return None
    local = now.astimezone(ZoneInfo(zone))
    at = local.time().replace(tzinfo=None)
    if start < end:
        inside = start <= at < end
        end_day = local.date()
    else:
        inside = at >= start or at < end
        end_day = local.date() + timedelta(days=1) if at >= start else local.date()
    if not inside:
        return None
    return _local(end_day, end, zone)


def next_digest(now: datetime, zone: str, hour: int) -> datetime:
    """The next time (UTC) it is `hour`:00 for the recipient."""
    local = now.astimezone(ZoneInfo(zone))
    day = local.date() if local.hour < hour else local.date() + timedelta(days=1)
    return _local(day, time(hour), zone)


def _local(day: date, at: time, zone: str) -> datetime:
    """When it is `at` on `day` for the recipient (UTC). A time the clocks skip (02:30 the night they
    go forward) comes at the jump; one they pass twice (the night they go back), the first time."""
    tz = ZoneInfo(zone)
    wall = datetime.combine(day, at)
    moment = wall.replace(tzinfo=tz).astimezone(UTC)
    if moment.astimezone(tz).replace(tzinfo=None) == wall:
        return moment
    # In the gap: fold=1 reads the time with the offset after the jump, which lands before it; the
    # jump is the first second between the two whose local time is `at` or later.
    before, after = int(wall.replace(tzinfo=tz, fold=1).timestamp()), int(moment.timestamp())
    while after - before > 1:
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, tz).replace(tzinfo=None) >= wall:
            after = middle
        else:
            before = middle
    return datetime.fromtimestamp(after, UTC)


def backoff(attempt: int, rng: random.Random | None = None, retry_after: float | None = None,
            base: float = BACKOFF_BASE_SECONDS, cap: float = BACKOFF_CAP_SECONDS) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): exponential with full
    jitter (so many failing deliveries do not retry in step), never less than a server's
    Retry-After."""
    ceiling = min(cap, base * 2 ** min(attempt - 1, 60))  # (the exponent bounded: no float overflow)
    wait = (rng or random).uniform(ceiling / 2, ceiling)
    return max(wait, retry_after or 0.0)
