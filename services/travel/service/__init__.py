"""Travel's service layer, the only place that writes and commits: `trips`, `delegations`,
`overlaps` (the checks that follow every change to either, the overlaps and crossings they find,
the coordinators' marks), `reports` (the year's summary, the calendar feeds); `payloads` reads the
events' content off the stored rows. Each write runs in one unit of work: its state change and its
events commit together."""

from __future__ import annotations

from dataclasses import dataclass

from shared.places import Gazetteer


@dataclass(frozen=True)
class TravelContext:
    """What the use cases need from the running service, built once at bootstrap (main.py)."""

    places: Gazetteer
    radius_km: float  # two departments closer than this on shared dates overlap
