"""Partners' use cases, each inside one unit of work (state change + events commit together)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from services.partners import domain
from services.partners.events import (
    AnniversaryUpcomingV1,
    DelegationAnnounced,
    DeskOfficerV1,
    PartnershipDormantV1,
    RenewalDueV1,
    TripBooked,
    VisitPlannedV1,
)
from services.partners.models import Contact, Notice, Partnership
from shared.db import insert_new
from shared.places import Gazetteer, Place, resolve_field
from shared.problems import FieldError, Problem
from shared.uow import UnitOfWork, utcnow


@dataclass(frozen=True)
class PartnersContext:
    places: Gazetteer
    home: Place  # the city this office works for

    def today(self, now: datetime | None = None) -> date:
        """The office's date: the home city's, not UTC's. Just after midnight in Frankfurt it is
        still yesterday in UTC, and a contact logged for today would look like a future one."""
        return (now or utcnow()).astimezone(ZoneInfo(self.home.timezone)).date()


def context_for(settings) -> PartnersContext:
    """The gazetteer and this office's home city, for the service's settings (resolved once)."""
    return _context(settings.home_city, settings.home_country, settings.gazetteer_path)


@lru_cache
def _context(city: str, country: str, gazetteer_path) -> PartnersContext:
    places = Gazetteer(gazetteer_path)
    return PartnersContext(places=places, home=places.resolve(city, country))


async def active_partnerships(uow: UnitOfWork) -> list[Partnership]:
    """The partnerships that health, jubilees and renewals are about (not suspended or ended)."""
    return list((await uow.session.exec(select(Partnership).where(
        col(Partnership.status).in_(("active", "dormant"))))).all())


# -- partnerships ---------------------------------------------------------------------------------

async def create_partnership(uow: UnitOfWork, ctx: PartnersContext, data: dict[str, Any]) -> Partnership:
    """`data`: the validated request body. The partner city resolves offline; the home city
    defaults to this office's."""
    home = ctx.home
    if data.get("home_city"):
        home = resolve_field(ctx.places, data["home_city"], data.get("home_country") or "", None,
                             lambda name: f"home_{name}" if name != "place_id" else "home_city")
    partner = resolve_field(ctx.places, data["partner_city"], data["partner_country"], data.get("partner_place_id"),
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
    if data.get("last_contact_on") and data["last_contact_on"] > today:
        raise FieldError("last_contact_on", "is in the future: log planned contacts in the timeline")
    fields = {k: v for k, v in data.items() if k in _EDITABLE}
    partnership = Partnership(
        **fields, home_city=home.name, home_country=home.country, home_place_id=home.id,
        partner_city=partner.name, partner_country=partner.country, partner_place_id=partner.id,
        partner_latitude=partner.latitude, partner_longitude=partner.longitude, partner_timezone=partner.timezone,
        last_contact_on=data.get("last_contact_on") or today, created_at=now, updated_at=now)
    _check_dates(partnership, today)
    uow.session.add(partnership)
    await uow.commit()
    return partnership


_EDITABLE = ("formalised_on", "formalised_year_only", "kind", "status", "status_reason", "ends_on", "themes",
             "annual_themes", "mou_areas", "desk_officer_name", "desk_officer_email", "department",
             "ideal_contact_days", "max_contact_days")


async def update_partnership(uow: UnitOfWork, ctx: PartnersContext, partnership_id: str,
                             changes: dict[str, Any]) -> Partnership:
    partnership = await load(uow, partnership_id)
    for name, value in changes.items():
        if name in _EDITABLE:
            setattr(partnership, name, value)
    _check_dates(partnership, ctx.today())
    partnership.updated_at = utcnow()
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


async def log_contact(uow: UnitOfWork, partnership_id: str, kind: str, on: date, until: date | None,
                      title: str, department: str | None) -> Contact:
    partnership = await load(uow, partnership_id)
    contact = Contact(partnership_id=partnership.id, kind=kind, on=on, until=until, title=title,
                      department=department, source=f"staff:{utcnow().timestamp()}", created_at=utcnow())
    uow.session.add(contact)
    _touch(partnership, until or on)
    await uow.commit()
    return contact


def _touch(partnership: Partnership, day: date) -> None:
    """A contact on `day`: the latest contact moves forward, never back."""
    if partnership.last_contact_on is None or day > partnership.last_contact_on:
        partnership.last_contact_on = day
        partnership.updated_at = utcnow()


# -- contacts from travel -------------------------------------------------------------------------

async def record_trip(uow: UnitOfWork, home_place_id: int, trip: TripBooked, event_time: datetime) -> int:
    """A trip to a partner city is a contact of that partnership, and news for its desk officer."""
    recorded = 0
    for leg in trip.legs:
        for partnership in await _partnerships_with(uow, home_place_id, leg.place_id):
            restricted = trip.visibility != "normal"
            title = "A restricted trip" if restricted else trip.title
            recorded += await _contact(uow, partnership, "trip", leg.start_date, leg.end_date, title,
                                       trip.department, f"travel:trip/{trip.trip_id}", event_time, restricted)
    return recorded


async def record_delegation(uow: UnitOfWork, home_place_id: int, delegation: DelegationAnnounced,
                            event_time: datetime) -> int:
    recorded = 0
    for partnership in await _partnerships_with(uow, home_place_id, delegation.origin_place_id):
        title = f"Delegation from {delegation.origin_place_name}" + (
            f" ({delegation.organisation})" if delegation.organisation else "")
        recorded += await _contact(uow, partnership, "delegation", delegation.arrival, delegation.departure, title,
                                   delegation.host_department, f"travel:delegation/{delegation.delegation_id}",
                                   event_time)
    return recorded


async def _partnerships_with(uow: UnitOfWork, home_place_id: int, place_id: int) -> list[Partnership]:
    return list((await uow.session.exec(select(Partnership).where(
        Partnership.home_place_id == home_place_id, Partnership.partner_place_id == place_id,
        col(Partnership.status).in_(("active", "dormant"))))).all())


async def _contact(uow: UnitOfWork, partnership: Partnership, kind: str, start: date, end: date, title: str,
                   department: str, source: str, event_time: datetime, restricted: bool = False) -> int:
    known = (await uow.session.exec(select(Contact).where(
        Contact.partnership_id == partnership.id, Contact.source == source))).first()
    if known is not None:
        return 0  # a second leg of the same trip to the same city
    uow.session.add(Contact(partnership_id=partnership.id, kind=kind, on=start, until=end, title=title,
                            department=department, source=source, restricted=restricted, created_at=utcnow()))
    if not restricted:  # the partnership's last contact is read by all: a restricted trip's dates must not show
        _touch(partnership, start)
    uow.publish(VisitPlannedV1(**_ref(partnership), kind=kind, title=title, by_department=department,
                               start_date=start, end_date=end, source=source, planned_at=event_time,
                               restricted=restricted),
                subject=f"partnerships/{partnership.id}")
    return 1


def _ref(p: Partnership) -> dict[str, Any]:
    return dict(partnership_id=p.id, home_city=p.home_city, partner_city=p.partner_city,
                partner_country=p.partner_country, department=p.department,
                desk_officer=DeskOfficerV1(name=p.desk_officer_name, email=p.desk_officer_email))


# -- scheduled jobs -------------------------------------------------------------------------------

@dataclass
class JobReport:
    as_of: date
    partnerships: int = 0
    anniversaries: int = 0
    dormant: int = 0
    renewals: int = 0


async def run_jobs(uow: UnitOfWork, today: date) -> JobReport:
    """Health, anniversaries and renewals as of `today`: each alert said once, however often (or
    on however many replicas) this runs for the same day."""
    report = JobReport(as_of=today)
    for p in await active_partnerships(uow):
        report.partnerships += 1
        jubilee = domain.next_jubilee(p.formalised_on, p.formalised_year_only, today)
        lead = domain.current_lead(jubilee.on, today) if jubilee else None
        if jubilee and lead is not None and await _say_once(uow, p, "anniversary", f"{jubilee.years}y/{lead}d"):
            uow.publish(AnniversaryUpcomingV1(
                **_ref(p), years=jubilee.years, on=jubilee.on, days_ahead=(jubilee.on - today).days,
                formalised_on=p.formalised_on, formalised_year_only=p.formalised_year_only, as_of=today),
                subject=f"partnerships/{p.id}")
            report.anniversaries += 1
        last = p.last_contact_on or p.created_at.date()
        state = domain.health(last, p.ideal_contact_days, p.max_contact_days, today)
        if state.health == "overdue" and await _say_once(uow, p, "dormant", f"lapse/{last.isoformat()}"):
            uow.publish(PartnershipDormantV1(**_ref(p), last_contact_on=last,
                                             days_since_contact=state.days_since_contact,
                                             max_contact_days=p.max_contact_days, as_of=today),
                        subject=f"partnerships/{p.id}")
            report.dormant += 1
        if p.kind == "time_limited" and p.ends_on is not None:
            lead = domain.current_lead(p.ends_on, today, domain.RENEWAL_LEADS)
            if lead is not None and await _say_once(uow, p, "renewal", f"{p.ends_on.isoformat()}/{lead}d"):
                uow.publish(RenewalDueV1(**_ref(p), ends_on=p.ends_on, days_ahead=(p.ends_on - today).days,
                                         as_of=today), subject=f"partnerships/{p.id}")
                report.renewals += 1
    await uow.commit()
    return report


async def _say_once(uow: UnitOfWork, partnership: Partnership, what: str, key: str) -> bool:
    """Record that this alert is said; False if it was already (by an earlier run or a replica)."""
    connection = await uow.session.connection()
    result = await connection.execute(insert_new(connection.dialect.name, Notice.__table__).values(
        partnership_id=partnership.id, what=what, key=key, said_at=utcnow()))
    return result.rowcount == 1

