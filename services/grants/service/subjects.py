"""A person's data in grants (shared/subjects.py): the applications they own in the city.

Erasing them removes them as owner (the application stays: it is the department's; reminders then
go to the department alone) and scrubs their name from the applications' notes. Each change is in
the audit trail."""

from __future__ import annotations

from sqlalchemy import or_
from sqlmodel import col, select

from services.grants.models import Application
from shared.audit import fields_of
from shared.subjects import ERASED, Erased, Found, same_email, scrubbed
from shared.uow import UnitOfWork, utcnow


async def _owned(uow: UnitOfWork, email: str) -> list[Application]:
    return list((await uow.session.exec(select(Application).where(same_email(Application.owner_email, email))
                                        .order_by(col(Application.created_at)))).all())


async def export_subject(uow: UnitOfWork, email: str) -> Found:
    found = Found()
    for application in await _owned(uow, email):
        found.names.add(application.owner_name)
        found.records.setdefault("applications owned", []).append({
            "application_id": application.id, "title": application.title,
            "lead_department": application.lead_department, "stage": application.stage,
            "owner_name": application.owner_name, "owner_email": application.owner_email})
    return found


async def erase_subject(uow: UnitOfWork, email: str, names: set[str]) -> Erased:
    erased = Erased(names=set(names))
    owned = await _owned(uow, email)
    for application in owned:
        erased.names.add(application.owner_name)
        before = fields_of(application)
        application.owner_name, application.owner_email, application.updated_at = ERASED, "", utcnow()
        uow.audit("application", application.id, "owner_erased", before, fields_of(application))
    erased.add("application owners", len(owned))
    needles = [n for n in (email, *erased.names) if len(n) >= 3]
    quotes = [col(Application.notes).icontains(n, autoescape=True) for n in needles]
    noted = (await uow.session.exec(select(Application).where(or_(*quotes)))).all() if quotes else []
    for application in noted:
        # The database's match is by substring: only a whole-word mention is the person's (scrubbed()).
        if (clean := scrubbed(application.notes or "", needles)) != application.notes:
            application.notes = clean
            uow.audit("application", application.id, "name_erased")
            erased.add("application notes", 1)
    await uow.session.flush()
    return erased
