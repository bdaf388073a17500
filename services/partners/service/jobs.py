"""The scheduled jobs (scheduled.py, or POST /jobs/run): relationship health, anniversaries and
renewals, each alert said once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from services.partners import domain
from services.partners.domain import Alert
from services.partners.events import AnniversaryUpcomingV1, PartnershipDormantV1, RenewalDueV1
from services.partners.models import Notice, Partnership
from services.partners.service.partnerships import live_partnerships, reference
from shared.db import insert_new, table_of
from shared.uow import UnitOfWork, utcnow


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
    for p in await live_partnerships(uow):
        report.partnerships += 1
        jubilee = domain.next_jubilee(p.formalised_on, p.formalised_year_only, today)
        lead = domain.current_lead(jubilee.on, today) if jubilee else None
        if jubilee and lead is not None and await _say_once(uow, p, "anniversary", f"{jubilee.years}y/{lead}d"):
            uow.publish(AnniversaryUpcomingV1(
                **reference(p), years=jubilee.years, on=jubilee.on, days_ahead=(jubilee.on - today).days,
                formalised_on=p.formalised_on, formalised_year_only=p.formalised_year_only, as_of=today),
                subject=f"partnerships/{p.id}")
            report.anniversaries += 1
        last = p.last_contact_on or p.created_at.date()
        state = domain.health(last, p.ideal_contact_days, p.max_contact_days, today)
        if state.health == "overdue" and await _say_once(uow, p, "dormant", f"lapse/{last.isoformat()}"):
            uow.publish(PartnershipDormantV1(**reference(p), last_contact_on=last,
                                             days_since_contact=state.days_since_contact,
                                             max_contact_days=p.max_contact_days, as_of=today),
                        subject=f"partnerships/{p.id}")
            report.dormant += 1
        if p.kind == "time_limited" and p.ends_on is not None:
            lead = domain.current_lead(p.ends_on, today, domain.RENEWAL_LEADS)
            if lead is not None and await _say_once(uow, p, "renewal", f"{p.ends_on.isoformat()}/{lead}d"):
                uow.publish(RenewalDueV1(**reference(p), ends_on=p.ends_on, days_ahead=(p.ends_on - today).days,
                                         as_of=today), subject=f"partnerships/{p.id}")
                report.renewals += 1
    await uow.commit()
    return report


async def _say_once(uow: UnitOfWork, partnership: Partnership, what: Alert, key: str) -> bool:
    """Record that this alert is said; False if it was already (by an earlier run or a replica)."""
    connection = await uow.session.connection()
    result = await connection.execute(insert_new(connection.dialect.name, table_of(Notice)).values(
        partnership_id=partnership.id, what=what, key=key, said_at=utcnow()))
    return result.rowcount == 1
