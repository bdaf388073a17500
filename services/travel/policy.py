"""Who may do what in travel: the one table every route, list query and feed asks.

A trip's owner is its department; a delegation's is its host department; a calendar feed's is its
department (the city-wide feed has none). Visibility rules that follow from the table:

- A restricted trip is read by the coordinators, the admins and its own department
  (`trip.read_restricted`); to everyone else it does not exist: the single read is a 404 and no
  list, overlap, crossing, summary or feed shows it. Only `GET /travel/busy` tells other departments
  (`trip.read_busy`) that its department is away then: its dates, never its place, title or people.
- An overlap is shown to a caller who may read every trip in it, and (`overlap.read`, OWN) one of
  its parties is the caller's department: so a restricted overlap reaches the coordinators, the
  admins and the restricted trip's own department, never the other party, which would learn where
  and when the restricted trip goes.
- A crossing is shown to a caller who may read its trip and its delegation.
- The summary counts only the trips the caller may read: even a bare count by country or
  department would tell where a restricted trip goes.
- A department's feed holds its own trips, restricted ones whole; the city-wide feed is for the
  coordinators and shows a restricted trip as busy only (department, place, dates), because its
  secret address ends up in shared calendars.

A record the caller may not read is a 404 for reads and writes alike (its existence is not told);
a write on a record it may read but not change is a 403.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, or_, select, true
from sqlmodel import col

from services.travel.models import Crossing, Delegation, Overlap, Trip
from shared.auth import Principal
from shared.policy import ANY, NONE, OWN, Policy, rule
from shared.problems import FieldError

POLICY = Policy("travel", {
    "trip.book": rule("book trips", admin=ANY, coordinator=ANY, department=OWN, reader=NONE),
    # What booking would find, before booking: as far as booking itself.
    "trip.check": rule("check a trip for overlaps before booking it",
                       admin=ANY, coordinator=ANY, department=OWN, reader=NONE),
    "trip.read": rule("read trips", admin=ANY, coordinator=ANY, department=ANY, reader=ANY),
    "trip.read_restricted": rule("read restricted trips", admin=ANY, coordinator=ANY, department=OWN, reader=NONE),
    # That another department is away on restricted business, and when: never where, what or who.
    "trip.read_busy": rule("see the dates another department is away on a restricted trip",
                           admin=ANY, coordinator=ANY, department=ANY, reader=NONE),
    "trip.change": rule("change trips", admin=ANY, coordinator=ANY, department=OWN, reader=NONE),
    "trip.cancel": rule("cancel trips", admin=ANY, coordinator=ANY, department=OWN, reader=NONE),
    "delegation.announce": rule("announce delegations", admin=ANY, coordinator=ANY, department=OWN, reader=NONE),
    "delegation.read": rule("read delegations", admin=ANY, coordinator=ANY, department=ANY, reader=ANY),
    "delegation.change": rule("change delegations", admin=ANY, coordinator=ANY, department=OWN, reader=NONE),
    "delegation.cancel": rule("cancel delegations", admin=ANY, coordinator=ANY, department=OWN, reader=NONE),
    # A department hears of the overlaps it is a party to; readers watch the whole city's (unrestricted).
    "overlap.read": rule("read overlaps", admin=ANY, coordinator=ANY, department=OWN, reader=ANY),
    "overlap.mark": rule("mark overlaps", admin=ANY, coordinator=ANY, department=NONE, reader=NONE),
    "crossing.read": rule("read crossings", admin=ANY, coordinator=ANY, department=ANY, reader=ANY),
    "summary.read": rule("read the year's summary", admin=ANY, coordinator=ANY, department=ANY, reader=ANY),
    # Calendar addresses (made, listed, revoked by shared/calendar_feeds.py): a department's feed is its
    # own; the whole city's (no department) only the office's. What a feed shows: `feed_audience`.
    "calendar.subscribe": rule("make, list or revoke calendar addresses",
                               admin=ANY, coordinator=ANY, department=OWN, reader=NONE),
    # The gazetteer's suggestions for a typed place name: public reference data, for every key.
    "place.read": rule("look up places", admin=ANY, coordinator=ANY, department=ANY, reader=ANY),
})


def _of(column, department: str | None) -> ColumnElement[bool]:
    """`column` is `department` (None: any department)."""
    return true() if department is None else column == department


def acting_for(principal: Principal, requested: str | None, field: str, action: str) -> str:
    """The department a new record is for: the one asked for (`field` of the body), else the key's
    own; only if the policy lets the key."""
    if POLICY.reach(principal, action) is NONE:
        POLICY.require(principal, action)  # refused whatever the department
    department = requested or principal.department
    if department is None:
        raise FieldError(field, "required when the key has no department")
    POLICY.require(principal, action, department)
    return department


def may_read_trip(principal: Principal, trip) -> bool:
    """`trip` has `department` and `visibility` (a Trip, or a row or payload shaped like one)."""
    return POLICY.allows(principal, "trip.read", trip.department) and (
        trip.visibility != "restricted" or POLICY.allows(principal, "trip.read_restricted", trip.department))


def _reads_every_trip(principal: Principal) -> bool:
    return all(POLICY.own_only(principal, action) is None for action in ("trip.read", "trip.read_restricted"))


def visible_trips(principal: Principal) -> ColumnElement[bool]:
    """Where-clause on Trip: the trips `principal` may read (`may_read_trip` in SQL)."""
    if _reads_every_trip(principal):
        return true()
    restricted_of = POLICY.own_only(principal, "trip.read_restricted")
    return and_(_of(col(Trip.department), POLICY.own_only(principal, "trip.read")),
                or_(col(Trip.visibility) != "restricted", _of(col(Trip.department), restricted_of)))


def may_read_delegation(principal: Principal, delegation) -> bool:
    return POLICY.allows(principal, "delegation.read", delegation.host_department)


def visible_delegations(principal: Principal) -> ColumnElement[bool]:
    return _of(col(Delegation.host_department), POLICY.own_only(principal, "delegation.read"))


def _trip_ids(principal: Principal):
    return select(col(Trip.id)).where(visible_trips(principal))


def _delegation_ids(principal: Principal):
    return select(col(Delegation.id)).where(visible_delegations(principal))


def _reads_everything(principal: Principal) -> bool:
    return _reads_every_trip(principal) and POLICY.own_only(principal, "delegation.read") is None


def _parties_readable(principal: Principal, *trip_columns, delegation_columns=()) -> ColumnElement[bool]:
    """Every trip and delegation the columns name (those that name one) is one `principal` may read."""
    if _reads_everything(principal):
        return true()
    trips, delegations = _trip_ids(principal), _delegation_ids(principal)
    return and_(*(or_(column.is_(None), column.in_(trips)) for column in trip_columns),
                *(or_(column.is_(None), column.in_(delegations)) for column in delegation_columns))


def visible_overlaps(principal: Principal) -> ColumnElement[bool]:
    """Where-clause on Overlap: every trip and delegation in it readable, and, for an OWN reach,
    one of them the caller's department's."""
    readable = _parties_readable(principal, col(Overlap.trip_a_id), col(Overlap.trip_b_id),
                                 delegation_columns=(col(Overlap.delegation_a_id), col(Overlap.delegation_b_id)))
    party = POLICY.own_only(principal, "overlap.read")
    if party is None:
        return readable
    own = select(col(Trip.id)).where(col(Trip.department) == party)
    hosted = select(col(Delegation.id)).where(col(Delegation.host_department) == party)
    return and_(readable, or_(col(Overlap.trip_a_id).in_(own), col(Overlap.trip_b_id).in_(own),
                              col(Overlap.delegation_a_id).in_(hosted), col(Overlap.delegation_b_id).in_(hosted)))


def visible_crossings(principal: Principal) -> ColumnElement[bool]:
    """Where-clause on Crossing: its trip and its delegation readable, and, for an OWN reach, one of
    them the caller's department's."""
    readable = _parties_readable(principal, col(Crossing.trip_id), delegation_columns=(col(Crossing.delegation_id),))
    party = POLICY.own_only(principal, "crossing.read")
    if party is None:
        return readable
    return and_(readable, or_(col(Crossing.trip_id).in_(select(col(Trip.id)).where(col(Trip.department) == party)),
                              col(Crossing.delegation_id).in_(select(col(Delegation.id)).where(
                                  col(Delegation.host_department) == party))))


def feed_audience(department: str | None) -> Principal:
    """Whom a calendar feed is read as: the city-wide feed as a coordinator (only they may make
    one), a department's feed as that department's key."""
    if department is None:
        return Principal("coordinator", None, "calendar")
    return Principal("department", department, "calendar")


def feed_shows_whole(department: str | None, trip) -> bool:
    """Whether a feed shows a trip's title and travellers, or only that its department is busy
    there: a restricted trip is whole only in its own department's feed (see the module's note)."""
    return trip.visibility != "restricted" or trip.department == department
