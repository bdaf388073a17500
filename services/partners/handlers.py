"""Reactions to travel's events. Each runs inside the consumer's unit of work."""

from services.partners import service
from services.partners.events import DelegationAnnounced, TripBooked
from shared.envelope import Envelope
from shared.uow import UnitOfWork


def home_place_id(uow: UnitOfWork) -> int:
    return service.context_for(uow.settings).home.id


async def trip_booked(event: TripBooked, envelope: Envelope, uow: UnitOfWork) -> None:
    await service.record_trip(uow, home_place_id(uow), event, envelope.time)


async def delegation_announced(event: DelegationAnnounced, envelope: Envelope, uow: UnitOfWork) -> None:
    await service.record_delegation(uow, home_place_id(uow), event, envelope.time)
