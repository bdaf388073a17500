"""Grants' tables, on its own metadata (its own database)."""

import uuid
from datetime import datetime

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import AutoString, Field, SQLModel

from services.grants.domain import CallSource, CityRole, Language, Programme, Stage


class GrantsTable(SQLModel, registry=registry()):
    pass


def new_id() -> str:
    return str(uuid.uuid4())


class Call(GrantsTable, table=True):
    """A funding call, as the portal or the EU funding team describes it."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    identifier: str = Field(unique=True, max_length=120)  # CERV-2025-CITIZENS-TOWN-TT
    # Literal columns are plain strings of that length (SQLModel would not map a Literal itself).
    programme: Programme = Field(index=True, sa_type=AutoString(30))
    title: str = Field(max_length=500)
    topic: str | None = Field(default=None, max_length=500)
    opens_at: datetime | None = None
    # [{"stage": 1, "at": ISO 8601 with offset}, …] in stage order; one for single-stage calls.
    deadlines: list[dict] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    budget: float | None = None  # euros, the call's total
    grant_min: float | None = None
    grant_max: float | None = None
    cofinancing_rate: float | None = None  # the share the EU pays, 0–1
    min_applicants: int | None = None
    min_countries: int | None = None
    min_eu_members: int | None = None
    rules_source: str | None = Field(default=None, max_length=300)
    themes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    url: str | None = Field(default=None, max_length=1000)
    source: CallSource = Field(default="manual", sa_type=AutoString(20))
    version: int = 1
    created_at: datetime
    updated_at: datetime


class CallVersion(GrantsTable, table=True):
    """What a call looked like before each change, and what changed."""

    __table_args__ = (UniqueConstraint("call_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    call_id: str = Field(foreign_key="call.id", index=True, max_length=36)
    version: int  # the version this change made
    changes: list[dict] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    recorded_at: datetime


class Application(GrantsTable, table=True):
    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    call_id: str = Field(foreign_key="call.id", index=True, max_length=36)
    lead_department: str = Field(index=True, max_length=20)
    title: str = Field(max_length=300)
    owner_name: str = Field(max_length=200)
    owner_email: str = Field(max_length=254)
    requested_amount: float
    cofinancing_amount: float = 0.0  # the city's own contribution
    awarded_amount: float | None = None
    city_role: CityRole = Field(default="coordinator", sa_type=AutoString(20))  # our city's, in the consortium
    # [{"name", "city", "country", "place_id", "role", "partnership_id"}]: the partners besides us.
    consortium: list[dict] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    notes: str | None = None
    stage: Stage = Field(default="idea", index=True, sa_type=AutoString(20))
    # The call's stage it is prepared for: 2 once invited to a two-stage call's second stage.
    call_stage: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    stage_reason: str | None = Field(default=None, max_length=1000)  # why rejected or withdrawn
    internal_buffer_days: int = 5
    submitted_at: datetime | None = None
    decided_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class StageChange(GrantsTable, table=True):
    """The application's way through the pipeline."""

    id: int | None = Field(default=None, primary_key=True)
    application_id: str = Field(foreign_key="application.id", index=True, max_length=36)
    from_stage: Stage = Field(sa_type=AutoString(20))
    to_stage: Stage = Field(sa_type=AutoString(20))
    reason: str | None = Field(default=None, max_length=1000)
    changed_by: str = Field(max_length=60)
    changed_at: datetime


class Reminder(GrantsTable, table=True):
    """A deadline reminder said, once: (application, key) is unique, so the jobs running twice, or
    on two replicas, say nothing twice. The key holds the deadline, so a moved one is re-planned."""

    __table_args__ = (UniqueConstraint("application_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    application_id: str = Field(foreign_key="application.id", index=True, max_length=36)
    key: str = Field(max_length=120)
    said_at: datetime


class TextBlock(GrantsTable, table=True):
    """A piece of the city profile the OIA maintains, per language (Markdown)."""

    __table_args__ = (UniqueConstraint("key", "language"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=60)  # e.g. "city", "oia", "track_record"
    language: Language = Field(sa_type=AutoString(2))
    title: str = Field(max_length=200)
    body: str
    position: int = 0
    updated_at: datetime


class CalendarToken(GrantsTable, table=True):
    """A secret URL of the deadline calendar: one department's applications, or all (coordinators)."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    token_hash: str = Field(unique=True, max_length=64)
    department: str | None = Field(default=None, max_length=20)
    label: str | None = Field(default=None, max_length=200)
    created_by: str = Field(max_length=16)
    created_at: datetime
    revoked_at: datetime | None = None
