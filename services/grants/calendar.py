"""An iCalendar feed of deadlines: the calls' stage deadlines and the applications' internal ones."""

from __future__ import annotations

from datetime import datetime, timedelta

import icalendar

from services.grants.models import Application, Call
from services.grants.service.applications import internal_deadline
from services.grants.service.calls import deadlines_of
from shared.bounds import shifted
from shared.calendar_feeds import new_feed, revised

PRODID = "-//Diplomacity//Grants//EN"


def feed(name: str, calls: list[Call], applications: list[tuple[Application, Call]]) -> bytes:
    """One event per call deadline, and one per application's internal deadline (a buffer before the
    call's deadline it works towards). Each ends at the deadline, so calendars show the time it closes."""
    calendar = new_feed(PRODID, name, "Europe/Brussels")  # its VTIMEZONE: every client shows 17:00 right
    calendar.add("x-wr-timezone", "Europe/Brussels")
    for call in calls:
        stages = deadlines_of(call)
        for stage, at in stages:
            suffix = f" (stage {stage} of 2)" if len(stages) == 2 else ""
            calendar.add_component(_event(f"call-{call.id}-stage-{stage}", call.updated_at, at,
                                          f"Deadline{suffix}: {call.identifier} — {call.title}", call.url))
    for application, call in applications:
        internal = internal_deadline(application, call)
        if internal is None:
            continue
        changed = max(revised(application.updated_at), revised(call.updated_at))  # it moves with the call's deadline
        calendar.add_component(_event(
            f"application-{application.id}-internal", changed, at,
            f"Internal deadline: {application.title} ({application.lead_department}, {call.identifier})",
            call.url, f"{application.internal_buffer_days} days before the call's deadline. "
                      f"Owner: {application.owner_name} <{application.owner_email}>. Stage: "
                      f"{application.stage.replace('_', ' ')}."))
    return calendar.to_ical()


def _event(uid: str, modified: datetime, at: datetime, summary: str, url: str | None,
           description: str | None = None) -> icalendar.Event:
    event = icalendar.Event()
    event.add("uid", f"{uid}@diplomacity")
    event.add("dtstamp", revised(modified))
    event.add("last-modified", revised(modified))
    event.add("dtstart", shifted(at, -timedelta(hours=1)))
    event.add("dtend", at)
    event.add("summary", summary)
    if url:
        event.add("url", url)
    if description:
        event.add("description", description)
    alarm = icalendar.Alarm()  # a day's warning in the subscriber's own calendar too
    alarm.add("action", "DISPLAY")
    alarm.add("description", summary)
    alarm.add("trigger", timedelta(days=-1))
    event.add_component(alarm)
    return event
