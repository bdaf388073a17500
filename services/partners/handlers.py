"""Reactions to travel's events. Each runs inside the consumer's unit of work."""

from services.partners import service
from services.partners.events import DelegationAnnounced, TripBooked
from shared.envelope import Envelope
from shared.uow import UnitOfWork


async def trip_booked(event: TripBooked, envelope: Envelope, uow: UnitOfWork, ctx: service.PartnersContext) -> None:
    await service.record_trip(uow, ctx.home.id, event, envelope.time)


async def delegation_announced(event: DelegationAnnounced, envelope: Envelope, uow: UnitOfWork,
                               ctx: service.PartnersContext) -> None:
    await service.record_delegation(uow, ctx.home.id, event, envelope.time)
