"""Secret calendar URLs (iCalendar) for a department or the whole city: made, listed and revoked
through the API, read by calendar apps that cannot send an API key. Each service keeps its own
token table (same columns) and says what a feed holds."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field
from sqlmodel import col, select

from shared.app import RuntimeDep
from shared.auth import DEPARTMENT, CurrentPrincipal, client_address, hash_key, new_key
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
            await uow.commit()
        return CalendarTokenCreated(**CalendarTokenOut.model_validate(row, from_attributes=True).model_dump(),
                                    # Absolute, as calendar apps take it: this server as the caller reached it.
                                    url=str(request.url_for("calendar_feed", token=token)))

    @router.get("/calendar/tokens", response_model=list[CalendarTokenOut], tags=["calendar"])
    async def list_calendar_tokens(principal: CurrentPrincipal, runtime: RuntimeDep) -> list[CalendarTokenOut]:
        query = select(token_table).order_by(col(token_table.created_at))
        if (own := policy.own_only(principal, action)) is not None:
            query = query.where(col(token_table.department) == own)
        async with runtime.uow() as uow:
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
                await uow.commit()
        return Response(status_code=204)

    @router.get("/calendar/{token}.ics", tags=["calendar"], response_class=Response,
                summary="The iCalendar feed behind a secret URL (no API key: calendar apps cannot send one)")
    async def calendar_feed(token: str, runtime: RuntimeDep, request: Request) -> Response:
        async with runtime.uow() as uow:
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
