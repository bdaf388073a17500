"""Travel's rules, free of I/O: what a trip may become, and when two trips overlap."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from typing import Protocol

from shared.places import EARTH_RADIUS_KM, haversine_km

PURPOSES = ("partner_city_visit", "trade_fair", "network_meeting", "eu_project_meeting", "conference",
            "anniversary", "other")
VISIBILITIES = ("normal", "restricted")
ACTIVE = ("planned", "booked")
# planned → booked → completed; planned or booked → cancelled. Cancelled and completed are final.
TRANSITIONS = {"planned": {"planned", "booked", "cancelled", "completed"},
               "booked": {"booked", "cancelled", "completed"},
               "completed": {"completed"},
               "cancelled": {"cancelled"}}
STATUSES = tuple(TRANSITIONS)
OVERLAP_STATUSES = ("open", "acknowledged", "coordinated", "not_related")
# A leg longer than this is not a trip (a posting abroad is another matter); the bound lets the
# overlap search look at a fixed window of start dates however long the history grows.
MAX_LEG_DAYS = 366
# Legs are filed in cells of CELL_DEGREES × CELL_DEGREES; a search reads the cells around a point.
CELL_DEGREES = 1.0
_CELLS_PER_ROW = int(360 / CELL_DEGREES) + 1


class LegLike(Protocol):
    id: int | None
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


def may_move(current: str, new: str) -> bool:
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
        columns = range(columns_per_row)
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
