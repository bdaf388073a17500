"""A person's data in travel (shared/subjects.py): the trips they travel on, found by their email.

Erasing them anonymises them as travellers (the trip stays: it is the department's, and the council
report counts it) and scrubs their name from trips' titles; each trip changed is in
its audit trail."""

from __future__ import annotations

import uuid

from sqlalchemy import or_
from sqlmodel import col, select

from services.travel.models import Traveller, Trip
from shared.subjects import ERASED, Erased, Found, same_email, scrubbed
from shared.uow import UnitOfWork


async def _travelling(uow: UnitOfWork, email: str) -> list[tuple[Traveller, Trip]]:
    return list((await uow.session.exec(
        select(Traveller, Trip).join(Trip, col(Trip.id) == col(Traveller.trip_id))
        .where(same_email(Traveller.email, email)).order_by(col(Trip.created_at)))).all())


async def export_subject(uow: UnitOfWork, email: str) -> Found:
    found = Found()
    for traveller, trip in await _travelling(uow, email):
        found.names.add(traveller.name)
        found.records.setdefault("trips", []).append({
            "trip_id": trip.id, "department": trip.department, "title": trip.title, "status": trip.status,
            "legs": [{"place": leg.place_name, "country": leg.country, "start_date": leg.start_date.isoformat(),
                      "end_date": leg.end_date.isoformat()} for leg in trip.legs],
            "as_traveller": {"name": traveller.name, "email": traveller.email, "role": traveller.role,
                             "elected_official": traveller.elected_official}})
    return found


async def erase_subject(uow: UnitOfWork, email: str, names: set[str]) -> Erased:
    erased = Erased()
    travelling = await _travelling(uow, email)
    erased.names = {traveller.name for traveller, _ in travelling} | names
    # One token for this person in every trip they were on: the year's distinct travellers still count.
    token = f"{ERASED} {uuid.uuid4().hex[:8]}"
    for traveller, trip in travelling:
        traveller.name, traveller.email, traveller.role = token, None, None
        uow.audit("trip", trip.id, "traveller_erased")
    erased.add("travellers", len(travelling))
    needles = [email, *erased.names]
    quoting = (await uow.session.exec(select(Trip).where(or_(*(
        col(Trip.title).icontains(n, autoescape=True) for n in needles if len(n) >= 3))))).all()
    for trip in quoting:
        # The database's match is by substring: only a whole-word mention is the person's (scrubbed()).
        if (clean := scrubbed(trip.title, needles)) != trip.title:
            trip.title = clean
            uow.audit("trip", trip.id, "name_erased")
            erased.add("trip titles", 1)
    await uow.session.flush()
    return erased
