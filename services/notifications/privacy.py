"""Notifications' personal data, masked in its audit trail (shared/audit.py) as `PERSONAL` says
(main.py hands it to the runtime).

A recipient may be a person: their name, when they do not want to be disturbed (quiet hours), and
where alerts reach them (channels: email addresses, and webhook URLs, which are secrets besides).
Subscriptions, deliveries and feed items name recipients by id and events by id.
"""

from __future__ import annotations

from typing import Any

from services.notifications.models import Channel, Recipient
from shared.records import Holding

PERSONAL = {
    "recipient": frozenset({"name", "quiet_start", "quiet_end", "channels"}),
    "subscription": frozenset(),
    "delivery": frozenset(),
    "feed_item": frozenset(),
}


def recipient_record(recipient: Recipient, channels: list[Channel]) -> dict[str, Any]:
    """A recipient as its audit entries compare it, its channels included (kinds and addresses)."""
    return {"kind": recipient.kind, "name": recipient.name, "department": recipient.department,
            "language": recipient.language, "timezone": recipient.timezone, "quiet_start": recipient.quiet_start,
            "quiet_end": recipient.quiet_end, "digest_hour": recipient.digest_hour,
            "channels": [f"{c.kind}: {c.address}" for c in channels]}


OWNERS = "the recipient's department (a person's: coordinators); coordinators and admins"
HOLDINGS = (
    Holding("recipient", ("id", "name", "quiet_start", "quiet_end"), "who hears of what, and when not to "
            "disturb them; a person's id and name name them", "until deleted or erased", OWNERS),
    Holding("channel", ("address",), "where alerts reach a recipient (email addresses; webhook URLs, which are "
            "secrets and shown masked)", "until deleted or erased", OWNERS),
    Holding("subscription", (), "what a recipient hears beyond the defaults", "with its recipient", OWNERS),
    Holding("notice", ("data",), "the event an alert is rendered from; it can quote a person (travellers, an "
            "application's owner, a desk officer)", "DELIVERY_LOG_RETENTION_DAYS, once no delivery refers to it",
            "nobody through the API", "delivery_log_retention_days"),
    Holding("delivery", ("recipient_id",), "each alert to each recipient and channel: the delivery log",
            "DELIVERY_LOG_RETENTION_DAYS after it was made, once finished", OWNERS, "delivery_log_retention_days"),
    Holding("deliveryattempt", ("error",), "every try of a delivery, with the receiver's error answer",
            "with its delivery", "admins (the error answer); the rest as the delivery"),
    Holding("feeditem", ("recipient", "title", "body"), "the in-app feed: rendered alerts, which can quote a person",
            "FEED_RETENTION_DAYS after it was made", OWNERS, "feed_retention_days"),
    Holding("directoryversion", (), "a counter that tells processes the directory changed", "always",
            "nobody through the API"),
)
