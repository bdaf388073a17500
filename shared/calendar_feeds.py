"""Secret calendar URLs (iCalendar) for a department or the whole city: made, listed and revoked
through the API, read by calendar apps that cannot send an API key. Each service keeps its own
token table (same columns) and says what a feed holds; the feed's frame (`new_feed`, `vtimezone`,
`revised`) is the same for all."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from importlib.resources import files
from typing import Annotated, Protocol

import icalendar
from fastapi import APIRouter, HTTPException, Path, Request, Response
from pydantic import BaseModel, Field
from sqlmodel import col, select

from shared.app import RuntimeDep
from shared.auth import DEPARTMENT, CurrentPrincipal, client_address, hash_key, new_key
from shared.openapi import problem_response
from shared.policy import Policy
from shared.problems import Problem
from shared.uow import UnitOfWork, utcnow

# (unit of work, department or None for the whole city) → the iCalendar body
FeedBuilder = Callable[[UnitOfWork, str | None], Awaitable[bytes]]


class CalendarTokenRow(Protocol):
    """The columns every service's calendar token table has."""

    id: str
    token_hash: str  # HMAC of the token; the token is shown once
    department: str | None  # None: the whole city
    label: str | None
    created_by: str  # the id of the API key that made it
    created_at: datetime
    revoked_at: datetime | None

    def __init__(self, *, token_hash: str, department: str | None, label: str | None, created_by: str,
                 created_at: datetime) -> None: ...


class CalendarTokenIn(BaseModel):
    department: str | None = Field(None, pattern=DEPARTMENT.pattern,
                                   description="whose calendar; omit for the whole city (coordinators only)")
    label: str | None = Field(None, max_length=200, description="who subscribes, e.g. 'ECON team calendar'")


class CalendarTokenOut(BaseModel):
    id: str
    department: str | None
    label: str | None
    created_at: datetime
    revoked_at: datetime | None


class CalendarTokenCreated(CalendarTokenOut):
    url: str = Field(description="the secret subscription address (absolute, as the caller reached this "
                                 "server); shown only now")


def add_calendar_routes(router: APIRouter, token_table: type[CalendarTokenRow], feed: FeedBuilder,
                        policy: Policy, action: str = "calendar.subscribe") -> None:
    """`POST/GET /calendar/tokens`, `DELETE /calendar/tokens/{id}` and `GET /calendar/{token}.ics`;
    who may make, see and revoke a token is the service's `policy` row `action` (a token of no
    department is the whole city's calendar)."""

    @router.post("/calendar/tokens", status_code=201, response_model=CalendarTokenCreated, tags=["calendar"],
                 summary="Make a secret calendar URL (iCalendar) for a department or the whole city")
    async def create_calendar_token(body: CalendarTokenIn, principal: CurrentPrincipal, runtime: RuntimeDep,
                                    request: Request) -> CalendarTokenCreated:
        department = body.department if body.department or principal.role != "department" else principal.department
        policy.require(principal, action, department)
        token = new_key().removeprefix("oia_")
        row = token_table(token_hash=hash_key(runtime.settings.secret_key, token), department=department,
                          label=body.label, created_by=principal.key_id, created_at=utcnow())
        async with runtime.uow() as uow:
            uow.session.add(row)
            uow.audit("calendar_token", row.id, "created", None, {"department": department, "label": body.label})
            await uow.commit()
        return CalendarTokenCreated(**CalendarTokenOut.model_validate(row, from_attributes=True).model_dump(),
                                    # Absolute, as calendar apps take it: this server as the caller reached it.
                                    url=str(request.url_for("calendar_feed", token=token)))

    @router.get("/calendar/tokens", response_model=list[CalendarTokenOut], tags=["calendar"])
    async def list_calendar_tokens(principal: CurrentPrincipal, runtime: RuntimeDep) -> list[CalendarTokenOut]:
        query = select(token_table).order_by(col(token_table.created_at))
        if (own := policy.own_only(principal, action)) is not None:
            query = query.where(col(token_table.department) == own)
        async with runtime.reads() as uow:
            return [CalendarTokenOut.model_validate(t, from_attributes=True)
                    for t in (await uow.session.exec(query)).all()]

    @router.delete("/calendar/tokens/{token_id}", status_code=204, tags=["calendar"],
                   summary="Revoke a calendar URL: subscriptions stop updating")
    async def revoke_calendar_token(token_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> Response:
        async with runtime.uow() as uow:
            row = await uow.session.get(token_table, token_id)
            if row is None or not policy.allows(principal, action, row.department):
                raise Problem(404, f"calendar token {token_id} not found")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                uow.audit("calendar_token", row.id, "revoked")
                await uow.commit()
        return Response(status_code=204)

    @router.get("/calendar/{token}.ics", tags=["calendar"], response_class=Response,
                summary="The iCalendar feed behind a secret URL (no API key: calendar apps cannot send one)",
                responses={200: {"description": "The feed (RFC 5545)",
                                 "content": {"text/calendar": {"schema": {"type": "string"}}}},
                           404: problem_response(404, "No such calendar, or its address was revoked"),
                           429: problem_response(429, "Too many unknown calendar addresses from this address")})
    async def calendar_feed(token: Annotated[str, Path(description="the secret in the address that "
                                                       "`POST /calendar/tokens` gave: it is the credential")],
                            runtime: RuntimeDep, request: Request) -> Response:
        async with runtime.reads() as uow:
            row = (await uow.session.exec(select(token_table).where(
                col(token_table.token_hash) == hash_key(runtime.settings.secret_key, token),
                col(token_table.revoked_at).is_(None)))).first()
            if row is None:
                # The token is a credential: guessing is throttled like a bad API key.
                if (wait := runtime.keyring.failures.failed(client_address(request))) is not None:
                    raise HTTPException(status_code=429, headers={"Retry-After": str(wait)},
                                        detail=f"too many unknown calendar addresses from here; retry in {wait} s")
                raise Problem(404, "no such calendar (the address may have been revoked)")
            body = await feed(uow, row.department)
        return Response(body, media_type="text/calendar; charset=utf-8",
                        headers={"Cache-Control": "private, max-age=300"})


# -- the feed's frame ---------------------------------------------------------------------------

def new_feed(prodid: str, name: str, zone: str) -> icalendar.Calendar:
    """A published calendar (no METHOD) named `name`, holding the VTIMEZONE of `zone` whether or
    not an event needs it: RFC 5545's grammar wants at least one component, even in an empty feed."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", prodid)
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", name)
    calendar.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    calendar.add_component(vtimezone(zone))
    return calendar


def revised(moment: datetime) -> datetime:
    """An object's revision time in UTC, for DTSTAMP and LAST-MODIFIED (RFC 5545 §3.8.7.2: in a
    published feed DTSTAMP is when the object last changed, so an unchanged feed reads the same on
    every fetch). SQLite hands times back without their offset; we store only UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


_NAME = r"[A-Za-z]{3,}|<[+\-0-9A-Za-z]+>"
_OFFSET = r"[+-]?\d{1,2}(?::\d{2}){0,2}"
_RULE = r"M(\d{1,2})\.([1-5])\.([0-6])(?:/([+-]?\d{1,3}(?::\d{2}){0,2}))?"
_POSIX_TZ = re.compile(rf"({_NAME})({_OFFSET})(?:({_NAME})({_OFFSET})?,{_RULE},{_RULE})?")
_WEEKDAYS = ("SU", "MO", "TU", "WE", "TH", "FR", "SA")  # POSIX counts from Sunday


def vtimezone(tzid: str) -> icalendar.Timezone:
    """The zone's VTIMEZONE: its current rule as yearly RRULEs from 1970 on (as Outlook's and
    tzurl.org's are), read from the TZ string that ends the zone's TZif file (RFC 8536 §3.3) in the
    pinned tzdata. It holds for every year to come, where icalendar's list of transitions stops at
    2038; rule changes before today are not in it, as feeds show what is current and coming."""
    footer = files("tzdata.zoneinfo").joinpath(*tzid.split("/")).read_bytes().rstrip(b"\n").rsplit(b"\n", 1)[-1]
    rule = _POSIX_TZ.fullmatch(footer.decode("ascii"))
    if rule is None:
        raise ValueError(f"{tzid}: its TZ string {footer!r} is no yearly rule a VTIMEZONE can say")
    standard = -_duration(rule[2])  # POSIX counts hours west of Greenwich
    zone = icalendar.Timezone()
    zone.add("tzid", tzid)
    if rule[3] is None:
        zone.add_component(_observance(icalendar.TimezoneStandard(), rule[1], standard, standard))
        return zone
    daylight = -_duration(rule[4]) if rule[4] else standard + timedelta(hours=1)
    zone.add_component(_observance(icalendar.TimezoneDaylight(), rule[3], standard, daylight, *rule.groups()[4:8]))
    zone.add_component(_observance(icalendar.TimezoneStandard(), rule[1], daylight, standard, *rule.groups()[8:12]))
    return zone


def _observance(observance: icalendar.Component, name: str, before: timedelta, after: timedelta,
                month: str | None = None, week: str | None = None, weekday: str | None = None,
                at: str | None = None) -> icalendar.Component:
    observance.add("tzname", name.strip("<>"))
    observance.add("tzoffsetfrom", before)
    observance.add("tzoffsetto", after)
    if month is None or week is None or weekday is None:
        observance.add("dtstart", datetime(1970, 1, 1))
        return observance
    clock = _duration(at or "2")  # local time of the change, by the clock before it
    if not timedelta(0) <= clock < timedelta(days=1):
        raise ValueError(f"a change at {at} h crosses into another day, which a yearly RRULE cannot say")
    first = _nth_weekday(1970, int(month), int(week), int(weekday))
    observance.add("dtstart", datetime.combine(first, datetime.min.time()) + clock)
    observance.add("rrule", {"freq": "yearly", "bymonth": int(month),
                             "byday": f"{-1 if week == '5' else week}{_WEEKDAYS[int(weekday)]}"})
    return observance


def _nth_weekday(year: int, month: int, week: int, weekday: int) -> date:
    """The `week`th (5: the last) `weekday` (0: Sunday) of the month, as POSIX TZ rules count."""
    first = date(year, month, 1)
    day = first + timedelta(days=(weekday - 1 - first.weekday()) % 7 + 7 * (week - 1))
    while day.month != month:
        day -= timedelta(days=7)
    return day


def _duration(text: str) -> timedelta:
    """ "-1", "3", "+5:30", "2:00:00" as a signed duration."""
    hours, _, rest = text.lstrip("+-").partition(":")
    minutes, _, seconds = rest.partition(":")
    span = timedelta(hours=int(hours), minutes=int(minutes or 0), seconds=int(seconds or 0))
    return -span if text.startswith("-") else span
