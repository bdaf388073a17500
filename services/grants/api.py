"""Grants' HTTP routes: calls and their import, applications and their pipeline, eligibility,
partner search, the city-profile boilerplate, reports, jobs and the deadline calendar."""

from __future__ import annotations

import asyncio
import re
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time
from typing import Annotated, Any, Literal

import httpx
from fastapi import APIRouter, Body, Query, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, BeforeValidator, EmailStr, Field, field_validator
from sqlmodel import col, or_, select

from services.grants import boilerplate, calendar, domain, portal, service
from services.grants.models import Application, CalendarToken, Call, CallVersion, StageChange, TextBlock
from services.grants.partners_client import PartnersClient
from services.grants.policy import POLICY
from shared import outbound
from shared.app import RuntimeDep
from shared.auth import DEPARTMENT, CurrentPrincipal, Principal
from shared.bounds import Instant, PlaceId, cursor_instant
from shared.calendar_feeds import add_calendar_routes
from shared.problems import FieldError, Problem
from shared.render import json_response
from shared.uow import utcnow

router = APIRouter()

Programme = Literal[tuple(domain.PROGRAMMES)]  # type: ignore[valid-type]
Stage = Literal[domain.STAGES]  # type: ignore[valid-type]
Role = Literal[domain.ROLES]  # type: ignore[valid-type]
Language = Literal[boilerplate.LANGUAGES]  # type: ignore[valid-type]
Amount = Annotated[float, Field(ge=0, le=1e12)]
_BLOCK_KEY = re.compile(r"[a-z][a-z0-9_]{0,59}")


def grants_context(runtime) -> service.GrantsContext:
    return runtime.context


def _moment(at: time):
    """A timestamp with its offset, or a date meaning `at` o'clock in Brussels that day (a time
    without an offset is ambiguous, so refused)."""
    def parse(value: Any) -> Any:
        if isinstance(value, str) and len(value.strip()) == 10:
            try:
                value = date.fromisoformat(value.strip())
            except ValueError:
                raise ValueError("not a date (YYYY-MM-DD) or a timestamp with its offset") from None
        if isinstance(value, date) and not isinstance(value, datetime):
            return datetime.combine(value, at, tzinfo=domain.BRUSSELS)
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                raise ValueError("not a date (YYYY-MM-DD) or a timestamp with its offset") from None
        if isinstance(value, datetime) and value.tzinfo is None:
            raise ValueError("give the offset (e.g. 2027-03-31T17:00:00+02:00), or only the date")
        return value
    return BeforeValidator(parse)


# A deadline given as a date is 17:00 Brussels time that day; an opening, the start of the day.
Deadline = Annotated[Instant, _moment(domain.DEADLINE_TIME)]
Opening = Annotated[Instant, _moment(time(0, 0))]


# -- calls ----------------------------------------------------------------------------------------

class CallFields(BaseModel):
    title: str = Field(min_length=1, max_length=500)
    topic: str | None = Field(None, max_length=500)
    opens_at: Opening | None = Field(None, description="a date means 00:00 in Brussels")
    deadlines: list[Deadline] = Field(
        min_length=1, max_length=2, description="one per stage, in order; a date means 17:00 Europe/Brussels")
    budget: Amount | None = None
    grant_min: Amount | None = None
    grant_max: Amount | None = None
    cofinancing_rate: float | None = Field(None, gt=0, le=1, description="the share the EU pays, e.g. 0.9")
    min_applicants: int | None = Field(None, ge=1, le=100)
    min_countries: int | None = Field(None, ge=1, le=100)
    min_eu_members: int | None = Field(None, ge=0, le=27)
    rules_source: str | None = Field(None, max_length=300, description="where the consortium rules come from")
    themes: list[Annotated[str, Field(min_length=1, max_length=60)]] = Field(default_factory=list, max_length=50)
    url: str | None = Field(None, max_length=1000, pattern=r"^https?://")


class CallIn(CallFields):
    identifier: str = Field(min_length=3, max_length=120, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                            examples=["CERV-2027-CITIZENS-TOWN-TT"])
    programme: Programme


class CallPatch(BaseModel):
    title: str | None = Field(None, min_length=1, max_length=500)
    topic: str | None = Field(None, max_length=500)
    programme: Programme | None = None
    opens_at: Opening | None = None
    deadlines: list[Deadline] | None = Field(None, min_length=1, max_length=2)
    budget: Amount | None = None
    grant_min: Amount | None = None
    grant_max: Amount | None = None
    cofinancing_rate: float | None = Field(None, gt=0, le=1)
    min_applicants: int | None = Field(None, ge=1, le=100)
    min_countries: int | None = Field(None, ge=1, le=100)
    min_eu_members: int | None = Field(None, ge=0, le=27)
    rules_source: str | None = Field(None, max_length=300)
    themes: list[Annotated[str, Field(min_length=1, max_length=60)]] | None = Field(None, max_length=50)
    url: str | None = Field(None, max_length=1000, pattern=r"^https?://")


class DeadlineOut(BaseModel):
    stage: int
    at: datetime


class CallOut(BaseModel):
    id: str
    identifier: str
    programme: str
    title: str
    topic: str | None
    opens_at: datetime | None
    deadlines: list[DeadlineOut]
    status: Literal["forthcoming", "open", "closed"]
    budget: float | None
    grant_min: float | None
    grant_max: float | None
    cofinancing_rate: float | None
    rules: dict[str, Any]
    themes: list[str]
    url: str | None
    source: str
    version: int
    created_at: datetime
    updated_at: datetime


class CallVersionOut(BaseModel):
    version: int
    changes: list[dict[str, Any]]
    recorded_at: datetime


def _call_out(call: Call, now: datetime | None = None) -> CallOut:
    rules = service.rules_of(call)
    return CallOut(**call.model_dump(exclude={"deadlines"}),
                   deadlines=[DeadlineOut(stage=s, at=at) for s, at in service.deadlines_of(call)],
                   status=service.status_of(call, now or utcnow()),
                   rules={"min_applicants": rules.min_applicants, "min_countries": rules.min_countries,
                          "min_eu_members": rules.min_eu_members, "source": rules.source})


@router.post("/calls", status_code=201, response_model=CallOut, tags=["calls"], summary="Record a call")
async def create_call(body: CallIn, principal: CurrentPrincipal, runtime: RuntimeDep) -> CallOut:
    POLICY.require(principal, "call.record")
    async with runtime.uow() as uow:
        call = await service.create_call(uow, grants_context(runtime), body.model_dump(exclude_unset=True))
        await uow.commit()
        return _call_out(call)


@router.post("/calls/import", tags=["calls"], response_model=service.ImportReport,
             summary="Import calls from the EU portal's search API (SEDIA JSON)",
             openapi_extra={"requestBody": {"required": False, "content": {"application/json": {
                 "schema": {"type": "object", "description": "a SEDIA search response: {results: [{metadata}]}"}}}}})
async def import_calls(request: Request, principal: CurrentPrincipal, runtime: RuntimeDep,
                       url: Annotated[str | None, Query(max_length=2000, pattern=r"^https?://",
                                                        description="fetch the response from here instead")] = None,
                       ) -> Response:
    """Upserts by identifier, all or nothing. Rows the office cannot use (no deadline yet, a
    programme it does not follow, a repeated identifier) are skipped and reported; a changed
    deadline, status or budget is a new version and `grants.call.updated.v1`."""
    POLICY.require(principal, "call.import")
    body = await _fetch(url, runtime.settings) if url else await _read(request)
    parsed = await asyncio.to_thread(portal.parse, body)  # seconds of CPU for a large answer: off the loop
    async with runtime.uow() as uow:
        report = await service.import_calls(uow, grants_context(runtime), parsed.calls, parsed.skipped)
    return await json_response(service.ImportReport, report)


async def _gather(chunks: AsyncIterator[bytes], field: str, advice: str) -> bytes:
    """The whole body, at most portal.MAX_BYTES of it (413 beyond, before reading on)."""
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > portal.MAX_BYTES:
            raise FieldError(field, f"larger than {portal.MAX_BYTES} bytes: {advice}", status=413)
        parts.append(chunk)
    return b"".join(parts)


async def _read(request: Request) -> bytes:
    body = await _gather(request.stream(), "body", "import the portal's pages one by one")
    if not body:
        raise FieldError("body", "empty: send the portal's JSON, or give ?url=")
    return body


async def _fetch(url: str, settings) -> bytes:
    try:
        host = httpx.URL(url).host
    except httpx.InvalidURL as exc:
        raise FieldError("query.url", f"not a valid URL: {exc}") from None
    if host not in settings.portal_hosts:
        raise FieldError("query.url", f"{host} is not a portal host this office fetches from "
                                      f"({', '.join(settings.portal_hosts)}; setting PORTAL_HOSTS)")
    guard = settings.outbound_guard()
    try:
        await guard.check_url(url)  # https, and a public address: checked again as it connects
        async with guard.client(timeout=settings.portal_timeout_seconds) as client:
            async with client.stream("GET", url) as response:
                if response.status_code != 200:
                    raise FieldError("query.url", f"the portal answered {response.status_code}", status=502)
                return await _gather(response.aiter_bytes(), "query.url", "fetch fewer results per page")
    except outbound.Refused as exc:
        raise FieldError("query.url", str(exc)) from None
    except FieldError as exc:
        if exc.status == 413:  # the portal's answer, not the request, is too large
            exc.status = 422
        raise
    except httpx.HTTPError as exc:
        raise FieldError("query.url", f"could not fetch it ({exc.__class__.__name__}: {exc}); upload the file "
                                      f"instead", status=502) from exc


@router.get("/calls", response_model=list[CallOut], tags=["calls"],
            summary="Calls, soonest coming deadline first, then closed ones (next page: `cursor` = X-Next-Cursor)")
async def list_calls(principal: CurrentPrincipal, runtime: RuntimeDep, response: Response,
                     programme: Programme | None = None,
                     status: Literal["forthcoming", "open", "closed"] | None = None,
                     theme: Annotated[str | None, Query(min_length=1, max_length=60)] = None,
                     q: Annotated[str | None, Query(min_length=2, max_length=100, description="in title or id")] = None,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                     cursor: Annotated[str | None, Query(max_length=120)] = None) -> list[CallOut]:
    POLICY.require(principal, "call.read")
    query = select(Call)
    if programme:
        query = query.where(Call.programme == programme)
    if q:
        query = query.where(or_(col(Call.title).ilike(f"%{q}%"), col(Call.identifier).ilike(f"%{q}%")))
    async with runtime.uow() as uow:
        calls = (await uow.session.exec(query)).all()
    now = utcnow()
    # The order and the status derive from the dates, and themes are a JSON list: all done here.
    found = [_call_out(c, now) for c in calls if theme is None or theme.lower() in c.themes]
    found = [c for c in found if status is None or c.status == status]

    def place(c: CallOut) -> str:
        """Where a call stands in the list, as text that sorts: coming deadlines first, soonest first."""
        upcoming = domain.next_deadline([(d.stage, d.at) for d in c.deadlines], now)
        closing = upcoming[1] if upcoming else c.deadlines[-1].at
        return f"{0 if upcoming else 1}|{closing.astimezone(UTC).isoformat()}|{c.id}"

    ranked = sorted((place(c), c) for c in found)
    if cursor:
        ranked = [(key, c) for key, c in ranked if key > cursor]
    page = ranked[:limit]
    if len(ranked) > limit:
        response.headers["X-Next-Cursor"] = page[-1][0]
    return [c for _, c in page]


@router.get("/calls/{call_id}", response_model=CallOut, tags=["calls"])
async def get_call(call_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> CallOut:
    POLICY.require(principal, "call.read")
    async with runtime.uow() as uow:
        return _call_out(await service.load_call(uow, call_id))


@router.patch("/calls/{call_id}", response_model=CallOut, tags=["calls"],
              summary="Change a call: a new deadline, status or budget is a new version, said to applicants")
async def update_call(call_id: str, body: CallPatch, principal: CurrentPrincipal, runtime: RuntimeDep) -> CallOut:
    POLICY.require(principal, "call.record")
    changes = body.model_dump(exclude_unset=True)
    for name in ("title", "programme", "deadlines"):
        if name in changes and changes[name] is None:
            raise FieldError(name, "may not be null")
    async with runtime.uow() as uow:
        call = await service.load_call(uow, call_id)
        await service.update_call(uow, call, changes)
        await uow.commit()
        return _call_out(call)


@router.get("/calls/{call_id}/versions", response_model=list[CallVersionOut], tags=["calls"],
            summary="What changed in a call, version by version")
async def call_versions(call_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> list[CallVersion]:
    POLICY.require(principal, "call.read")
    async with runtime.uow() as uow:
        await service.load_call(uow, call_id)
        return list((await uow.session.exec(select(CallVersion).where(CallVersion.call_id == call_id)
                                            .order_by(CallVersion.version))).all())


# -- applications ---------------------------------------------------------------------------------

class OwnerIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr


class ConsortiumMemberIn(BaseModel):
    name: str = Field(min_length=1, max_length=300, description="the organisation, e.g. 'City of Kraków'")
    city: str = Field(min_length=1, max_length=100)
    country: str = Field(min_length=2, max_length=60, description="ISO 3166 code or English name")
    place_id: PlaceId | None = Field(None, description="GeoNames id, to pick one of several candidates")
    role: Role = "partner"
    partnership_id: str | None = Field(None, min_length=1, max_length=36,
                                       description="the partnership it comes from, if any")


class ApplicationIn(BaseModel):
    call_id: str = Field(min_length=1, max_length=36)
    lead_department: str | None = Field(None, pattern=DEPARTMENT.pattern, description="default: the caller's")
    title: str = Field(min_length=1, max_length=300)
    owner: OwnerIn
    requested_amount: Amount
    cofinancing_amount: Amount = 0.0
    city_role: Literal["coordinator", "partner"] = "coordinator"
    consortium: list[ConsortiumMemberIn] = Field(default_factory=list, max_length=100)
    notes: str | None = Field(None, max_length=10_000)
    internal_buffer_days: int = Field(domain.DEFAULT_INTERNAL_BUFFER_DAYS, ge=0, le=60)


class ApplicationPatch(BaseModel):
    title: str | None = Field(None, min_length=1, max_length=300)
    owner: OwnerIn | None = None
    requested_amount: Amount | None = None
    cofinancing_amount: Amount | None = None
    city_role: Literal["coordinator", "partner"] | None = None
    consortium: list[ConsortiumMemberIn] | None = Field(None, max_length=100)
    notes: str | None = Field(None, max_length=10_000)
    internal_buffer_days: int | None = Field(None, ge=0, le=60)


class StageIn(BaseModel):
    stage: Stage
    reason: str | None = Field(None, max_length=1000, description="required when rejected")
    awarded_amount: Amount | None = Field(None, description="when awarded (default: the amount requested)")

    @field_validator("reason")
    @classmethod
    def _strip(cls, reason: str | None) -> str | None:
        return reason.strip() or None if reason is not None else None


class CheckOut(BaseModel):
    rule: str
    required: int
    actual: int
    passed: bool
    source: str
    counted: list[str]


class EligibilityOut(BaseModel):
    application_id: str
    call_id: str
    eligible: bool
    checks: list[CheckOut]


class ApplicationOut(BaseModel):
    id: str
    call_id: str
    call_identifier: str
    programme: str
    lead_department: str
    title: str
    owner: dict[str, str]
    requested_amount: float
    cofinancing_amount: float
    awarded_amount: float | None
    city_role: str
    consortium: list[dict[str, Any]]
    notes: str | None
    stage: str
    stage_reason: str | None
    next_stages: list[str]
    call_stage: int = Field(description="the call's stage it is prepared for: 2 once invited to the second")
    internal_buffer_days: int
    next_deadline: datetime | None = Field(description="the call's deadline it works towards, while ahead")
    internal_deadline: datetime | None
    eligibility: EligibilityOut
    submitted_at: datetime | None
    decided_at: datetime | None
    created_at: datetime
    updated_at: datetime


class StageChangeOut(BaseModel):
    from_stage: str
    to_stage: str
    reason: str | None
    changed_by: str
    changed_at: datetime


def _eligibility(ctx: service.GrantsContext, application: Application, call: Call) -> EligibilityOut:
    checks = domain.eligibility(service.members_of(ctx, application), service.rules_of(call))
    return EligibilityOut(application_id=application.id, call_id=call.id, eligible=all(c.passed for c in checks),
                          checks=[CheckOut(**c.__dict__) for c in checks])


def _application_out(ctx: service.GrantsContext, application: Application, call: Call) -> ApplicationOut:
    deadline = service.deadline_of(application, call)
    return ApplicationOut(
        **application.model_dump(exclude={"owner_name", "owner_email"}), call_identifier=call.identifier,
        programme=call.programme, owner={"name": application.owner_name, "email": application.owner_email},
        next_stages=list(domain.moves(application.stage, service.invitable(application, call))),
        next_deadline=deadline[1] if deadline and deadline[1] > utcnow() else None,
        internal_deadline=service.internal_deadline(application, call),
        eligibility=_eligibility(ctx, application, call))


async def _load_with_call(uow, principal: Principal, application_id: str) -> tuple[Application, Call]:
    """The application and its call, or 404 when there is no application the caller may see."""
    application = await service.load_application(uow, application_id)
    if not POLICY.allows(principal, "application.read", application.lead_department):
        raise Problem(404, f"application {application_id} not found")
    return application, await uow.session.get(Call, application.call_id)


@router.post("/applications", status_code=201, response_model=ApplicationOut, tags=["applications"],
             summary="Start an application for a call")
async def create_application(body: ApplicationIn, principal: CurrentPrincipal, runtime: RuntimeDep) -> ApplicationOut:
    department = body.lead_department or principal.department
    POLICY.require(principal, "application.start", department)
    if department is None:
        raise FieldError("lead_department", "say which department leads the application")
    ctx = grants_context(runtime)
    data = body.model_dump()
    await _check_partnerships(runtime, ctx, data["consortium"])
    async with runtime.uow() as uow:
        application = await service.create_application(uow, ctx, {**data, "lead_department": department})
        return _application_out(ctx, application, await uow.session.get(Call, application.call_id))


async def _check_partnerships(runtime, ctx: service.GrantsContext, members: list[dict[str, Any]]) -> None:
    """A member's partnership must be one of ours in partners, with that member's city. Partners is
    asked only when a partnership is named: an application without one does not depend on it."""
    linked = [(i, m) for i, m in enumerate(service.resolve_consortium(ctx, members)) if m["partnership_id"]]
    client = PartnersClient.for_runtime(runtime)
    for i, member in linked:
        field, wanted = f"consortium[{i}].partnership_id", member["partnership_id"]
        partnership = await client.partnership(wanted)
        if partnership is None:
            raise FieldError(field, f"partners has no partnership {wanted}")
        if (partnership["home_city"], partnership["home_country"]) != (ctx.home.name, ctx.home.country):
            raise FieldError(field, f"partnership {wanted} is {partnership['home_city']}'s, not ours")
        if partnership["partner_place_id"] != member["place_id"]:
            raise FieldError(field, f"partnership {wanted} is with {partnership['partner_city']} "
                                    f"({partnership['partner_country']}), not {member['city']}")


@router.get("/applications", response_model=list[ApplicationOut], tags=["applications"],
            summary="Applications, newest first (the next page: `cursor` = the X-Next-Cursor header)")
async def list_applications(principal: CurrentPrincipal, runtime: RuntimeDep, response: Response,
                            department: Annotated[str | None, Query(pattern=DEPARTMENT.pattern)] = None,
                            stage: Stage | None = None, call_id: Annotated[str | None, Query(max_length=36)] = None,
                            programme: Programme | None = None,
                            limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                            cursor: Annotated[str | None, Query(max_length=80)] = None) -> list[ApplicationOut]:
    query = (select(Application, Call).join(Call, Call.id == Application.call_id)
             .order_by(col(Application.created_at).desc(), col(Application.id).desc()).limit(limit))
    if department:
        query = query.where(Application.lead_department == department)
    if (own := POLICY.own_only(principal, "application.read")) is not None:
        query = query.where(Application.lead_department == own)
    if stage:
        query = query.where(Application.stage == stage)
    if call_id:
        query = query.where(Application.call_id == call_id)
    if programme:
        query = query.where(Call.programme == programme)
    if cursor:
        created, _, last_id = cursor.partition("|")
        created_at = cursor_instant(created)
        query = query.where(or_(col(Application.created_at) < created_at,
                                (col(Application.created_at) == created_at) & (col(Application.id) < last_id)))
    ctx = grants_context(runtime)
    async with runtime.uow() as uow:
        rows = (await uow.session.exec(query)).all()
    if len(rows) == limit:
        last = rows[-1][0]
        response.headers["X-Next-Cursor"] = f"{last.created_at.isoformat()}|{last.id}"
    return [_application_out(ctx, a, c) for a, c in rows]


@router.get("/applications/{application_id}", response_model=ApplicationOut, tags=["applications"])
async def get_application(application_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> ApplicationOut:
    async with runtime.uow() as uow:
        return _application_out(grants_context(runtime), *await _load_with_call(uow, principal, application_id))


@router.patch("/applications/{application_id}", response_model=ApplicationOut, tags=["applications"],
              summary="Change an application being prepared (only the fields given)")
async def update_application(application_id: str, body: ApplicationPatch, principal: CurrentPrincipal,
                             runtime: RuntimeDep) -> ApplicationOut:
    changes = body.model_dump(exclude_unset=True)
    for name in ("title", "owner", "requested_amount", "cofinancing_amount", "city_role", "consortium",
                 "internal_buffer_days"):
        if name in changes and changes[name] is None:
            raise FieldError(name, "may not be null")
    ctx = grants_context(runtime)
    async with runtime.uow() as uow:  # whether the caller may change it, before partners is asked anything
        application, _ = await _load_with_call(uow, principal, application_id)
        POLICY.require(principal, "application.change", application.lead_department)
    # Asked before the transaction opens: no database connection waits on the partners service.
    await _check_partnerships(runtime, ctx, changes.get("consortium") or [])
    async with runtime.uow() as uow:
        application, call = await _load_with_call(uow, principal, application_id)
        POLICY.require(principal, "application.change", application.lead_department)
        application = await service.update_application(uow, ctx, application, changes)
        return _application_out(ctx, application, call)


@router.post("/applications/{application_id}/stage", response_model=ApplicationOut, tags=["applications"],
             summary="Move an application through the pipeline (a move not allowed is a 409)")
async def move_stage(application_id: str, body: StageIn, principal: CurrentPrincipal,
                     runtime: RuntimeDep) -> ApplicationOut:
    ctx = grants_context(runtime)
    async with runtime.uow() as uow:
        application, call = await _load_with_call(uow, principal, application_id)
        POLICY.require(principal, "application.move", application.lead_department)
        application = await service.move_stage(uow, application, body.stage, body.reason, body.awarded_amount,
                                               principal.who)
        return _application_out(ctx, application, call)


@router.get("/applications/{application_id}/stages", response_model=list[StageChangeOut], tags=["applications"],
            summary="The application's way through the pipeline")
async def stage_history(application_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> list[StageChange]:
    async with runtime.uow() as uow:
        await _load_with_call(uow, principal, application_id)
        return list((await uow.session.exec(select(StageChange).where(StageChange.application_id == application_id)
                                            .order_by(StageChange.changed_at, StageChange.id))).all())


@router.get("/applications/{application_id}/eligibility", response_model=EligibilityOut, tags=["applications"],
            summary="The consortium against the call's rules, each check with the rule it comes from")
async def eligibility(application_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> EligibilityOut:
    async with runtime.uow() as uow:
        return _eligibility(grants_context(runtime), *await _load_with_call(uow, principal, application_id))


class PartnerCandidateOut(BaseModel):
    source: str
    city: str
    country: str
    eu_member: bool
    themes: list[str]
    partnership_id: str | None = None
    network: str | None = None
    last_contact_on: date | None = None
    adds_country: bool = Field(description="from a country not yet in the consortium")
    adds_eu_member_state: bool = Field(description="from an EU member state not yet in the consortium")


class PartnerCandidatesOut(BaseModel):
    application_id: str
    missing: list[CheckOut] = Field(description="the eligibility checks the consortium does not pass yet")
    candidates: list[PartnerCandidateOut]


@router.get("/applications/{application_id}/partner-candidates", response_model=PartnerCandidatesOut,
            tags=["applications"], summary="Candidate partners from the partners service's finder, "
                                           "those that close an eligibility gap first")
async def partner_candidates(application_id: str, principal: CurrentPrincipal, runtime: RuntimeDep,
                             country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
                             theme: Annotated[str | None, Query(min_length=1, max_length=60)] = None,
                             eu_member: bool | None = None,
                             limit: Annotated[int, Query(ge=1, le=200)] = 50) -> PartnerCandidatesOut:
    ctx = grants_context(runtime)
    async with runtime.uow() as uow:
        application, call = await _load_with_call(uow, principal, application_id)
    POLICY.require(principal, "application.find_partners", application.lead_department)
    found = await PartnersClient.for_runtime(runtime).finder(
        country=country, theme=theme, eu_member=eu_member, limit=200)
    members = service.members_of(ctx, application)
    countries = {m.country for m in members if m.role != "associated"}
    taken = {(m["city"], m["country"]) for m in application.consortium}
    candidates = [PartnerCandidateOut(**c, adds_country=c["country"] not in countries,
                                      adds_eu_member_state=c["eu_member"] and c["country"] not in countries)
                  for c in found if (c["city"], c["country"]) not in taken]
    candidates.sort(key=lambda c: (not c.adds_eu_member_state, not c.adds_country))  # stable: finder's order next
    checks = _eligibility(ctx, application, call).checks
    return PartnerCandidatesOut(application_id=application.id, missing=[c for c in checks if not c.passed],
                                candidates=candidates[:limit])


# -- boilerplate ----------------------------------------------------------------------------------

class TextBlockIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=20_000, description="Markdown")
    position: int = Field(0, ge=0, le=1000)


class TextBlockOut(TextBlockIn):
    key: str
    language: str
    updated_at: datetime


@router.get("/boilerplate", response_class=PlainTextResponse, tags=["boilerplate"],
            summary="The city profile for applications, as Markdown (en or de)",
            responses={200: {"content": {"text/markdown": {}}}})
async def city_profile(principal: CurrentPrincipal, runtime: RuntimeDep, lang: Language = "en") -> Response:
    POLICY.require(principal, "boilerplate.read")
    ctx = grants_context(runtime)
    async with runtime.uow() as uow:
        blocks = list((await uow.session.exec(select(TextBlock).where(TextBlock.language == lang))).all())
    client = PartnersClient.for_runtime(runtime)
    partnerships = await client.partnerships(ctx.home.name)
    networks = await client.networks()
    text = boilerplate.compose(lang, ctx.home, blocks, partnerships, networks)
    return Response(text, media_type="text/markdown; charset=utf-8", headers={"Content-Language": lang})


@router.get("/boilerplate/blocks", response_model=list[TextBlockOut], tags=["boilerplate"])
async def list_blocks(principal: CurrentPrincipal, runtime: RuntimeDep,
                      lang: Language | None = None) -> list[TextBlock]:
    POLICY.require(principal, "boilerplate.read")
    query = select(TextBlock).order_by(TextBlock.language, TextBlock.position, TextBlock.key)
    if lang:
        query = query.where(TextBlock.language == lang)
    async with runtime.uow() as uow:
        return list((await uow.session.exec(query)).all())


@router.put("/boilerplate/blocks/{key}", response_model=TextBlockOut, tags=["boilerplate"],
            summary="Write a text block of the city profile, in one language")
async def put_block(key: str, body: TextBlockIn, principal: CurrentPrincipal, runtime: RuntimeDep,
                    lang: Language = "en") -> TextBlock:
    POLICY.require(principal, "boilerplate.write")
    if not _BLOCK_KEY.fullmatch(key):
        raise FieldError("path.key", "lower-case letters, digits and _ (e.g. oia, track_record)")
    async with runtime.uow() as uow:
        block = (await uow.session.exec(select(TextBlock).where(TextBlock.key == key,
                                                                TextBlock.language == lang))).first()
        if block is None:
            block = TextBlock(key=key, language=lang, title=body.title, body=body.body, position=body.position,
                              updated_at=utcnow())
            uow.session.add(block)
        else:
            block.title, block.body, block.position, block.updated_at = body.title, body.body, body.position, utcnow()
        await uow.commit()
        return block


@router.delete("/boilerplate/blocks/{key}", status_code=204, tags=["boilerplate"])
async def delete_block(key: str, principal: CurrentPrincipal, runtime: RuntimeDep, lang: Language = "en") -> Response:
    POLICY.require(principal, "boilerplate.write")
    async with runtime.uow() as uow:
        block = (await uow.session.exec(select(TextBlock).where(TextBlock.key == key,
                                                                TextBlock.language == lang))).first()
        if block is None:
            raise Problem(404, f"no {lang} text block {key}")
        await uow.session.delete(block)
        await uow.commit()
    return Response(status_code=204)


# -- reports --------------------------------------------------------------------------------------

class ReportOut(BaseModel):
    year: int
    applications: int
    by_stage: dict[str, int]
    by_programme: dict[str, int]
    requested: float = Field(description="euros requested by the year's applications")
    awarded: float = Field(description="euros awarded to them")
    decided: int = Field(description="applications the EU has decided on (won or rejected)")
    won: int
    win_rate: float | None = Field(description="won / decided; none before any decision")
    won_by_department: dict[str, float]


@router.get("/reports", response_model=ReportOut, tags=["reports"],
            summary="The year's pipeline: applications by stage and programme, sums, win rate, funds won")
async def report(principal: CurrentPrincipal, runtime: RuntimeDep,
                 year: Annotated[int, Query(ge=2000, le=2100)]) -> ReportOut:
    """An application counts in the year it was submitted, or, not yet submitted, the year it was
    started."""
    start, end = datetime(year, 1, 1, tzinfo=domain.BRUSSELS), datetime(year + 1, 1, 1, tzinfo=domain.BRUSSELS)
    submitted_in = (col(Application.submitted_at) >= start) & (col(Application.submitted_at) < end)
    started_in = (col(Application.submitted_at).is_(None) & (col(Application.created_at) >= start)
                  & (col(Application.created_at) < end))
    async with runtime.uow() as uow:
        query = (select(Application, Call.programme).join(Call, Call.id == Application.call_id)
                 .where(or_(submitted_in, started_in)))
        if (own := POLICY.own_only(principal, "application.read")) is not None:
            query = query.where(Application.lead_department == own)
        rows = (await uow.session.exec(query)).all()
    won = [a for a, _ in rows if a.stage in domain.DECIDED]
    decided = len(won) + sum(1 for a, _ in rows if a.stage == "rejected")
    by_department: dict[str, float] = defaultdict(float)
    for a in won:
        by_department[a.lead_department] += a.awarded_amount or 0.0
    return ReportOut(year=year, applications=len(rows), by_stage=dict(Counter(a.stage for a, _ in rows)),
                     by_programme=dict(Counter(p for _, p in rows)), requested=sum(a.requested_amount for a, _ in rows),
                     awarded=sum(a.awarded_amount or 0.0 for a in won), decided=decided, won=len(won),
                     win_rate=round(len(won) / decided, 4) if decided else None,
                     won_by_department=dict(sorted(by_department.items())))


# -- jobs and the calendar ------------------------------------------------------------------------

class JobsIn(BaseModel):
    now: Instant | None = Field(None, description="run as of this instant (default: now)")


class JobsOut(BaseModel):
    as_of: datetime
    applications: int
    reminders: int


@router.post("/jobs/run", response_model=JobsOut, tags=["jobs"],
             summary="Run the scheduled jobs (deadline reminders) now, or as of `now` (admin)")
async def run_jobs(runtime: RuntimeDep, principal: CurrentPrincipal,
                   body: Annotated[JobsIn | None, Body()] = None) -> service.JobReport:
    POLICY.require(principal, "jobs.run")
    async with runtime.uow() as uow:
        return await service.run_jobs(uow, body.now if body and body.now else utcnow())


async def _feed(uow, department: str | None) -> bytes:
    now = utcnow()
    query = select(Application, Call).join(Call, Call.id == Application.call_id).where(
        col(Application.stage).in_(domain.PREPARING))
    if department:
        query = query.where(Application.lead_department == department)
    applications = list((await uow.session.exec(query)).all())
    if department:  # a department's calendar: the calls it is applying to
        calls = list({call.id: call for _, call in applications}.values())
    else:
        calls = [c for c in (await uow.session.exec(select(Call))).all() if service.status_of(c, now) != "closed"]
    name = f"{department} grant deadlines" if department else "EU funding deadlines"
    return calendar.feed(name, calls, applications, now)


add_calendar_routes(router, CalendarToken, "grants", _feed, POLICY)
