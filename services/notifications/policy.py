"""Notifications' authorization policy: who may do what with the directory, subscriptions, the
delivery log and the feeds. Every route asks this table (see shared/policy.py).

A record's owner is the department of the recipient it belongs to: a recipient's own
`department`, a subscription's, delivery's or feed item's recipient's. Restricted items (about a
restricted trip) are the coordinators' whatever their recipient, and routing never sends them
anywhere else (domain.may_receive)."""

from __future__ import annotations

from shared.policy import ANY, NONE, OWN, Policy, rule

POLICY = Policy("notifications", {
    "recipient.create": rule("add recipients", admin=ANY, coordinator=ANY, department=OWN, reader=NONE),
    "recipient.read": rule("see recipients", admin=ANY, coordinator=ANY, department=OWN, reader=ANY),
    "recipient.change": rule("change recipients", admin=ANY, coordinator=ANY, department=OWN, reader=NONE),
    "recipient.delete": rule("remove recipients", admin=ANY, coordinator=ANY, department=OWN, reader=NONE),
    # Department desks and the coordinators' recipient receive the default alerts: whoever holds
    # one of those ids hears what the department (or the office) is told.
    "recipient.reserved": rule("create, change or remove a department's desk or the coordinators' recipient",
                               admin=ANY, coordinator=ANY, department=NONE, reader=NONE),
    "subscription.create": rule("subscribe recipients", admin=ANY, coordinator=ANY, department=OWN, reader=NONE),
    "subscription.read": rule("see subscriptions", admin=ANY, coordinator=ANY, department=OWN, reader=ANY),
    "subscription.delete": rule("remove subscriptions", admin=ANY, coordinator=ANY, department=OWN, reader=NONE),
    "delivery.read": rule("see the delivery log", admin=ANY, coordinator=ANY, department=OWN, reader=ANY),
    "delivery.retry": rule("re-drive deliveries", admin=ANY, coordinator=NONE, department=NONE, reader=NONE),
    # What a receiver answered (an HTTP body, an SMTP reply) may carry anything the receiver
    # chose to say: admins debug with it, everyone else sees the status.
    "delivery.error_body": rule("see what a receiver answered", admin=ANY, coordinator=NONE, department=NONE,
                                reader=NONE),
    "feed.read": rule("read feeds", admin=ANY, coordinator=ANY, department=OWN, reader=ANY),
    "feed.mark": rule("mark feed items read or acknowledged", admin=ANY, coordinator=ANY, department=OWN,
                      reader=NONE),
    "restricted.read": rule("see items about restricted trips", admin=ANY, coordinator=ANY, department=NONE,
                            reader=NONE),
})
