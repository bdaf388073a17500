"""What grants listens to: nothing yet."""

from services.grants.events import consumes
from shared.consumer import Subscriptions

subscriptions = Subscriptions(consumes)
