"""Notifications' personal data, masked in its audit trail (shared/audit.py) as `PERSONAL` says
(main.py hands it to the runtime).

A recipient may be a person: their name, when they do not want to be disturbed (quiet hours), and
where alerts reach them (channels: email addresses, and webhook URLs, which are secrets besides).
Subscriptions, deliveries and feed items name recipients by id and events by id.
"""

from __future__ import annotations

from typing import Any

from services.notifications.models import Channel, Recipient

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
