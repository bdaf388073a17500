"""Partners' HTTP routes: partnerships, their timelines, relationship health, anniversaries, jobs."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import BaseModel, EmailStr, Field, field_validator
from sqlmodel import col, or_, select

from services.partners import domain, importer, service
from services.partners.models import Contact, Partnership
from services.partners.policy import POLICY
from shared.app import RuntimeDep
from shared.auth import DEPARTMENT, CurrentPrincipal, Principal
from shared.bounds import Day, Instant, PlaceId
from shared.problems import FieldError, Problem
from shared.render import json_response

router = APIRouter(tags=["partnerships"])

Kind = Literal[domain.KINDS]  # type: ignore[valid-type]
Status = Literal[domain.STATUSES]  # type: ignore[valid-type]
Theme = Literal[domain.THEMES]  # type: ignore[valid-type]
Days = Annotated[int, Field(ge=1, le=3650)]


def partners_context(runtime) -> service.PartnersContext:
    return runtime.context


class PartnershipFields(BaseModel):
    formalised_year_only: bool = Field(False, description="only the year is known (formalised_on is 1 January)")
    kind: Kind = "twin"
    status: Status = "active"
    status_reason: str | None = Field(None, max_length=500, description="why it is suspended or ended")
    ends_on: Day | None = Field(None, description="time-limited: its end, or when renewal must be decided")
    themes: list[Theme] = Field(default_factory=list, max_length=len(domain.THEMES))
    annual_themes: dict[str, str] = Field(default_factory=dict, description='e.g. {"2027": "climate"}')
    mou_areas: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(default_factory=list, max_length=30)
    desk_officer_name: str | None = Field(None, max_length=200)
    desk_officer_email: EmailStr | None = None
    department: str = Field("OIA", pattern=DEPARTMENT.pattern)
    ideal_contact_days: Days = domain.DEFAULT_IDEAL_DAYS
    max_contact_days: Days = domain.DEFAULT_MAX_DAYS

    @field_validator("annual_themes")
    @classmethod
    def _years(cls, themes: dict[str, str]) -> dict[str, str]:
        for year, theme in themes.items():
            if not (year.isdigit() and len(year) == 4):
                raise ValueError(f"{year!r} is not a year")
            if not 1 <= len(theme) <= 200:
                raise ValueError(f"the {year} theme must be 1 to 200 characters")
        return themes


class PartnershipIn(PartnershipFields):
    partner_city: str = Field(min_length=1, max_length=100, description="any common form: Krakau, Kraków, Krakow")
    partner_country: str = Field(min_length=2, max_length=60, description="ISO 3166 code or English name")
    partner_place_id: PlaceId | None = Field(None, description="GeoNames id, to pick one of several candidates")
    home_city: str | None = Field(None, min_length=1, max_length=100, description="default: this office's city")
    home_country: str | None = Field(None, min_length=2, max_length=60)
    formalised_on: Day
    last_contact_on: Day | None = Field(None, description="the latest contact before this record (default: today)")


class PartnershipPatch(BaseModel):
    formalised_on: Day | None = None
    formalised_year_only: bool | None = None
    kind: Kind | None = None
    status: Status | None = None
    status_reason: str | None = Field(None, max_length=500)
    ends_on: Day | None = None
    themes: list[Theme] | None = None
    annual_themes: dict[str, str] | None = None
    mou_areas: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = None
    desk_officer_name: str | None = Field(None, max_length=200)
    desk_officer_email: EmailStr | None = None
    department: str | None = Field(None, pattern=DEPARTMENT.pattern)
    ideal_contact_days: Days | None = None
    max_contact_days: Days | None = None


class PartnershipOut(BaseModel):
    id: str
    home_city: str
    home_country: str
    partner_city: str
    partner_country: str
    partner_place_id: int
    partner_latitude: float
    partner_longitude: float
    partner_timezone: str
    formalised_on: date
    formalised_year_only: bool
    kind: str
    status: str
    status_reason: str | None
    ends_on: date | None
    themes: list[str]
    annual_themes: dict[str, str]
    mou_areas: list[str]
    desk_officer_name: str | None
    desk_officer_email: str | None
    department: str
    ideal_contact_days: int
    max_contact_days: int
    last_contact_on: date | None
    created_at: datetime
    updated_at: datetime


class ContactIn(BaseModel):
    kind: Literal["meeting", "event"]
    on: Day
    until: Day | None = None
    title: str = Field(min_length=1, max_length=300)
    department: str | None = Field(None, pattern=DEPARTMENT.pattern)


class ContactOut(BaseModel):
    id: str
    kind: str
    on: date
    until: date | None
    title: str
    department: str | None
    source: str
    restricted: bool


class HealthOut(BaseModel):
    partnership_id: str
    partner_city: str
    partner_country: str
    status: str
    health: Literal["ok", "due", "overdue"]
    last_contact_on: date
    days_since_contact: int
    ideal_contact_days: int
    max_contact_days: int
    urgency: float = Field(description="days since contact / maximum interval (over 1: overdue)")


class AnniversaryOut(BaseModel):
    partnership_id: str
    home_city: str
    partner_city: str
    partner_country: str
    years: int
    on: date
    days_ahead: int


class JobsIn(BaseModel):
    now: Instant | None = Field(None, description="run as of this instant (default: now) — tests and back-fills")


class JobsOut(BaseModel):
    as_of: date
    partnerships: int
    anniversaries: int
    dormant: int
    renewals: int


@router.post("/partnerships", status_code=201, response_model=PartnershipOut, summary="Record a partnership")
async def create_partnership(body: PartnershipIn, principal: CurrentPrincipal, runtime: RuntimeDep) -> Partnership:
    POLICY.require(principal, "partnership.record", body.department)
    async with runtime.uow() as uow:
        return await service.create_partnership(uow, partners_context(runtime), body.model_dump())


class RowReportOut(BaseModel):
    line: int
    status: Literal["created", "duplicate", "rejected"]
    home_city: str
    partner_city: str
    reason: str | None
    partnership_id: str | None


class ImportOut(BaseModel):
    mode: str
    rows: int
    created: int
    duplicates: int
    rejected: int
    report: list[RowReportOut]


@router.post("/partnerships/import", response_model=ImportOut, summary="Import a register from CSV", openapi_extra={
    "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}, "example":
        "home_city,home_country,partner_city,partner_country,year,kind,themes\n"
        "Frankfurt am Main,DE,Krakau,PL,1991,twin,culture;economy\n"}}}})
async def import_partnerships(request: Request, principal: CurrentPrincipal, runtime: RuntimeDep,
                              mode: importer.Mode = "row_by_row") -> Response:
    """Columns: home_city, partner_city, partner_country, year; optional home_country, kind,
    themes (";"-separated), note. Every row is reported: created, duplicate, or rejected with the
    reason. `all_or_nothing` stores nothing if any row is rejected (422 with the rejected rows)."""
    POLICY.require(principal, "partnership.import")
    text = await importer.spool(request.stream())
    async with runtime.uow() as uow:
        report = await importer.import_register(uow, partners_context(runtime), text, mode)
    return await json_response(ImportOut, report, row=importer.RowReport._make)  # a report per row: off the loop


@router.get("/partnerships", response_model=list[PartnershipOut], summary="Partnerships, filtered")
async def list_partnerships(
    principal: CurrentPrincipal, runtime: RuntimeDep,
    country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
    status: Status | None = None, kind: Kind | None = None, theme: Theme | None = None,
    home_city: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[Partnership]:
    # Themes are a JSON list, filtered here; the limit applies to what matches.
    query = select(Partnership).order_by(Partnership.home_city, Partnership.partner_city)
    if (own := POLICY.own_only(principal, "partnership.read")) is not None:
        query = query.where(Partnership.department == own)
    if theme is None:
        query = query.limit(limit)
    if country:
        query = query.where(Partnership.partner_country == country)
    if status:
        query = query.where(Partnership.status == status)
    if kind:
        query = query.where(Partnership.kind == kind)
    if home_city:
        query = query.where(Partnership.home_city == home_city)
    async with runtime.uow() as uow:
        found = list((await uow.session.exec(query)).all())
    return [p for p in found if theme is None or theme in p.themes][:limit]


@router.get("/partnerships/{partnership_id}", response_model=PartnershipOut)
async def get_partnership(partnership_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> Partnership:
    async with runtime.uow() as uow:
        return await _visible(uow, principal, partnership_id)


@router.patch("/partnerships/{partnership_id}", response_model=PartnershipOut, summary="Change a partnership")
async def update_partnership(partnership_id: str, body: PartnershipPatch, principal: CurrentPrincipal,
                             runtime: RuntimeDep) -> Partnership:
    changes = body.model_dump(exclude_unset=True)
    for name in ("formalised_on", "formalised_year_only", "kind", "status", "themes", "annual_themes", "mou_areas",
                 "department", "ideal_contact_days", "max_contact_days"):
        if name in changes and changes[name] is None:
            raise FieldError(name, "may not be null")
    async with runtime.uow() as uow:
        partnership = await _visible(uow, principal, partnership_id)
        POLICY.require(principal, "partnership.record", partnership.department)
        if changes.get("department"):  # handing it over: the new owner's record too
            POLICY.require(principal, "partnership.record", changes["department"])
        return await service.update_partnership(uow, partners_context(runtime), partnership_id, changes)


@router.get("/partnerships/{partnership_id}/timeline", response_model=list[ContactOut],
            summary="A partnership's contacts, newest first: trips, delegations, meetings, events")
async def timeline(partnership_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> list[Contact]:
    async with runtime.uow() as uow:
        await _visible(uow, principal, partnership_id)
        query = select(Contact).where(Contact.partnership_id == partnership_id).order_by(col(Contact.on).desc())
        if (own := POLICY.own_only(principal, "contact.read_restricted")) is not None:
            query = query.where(or_(col(Contact.restricted).is_(False), Contact.department == own))
        return list((await uow.session.exec(query)).all())


@router.post("/partnerships/{partnership_id}/contacts", status_code=201, response_model=ContactOut,
             summary="Log a meeting or an event with the partner city")
async def log_contact(partnership_id: str, body: ContactIn, principal: CurrentPrincipal,
                      runtime: RuntimeDep) -> Contact:
    department = body.department or principal.department
    POLICY.require(principal, "contact.log", department)
    if body.until is not None and body.until < body.on:
        raise FieldError("until", "is before on")
    if body.on > partners_context(runtime).today() + timedelta(days=366):
        raise FieldError("on", "is more than a year ahead")
    async with runtime.uow() as uow:
        await _visible(uow, principal, partnership_id)
        return await service.log_contact(uow, partnership_id, body.kind, body.on, body.until, body.title, department)


@router.get("/relationship-health", response_model=list[HealthOut], tags=["health"],
            summary="Relationship health, most urgent first: the losing-touch list")
async def relationship_health(principal: CurrentPrincipal, runtime: RuntimeDep,
                              state: Literal["ok", "due", "overdue"] | None = None,
                              as_of: date | None = None) -> list[HealthOut]:
    today = as_of or partners_context(runtime).today()
    async with runtime.uow() as uow:
        partnerships = _readable(principal, await service.active_partnerships(uow))
    report = []
    for p in partnerships:
        h = domain.health(p.last_contact_on or p.created_at.date(), p.ideal_contact_days, p.max_contact_days, today)
        if state is None or h.health == state:
            report.append(HealthOut(partnership_id=p.id, partner_city=p.partner_city, partner_country=p.partner_country,
                                    status=p.status, health=h.health, last_contact_on=h.last_contact,
                                    days_since_contact=h.days_since_contact, ideal_contact_days=p.ideal_contact_days,
                                    max_contact_days=p.max_contact_days, urgency=h.urgency))
    return sorted(report, key=lambda r: (-r.urgency, r.partner_city))


@router.get("/anniversaries", response_model=list[AnniversaryOut], tags=["anniversaries"],
            summary="Every partnership's next jubilee within the window, soonest first")
async def anniversaries(principal: CurrentPrincipal, runtime: RuntimeDep,
                        within_days: Annotated[int, Query(ge=0, le=36500)] = 365,
                        as_of: date | None = None) -> list[AnniversaryOut]:
    today = as_of or partners_context(runtime).today()
    async with runtime.uow() as uow:
        partnerships = _readable(principal, await service.active_partnerships(uow))
    found = []
    for p in partnerships:
        jubilee = domain.next_jubilee(p.formalised_on, p.formalised_year_only, today)
        if jubilee and (jubilee.on - today).days <= within_days:
            found.append(AnniversaryOut(partnership_id=p.id, home_city=p.home_city, partner_city=p.partner_city,
                                        partner_country=p.partner_country, years=jubilee.years, on=jubilee.on,
                                        days_ahead=(jubilee.on - today).days))
    return sorted(found, key=lambda a: (a.on, a.partner_city))


@router.post("/jobs/run", response_model=JobsOut, tags=["jobs"],
             summary="Run the scheduled jobs now, or as of `now` (admin): what the scheduler runs")
async def run_jobs(runtime: RuntimeDep, principal: CurrentPrincipal,
                   body: Annotated[JobsIn | None, Body()] = None) -> service.JobReport:
    POLICY.require(principal, "jobs.run")
    today = partners_context(runtime).today(body.now if body else None)
    async with runtime.uow() as uow:
        return await service.run_jobs(uow, today)


def _readable(principal: Principal, partnerships: list[Partnership]) -> list[Partnership]:
    return [p for p in partnerships if POLICY.allows(principal, "partnership.read", p.department)]


async def _visible(uow, principal: Principal, partnership_id: str) -> Partnership:
    """The partnership, or 404 when there is none the caller may see."""
    partnership = await uow.session.get(Partnership, partnership_id)
    if partnership is None or not POLICY.allows(principal, "partnership.read", partnership.department):
        raise Problem(404, f"partnership {partnership_id} not found")
    return partnership
