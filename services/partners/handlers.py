"""Reactions to travel's events. Each runs inside the consumer's unit of work."""

from services.partners.events import DelegationAnnounced, TripBooked
from services.partners.service import PartnersContext, partnerships
from shared.envelope import Envelope
from shared.uow import UnitOfWork


async def trip_booked(event: TripBooked, envelope: Envelope, uow: UnitOfWork, ctx: PartnersContext) -> None:
    await partnerships.record_trip(uow, ctx, event, envelope.time)


async def delegation_announced(event: DelegationAnnounced, envelope: Envelope, uow: UnitOfWork,
                               ctx: PartnersContext) -> None:
    await partnerships.record_delegation(uow, ctx, event, envelope.time)
