"""A person's data in partners (shared/subjects.py): the people in the register with their email,
and the partnerships they look after as desk officer.

Erasing them deletes their entries in the register and clears them as desk officer (the
partnership stays); their names are scrubbed from organisations' notes and the contacts' titles.
Each change is in the audit trail."""

from __future__ import annotations

from sqlalchemy import or_
from sqlmodel import col, select

from services.partners.models import Contact, Organisation, Partnership, Person
from shared.audit import fields_of
from shared.subjects import Erased, Found, same_email, scrubbed
from shared.uow import UnitOfWork


async def _people(uow: UnitOfWork, email: str) -> list[Person]:
    return list((await uow.session.exec(select(Person).where(same_email(Person.email, email)))).all())


async def _looked_after(uow: UnitOfWork, email: str) -> list[Partnership]:
    return list((await uow.session.exec(
        select(Partnership).where(same_email(Partnership.desk_officer_email, email)))).all())


async def export_subject(uow: UnitOfWork, email: str) -> Found:
    found = Found()
    for person in await _people(uow, email):
        found.names.add(person.name)
        found.records.setdefault("people", []).append({"id": person.id, **fields_of(person)})
    for partnership in await _looked_after(uow, email):
        if partnership.desk_officer_name:
            found.names.add(partnership.desk_officer_name)
        found.records.setdefault("partnerships looked after", []).append({
            "partnership_id": partnership.id, "partner_city": partnership.partner_city,
            "desk_officer_name": partnership.desk_officer_name, "desk_officer_email": partnership.desk_officer_email})
    return found


async def erase_subject(uow: UnitOfWork, email: str, names: set[str]) -> Erased:
    erased = Erased(names=set(names))
    for person in await _people(uow, email):
        erased.names.add(person.name)
        uow.audit("person", person.id, "erased", fields_of(person), None)
        await uow.session.delete(person)
        erased.add("people", 1)
    for partnership in await _looked_after(uow, email):
        if partnership.desk_officer_name:
            erased.names.add(partnership.desk_officer_name)
        before = fields_of(partnership)
        partnership.desk_officer_name = partnership.desk_officer_email = None
        uow.audit("partnership", partnership.id, "desk_officer_erased", before, fields_of(partnership))
        erased.add("desk officers", 1)
    needles = [n for n in (email, *erased.names) if len(n) >= 3]
    if needles:
        for organisation in (await uow.session.exec(select(Organisation).where(
                or_(*(col(Organisation.notes).icontains(n, autoescape=True) for n in needles))))).all():
            # The database's match is by substring: only a whole-word mention is the person's (scrubbed()).
            if (clean := scrubbed(organisation.notes or "", needles)) != organisation.notes:
                organisation.notes = clean
                uow.audit("organisation", organisation.id, "name_erased")
                erased.add("organisations' notes", 1)
        for contact in (await uow.session.exec(select(Contact).where(
                or_(*(col(Contact.title).icontains(n, autoescape=True) for n in needles))))).all():
            if (clean := scrubbed(contact.title, needles)) != contact.title:
                contact.title = clean
                uow.audit("contact", contact.id, "name_erased")
                erased.add("contacts' titles", 1)
    await uow.session.flush()
    return erased
