"""Notifications' tables, on its own metadata (its own database)."""

import uuid
from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class NotificationsTable(SQLModel, registry=registry()):
    pass


class FeedItem(NotificationsTable, table=True):
    """One entry in a recipient's in-app feed; at most one per (event, recipient)."""

    __table_args__ = (UniqueConstraint("event_id", "recipient"),)

    id: str = Field(default_factory=lambda: str(uuid.uuid4()), primary_key=True, max_length=36)
    recipient: str = Field(index=True, max_length=100)
    event_id: str = Field(max_length=36)
    event_type: str = Field(max_length=200)
    title: str = Field(max_length=300)
    body: str
    created_at: datetime = Field(index=True)
    read_at: datetime | None = None
