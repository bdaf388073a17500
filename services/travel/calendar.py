"""iCalendar feeds of trips and delegations, for Outlook and Google Calendar subscriptions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import icalendar

from services.travel.models import Delegation, Trip
from shared.bounds import shifted
from shared.calendar_feeds import new_feed, revised

PRODID = "-//Diplomacity//Travel//EN"
# planned → tentative, booked/completed → confirmed, cancelled stays in the feed as cancelled so
# subscribed calendars remove it.
STATUS = {"planned": "TENTATIVE", "booked": "CONFIRMED", "completed": "CONFIRMED", "cancelled": "CANCELLED"}


def feed(name: str, trips: list[Trip], delegations: list[Delegation], *,
         shows_whole: Callable[[Trip], bool]) -> bytes:
    """One all-day event per trip leg and per delegation. A trip not `shows_whole` shows only as
    busy (department, place, dates): no title, purpose or travellers. All-day events have no zone:
    the feed's VTIMEZONE is UTC, the zone of its stamps."""
    calendar = new_feed(PRODID, name, "UTC")
    for trip in trips:
        hidden = not shows_whole(trip)
        for leg in trip.legs:
            event = icalendar.Event()
            event.add("uid", f"trip-{trip.id}-leg-{leg.position}@diplomacity")
            event.add("dtstamp", revised(trip.updated_at))
            event.add("last-modified", revised(trip.updated_at))
            event.add("dtstart", leg.start_date)
            event.add("dtend", shifted(leg.end_date, timedelta(days=1)))  # DTEND of an all-day event is exclusive
            event.add("summary", f"{trip.department}: {'restricted trip' if hidden else trip.title} — {leg.place_name}")
            event.add("location", f"{leg.place_name}, {leg.country}")
            event.add("geo", (leg.latitude, leg.longitude))
            event.add("status", STATUS.get(trip.status, "TENTATIVE"))
            event.add("transp", "TRANSPARENT")
            if not hidden:
                travellers = ", ".join(t.name + (" (elected)" if t.elected_official else "") for t in trip.travellers)
                event.add("description", f"Purpose: {trip.purpose.replace('_', ' ')}\n"
                                         f"Travellers: {travellers or 'not yet named'}")
            calendar.add_component(event)
    for delegation in delegations:
        event = icalendar.Event()
        event.add("uid", f"delegation-{delegation.id}@diplomacity")
        event.add("dtstamp", revised(delegation.updated_at))
        event.add("last-modified", revised(delegation.updated_at))
        event.add("dtstart", delegation.arrival)
        event.add("dtend", shifted(delegation.departure, timedelta(days=1)))
        guest = ", guests of the city" if delegation.official_guest else ""
        event.add("summary", f"Delegation from {delegation.origin_place_name} "
                             f"({delegation.visitors} visitors{guest}), hosted by {delegation.host_department}")
        if delegation.organisation:
            event.add("description", delegation.organisation)
        event.add("status", "CANCELLED" if delegation.status == "cancelled" else "CONFIRMED")
        event.add("transp", "TRANSPARENT")
        calendar.add_component(event)
    return calendar.to_ical()
