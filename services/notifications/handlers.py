"""Reactions to other services' events. Each runs inside the consumer's unit of work."""

from services.notifications.events import TripBooked
from services.notifications.models import FeedItem
from shared.envelope import Envelope
from shared.uow import UnitOfWork, utcnow

# The OIA's central travel coordinator hears of every trip the city books.
COORDINATORS = "OIA"


async def trip_booked(event: TripBooked, envelope: Envelope, uow: UnitOfWork) -> None:
    places = ", ".join(f"{leg.city} ({leg.country}) {leg.start_date:%d %b}–{leg.end_date:%d %b %Y}"
                       for leg in event.legs)
    uow.session.add(
        FeedItem(
            recipient=COORDINATORS,
            event_id=envelope.id,
            event_type=envelope.type,
            title=f"{event.department} booked a trip: {event.title}",
            body=f"{event.department} travels to {places}.",
            created_at=utcnow(),
        )
    )
