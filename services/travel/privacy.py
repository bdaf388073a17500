"""Travel's personal data, and how its audit trail shows a change (shared/audit.py; masked there
as `PERSONAL` says, which main.py hands to the runtime).

Trips name their travellers (names, emails, roles, and whether they hold elected office): those
are personal, so an audit entry says that the travellers changed, never who they are or were.
Delegations, overlaps and crossings name departments, places and dates, not people.
"""

from __future__ import annotations

from typing import Any

from services.travel.models import Delegation, Trip

PERSONAL = {"trip": frozenset({"travellers"}), "delegation": frozenset(), "overlap": frozenset(),
            "calendar_token": frozenset()}


def trip_record(trip: Trip) -> dict[str, Any]:
    """A trip as its audit entries compare it: its fields, its legs as where and when, its travellers."""
    return {
        "department": trip.department, "title": trip.title, "purpose": trip.purpose, "status": trip.status,
        "visibility": trip.visibility, "estimated_cost": trip.estimated_cost, "currency": trip.currency,
        "legs": [f"{leg.place_name} ({leg.country}) {leg.start_date.isoformat()} – {leg.end_date.isoformat()}"
                 for leg in trip.legs],
        "travellers": [{"name": t.name, "email": t.email, "role": t.role, "elected_official": t.elected_official}
                       for t in trip.travellers],
    }


def delegation_record(delegation: Delegation) -> dict[str, Any]:
    return {
        "host_department": delegation.host_department, "status": delegation.status,
        "origin": f"{delegation.origin_place_name} ({delegation.origin_country})",
        "organisation": delegation.organisation, "visitors": delegation.visitors,
        "arrival": delegation.arrival, "departure": delegation.departure,
        "official_guest": delegation.official_guest,
    }
