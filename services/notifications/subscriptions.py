"""What notifications listens to: event type → handler."""

from services.notifications import handlers
from services.notifications.events import consumes
from shared.consumer import Subscriptions

subscriptions = Subscriptions(consumes)
subscriptions.on("travel.trip.booked.v1")(handlers.trip_booked)
