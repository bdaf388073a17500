"""What notifications listens to: event type → handler."""

from services.notifications import handlers
from services.notifications.events import consumes
from shared.consumer import Subscriptions

subscriptions = Subscriptions(consumes)
for event_type in consumes.types:  # every event we have a model of is one people must hear of
    subscriptions.on(event_type)(handlers.notify)
