"""Travel's use cases, one module per aggregate: `trips`, `delegations`, `overlaps` (the checks that
follow every change to either, and the overlaps and crossings they find). Each write runs in one
unit of work and commits its state change and its events together; nothing else writes."""

from __future__ import annotations

from dataclasses import dataclass

from shared.places import Gazetteer


@dataclass(frozen=True)
class TravelContext:
    """What the use cases need from the running service, built once at bootstrap (main.py)."""

    places: Gazetteer
    radius_km: float  # two departments closer than this on shared dates overlap
