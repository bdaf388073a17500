"""Travel's personal data, and how its audit trail shows a change (shared/audit.py; masked there
as `PERSONAL` says, which main.py hands to the runtime).

Trips name their travellers (names, emails, roles, and whether they hold elected office): those
are personal, so an audit entry says that the travellers changed, never who they are or were.
Delegations, overlaps and crossings name departments, places and dates, not people.
"""

from __future__ import annotations

from typing import Any

from services.travel.models import Delegation, Trip
from shared.records import Holding

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


DEPARTMENTS_AND_COORDINATORS = ("its department; coordinators and admins; readers and other departments unless "
                                "restricted")
HOLDINGS = (
    Holding("trip", (), "a department's journey; its title is free text and may name someone (erasure scrubs "
            "a name from it)", "as long as the city keeps its travel records", DEPARTMENTS_AND_COORDINATORS),
    Holding("traveller", ("name", "email", "role", "elected_official"),
            "who travels: for the coordination alerts and the council report's numbers",
            "TRAVELLERS_RETENTION_DAYS after the trip ended, then anonymised", DEPARTMENTS_AND_COORDINATORS,
            "travellers_retention_days"),
    Holding("leg", (), "where and when a trip goes", "with its trip", DEPARTMENTS_AND_COORDINATORS),
    Holding("overlap", ("triaged_by",), "two departments at one place at one time, and the coordinator's mark "
            "(by whom)", "with its trips", "the departments of both trips, coordinators and admins"),
    Holding("crossing", (), "our trip to a place whose delegation visits us", "with its trip",
            DEPARTMENTS_AND_COORDINATORS),
    Holding("delegation", (), "a delegation visiting us (an organisation and a head count, no names)",
            "as long as the city keeps its travel records", "everyone with a key"),
    Holding("calendartoken", ("label",), "a secret calendar URL; its label may name who uses it",
            "until revoked", "its department; coordinators and admins"),
)
