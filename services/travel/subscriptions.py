"""What travel listens to: nothing yet."""

from services.travel.events import consumes
from shared.consumer import Subscriptions

subscriptions = Subscriptions(consumes)
