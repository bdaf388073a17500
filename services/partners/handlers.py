"""Reactions to travel's events. Each runs inside the consumer's unit of work."""

from functools import lru_cache

from services.partners import service
from services.partners.events import DelegationAnnounced, TripBooked
from shared.envelope import Envelope
from shared.places import Gazetteer
from shared.uow import UnitOfWork


@lru_cache
def _home_place_id(city: str, country: str, gazetteer_path) -> int:
    return Gazetteer(gazetteer_path).resolve(city, country).id


def home_place_id(uow: UnitOfWork) -> int:
    settings = uow.settings
    return _home_place_id(settings.home_city, settings.home_country, settings.gazetteer_path)


async def trip_booked(event: TripBooked, envelope: Envelope, uow: UnitOfWork) -> None:
    await service.record_trip(uow, home_place_id(uow), event, envelope.time)


async def delegation_announced(event: DelegationAnnounced, envelope: Envelope, uow: UnitOfWork) -> None:
    await service.record_delegation(uow, home_place_id(uow), event, envelope.time)
