"""Travel use cases, each inside one unit of work (state change + events commit together)."""

from services.travel.events import LegV1, TripBookedV1
from services.travel.models import Leg, Trip
from shared.uow import UnitOfWork, utcnow


async def book_trip(uow: UnitOfWork, *, department: str, title: str, legs: list[dict]) -> Trip:
    trip = Trip(department=department, title=title, status="planned", created_at=utcnow())
    trip.legs = [Leg(position=i, **leg) for i, leg in enumerate(legs)]
    uow.session.add(trip)
    uow.publish(
        TripBookedV1(
            trip_id=trip.id,
            department=department,
            title=title,
            status=trip.status,
            legs=[LegV1(**leg) for leg in legs],
            booked_at=trip.created_at,
        ),
        subject=f"trips/{trip.id}",
    )
    await uow.commit()
    return trip
