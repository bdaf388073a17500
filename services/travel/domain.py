"""Travel's rules, free of I/O: what a trip may become, and when two trips overlap."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from itertools import pairwise
from typing import Literal, Protocol

from shared.places import EARTH_RADIUS_KM, haversine_km

Purpose = Literal["partner_city_visit", "trade_fair", "network_meeting", "eu_project_meeting", "conference",
                  "anniversary", "other"]
Visibility = Literal["normal", "restricted"]
TripStatus = Literal["planned", "booked", "completed", "cancelled"]
# What a coordinator may mark an overlap; "resolved" is the check's alone (the trips no longer meet).
OverlapMark = Literal["open", "acknowledged", "coordinated", "not_related"]
OverlapStatus = Literal[OverlapMark, "resolved"]
OverlapKind = Literal["trips", "delegations"]  # two departments' trips, or the delegations they host
DelegationStatus = Literal["announced", "cancelled"]
CrossingStatus = Literal["open", "resolved"]
ACTIVE: tuple[TripStatus, ...] = ("planned", "booked")
# planned → booked → completed; planned or booked → cancelled. Cancelled and completed are final.
TRANSITIONS: dict[TripStatus, set[TripStatus]] = {
    "planned": {"planned", "booked", "cancelled", "completed"},
    "booked": {"booked", "cancelled", "completed"},
    "completed": {"completed"},
    "cancelled": {"cancelled"}}
# A leg longer than this is not a trip (a posting abroad is another matter); the bound lets the
# overlap search look at a fixed window of start dates however long the history grows.
MAX_LEG_DAYS = 366
# Legs are filed in cells of CELL_DEGREES × CELL_DEGREES; a search reads the cells around a point.
CELL_DEGREES = 1.0
_CELLS_PER_ROW = int(360 / CELL_DEGREES) + 1


class LegLike(Protocol):
    id: int | None
    place_name: str  # what an overlap found at it is named after
    country: str
    latitude: float
    longitude: float
    start_date: date
    end_date: date


@dataclass(frozen=True)
class LegMatch:
    """Why two trips overlap: the closest pair of legs that share dates, and what they share."""

    leg_a: LegLike
    leg_b: LegLike
    distance_km: float
    shared_start: date
    shared_end: date


def may_move(current: TripStatus, new: TripStatus) -> bool:
    return new in TRANSITIONS.get(current, set())


def legs_conflict(a: LegLike, b: LegLike, radius_km: float) -> LegMatch | None:
    """Dates intersect (inclusive, local dates) and the places are within `radius_km`."""
    start, end = max(a.start_date, b.start_date), min(a.end_date, b.end_date)
    if start > end:
        return None
    distance = haversine_km(a.latitude, a.longitude, b.latitude, b.longitude)
    if distance > radius_km:
        return None
    return LegMatch(a, b, round(distance, 1), start, end)


def best_match(legs_a: Iterable[LegLike], legs_b: Iterable[LegLike], radius_km: float) -> LegMatch | None:
    """The closest conflicting pair (then the earliest), or None if the trips do not overlap."""
    matches = [m for a in legs_a for b in legs_b if (m := legs_conflict(a, b, radius_km))]
    return min(matches, key=lambda m: (m.distance_km, m.shared_start), default=None)


def bounding_box(latitude: float, longitude: float, radius_km: float) -> tuple[float, float, float, float]:
    """(min lat, max lat, min lon, max lon) around a point: a cheap index filter before the exact distance."""
    dlat = math.degrees(radius_km / EARTH_RADIUS_KM)
    cos_lat = math.cos(math.radians(latitude))
    dlon = 180.0 if cos_lat < 1e-6 else min(180.0, math.degrees(radius_km / (EARTH_RADIUS_KM * cos_lat)))
    return latitude - dlat, latitude + dlat, longitude - dlon, longitude + dlon


def cell_of(latitude: float, longitude: float) -> int:
    row = int(math.floor((latitude + 90.0) / CELL_DEGREES))
    column = int(math.floor((longitude + 180.0) / CELL_DEGREES)) % (_CELLS_PER_ROW - 1)
    return row * _CELLS_PER_ROW + column


def cells_around(latitude: float, longitude: float, radius_km: float) -> list[int]:
    """Every cell that the circle of `radius_km` around the point touches (across the date line too)."""
    lat0, lat1, lon0, lon1 = bounding_box(latitude, longitude, radius_km)
    rows = range(int(math.floor((max(lat0, -90.0) + 90.0) / CELL_DEGREES)),
                 int(math.floor((min(lat1, 90.0) + 90.0) / CELL_DEGREES)) + 1)
    columns_per_row = _CELLS_PER_ROW - 1
    if lon1 - lon0 >= 360.0:
        columns: Sequence[int] = range(columns_per_row)
    else:
        first = int(math.floor((lon0 + 180.0) / CELL_DEGREES))
        last = int(math.floor((lon1 + 180.0) / CELL_DEGREES))
        columns = [c % columns_per_row for c in range(first, last + 1)]
    return sorted({row * _CELLS_PER_ROW + column for row in rows for column in columns})


def legs_of_one_trip_overlap(legs: list[tuple[date, date]]) -> int | None:
    """Index of the first leg that starts before the previous one ends (a traveller is in one place a day,
    travel days aside: a leg may start on the day the previous one ends)."""
    ordered = sorted(range(len(legs)), key=lambda i: legs[i][0])
    for prev, cur in pairwise(ordered):
        if legs[cur][0] < legs[prev][1]:
            return cur
    return None


# What the summary reads of a trip and a delegation (models.Trip and models.Delegation are such).

class PlaceLike(Protocol):
    country: str


class TravellerLike(Protocol):
    name: str
    email: str | None
    elected_official: bool


class TripLike(Protocol):
    department: str
    purpose: Purpose
    estimated_cost: Decimal | None
    currency: str | None

    @property  # read-only members: a Trip's list[Leg] is a Sequence[PlaceLike] only to a reader
    def legs(self) -> Sequence[PlaceLike]: ...

    @property
    def travellers(self) -> Sequence[TravellerLike]: ...


class DelegationLike(Protocol):
    origin_country: str
    visitors: int
    official_guest: bool


@dataclass(frozen=True)
class YearSummary:
    """A year's activity in the numbers a council report needs."""

    trips: int
    legs: int
    travellers: int  # traveller places on trips: one person on two trips counts twice
    distinct_travellers: int  # different people, by email or else by name
    trips_with_elected_officials: int
    destinations_by_country: dict[str, int]  # trips with a leg in the country
    purposes: dict[str, int]
    departments: dict[str, int]
    estimated_cost: dict[str, Decimal]  # by currency
    delegations: int
    visitors: int
    official_guest_delegations: int
    delegations_by_origin_country: dict[str, int]
    visitors_by_origin_country: dict[str, int]


def summarise(trips: Sequence[TripLike], delegations: Sequence[DelegationLike]) -> YearSummary:
    """The numbers for the trips and delegations that count (the caller picks the year's)."""
    people = {(t.email or t.name).strip().casefold() for trip in trips for t in trip.travellers}
    costs: dict[str, Decimal] = {}
    for trip in trips:
        if trip.estimated_cost is not None and trip.currency:
            costs[trip.currency] = costs.get(trip.currency, Decimal("0")) + trip.estimated_cost
    visitors_by_country: Counter[str] = Counter()
    for d in delegations:
        visitors_by_country[d.origin_country] += d.visitors
    return YearSummary(
        trips=len(trips), legs=sum(len(t.legs) for t in trips),
        travellers=sum(len(t.travellers) for t in trips), distinct_travellers=len(people),
        trips_with_elected_officials=sum(any(x.elected_official for x in t.travellers) for t in trips),
        destinations_by_country=dict(Counter(c for t in trips for c in {leg.country for leg in t.legs})),
        purposes=dict(Counter(t.purpose for t in trips)), departments=dict(Counter(t.department for t in trips)),
        estimated_cost=costs, delegations=len(delegations), visitors=sum(d.visitors for d in delegations),
        official_guest_delegations=sum(d.official_guest for d in delegations),
        delegations_by_origin_country=dict(Counter(d.origin_country for d in delegations)),
        visitors_by_origin_country=dict(visitors_by_country))
