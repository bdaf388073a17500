"""Partnerships and their timelines: recorded and changed by staff, contacts logged by staff or
made of travel's trips and delegations; and the reads that rank them (health, anniversaries)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import col, or_, select

from services.partners import domain
from services.partners.domain import Health, Kind, Status, Theme
from services.partners.events import DelegationAnnounced, DeskOfficerV1, TripBooked, VisitPlannedV1
from services.partners.models import Contact, Partnership
from services.partners.schemas import AnniversaryOut, ContactIn, HealthOut, PartnershipIn, PartnershipPatch
from services.partners.service import PartnersContext
from shared.audit import fields_of
from shared.listing import Keyset, Page, where_given
from shared.places import resolve_field
from shared.problems import FieldError, Problem
from shared.uow import UnitOfWork, utcnow

_EDITABLE = ("formalised_on", "formalised_year_only", "kind", "status", "status_reason", "ends_on", "themes",
             "annual_themes", "mou_areas", "desk_officer_name", "desk_officer_email", "department",
             "ideal_contact_days", "max_contact_days")


async def create_partnership(uow: UnitOfWork, ctx: PartnersContext, data: PartnershipIn) -> Partnership:
    """The partner city resolves offline; the home city defaults to this office's."""
    home = ctx.home
    if data.home_city:
        home = resolve_field(ctx.places, data.home_city, data.home_country or "", None,
                             lambda name: f"home_{name}" if name != "place_id" else "home_city")
    partner = resolve_field(ctx.places, data.partner_city, data.partner_country, data.partner_place_id,
                            lambda name: f"partner_{name}" if name != "place_id" else "partner_place_id")
    if partner.id == home.id:
        raise FieldError("partner_city", f"{partner.name} is the home city itself")
    existing = (await uow.session.exec(select(Partnership).where(
        Partnership.home_place_id == home.id, Partnership.partner_place_id == partner.id))).first()
    if existing is not None:
        raise FieldError("partner_city", f"{home.name} and {partner.name} are partners already "
                                         f"(partnership {existing.id})", status=409)
    now = utcnow()
    today = ctx.today(now)
    if data.last_contact_on and data.last_contact_on > today:
        raise FieldError("last_contact_on", "is in the future: log planned contacts in the timeline")
    partnership = Partnership(
        **data.model_dump(include=set(_EDITABLE)), home_city=home.name, home_country=home.country,
        home_place_id=home.id, partner_city=partner.name, partner_country=partner.country,
        partner_place_id=partner.id, partner_latitude=partner.latitude, partner_longitude=partner.longitude,
        partner_timezone=partner.timezone, last_contact_on=data.last_contact_on or today, created_at=now,
        updated_at=now)
    _check_dates(partnership, today)
    uow.session.add(partnership)
    uow.audit("partnership", partnership.id, "created", None, fields_of(partnership))
    await uow.commit()
    return partnership


async def update_partnership(uow: UnitOfWork, ctx: PartnersContext, partnership_id: str,
                             data: PartnershipPatch) -> Partnership:
    """The fields the request set."""
    partnership = await load(uow, partnership_id)
    before = fields_of(partnership)
    for name, value in data.model_dump(exclude_unset=True).items():
        setattr(partnership, name, value)
    _check_dates(partnership, ctx.today())
    partnership.updated_at = utcnow()
    uow.audit("partnership", partnership.id, "changed", before, fields_of(partnership))
    await uow.commit()
    return partnership


def _check_dates(p: Partnership, today: date) -> None:
    if p.formalised_on > today:
        raise FieldError("formalised_on", "is in the future: a partnership is recorded once it is formalised")
    if p.ends_on is not None and p.ends_on <= p.formalised_on:
        raise FieldError("ends_on", "is not after formalised_on")
    if p.kind == "time_limited" and p.ends_on is None:
        raise FieldError("ends_on", "a time-limited partnership needs its end or renewal date")
    if p.status in ("suspended", "ended") and not p.status_reason:
        raise FieldError("status_reason", f"say why the partnership is {p.status}")
    if p.max_contact_days < p.ideal_contact_days:
        raise FieldError("max_contact_days", "is shorter than ideal_contact_days")


async def load(uow: UnitOfWork, partnership_id: str) -> Partnership:
    partnership = await uow.session.get(Partnership, partnership_id)
    if partnership is None:
        raise Problem(404, f"partnership {partnership_id} not found")
    return partnership


PARTNERSHIP_ORDER = Keyset((col(Partnership.home_city), col(Partnership.partner_city), col(Partnership.id)),
                           descending=False)


async def list_partnerships(uow: UnitOfWork, department: str | None, country: str | None, status: Status | None,
                            kind: Kind | None, theme: Theme | None, home_city: str | None,
                            limit: int, cursor: str | None = None) -> Page[Partnership]:
    """`department`: only that department's (None: all)."""
    query = where_given(select(Partnership), {Partnership.department: department, Partnership.partner_country: country,
                                              Partnership.status: status, Partnership.kind: kind,
                                              Partnership.home_city: home_city})
    found: list[Partnership] = []
    while True:  # themes are a JSON list, matched here: read on until a page's worth matches
        rows = list((await uow.session.exec(PARTNERSHIP_ORDER.page(query, cursor, limit))).all())
        found += [p for p in rows if theme is None or theme in p.themes][:limit - len(found)]
        cursor = PARTNERSHIP_ORDER.next_cursor(rows, limit)
        if len(found) == limit or cursor is None:
            return Page(found, PARTNERSHIP_ORDER.next_cursor(found, limit) if cursor else None)


async def live_partnerships(uow: UnitOfWork, department: str | None = None) -> list[Partnership]:
    """The partnerships that health, jubilees and renewals are about (not suspended or ended);
    `department`: only that department's (None: all)."""
    query = select(Partnership).where(col(Partnership.status).in_(domain.LIVE_STATUSES))
    if department is not None:
        query = query.where(Partnership.department == department)
    return list((await uow.session.exec(query)).all())


async def relationship_health(uow: UnitOfWork, department: str | None, state: Health | None,
                              today: date) -> list[HealthOut]:
    """The losing-touch list, most urgent first."""
    report = []
    for p in await live_partnerships(uow, department):
        h = domain.health(p.last_contact_on or p.created_at.date(), p.ideal_contact_days, p.max_contact_days, today)
        if state is None or h.health == state:
            report.append(HealthOut(partnership_id=p.id, partner_city=p.partner_city, partner_country=p.partner_country,
                                    status=p.status, health=h.health, last_contact_on=h.last_contact,
                                    days_since_contact=h.days_since_contact, ideal_contact_days=p.ideal_contact_days,
                                    max_contact_days=p.max_contact_days, urgency=h.urgency))
    return sorted(report, key=lambda r: (-r.urgency, r.partner_city))


async def anniversaries(uow: UnitOfWork, department: str | None, within_days: int,
                        today: date) -> list[AnniversaryOut]:
    """Every partnership's next jubilee within the window, soonest first."""
    found = []
    for p in await live_partnerships(uow, department):
        jubilee = domain.next_jubilee(p.formalised_on, p.formalised_year_only, today)
        if jubilee and (jubilee.on - today).days <= within_days:
            found.append(AnniversaryOut(partnership_id=p.id, home_city=p.home_city, partner_city=p.partner_city,
                                        partner_country=p.partner_country, years=jubilee.years, on=jubilee.on,
                                        days_ahead=(jubilee.on - today).days))
    return sorted(found, key=lambda a: (a.on, a.partner_city))


# -- the timeline ---------------------------------------------------------------------------------

async def timeline(uow: UnitOfWork, partnership_id: str, restricted_of: str | None) -> list[Contact]:
    """Newest first. `restricted_of`: restricted visits only of that department (None: all)."""
    query = select(Contact).where(Contact.partnership_id == partnership_id).order_by(col(Contact.on).desc())
    if restricted_of is not None:
        query = query.where(or_(col(Contact.restricted).is_(False), Contact.department == restricted_of))
    return list((await uow.session.exec(query)).all())


async def log_contact(uow: UnitOfWork, ctx: PartnersContext, partnership_id: str, data: ContactIn,
                      department: str | None) -> Contact:
    if data.until is not None and data.until < data.on:
        raise FieldError("until", "is before on")
    if data.on > ctx.today() + timedelta(days=366):
        raise FieldError("on", "is more than a year ahead")
    partnership = await load(uow, partnership_id)
    contact = Contact(partnership_id=partnership.id, kind=data.kind, on=data.on, until=data.until, title=data.title,
                      department=department, source=f"staff:{utcnow().timestamp()}", created_at=utcnow())
    uow.session.add(contact)
    uow.audit("contact", contact.id, "logged", None, fields_of(contact))
    _touch(partnership, data.until or data.on)
    await uow.commit()
    return contact


def _touch(partnership: Partnership, day: date) -> None:
    """A contact on `day`: the latest contact moves forward, never back."""
    if partnership.last_contact_on is None or day > partnership.last_contact_on:
        partnership.last_contact_on = day
        partnership.updated_at = utcnow()


async def record_trip(uow: UnitOfWork, ctx: PartnersContext, trip: TripBooked, event_time: datetime) -> int:
    """A trip to a partner city is a contact of that partnership, and news for its desk officer."""
    recorded = 0
    for leg in trip.legs:
        for partnership in await _partnerships_with(uow, ctx.home.id, leg.place_id):
            restricted = trip.visibility != "normal"
            title = "A restricted trip" if restricted else trip.title
            recorded += await _contact(uow, partnership, "trip", leg.start_date, leg.end_date, title,
                                       trip.department, f"travel:trip/{trip.trip_id}", event_time, restricted)
    return recorded


async def record_delegation(uow: UnitOfWork, ctx: PartnersContext, delegation: DelegationAnnounced,
                            event_time: datetime) -> int:
    recorded = 0
    for partnership in await _partnerships_with(uow, ctx.home.id, delegation.origin_place_id):
        title = f"Delegation from {delegation.origin_place_name}" + (
            f" ({delegation.organisation})" if delegation.organisation else "")
        recorded += await _contact(uow, partnership, "delegation", delegation.arrival, delegation.departure, title,
                                   delegation.host_department, f"travel:delegation/{delegation.delegation_id}",
                                   event_time)
    return recorded


async def _partnerships_with(uow: UnitOfWork, home_place_id: int, place_id: int) -> list[Partnership]:
    return list((await uow.session.exec(select(Partnership).where(
        Partnership.home_place_id == home_place_id, Partnership.partner_place_id == place_id,
        col(Partnership.status).in_(domain.LIVE_STATUSES)))).all())


async def _contact(uow: UnitOfWork, partnership: Partnership, kind: domain.VisitKind, start: date, end: date,
                   title: str, department: str, source: str, event_time: datetime, restricted: bool = False) -> int:
    known = (await uow.session.exec(select(Contact).where(
        Contact.partnership_id == partnership.id, Contact.source == source))).first()
    if known is not None:
        return 0  # a second leg of the same trip to the same city
    contact = Contact(partnership_id=partnership.id, kind=kind, on=start, until=end, title=title,
                      department=department, source=source, restricted=restricted, created_at=utcnow())
    uow.session.add(contact)
    uow.audit("contact", contact.id, "recorded", None, fields_of(contact))
    if not restricted:  # the partnership's last contact is read by all: a restricted trip's dates must not show
        _touch(partnership, start)
    uow.publish(VisitPlannedV1(**reference(partnership), kind=kind, title=title, by_department=department,
                               start_date=start, end_date=end, source=source, planned_at=event_time,
                               restricted=restricted),
                subject=f"partnerships/{partnership.id}")
    return 1


def reference(p: Partnership) -> dict[str, Any]:
    """What every event about a partnership says of it."""
    return dict(partnership_id=p.id, home_city=p.home_city, partner_city=p.partner_city,
                partner_country=p.partner_country, department=p.department,
                desk_officer=DeskOfficerV1(name=p.desk_officer_name, email=p.desk_officer_email))
