"""Partners' service layer, the only place that writes and commits: one module per aggregate
(partnerships and their timelines, organisations and people, a register's import, the scheduled
jobs). Each use case runs inside one unit of work: a state change and its events commit together."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from shared.places import Gazetteer, Place
from shared.uow import utcnow


@dataclass(frozen=True)
class PartnersContext:
    """What the use cases need, built once at bootstrap (main.py)."""

    places: Gazetteer
    home: Place  # the city this office works for, in its timezone

    def today(self, now: datetime | None = None) -> date:
        """The office's date: the home city's, not UTC's. Just after midnight in Frankfurt it is
        still yesterday in UTC, and a contact logged for today would look like a future one."""
        return (now or utcnow()).astimezone(ZoneInfo(self.home.timezone)).date()
