"""Partners' HTTP routes: partnerships, their timelines, relationship health, anniversaries, jobs;
organisations, people and the partner finder."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from pydantic import BaseModel

from services.partners.domain import Health, Kind, OrganisationKind, Status, Theme
from services.partners.models import Contact, Organisation, Partnership, Person
from services.partners.policy import POLICY
from services.partners.schemas import (
    AnniversaryOut,
    Candidate,
    ContactIn,
    ContactOut,
    HealthOut,
    ImportOut,
    JobsIn,
    JobsOut,
    OrganisationIn,
    OrganisationOut,
    OrganisationPatch,
    PartnershipIn,
    PartnershipOut,
    PartnershipPatch,
    PersonIn,
    PersonOut,
    PersonPatch,
)
from services.partners.service import PartnersContext, imports, jobs, partnerships, people
from shared.app import RuntimeDep
from shared.auth import CurrentPrincipal, Principal
from shared.listing import Cursor
from shared.openapi import problems
from shared.place_routes import add_place_routes
from shared.problems import FieldError, Problem
from shared.render import json_response
from shared.uow import UnitOfWork

router = APIRouter()
Country = Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")]
Id = Annotated[str | None, Query(max_length=36)]


async def partners_context(runtime: RuntimeDep) -> PartnersContext:
    return runtime.context


ContextDep = Annotated[PartnersContext, Depends(partners_context)]


def _not_null(body: BaseModel, *names: str) -> None:
    """A patch may leave these out, not blank them."""
    for name in names:
        if name in body.model_fields_set and getattr(body, name) is None:
            raise FieldError(name, "may not be null")


# -- partnerships -----------------------------------------------------------------------------------

@router.post("/partnerships", status_code=201, response_model=PartnershipOut, tags=["partnerships"],
             summary="Record a partnership", responses=problems(409))
async def create_partnership(body: Annotated[PartnershipIn, Body(openapi_examples={"twin": {
                                 "summary": "A twinning with Kraków, formalised in 1993",
                                 "value": {"partner_city": "Kraków", "partner_country": "PL", "kind": "twin",
                                           "formalised_on": "1993-05-11", "themes": ["culture", "youth"],
                                           "desk_officer_name": "Jana Weber",
                                           "desk_officer_email": "jana.weber@city.example"}}})],
                             principal: CurrentPrincipal, runtime: RuntimeDep,
                             ctx: ContextDep) -> Partnership:
    POLICY.require(principal, "partnership.record", body.department)
    async with runtime.uow() as uow:
        return await partnerships.create_partnership(uow, ctx, body)


@router.post("/partnerships/import", response_model=ImportOut, tags=["partnerships"],
             summary="Import a register from CSV", openapi_extra={
    "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}, "example":
        "home_city,home_country,partner_city,partner_country,year,kind,themes\n"
        "Frankfurt am Main,DE,Krakau,PL,1991,twin,culture;economy\n"}}}})
async def import_partnerships(request: Request, principal: CurrentPrincipal, runtime: RuntimeDep, ctx: ContextDep,
                              mode: imports.Mode = "row_by_row") -> Response:
    """Columns: home_city, partner_city, partner_country, year; optional home_country, kind,
    themes (";"-separated), note. Every row is reported: created, duplicate, or rejected with the
    reason. `all_or_nothing` stores nothing if any row is rejected (422 with the rejected rows)."""
    POLICY.require(principal, "partnership.import")
    text = await imports.spool(request.stream())  # the body, decoded
    async with runtime.uow() as uow:
        report = await imports.import_register(uow, ctx, text, mode)
    return await json_response(ImportOut, report, row=imports.RowReport._make)  # a report per row: off the loop


@router.get("/partnerships", response_model=list[PartnershipOut], tags=["partnerships"],
            summary="Partnerships, filtered")
async def list_partnerships(
    principal: CurrentPrincipal, runtime: RuntimeDep, country: Country = None,
    status: Status | None = None, kind: Kind | None = None, theme: Theme | None = None,
    home_city: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200, cursor: Cursor = None, *, response: Response,
) -> list[Partnership]:
    async with runtime.reads() as uow:
        return (await partnerships.list_partnerships(uow, POLICY.own_only(principal, "partnership.read"), country,
                                                     status, kind, theme, home_city, limit, cursor)).send(response)


@router.get("/partnerships/{partnership_id}", response_model=PartnershipOut, tags=["partnerships"])
async def get_partnership(partnership_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> Partnership:
    async with runtime.reads() as uow:
        return await _visible(uow, principal, partnership_id)


@router.patch("/partnerships/{partnership_id}", response_model=PartnershipOut, tags=["partnerships"],
              summary="Change a partnership")
async def update_partnership(partnership_id: str, body: PartnershipPatch, principal: CurrentPrincipal,
                             runtime: RuntimeDep, ctx: ContextDep) -> Partnership:
    _not_null(body, "formalised_on", "formalised_year_only", "kind", "status", "themes", "annual_themes",
              "mou_areas", "department", "ideal_contact_days", "max_contact_days")
    async with runtime.uow() as uow:
        partnership = await _visible(uow, principal, partnership_id)
        POLICY.require(principal, "partnership.record", partnership.department)
        if body.department:  # handing it over: the new owner's record too
            POLICY.require(principal, "partnership.record", body.department)
        return await partnerships.update_partnership(uow, ctx, partnership_id, body)


@router.get("/partnerships/{partnership_id}/timeline", response_model=list[ContactOut], tags=["partnerships"],
            summary="A partnership's contacts, newest first: trips, delegations, meetings, events")
async def timeline(partnership_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> list[Contact]:
    async with runtime.reads() as uow:
        await _visible(uow, principal, partnership_id)
        return await partnerships.timeline(uow, partnership_id,
                                           POLICY.own_only(principal, "contact.read_restricted"))


@router.post("/partnerships/{partnership_id}/contacts", status_code=201, response_model=ContactOut,
             tags=["partnerships"], summary="Log a meeting or an event with the partner city")
async def log_contact(partnership_id: str, body: ContactIn, principal: CurrentPrincipal, runtime: RuntimeDep,
                      ctx: ContextDep) -> Contact:
    department = body.department or principal.department
    POLICY.require(principal, "contact.log", department)
    async with runtime.uow() as uow:
        await _visible(uow, principal, partnership_id)
        return await partnerships.log_contact(uow, ctx, partnership_id, body, department)


@router.get("/relationship-health", response_model=list[HealthOut], tags=["health"],
            summary="Relationship health, most urgent first: the losing-touch list")
async def relationship_health(principal: CurrentPrincipal, runtime: RuntimeDep, ctx: ContextDep,
                              state: Health | None = None, as_of: date | None = None) -> list[HealthOut]:
    async with runtime.reads() as uow:
        return await partnerships.relationship_health(uow, POLICY.own_only(principal, "partnership.read"), state,
                                                      as_of or ctx.today())


@router.get("/anniversaries", response_model=list[AnniversaryOut], tags=["anniversaries"],
            summary="Every partnership's next jubilee within the window, soonest first")
async def anniversaries(principal: CurrentPrincipal, runtime: RuntimeDep, ctx: ContextDep,
                        within_days: Annotated[int, Query(ge=0, le=36500)] = 365,
                        as_of: date | None = None) -> list[AnniversaryOut]:
    async with runtime.reads() as uow:
        return await partnerships.anniversaries(uow, POLICY.own_only(principal, "partnership.read"), within_days,
                                                as_of or ctx.today())


@router.post("/jobs/run", response_model=JobsOut, tags=["jobs"],
             summary="Run the scheduled jobs now, or as of `now` (admin): what the scheduler runs")
async def run_jobs(runtime: RuntimeDep, principal: CurrentPrincipal, ctx: ContextDep,
                   body: Annotated[JobsIn | None, Body()] = None) -> jobs.JobReport:
    POLICY.require(principal, "jobs.run")
    async with runtime.uow() as uow:
        return await jobs.run_jobs(uow, ctx.today(body.now if body else None))


async def _visible(uow: UnitOfWork, principal: Principal, partnership_id: str) -> Partnership:
    """The partnership, or 404 when there is none the caller may see."""
    partnership = await partnerships.load(uow, partnership_id)
    if not POLICY.allows(principal, "partnership.read", partnership.department):
        raise Problem(404, f"partnership {partnership_id} not found")
    return partnership


# -- organisations ----------------------------------------------------------------------------------

@router.post("/organizations", status_code=201, response_model=OrganisationOut, tags=["organisations"])
async def create_organisation(body: OrganisationIn, principal: CurrentPrincipal, runtime: RuntimeDep,
                              ctx: ContextDep) -> Organisation:
    POLICY.require(principal, "organisation.record", body.lead_department)
    async with runtime.uow() as uow:
        return await people.create_organisation(uow, ctx, body)


@router.patch("/organizations/{organisation_id}", response_model=OrganisationOut, tags=["organisations"])
async def update_organisation(organisation_id: str, body: OrganisationPatch, principal: CurrentPrincipal,
                              runtime: RuntimeDep, ctx: ContextDep) -> Organisation:
    _not_null(body, "name", "themes", "members")
    async with runtime.uow() as uow:
        organisation = await _organisation(uow, principal, organisation_id)
        POLICY.require(principal, "organisation.record", organisation.lead_department)
        if body.lead_department:  # handing it over: the new lead's record too
            POLICY.require(principal, "organisation.record", body.lead_department)
        return await people.update_organisation(uow, ctx, organisation_id, body)


@router.get("/organizations", response_model=list[OrganisationOut], tags=["organisations"])
async def list_organisations(principal: CurrentPrincipal, runtime: RuntimeDep, kind: OrganisationKind | None = None,
                             partnership_id: Id = None,
                             limit: Annotated[int, Query(ge=1, le=1000)] = 200, cursor: Cursor = None, *,
                             response: Response) -> list[Organisation]:
    async with runtime.reads() as uow:
        return (await people.list_organisations(uow, POLICY.own_only(principal, "organisation.read"), kind,
                                                partnership_id, limit, cursor)).send(response)


@router.delete("/organizations/{organisation_id}", status_code=204, tags=["organisations"], responses=problems(409))
async def delete_organisation(organisation_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> Response:
    async with runtime.uow() as uow:
        organisation = await _organisation(uow, principal, organisation_id)
        POLICY.require(principal, "organisation.record", organisation.lead_department)
        await people.delete_organisation(uow, organisation_id)
    return Response(status_code=204)


async def _organisation(uow: UnitOfWork, principal: Principal, organisation_id: str) -> Organisation:
    """The organisation, or 404 when there is none the caller may see."""
    organisation = await people.load_organisation(uow, organisation_id)
    if not POLICY.allows(principal, "organisation.read", organisation.lead_department):
        raise Problem(404, f"organisation {organisation_id} not found")
    return organisation


# -- people -----------------------------------------------------------------------------------------

@router.post("/people", status_code=201, response_model=PersonOut, tags=["people"])
async def create_person(body: PersonIn, principal: CurrentPrincipal, runtime: RuntimeDep) -> Person:
    POLICY.require(principal, "person.record")
    async with runtime.uow() as uow:
        return await people.create_person(uow, body)


@router.patch("/people/{person_id}", response_model=PersonOut, tags=["people"])
async def update_person(person_id: str, body: PersonPatch, principal: CurrentPrincipal, runtime: RuntimeDep) -> Person:
    _not_null(body, "name", "languages")
    async with runtime.uow() as uow:
        await _person(uow, principal, person_id)
        POLICY.require(principal, "person.record")
        return await people.update_person(uow, person_id, body)


@router.delete("/people/{person_id}", status_code=204, tags=["people"])
async def delete_person(person_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> Response:
    async with runtime.uow() as uow:
        await _person(uow, principal, person_id)
        POLICY.require(principal, "person.record")
        await people.delete_person(uow, person_id)
    return Response(status_code=204)


@router.get("/people", response_model=list[PersonOut], tags=["people"])
async def list_people(principal: CurrentPrincipal, runtime: RuntimeDep, organisation_id: Id = None,
                      partnership_id: Id = None,
                      limit: Annotated[int, Query(ge=1, le=1000)] = 200, cursor: Cursor = None, *,
                      response: Response) -> list[PersonOut]:
    if not POLICY.allows(principal, "person.read"):
        return []  # people belong to no department: a key reaches all of them or none
    async with runtime.reads() as uow:
        page = await people.list_people(uow, organisation_id, partnership_id, limit, cursor)
    found = [PersonOut.model_validate(p, from_attributes=True) for p in page.send(response)]
    if not POLICY.allows(principal, "person.contact"):
        found = [p.model_copy(update={"email": None, "phone": None}) for p in found]
    return found


async def _person(uow: UnitOfWork, principal: Principal, person_id: str) -> Person:
    """The person, or 404 when there is none the caller may see."""
    if not POLICY.allows(principal, "person.read"):
        raise Problem(404, f"person {person_id} not found")
    return await people.load_person(uow, person_id)


# -- the partner finder -----------------------------------------------------------------------------

@router.get("/finder", response_model=list[Candidate], tags=["finder"],
            summary="Candidate partners for a consortium: our partner cities and our networks' members")
async def finder(principal: CurrentPrincipal, runtime: RuntimeDep, ctx: ContextDep, country: Country = None,
                 eu_member: Annotated[bool | None, Query(description="only (true) or no (false) EU members")] = None,
                 exclude_country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$",
                                                              description="e.g. our own: another member state")] = None,
                 theme: Theme | None = None,
                 limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[Candidate]:
    """Recently active partners first (by their last contact), then network members."""
    POLICY.require(principal, "partner.find")
    async with runtime.reads() as uow:
        # Only what the caller may read anyway.
        return await people.find_partners(uow, ctx, POLICY.own_only(principal, "partnership.read"),
                                          POLICY.own_only(principal, "organisation.read"), country, eu_member,
                                          exclude_country, theme, limit)


add_place_routes(router, POLICY)
