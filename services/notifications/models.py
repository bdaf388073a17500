"""Notifications' tables, on its own metadata (its own database)."""

import uuid
from datetime import datetime, time
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import AutoString, Field, SQLModel

from services.notifications.domain import AttemptOutcome, ChannelKind, DeliveryStatus, Language, RecipientKind


class NotificationsTable(SQLModel, registry=registry()):
    pass


def new_id() -> str:
    return str(uuid.uuid4())


class Recipient(NotificationsTable, table=True):
    """Who hears: a department, the OIA coordinators, another team, or a person.

    A department's own recipient has the department code as its id (`ECON`); the coordinators'
    is `OIA`. Those two kinds receive the default alerts; everyone else what they subscribe to."""

    id: str = Field(primary_key=True, max_length=40)
    kind: RecipientKind = Field(sa_type=AutoString(20))
    name: str = Field(max_length=200)
    department: str | None = Field(default=None, index=True, max_length=20)
    language: Language = Field(default="en", sa_type=AutoString(2))
    timezone: str = Field(default="Europe/Berlin", max_length=64)
    # Non-critical alerts inside this local window wait for its end (None: no quiet hours).
    quiet_start: time | None = None
    quiet_end: time | None = None
    # One message a day at this local hour instead of one per event (None: every event at once).
    digest_hour: int | None = None
    created_at: datetime
    updated_at: datetime


class Channel(NotificationsTable, table=True):
    """One way to reach a recipient. `address` is an email address or a webhook URL; URLs are
    secrets (they let anyone post), so the API shows them masked and logs never carry them."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    recipient_id: str = Field(foreign_key="recipient.id", index=True, max_length=40)
    kind: ChannelKind = Field(sa_type=AutoString(20))
    # Neither is in the repr: a Channel printed in an error must not carry them.
    address: str | None = Field(default=None, max_length=2000, repr=False)  # None: a webhook not set up yet
    signing_secret: str | None = Field(default=None, max_length=200, repr=False)  # generic webhooks: HMAC key
    created_at: datetime


class Subscription(NotificationsTable, table=True):
    """A recipient's wish to hear of an event type beyond the defaults, optionally narrowed."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    recipient_id: str = Field(foreign_key="recipient.id", index=True, max_length=40)
    event_type: str = Field(index=True, max_length=200)
    department: str | None = Field(default=None, max_length=20)
    country: str | None = Field(default=None, max_length=2)
    created_at: datetime


class Notice(NotificationsTable, table=True):
    """An event someone must hear of, kept as it arrived: what every message about it is rendered
    from (and re-rendered from when an admin re-drives a delivery)."""

    event_id: str = Field(primary_key=True, max_length=36)
    event_type: str = Field(max_length=200)
    # Groups notices about one thing (an overlap's detection and resolution): "overlap/<id>".
    topic: str | None = Field(default=None, index=True, max_length=100)
    critical: bool = False
    restricted: bool = False  # about a restricted trip: the coordinators' and admins' only, in every list
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    occurred_at: datetime
    received_at: datetime
    # The event's correlation id and the trace it was routed in: its deliveries are sent in that trace.
    correlation_id: str | None = Field(default=None, max_length=64)
    traceparent: str | None = Field(default=None, max_length=64)
    tracestate: str | None = Field(default=None, sa_type=Text)


class FeedItem(NotificationsTable, table=True):
    """One entry in a recipient's in-app feed; at most one per (event, recipient)."""

    __table_args__ = (UniqueConstraint("event_id", "recipient"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    recipient: str = Field(index=True, max_length=100)
    event_id: str = Field(max_length=36)
    event_type: str = Field(max_length=200)
    title: str = Field(max_length=300)
    body: str
    critical: bool = False
    restricted: bool = False  # as its notice: shown to coordinators and admins only
    created_at: datetime = Field(index=True)
    read_at: datetime | None = None
    acknowledged_at: datetime | None = None


class Delivery(NotificationsTable, table=True):
    """One message to one channel of one recipient about one event: unique, so redeliveries,
    restarts and replicas can never send it twice.

    `status`: see domain.DeliveryStatus."""

    __table_args__ = (UniqueConstraint("event_id", "recipient_id", "channel_id"),
                      Index("ix_delivery_due", "status", "due_at"))

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    event_id: str = Field(foreign_key="notice.event_id", index=True, max_length=36)
    recipient_id: str = Field(index=True, max_length=40)
    channel_id: str = Field(max_length=36)
    channel_kind: ChannelKind = Field(sa_type=AutoString(20))
    status: DeliveryStatus = Field(default="pending", sa_type=AutoString(20))
    due_at: datetime
    held_reason: str | None = Field(default=None, max_length=200)  # why it waits (quiet hours, digest)
    attempts: int = 0
    attempt_limit: int  # kept for the record (deliveries die on a time budget now: retry_until)
    retry_until: datetime | None = None  # set at the first failure: failing past it, the delivery is dead
    lease_until: datetime | None = None
    claim_token: str | None = Field(default=None, max_length=36)  # whose claim it is, while sending
    last_error: str | None = None
    digest_id: str | None = Field(default=None, max_length=36)  # the digest message it went out in
    created_at: datetime
    sent_at: datetime | None = None


class DeliveryAttempt(NotificationsTable, table=True):
    """Every try, as it went: the delivery log."""

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: str = Field(foreign_key="delivery.id", index=True, max_length=36)
    number: int
    started_at: datetime
    finished_at: datetime
    outcome: AttemptOutcome = Field(sa_type=AutoString(20))
    status_code: int | None = None
    error: str | None = None


class DirectoryVersion(NotificationsTable, table=True):
    """One row: bumped by every change to recipients, channels or subscriptions, so each process
    knows when its in-memory copy of the directory is stale (see directory.py)."""

    id: int = Field(default=1, primary_key=True)
    version: int = 0
