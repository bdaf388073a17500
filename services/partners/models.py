"""Partners' tables, on its own metadata (its own database)."""

import uuid
from datetime import date, datetime

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import AutoString, Field, SQLModel

from services.partners.domain import Alert, ContactKind, Kind, OrganisationKind, Status, Theme


class PartnersTable(SQLModel, registry=registry()):
    pass


def new_id() -> str:
    return str(uuid.uuid4())


class Partnership(PartnersTable, table=True):
    """A city's partnership with another city, each side resolved to a GeoNames place."""

    __table_args__ = (UniqueConstraint("home_place_id", "partner_place_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    home_city: str = Field(max_length=200)  # the place's canonical name
    home_country: str = Field(max_length=2)
    home_place_id: int = Field(index=True)
    partner_city: str = Field(max_length=200)
    partner_country: str = Field(max_length=2, index=True)
    partner_place_id: int = Field(index=True)
    partner_latitude: float
    partner_longitude: float
    partner_timezone: str = Field(max_length=64)
    formalised_on: date  # the day, or 1 January when only the year is known
    formalised_year_only: bool = False
    # Literal columns are plain strings in the database (sa_type), checked by pydantic.
    kind: Kind = Field(default="twin", max_length=20, sa_type=AutoString(length=20))
    status: Status = Field(default="active", index=True, max_length=20, sa_type=AutoString(length=20))
    status_reason: str | None = Field(default=None, max_length=500)  # why suspended or ended
    ends_on: date | None = None  # time-limited: the end, or the date renewal must be decided
    themes: list[Theme] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    annual_themes: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    mou_areas: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    desk_officer_name: str | None = Field(default=None, max_length=200)
    desk_officer_email: str | None = Field(default=None, max_length=254)
    department: str = Field(default="OIA", max_length=20)  # who looks after it
    ideal_contact_days: int = 365
    max_contact_days: int = 1095
    last_contact_on: date | None = None  # the latest contact in the timeline
    created_at: datetime
    updated_at: datetime


class Contact(PartnersTable, table=True):
    """One entry of a partnership's timeline: a trip there, a delegation from there (from travel's
    events), or a meeting or event logged by staff."""

    __table_args__ = (UniqueConstraint("partnership_id", "source"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    partnership_id: str = Field(foreign_key="partnership.id", index=True, max_length=36)
    kind: ContactKind = Field(max_length=20, sa_type=AutoString(length=20))
    on: date
    until: date | None = None
    title: str = Field(max_length=300)
    department: str | None = Field(default=None, max_length=20)
    # Where it came from: "travel:trip/<id>", "travel:delegation/<id>", or "staff:<id>".
    source: str = Field(max_length=100)
    # A restricted trip's visit: its department, place and dates are for the coordinators and that
    # department only (policy row `contact.read_restricted`).
    restricted: bool = Field(default=False)
    created_at: datetime


class Notice(PartnersTable, table=True):
    """An alert said about a partnership, once: (partnership, what, key) is unique, so running
    the jobs twice, or on two replicas, says nothing twice."""

    __table_args__ = (UniqueConstraint("partnership_id", "what", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    partnership_id: str = Field(foreign_key="partnership.id", index=True, max_length=36)
    what: Alert = Field(max_length=20, sa_type=AutoString(length=20))
    key: str = Field(max_length=40)  # e.g. "25y/90d", or the last contact date of a lapse
    said_at: datetime


class Organisation(PartnersTable, table=True):
    """Who carries the international work besides the city: partnership clubs, area associations,
    consular corps and honorary consuls, international networks (with the city's membership),
    city ambassadors and offices abroad, partner schools, universities and hospitals."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    kind: OrganisationKind = Field(index=True, max_length=30, sa_type=AutoString(length=30))
    name: str = Field(max_length=300)
    city: str | None = Field(default=None, max_length=200)  # the resolved place's name
    country: str | None = Field(default=None, max_length=2)
    place_id: int | None = None
    partnership_id: str | None = Field(default=None, foreign_key="partnership.id", index=True, max_length=36)
    themes: list[Theme] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # A network: the city's membership, and the member cities ([{city, country, place_id}]).
    lead_department: str | None = Field(default=None, max_length=20)
    dues_amount: float | None = None
    dues_currency: str | None = Field(default=None, max_length=3)
    role_held: str | None = Field(default=None, max_length=300)  # "Treasurer of the Executive Committee"
    members: list[dict] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    website: str | None = Field(default=None, max_length=500)
    notes: str | None = None
    created_at: datetime
    updated_at: datetime


class Person(PartnersTable, table=True):
    """Someone the office works with, in a role: a club's chair, an honorary consul, a desk
    officer abroad."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    name: str = Field(max_length=200)
    role: str | None = Field(default=None, max_length=200)
    organisation_id: str | None = Field(default=None, foreign_key="organisation.id", index=True, max_length=36)
    partnership_id: str | None = Field(default=None, foreign_key="partnership.id", index=True, max_length=36)
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=50)
    languages: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime
    updated_at: datetime
