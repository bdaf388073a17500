"""Organisations and people around the partnerships, and the partner finder for grant consortia."""

from __future__ import annotations

from datetime import date

from sqlmodel import col, select

from services.partners import domain
from services.partners.domain import OrganisationKind, Theme
from services.partners.models import Organisation, Partnership, Person
from services.partners.schemas import Candidate, CityIn, OrganisationIn, OrganisationPatch, PersonIn, PersonPatch
from services.partners.service import PartnersContext
from shared.audit import fields_of
from shared.listing import Keyset, Page, where_given
from shared.places import EU_MEMBER_STATES, item_field, resolve_field
from shared.problems import FieldError, Problem
from shared.uow import UnitOfWork, utcnow

# -- organisations ----------------------------------------------------------------------------------


async def create_organisation(uow: UnitOfWork, ctx: PartnersContext, data: OrganisationIn) -> Organisation:
    place = None
    if data.city or data.country:
        if not (data.city and data.country):
            raise FieldError("country" if data.city else "city", "give both city and country, or neither")
        place = resolve_field(ctx.places, data.city, data.country, None, lambda name: name)
    members = _members(ctx, data.members)
    now = utcnow()
    if data.partnership_id and await uow.session.get(Partnership, data.partnership_id) is None:
        raise FieldError("partnership_id", f"no partnership {data.partnership_id}")
    organisation = Organisation(**data.model_dump(exclude={"city", "country", "members"}), members=members,
                                city=place.name if place else None, country=place.country if place else None,
                                place_id=place.id if place else None, created_at=now, updated_at=now)
    uow.session.add(organisation)
    uow.audit("organisation", organisation.id, "created", None, fields_of(organisation))
    await uow.commit()
    return organisation


async def load_organisation(uow: UnitOfWork, organisation_id: str) -> Organisation:
    organisation = await uow.session.get(Organisation, organisation_id)
    if organisation is None:
        raise Problem(404, f"organisation {organisation_id} not found")
    return organisation


async def update_organisation(uow: UnitOfWork, ctx: PartnersContext, organisation_id: str,
                              data: OrganisationPatch) -> Organisation:
    """The fields the request set; member cities resolved."""
    changes = data.model_dump(exclude_unset=True)
    if "members" in changes:
        changes["members"] = _members(ctx, data.members or [])
    organisation = await load_organisation(uow, organisation_id)
    before = fields_of(organisation)
    organisation.sqlmodel_update({**changes, "updated_at": utcnow()})
    uow.audit("organisation", organisation.id, "changed", before, fields_of(organisation))
    await uow.commit()
    return organisation


def _members(ctx: PartnersContext, cities: list[CityIn]) -> list[dict]:
    """A network's member cities, each resolved (422 naming the one that is not)."""
    members = []
    for i, member in enumerate(cities):
        found = resolve_field(ctx.places, member.city, member.country, None, item_field("members", i))
        members.append({"city": found.name, "country": found.country, "place_id": found.id})
    return members


ORGANISATION_ORDER = Keyset((col(Organisation.kind), col(Organisation.name), col(Organisation.id)), descending=False)
PERSON_ORDER = Keyset((col(Person.name), col(Person.id)), descending=False)


async def list_organisations(uow: UnitOfWork, department: str | None, kind: OrganisationKind | None,
                             partnership_id: str | None, limit: int, cursor: str | None = None) -> Page[Organisation]:
    """`department`: only those that department leads (None: all)."""
    query = where_given(select(Organisation), {Organisation.lead_department: department, Organisation.kind: kind,
                                               Organisation.partnership_id: partnership_id})
    found = list((await uow.session.exec(ORGANISATION_ORDER.page(query, cursor, limit))).all())
    return Page(found, ORGANISATION_ORDER.next_cursor(found, limit))


async def delete_organisation(uow: UnitOfWork, organisation_id: str) -> None:
    organisation = await load_organisation(uow, organisation_id)
    people = (await uow.session.exec(select(Person).where(Person.organisation_id == organisation_id))).all()
    if people:
        raise Problem(409, f"{len(people)} people belong to {organisation.name}; move or remove them first")
    await uow.session.delete(organisation)
    uow.audit("organisation", organisation.id, "deleted", fields_of(organisation), None)
    await uow.commit()


# -- people -----------------------------------------------------------------------------------------

async def create_person(uow: UnitOfWork, data: PersonIn) -> Person:
    now = utcnow()
    if data.organisation_id and await uow.session.get(Organisation, data.organisation_id) is None:
        raise FieldError("organisation_id", f"no organisation {data.organisation_id}")
    if data.partnership_id and await uow.session.get(Partnership, data.partnership_id) is None:
        raise FieldError("partnership_id", f"no partnership {data.partnership_id}")
    person = Person(**data.model_dump(), created_at=now, updated_at=now)
    uow.session.add(person)
    uow.audit("person", person.id, "created", None, fields_of(person))
    await uow.commit()
    return person


async def load_person(uow: UnitOfWork, person_id: str) -> Person:
    person = await uow.session.get(Person, person_id)
    if person is None:
        raise Problem(404, f"person {person_id} not found")
    return person


async def update_person(uow: UnitOfWork, person_id: str, data: PersonPatch) -> Person:
    """The fields the request set."""
    person = await load_person(uow, person_id)
    before = fields_of(person)
    person.sqlmodel_update({**data.model_dump(exclude_unset=True), "updated_at": utcnow()})
    uow.audit("person", person.id, "changed", before, fields_of(person))
    await uow.commit()
    return person


async def delete_person(uow: UnitOfWork, person_id: str) -> None:
    person = await load_person(uow, person_id)
    await uow.session.delete(person)
    uow.audit("person", person.id, "deleted", fields_of(person), None)
    await uow.commit()


async def list_people(uow: UnitOfWork, organisation_id: str | None, partnership_id: str | None,
                      limit: int, cursor: str | None = None) -> Page[Person]:
    query = where_given(select(Person), {Person.organisation_id: organisation_id,
                                         Person.partnership_id: partnership_id})
    found = list((await uow.session.exec(PERSON_ORDER.page(query, cursor, limit))).all())
    return Page(found, PERSON_ORDER.next_cursor(found, limit))


# -- the partner finder -----------------------------------------------------------------------------

async def find_partners(uow: UnitOfWork, ctx: PartnersContext, partnerships_of: str | None,
                        networks_of: str | None, country: str | None, eu_member: bool | None,
                        exclude_country: str | None, theme: Theme | None, limit: int) -> list[Candidate]:
    """Candidate partners for a consortium: our partner cities, recently active first (by their
    last contact), then our networks' members. `partnerships_of`, `networks_of`: only that
    department's partnerships, or the networks it leads (None: all)."""
    home = ctx.home
    query = select(Partnership).where(Partnership.home_place_id == home.id,
                                      col(Partnership.status).in_(domain.LIVE_STATUSES))
    if partnerships_of is not None:
        query = query.where(Partnership.department == partnerships_of)
    partnerships = (await uow.session.exec(query)).all()
    networks_query = select(Organisation).where(Organisation.kind == "network")
    if networks_of is not None:
        networks_query = networks_query.where(Organisation.lead_department == networks_of)
    networks = (await uow.session.exec(networks_query)).all()
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
