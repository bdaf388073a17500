"""What partners listens to: nothing yet."""

from services.partners.events import consumes
from shared.consumer import Subscriptions

subscriptions = Subscriptions(consumes)
