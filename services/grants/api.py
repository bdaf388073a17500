"""Grants' HTTP routes: calls and their import, applications and their pipeline, eligibility,
partner search, the city-profile boilerplate, reports, jobs and the deadline calendar. Each asks
the policy, calls the service layer and maps its result to a response body (schemas.py)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.responses import PlainTextResponse

from services.grants import domain, portal
from services.grants.domain import CallStatus, Language, Programme, Stage
from services.grants.models import Application, CalendarToken, Call, CallVersion, StageChange, TextBlock
from services.grants.policy import POLICY
from services.grants.schemas import (
    ApplicationIn,
    ApplicationOut,
    ApplicationPatch,
    CallIn,
    CallOut,
    CallPatch,
    CallVersionOut,
    CheckOut,
    DeadlineOut,
    EligibilityOut,
    ImportReport,
    JobReport,
    JobsIn,
    PartnerCandidateOut,
    PartnerCandidatesOut,
    ReportOut,
    StageChangeOut,
    StageIn,
    TextBlockIn,
    TextBlockOut,
)
from services.grants.service import GrantsContext, applications, calls, profile, reminders
from shared.app import RuntimeDep
from shared.auth import DEPARTMENT, CurrentPrincipal, Principal
from shared.calendar_feeds import add_calendar_routes
from shared.listing import Cursor
from shared.openapi import problems
from shared.place_routes import add_place_routes
from shared.problems import FieldError, Problem
from shared.render import json_response
from shared.uow import UnitOfWork, utcnow

router = APIRouter()

_BLOCK_KEY = re.compile(r"[a-z][a-z0-9_]{0,59}")


def _context(runtime: RuntimeDep) -> GrantsContext:
    return runtime.context


Context = Annotated[GrantsContext, Depends(_context)]


# -- calls ----------------------------------------------------------------------------------------

def _call_out(call: Call, now: datetime | None = None) -> CallOut:
    rules = calls.rules_of(call)
    return CallOut(**call.model_dump(exclude={"deadlines"}),
                   deadlines=[DeadlineOut(stage=s, at=at) for s, at in calls.deadlines_of(call)],
                   status=calls.status_of(call, now or utcnow()),
                   rules={"min_applicants": rules.min_applicants, "min_countries": rules.min_countries,
                          "min_eu_members": rules.min_eu_members, "source": rules.source})


@router.post("/calls", status_code=201, response_model=CallOut, tags=["calls"], summary="Record a call",
             responses=problems(409))
async def create_call(body: Annotated[CallIn, Body(openapi_examples={"town_twinning": {
                          "summary": "CERV town twinning, one stage",
                          "value": {"identifier": "CERV-2027-CITIZENS-TOWN-TT", "programme": "cerv",
                                    "title": "Town-Twinning", "opens_at": "2026-09-15T00:00:00+02:00",
                                    "deadlines": ["2027-02-18T17:00:00+01:00"], "budget": 4000000,
                                    "grant_min": 10000, "grant_max": 60000, "cofinancing_rate": 0.9,
                                    "min_applicants": 2, "min_countries": 2, "min_eu_members": 1,
                                    "themes": ["town twinning", "citizens"]}}})],
                      principal: CurrentPrincipal, runtime: RuntimeDep, ctx: Context) -> CallOut:
    POLICY.require(principal, "call.record")
    async with runtime.uow() as uow:
        return _call_out(await calls.create_call(uow, ctx, body.model_dump(exclude_unset=True)))


@router.post("/calls/import", tags=["calls"], response_model=ImportReport,
             summary="Import calls from the EU portal's search API (SEDIA JSON)", responses=problems(502),
             openapi_extra={"requestBody": {"required": False, "content": {"application/json": {
                 "schema": {"type": "object", "description": "a SEDIA search response: {results: [{metadata}]}"}}}}})
async def import_calls(request: Request, principal: CurrentPrincipal, runtime: RuntimeDep, ctx: Context,
                       url: Annotated[str | None, Query(max_length=2000, pattern=r"^https?://",
                                                        description="fetch the response from here instead")] = None,
                       ) -> Response:
    """Upserts by identifier, all or nothing. Rows the office cannot use (no deadline yet, a
    programme it does not follow, a repeated identifier) are skipped and reported; a changed
    deadline, status or budget is a new version and `grants.call.updated.v1`."""
    POLICY.require(principal, "call.import")
    if url:
        async with runtime.uow() as uow:
            report = await calls.import_from_portal(uow, ctx, url)
    else:
        answer = await _read(request)  # the whole body before the transaction opens
        async with runtime.uow() as uow:
            report = await calls.import_answer(uow, ctx, answer)
    return await json_response(ImportReport, report)


async def _read(request: Request) -> bytes:
    body = await portal.gather(request.stream(), "body", "import the portal's pages one by one")
    if not body:
        raise FieldError("body", "empty: send the portal's JSON, or give ?url=")
    return body


@router.get("/calls", response_model=list[CallOut], tags=["calls"],
            summary="Calls, soonest coming deadline first, then closed ones (next page: `cursor` = X-Next-Cursor)")
async def list_calls(principal: CurrentPrincipal, runtime: RuntimeDep, response: Response,
                     programme: Programme | None = None, status: CallStatus | None = None,
                     theme: Annotated[str | None, Query(min_length=1, max_length=60)] = None,
                     q: Annotated[str | None, Query(min_length=2, max_length=100, description="in title or id")] = None,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                     cursor: Annotated[str | None, Query(max_length=120)] = None) -> list[CallOut]:
    POLICY.require(principal, "call.read")
    now = utcnow()
    async with runtime.reads() as uow:
        page, next_cursor = await calls.list_calls(uow, now, programme=programme, status=status, theme=theme, q=q,
                                                   limit=limit, cursor=cursor)
    if next_cursor:
        response.headers["X-Next-Cursor"] = next_cursor
    return [_call_out(c, now) for c in page]


@router.get("/calls/{call_id}", response_model=CallOut, tags=["calls"])
async def get_call(call_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> CallOut:
    POLICY.require(principal, "call.read")
    async with runtime.reads() as uow:
        return _call_out(await calls.load_call(uow, call_id))


@router.patch("/calls/{call_id}", response_model=CallOut, tags=["calls"],
              summary="Change a call: a new deadline, status or budget is a new version, said to applicants")
async def update_call(call_id: str, body: CallPatch, principal: CurrentPrincipal, runtime: RuntimeDep) -> CallOut:
    POLICY.require(principal, "call.record")
    changes = body.model_dump(exclude_unset=True)
    for name in ("title", "programme", "deadlines"):
        if name in changes and changes[name] is None:
            raise FieldError(name, "may not be null")
    async with runtime.uow() as uow:
        return _call_out(await calls.update_call(uow, call_id, changes))


@router.get("/calls/{call_id}/versions", response_model=list[CallVersionOut], tags=["calls"],
            summary="What changed in a call, version by version")
async def call_versions(call_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> list[CallVersion]:
    POLICY.require(principal, "call.read")
    async with runtime.reads() as uow:
        return await calls.call_versions(uow, call_id)


# -- applications ---------------------------------------------------------------------------------

def _eligibility(ctx: GrantsContext, application: Application, call: Call) -> EligibilityOut:
    checks = applications.eligibility(ctx, application, call)
    return EligibilityOut(application_id=application.id, call_id=call.id, eligible=all(c.passed for c in checks),
                          checks=[CheckOut(**c.__dict__) for c in checks])


def _application_out(ctx: GrantsContext, application: Application, call: Call) -> ApplicationOut:
    deadline = applications.deadline_of(application, call)
    return ApplicationOut(
        **application.model_dump(exclude={"owner_name", "owner_email"}), call_identifier=call.identifier,
        programme=call.programme, owner={"name": application.owner_name, "email": application.owner_email},
        next_stages=list(domain.moves(application.stage, applications.invitable(application, call))),
        next_deadline=deadline[1] if deadline and deadline[1] > utcnow() else None,
        internal_deadline=applications.internal_deadline(application, call),
        eligibility=_eligibility(ctx, application, call))


async def _load_with_call(uow: UnitOfWork, principal: Principal, application_id: str) -> tuple[Application, Call]:
    """The application and its call, or 404 when there is no application the caller may see."""
    application = await applications.load_application(uow, application_id)
    if not POLICY.allows(principal, "application.read", application.lead_department):
        raise Problem(404, f"application {application_id} not found")
    return application, await applications.call_of(uow, application)


@router.post("/applications", status_code=201, response_model=ApplicationOut, tags=["applications"],
             summary="Start an application for a call", responses=problems(503))
async def create_application(body: Annotated[ApplicationIn, Body(openapi_examples={"twinning": {
                                 "summary": "A town-twinning application with Kraków",
                                 "value": {"call_id": "0b7c3a52-8f0e-4d1e-9a59-2f1f6f0c9e11",
                                           "lead_department": "ENV",
                                           "title": "Twinning for climate action", "requested_amount": 25000,
                                           "owner": {"name": "Jana Weber", "email": "jana.weber@city.example"},
                                           "consortium": [{"name": "City of Kraków", "city": "Kraków",
                                                           "country": "PL", "role": "partner"}]}}})],
                             principal: CurrentPrincipal, runtime: RuntimeDep,
                             ctx: Context) -> ApplicationOut:
    department = body.lead_department or principal.department
    POLICY.require(principal, "application.start", department)
    if department is None:
        raise FieldError("lead_department", "say which department leads the application")
    data = body.model_dump()
    await applications.check_partnerships(ctx, data["consortium"])
    async with runtime.uow() as uow:
        application = await applications.create_application(uow, ctx, {**data, "lead_department": department})
        return _application_out(ctx, application, await applications.call_of(uow, application))


@router.get("/applications", response_model=list[ApplicationOut], tags=["applications"],
            summary="Applications, newest first (the next page: `cursor` = the X-Next-Cursor header)")
async def list_applications(principal: CurrentPrincipal, runtime: RuntimeDep, ctx: Context, response: Response,
                            department: Annotated[str | None, Query(pattern=DEPARTMENT.pattern)] = None,
                            stage: Stage | None = None, call_id: Annotated[str | None, Query(max_length=36)] = None,
                            programme: Programme | None = None,
                            limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                            cursor: Cursor = None) -> list[ApplicationOut]:
    async with runtime.reads() as uow:
        page = await applications.list_applications(
            uow, department=department, readable_by=POLICY.own_only(principal, "application.read"), stage=stage,
            call_id=call_id, programme=programme, limit=limit, cursor=cursor)
    return [_application_out(ctx, a, c) for a, c in page.send(response)]


@router.get("/applications/{application_id}", response_model=ApplicationOut, tags=["applications"])
async def get_application(application_id: str, principal: CurrentPrincipal, runtime: RuntimeDep,
                          ctx: Context) -> ApplicationOut:
    async with runtime.reads() as uow:
        return _application_out(ctx, *await _load_with_call(uow, principal, application_id))


@router.patch("/applications/{application_id}", response_model=ApplicationOut, tags=["applications"],
              summary="Change an application being prepared (only the fields given)", responses=problems(409, 503))
async def update_application(application_id: str, body: ApplicationPatch, principal: CurrentPrincipal,
                             runtime: RuntimeDep, ctx: Context) -> ApplicationOut:
    changes = body.model_dump(exclude_unset=True)
    for name in ("title", "owner", "requested_amount", "cofinancing_amount", "city_role", "consortium",
                 "internal_buffer_days"):
        if name in changes and changes[name] is None:
            raise FieldError(name, "may not be null")
    async with runtime.uow() as uow:  # whether the caller may change it, before partners is asked anything
        application, _ = await _load_with_call(uow, principal, application_id)
        POLICY.require(principal, "application.change", application.lead_department)
    # Asked before the transaction opens: no database connection waits on the partners service.
    await applications.check_partnerships(ctx, changes.get("consortium") or [])
    async with runtime.uow() as uow:
        application, call = await _load_with_call(uow, principal, application_id)
        POLICY.require(principal, "application.change", application.lead_department)
        application = await applications.update_application(uow, ctx, application, changes)
        return _application_out(ctx, application, call)


@router.post("/applications/{application_id}/stage", response_model=ApplicationOut, tags=["applications"],
             summary="Move an application through the pipeline (a move not allowed is a 409)",
             responses=problems(409))
async def move_stage(application_id: str, body: StageIn, principal: CurrentPrincipal, runtime: RuntimeDep,
                     ctx: Context) -> ApplicationOut:
    async with runtime.uow() as uow:
        application, call = await _load_with_call(uow, principal, application_id)
        POLICY.require(principal, "application.move", application.lead_department)
        application = await applications.move_stage(uow, application, body.stage, body.reason, body.awarded_amount,
                                                    principal.who)
        return _application_out(ctx, application, call)


@router.get("/applications/{application_id}/stages", response_model=list[StageChangeOut], tags=["applications"],
            summary="The application's way through the pipeline")
async def stage_history(application_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> list[StageChange]:
    async with runtime.reads() as uow:
        await _load_with_call(uow, principal, application_id)
        return await applications.stage_history(uow, application_id)


@router.get("/applications/{application_id}/eligibility", response_model=EligibilityOut, tags=["applications"],
            summary="The consortium against the call's rules, each check with the rule it comes from")
async def eligibility(application_id: str, principal: CurrentPrincipal, runtime: RuntimeDep,
                      ctx: Context) -> EligibilityOut:
    async with runtime.reads() as uow:
        return _eligibility(ctx, *await _load_with_call(uow, principal, application_id))


@router.get("/applications/{application_id}/partner-candidates", response_model=PartnerCandidatesOut,
            tags=["applications"], summary="Candidate partners from the partners service's finder, "
                                           "those that close an eligibility gap first", responses=problems(503))
async def partner_candidates(application_id: str, principal: CurrentPrincipal, runtime: RuntimeDep, ctx: Context,
                             country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
                             theme: Annotated[str | None, Query(min_length=1, max_length=60)] = None,
                             eu_member: bool | None = None,
                             limit: Annotated[int, Query(ge=1, le=200)] = 50) -> PartnerCandidatesOut:
    async with runtime.reads() as uow:
        application, call = await _load_with_call(uow, principal, application_id)
    POLICY.require(principal, "application.find_partners", application.lead_department)
    candidates = await applications.partner_candidates(ctx, application, country=country, theme=theme,
                                                       eu_member=eu_member, limit=limit)
    return PartnerCandidatesOut(application_id=application.id,
                                missing=[c for c in _eligibility(ctx, application, call).checks if not c.passed],
                                candidates=[PartnerCandidateOut(**c) for c in candidates])


# -- boilerplate ----------------------------------------------------------------------------------

@router.get("/boilerplate", response_class=PlainTextResponse, tags=["boilerplate"],
            summary="The city profile for applications, as Markdown (en or de)",
            responses={200: {"content": {"text/markdown": {}}}, **problems(503)})
async def city_profile(principal: CurrentPrincipal, runtime: RuntimeDep, ctx: Context,
                       lang: Language = "en") -> Response:
    POLICY.require(principal, "boilerplate.read")
    async with runtime.reads() as uow:
        text = await profile.city_profile(uow, ctx, lang)
    return Response(text, media_type="text/markdown; charset=utf-8", headers={"Content-Language": lang})


@router.get("/boilerplate/blocks", response_model=list[TextBlockOut], tags=["boilerplate"])
async def list_blocks(principal: CurrentPrincipal, runtime: RuntimeDep,
                      lang: Language | None = None) -> list[TextBlock]:
    POLICY.require(principal, "boilerplate.read")
    async with runtime.reads() as uow:
        return await profile.text_blocks(uow, lang)


@router.put("/boilerplate/blocks/{key}", response_model=TextBlockOut, tags=["boilerplate"],
            summary="Write a text block of the city profile, in one language")
async def put_block(key: str, body: TextBlockIn, principal: CurrentPrincipal, runtime: RuntimeDep,
                    lang: Language = "en") -> TextBlock:
    POLICY.require(principal, "boilerplate.write")
    if not _BLOCK_KEY.fullmatch(key):
        raise FieldError("path.key", "lower-case letters, digits and _ (e.g. oia, track_record)")
    async with runtime.uow() as uow:
        return await profile.write_block(uow, key, lang, body.title, body.body, body.position)


@router.delete("/boilerplate/blocks/{key}", status_code=204, tags=["boilerplate"])
async def delete_block(key: str, principal: CurrentPrincipal, runtime: RuntimeDep, lang: Language = "en") -> Response:
    POLICY.require(principal, "boilerplate.write")
    async with runtime.uow() as uow:
        await profile.delete_block(uow, key, lang)
    return Response(status_code=204)


# -- reports --------------------------------------------------------------------------------------

@router.get("/reports", response_model=ReportOut, tags=["reports"],
            summary="The year's pipeline: applications by stage and programme, sums, win rate, funds won")
async def report(principal: CurrentPrincipal, runtime: RuntimeDep,
                 year: Annotated[int, Query(ge=2000, le=2100)]) -> ReportOut:
    """An application counts in the year it was submitted, or, not yet submitted, the year it was
    started."""
    async with runtime.reads() as uow:
        found = await applications.year_report(uow, year, POLICY.own_only(principal, "application.read"))
    return ReportOut(**found.__dict__)


# -- jobs and the calendar ------------------------------------------------------------------------

@router.post("/jobs/run", response_model=JobReport, tags=["jobs"],
             summary="Run the scheduled jobs (deadline reminders) now, or as of `now` (admin)")
async def run_jobs(runtime: RuntimeDep, principal: CurrentPrincipal,
                   body: Annotated[JobsIn | None, Body()] = None) -> JobReport:
    POLICY.require(principal, "jobs.run")
    async with runtime.uow() as uow:
        return await reminders.run_jobs(uow, body.now if body and body.now else utcnow())


add_place_routes(router, POLICY)
add_calendar_routes(router, CalendarToken, reminders.deadline_calendar, POLICY)
