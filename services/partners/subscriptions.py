"""What partners listens to: event type → handler."""

from services.partners import handlers
from services.partners.events import consumes
from shared.consumer import Subscriptions

subscriptions = Subscriptions(consumes)
subscriptions.on("travel.trip.booked.v1")(handlers.trip_booked)
subscriptions.on("travel.delegation.announced.v1")(handlers.delegation_announced)
