"""What travel reports: a year's numbers, and the calendar feeds."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func
from sqlalchemy.orm import selectinload
from sqlmodel import col, select

from services.travel import calendar, domain
from services.travel.models import Delegation, Leg, Trip
from services.travel.policy import feed_audience, feed_shows_whole, visible_delegations, visible_trips
from shared.auth import Principal
from shared.db import relation
from shared.uow import UnitOfWork


async def year_summary(uow: UnitOfWork, principal: Principal, year: int) -> domain.YearSummary:
    """A trip belongs to the year its first leg starts in; cancelled trips and delegations did not
    happen. Only what the caller may read counts: a restricted trip's country or department would tell."""
    first, last = date(year, 1, 1), date(year, 12, 31)
    trip_ids = select(col(Leg.trip_id)).group_by(col(Leg.trip_id)).having(func.min(Leg.start_date).between(first, last))
    trips = (await uow.session.exec(select(Trip).where(col(Trip.id).in_(trip_ids), Trip.status != "cancelled",
                                                       visible_trips(principal))
                                    .options(selectinload(relation(Trip.legs)),
                                             selectinload(relation(Trip.travellers))))).all()
    delegations = (await uow.session.exec(select(Delegation).where(
        col(Delegation.arrival).between(first, last), Delegation.status != "cancelled",
        visible_delegations(principal)))).all()
    return domain.summarise(trips, delegations)


async def feed(uow: UnitOfWork, department: str | None) -> bytes:
    """A feed holds what its audience may read (policy.feed_audience); a department's only its own.
    In a fixed order: an unchanged feed reads the same on every fetch."""
    audience = feed_audience(department)
    trips_query = select(Trip).where(visible_trips(audience)).order_by(col(Trip.id)).options(
        selectinload(relation(Trip.legs)), selectinload(relation(Trip.travellers)))
    delegations_query = select(Delegation).where(visible_delegations(audience)).order_by(col(Delegation.id))
    if department:
        trips_query = trips_query.where(Trip.department == department)
        delegations_query = delegations_query.where(Delegation.host_department == department)
    trips = (await uow.session.exec(trips_query)).all()
    delegations = (await uow.session.exec(delegations_query)).all()
    name = f"{department} trips and visits" if department else "City trips and visits"
    return calendar.feed(name, list(trips), list(delegations),
                         shows_whole=lambda trip: feed_shows_whole(department, trip))
