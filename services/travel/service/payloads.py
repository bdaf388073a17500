"""The events' content, read off the stored trips, legs and delegations (or rows shaped like them)."""

from __future__ import annotations

from typing import Any

from services.travel.events import DelegationV1, LegV1, OverlapTripV1, TravellerV1
from services.travel.models import Delegation, Leg, Traveller, Trip


def leg_v1(leg: Leg) -> LegV1:
    return LegV1(city=leg.city, country=leg.country, start_date=leg.start_date, end_date=leg.end_date,
                 place_id=leg.place_id, place_name=leg.place_name, latitude=leg.latitude,
                 longitude=leg.longitude, timezone=leg.timezone)


def traveller_v1(t: Traveller) -> TravellerV1:
    return TravellerV1(name=t.name, email=t.email, role=t.role, elected_official=t.elected_official)


def trip_fields(trip: Trip) -> dict[str, Any]:
    """What every trip event carries (TripV1's fields)."""
    return dict(trip_id=trip.id, department=trip.department, title=trip.title, purpose=trip.purpose,
                status=trip.status, visibility=trip.visibility, estimated_cost=trip.estimated_cost,
                currency=trip.currency, travellers=[traveller_v1(t) for t in trip.travellers],
                legs=[leg_v1(leg) for leg in trip.legs])


def trip_at(trip: Trip, leg: Leg) -> OverlapTripV1:
    """A trip as an overlap or crossing alert shows it: at the leg that meets the other party."""
    return OverlapTripV1(trip_id=trip.id, department=trip.department, title=trip.title, purpose=trip.purpose,
                         visibility=trip.visibility, travellers=[traveller_v1(t) for t in trip.travellers],
                         leg=leg_v1(leg))


def delegation_v1(d: Delegation) -> DelegationV1:
    return DelegationV1(delegation_id=d.id, host_department=d.host_department, origin_city=d.origin_city,
                        origin_country=d.origin_country, origin_place_id=d.origin_place_id,
                        origin_place_name=d.origin_place_name, origin_latitude=d.origin_latitude,
                        origin_longitude=d.origin_longitude, organisation=d.organisation, visitors=d.visitors,
                        arrival=d.arrival, departure=d.departure, official_guest=d.official_guest)
