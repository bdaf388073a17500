"""Grants' service layer, the only place that writes and commits: each use case runs in one unit
of work (state change + events commit together). By aggregate: `calls` (and their import),
`applications` (the pipeline, eligibility, partner search, the year's report), `reminders`
(the deadline jobs and calendar), `profile` (the city profile's text blocks)."""

from __future__ import annotations

from dataclasses import dataclass

from services.grants.partners_client import PartnersClient
from services.grants.portal import Portal
from shared.places import Gazetteer, Place


@dataclass(frozen=True)
class GrantsContext:
    """What grants' use cases are given, built once at bootstrap (main.py)."""

    places: Gazetteer
    home: Place  # the city applying
    city_themes: tuple[str, ...]  # lower case: a new call mentioning one is announced
    partners: PartnersClient
    portal: Portal
