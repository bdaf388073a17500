"""Organisations and people around the partnerships, and the partner finder for grant consortia."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, EmailStr, Field
from sqlmodel import col, select

from services.partners import domain
from services.partners.api import partners_context
from services.partners.models import Organisation, Partnership, Person
from services.partners.policy import POLICY
from shared.app import RuntimeDep
from shared.auth import DEPARTMENT, CurrentPrincipal, Principal
from shared.places import EU_MEMBER_STATES, resolve_field
from shared.problems import FieldError, Problem
from shared.uow import utcnow

router = APIRouter()

OrganisationKind = Literal[domain.ORGANISATION_KINDS]  # type: ignore[valid-type]
Theme = Literal[domain.THEMES]  # type: ignore[valid-type]


class CityIn(BaseModel):
    city: str = Field(min_length=1, max_length=100)
    country: str = Field(min_length=2, max_length=60)


class OrganisationIn(BaseModel):
    kind: OrganisationKind
    name: str = Field(min_length=1, max_length=300)
    city: str | None = Field(None, min_length=1, max_length=100)
    country: str | None = Field(None, min_length=2, max_length=60)
    partnership_id: str | None = Field(None, min_length=1, max_length=36,
                                       description="the partnership it belongs to, if any")
    themes: list[Theme] = Field(default_factory=list)
    lead_department: str | None = Field(None, pattern=DEPARTMENT.pattern, description="networks: who leads")
    dues_amount: float | None = Field(None, ge=0, le=1e12)
    dues_currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    role_held: str | None = Field(None, max_length=300, description='e.g. "Treasurer of the Executive Committee"')
    members: list[CityIn] = Field(default_factory=list, max_length=500, description="networks: member cities")
    website: str | None = Field(None, max_length=500)
    notes: str | None = Field(None, max_length=5000)


class OrganisationPatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=300)
    themes: list[Theme] | None = None
    lead_department: str | None = Field(None, pattern=DEPARTMENT.pattern)
    dues_amount: float | None = Field(None, ge=0, le=1e12)
    dues_currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    role_held: str | None = Field(None, max_length=300)
    members: list[CityIn] | None = Field(None, max_length=500)
    website: str | None = Field(None, max_length=500)
    notes: str | None = Field(None, max_length=5000)


class OrganisationOut(BaseModel):
    id: str
    kind: str
    name: str
    city: str | None
    country: str | None
    partnership_id: str | None
    themes: list[str]
    lead_department: str | None
    dues_amount: float | None
    dues_currency: str | None
    role_held: str | None
    members: list[dict]
    website: str | None
    notes: str | None


class PersonIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: str | None = Field(None, max_length=200)
    organisation_id: str | None = Field(None, min_length=1, max_length=36)
    partnership_id: str | None = Field(None, min_length=1, max_length=36)
    email: EmailStr | None = None
    phone: str | None = Field(None, max_length=50, pattern=r"^[+0-9 ()/-]{3,50}$")
    languages: list[Annotated[str, Field(pattern=r"^[a-z]{2}$")]] = Field(default_factory=list, max_length=20)


class PersonPatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    role: str | None = Field(None, max_length=200)
    email: EmailStr | None = None
    phone: str | None = Field(None, max_length=50, pattern=r"^[+0-9 ()/-]{3,50}$")
    languages: list[Annotated[str, Field(pattern=r"^[a-z]{2}$")]] | None = Field(None, max_length=20)


class PersonOut(BaseModel):
    id: str
    name: str
    role: str | None
    organisation_id: str | None
    partnership_id: str | None
    email: str | None
    phone: str | None
    languages: list[str]


class Candidate(BaseModel):
    source: Literal["partnership", "network"]
    city: str
    country: str
    eu_member: bool
    themes: list[str]
    partnership_id: str | None = None
    network: str | None = None
    last_contact_on: date | None = None


@router.post("/organizations", status_code=201, response_model=OrganisationOut, tags=["organisations"])
async def create_organisation(body: OrganisationIn, principal: CurrentPrincipal, runtime: RuntimeDep) -> Organisation:
    POLICY.require(principal, "organisation.record", body.lead_department)
    ctx = partners_context(runtime)
    place = None
    if body.city or body.country:
        if not (body.city and body.country):
            raise FieldError("country" if body.city else "city", "give both city and country, or neither")
        place = resolve_field(ctx.places, body.city, body.country, None, lambda name: name)
    members = _members(ctx, body.members)
    now = utcnow()
    async with runtime.uow() as uow:
        if body.partnership_id and await uow.session.get(Partnership, body.partnership_id) is None:
            raise FieldError("partnership_id", f"no partnership {body.partnership_id}")
        organisation = Organisation(**body.model_dump(exclude={"city", "country", "members"}), members=members,
                                    city=place.name if place else None, country=place.country if place else None,
                                    place_id=place.id if place else None, created_at=now, updated_at=now)
        uow.session.add(organisation)
        await uow.commit()
        return organisation


async def _organisation(uow, principal: Principal, organisation_id: str) -> Organisation:
    """The organisation, or 404 when there is none the caller may see."""
    organisation = await uow.session.get(Organisation, organisation_id)
    if organisation is None or not POLICY.allows(principal, "organisation.read", organisation.lead_department):
        raise Problem(404, f"organisation {organisation_id} not found")
    return organisation


async def _person(uow, principal: Principal, person_id: str) -> Person:
    """The person, or 404 when there is none the caller may see."""
    person = await uow.session.get(Person, person_id)
    if person is None or not POLICY.allows(principal, "person.read"):
        raise Problem(404, f"person {person_id} not found")
    return person


def _members(ctx, cities: list[CityIn]) -> list[dict]:
    """A network's member cities, each resolved (422 naming the one that is not)."""
    members = []
    for i, member in enumerate(cities):
        found = resolve_field(ctx.places, member.city, member.country, None, lambda name, i=i: f"members[{i}].{name}")
        members.append({"city": found.name, "country": found.country, "place_id": found.id})
    return members


@router.patch("/organizations/{organisation_id}", response_model=OrganisationOut, tags=["organisations"])
async def update_organisation(organisation_id: str, body: OrganisationPatch, principal: CurrentPrincipal,
                              runtime: RuntimeDep) -> Organisation:
    changes = body.model_dump(exclude_unset=True)
    for name in ("name", "themes", "members"):
        if name in changes and changes[name] is None:
            raise FieldError(name, "may not be null")
    if "members" in changes:
        changes["members"] = _members(partners_context(runtime), body.members or [])
    async with runtime.uow() as uow:
        organisation = await _organisation(uow, principal, organisation_id)
        POLICY.require(principal, "organisation.record", organisation.lead_department)
        if changes.get("lead_department"):  # handing it over: the new lead's record too
            POLICY.require(principal, "organisation.record", changes["lead_department"])
        organisation.sqlmodel_update({**changes, "updated_at": utcnow()})
        await uow.commit()
        return organisation


@router.get("/organizations", response_model=list[OrganisationOut], tags=["organisations"])
async def list_organisations(principal: CurrentPrincipal, runtime: RuntimeDep,
                             kind: OrganisationKind | None = None,
                             partnership_id: Annotated[str | None, Query(max_length=36)] = None,
                             limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[Organisation]:
    query = select(Organisation).order_by(Organisation.kind, Organisation.name).limit(limit)
    if (own := POLICY.own_only(principal, "organisation.read")) is not None:
        query = query.where(Organisation.lead_department == own)
    if kind:
        query = query.where(Organisation.kind == kind)
    if partnership_id:
        query = query.where(Organisation.partnership_id == partnership_id)
    async with runtime.uow() as uow:
        return list((await uow.session.exec(query)).all())


@router.delete("/organizations/{organisation_id}", status_code=204, tags=["organisations"])
async def delete_organisation(organisation_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> Response:
    async with runtime.uow() as uow:
        organisation = await _organisation(uow, principal, organisation_id)
        POLICY.require(principal, "organisation.record", organisation.lead_department)
        people = (await uow.session.exec(select(Person).where(Person.organisation_id == organisation_id))).all()
        if people:
            raise Problem(409, f"{len(people)} people belong to {organisation.name}; move or remove them first")
        await uow.session.delete(organisation)
        await uow.commit()
    return Response(status_code=204)


@router.post("/people", status_code=201, response_model=PersonOut, tags=["people"])
async def create_person(body: PersonIn, principal: CurrentPrincipal, runtime: RuntimeDep) -> Person:
    POLICY.require(principal, "person.record")
    now = utcnow()
    async with runtime.uow() as uow:
        if body.organisation_id and await uow.session.get(Organisation, body.organisation_id) is None:
            raise FieldError("organisation_id", f"no organisation {body.organisation_id}")
        if body.partnership_id and await uow.session.get(Partnership, body.partnership_id) is None:
            raise FieldError("partnership_id", f"no partnership {body.partnership_id}")
        person = Person(**body.model_dump(), created_at=now, updated_at=now)
        uow.session.add(person)
        await uow.commit()
        return person


@router.patch("/people/{person_id}", response_model=PersonOut, tags=["people"])
async def update_person(person_id: str, body: PersonPatch, principal: CurrentPrincipal, runtime: RuntimeDep) -> Person:
    changes = body.model_dump(exclude_unset=True)
    for name in ("name", "languages"):
        if name in changes and changes[name] is None:
            raise FieldError(name, "may not be null")
    async with runtime.uow() as uow:
        person = await _person(uow, principal, person_id)
        POLICY.require(principal, "person.record")
        person.sqlmodel_update({**changes, "updated_at": utcnow()})
        await uow.commit()
        return person


@router.delete("/people/{person_id}", status_code=204, tags=["people"])
async def delete_person(person_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> Response:
    async with runtime.uow() as uow:
        person = await _person(uow, principal, person_id)
        POLICY.require(principal, "person.record")
        await uow.session.delete(person)
        await uow.commit()
    return Response(status_code=204)


@router.get("/people", response_model=list[PersonOut], tags=["people"])
async def list_people(principal: CurrentPrincipal, runtime: RuntimeDep,
                      organisation_id: Annotated[str | None, Query(max_length=36)] = None,
                      partnership_id: Annotated[str | None, Query(max_length=36)] = None,
                      limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[PersonOut]:
    if not POLICY.allows(principal, "person.read"):
        return []  # people belong to no department: a key reaches all of them or none
    query = select(Person).order_by(Person.name).limit(limit)
    if organisation_id:
        query = query.where(Person.organisation_id == organisation_id)
    if partnership_id:
        query = query.where(Person.partnership_id == partnership_id)
    async with runtime.uow() as uow:
        people = [PersonOut.model_validate(p, from_attributes=True) for p in (await uow.session.exec(query)).all()]
    if not POLICY.allows(principal, "person.contact"):
        people = [p.model_copy(update={"email": None, "phone": None}) for p in people]
    return people


@router.get("/finder", response_model=list[Candidate], tags=["finder"],
            summary="Candidate partners for a consortium: our partner cities and our networks' members")
async def finder(principal: CurrentPrincipal, runtime: RuntimeDep,
                 country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
                 eu_member: Annotated[bool | None, Query(description="only (true) or no (false) EU members")] = None,
                 exclude_country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$",
                                                              description="e.g. our own: another member state")] = None,
                 theme: Theme | None = None,
                 limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[Candidate]:
    """Recently active partners first (by their last contact), then network members."""
    POLICY.require(principal, "partner.find")
    home = partners_context(runtime).home
    async with runtime.uow() as uow:
        partnerships = (await uow.session.exec(select(Partnership).where(
            Partnership.home_place_id == home.id, col(Partnership.status).in_(("active", "dormant"))))).all()
        networks = (await uow.session.exec(select(Organisation).where(Organisation.kind == "network"))).all()
    # Only what the caller may read anyway.
    partnerships = [p for p in partnerships if POLICY.allows(principal, "partnership.read", p.department)]
    networks = [n for n in networks if POLICY.allows(principal, "organisation.read", n.lead_department)]
    found: list[Candidate] = [
        Candidate(source="partnership", city=p.partner_city, country=p.partner_country,
                  eu_member=p.partner_country in EU_MEMBER_STATES, themes=p.themes, partnership_id=p.id,
                  last_contact_on=p.last_contact_on) for p in partnerships]
    partner_places = {p.partner_place_id for p in partnerships}
    for network in networks:
        for member in network.members:
            if member["place_id"] not in partner_places and member["place_id"] != home.id:
                found.append(Candidate(source="network", city=member["city"], country=member["country"],
                                       eu_member=member["country"] in EU_MEMBER_STATES, themes=network.themes,
                                       network=network.name))

    def wanted(c: Candidate) -> bool:
        return ((country is None or c.country == country) and (exclude_country is None or c.country != exclude_country)
                and (eu_member is None or c.eu_member == eu_member) and (theme is None or theme in c.themes))

    ranked = sorted(filter(wanted, found), key=lambda c: (c.source != "partnership",
                                                          -(c.last_contact_on or date.min).toordinal(), c.city))
    return ranked[:limit]


