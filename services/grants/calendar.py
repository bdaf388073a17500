"""An iCalendar feed of deadlines: the calls' stage deadlines and the applications' internal ones."""

from __future__ import annotations

from datetime import datetime, timedelta

import icalendar

from services.grants.models import Application, Call
from services.grants.service.applications import internal_deadline
from services.grants.service.calls import deadlines_of
from shared.bounds import shifted

PRODID = "-//Diplomacity//Grants//EN"


def feed(name: str, calls: list[Call], applications: list[tuple[Application, Call]], now: datetime) -> bytes:
    """One event per call deadline, and one per application's internal deadline (a buffer before the
    call's deadline it works towards). Each ends at the deadline, so calendars show the time it closes."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", "Europe/Brussels")
    calendar.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    for call in calls:
        stages = deadlines_of(call)
        for stage, at in stages:
            suffix = f" (stage {stage} of 2)" if len(stages) == 2 else ""
            calendar.add_component(_event(f"call-{call.id}-stage-{stage}", now, call.updated_at, at,
                                          f"Deadline{suffix}: {call.identifier} — {call.title}", call.url))
    for application, call in applications:
        internal = internal_deadline(application, call)
        if internal is None:
            continue
        calendar.add_component(_event(
            f"application-{application.id}-internal", now, application.updated_at, internal,
            f"Internal deadline: {application.title} ({application.lead_department}, {call.identifier})",
            call.url, f"{application.internal_buffer_days} days before the call's deadline. "
                      f"Owner: {application.owner_name} <{application.owner_email}>. Stage: "
                      f"{application.stage.replace('_', ' ')}."))
    calendar.add_missing_timezones()  # a VTIMEZONE for Europe/Brussels, so every client shows 17:00 right
    return calendar.to_ical()


def _event(uid: str, now: datetime, modified: datetime, at: datetime, summary: str, url: str | None,
           description: str | None = None) -> icalendar.Event:
    event = icalendar.Event()
    event.add("uid", f"{uid}@diplomacity")
    event.add("dtstamp", now)
    event.add("last-modified", modified)
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
