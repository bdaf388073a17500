"""Travel's tables, on its own metadata (its own database)."""

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Column, Index, Numeric, UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import AutoString, Field, Relationship, SQLModel

from services.travel.domain import (
    CrossingStatus,
    DelegationStatus,
    OverlapKind,
    OverlapStatus,
    Purpose,
    TripStatus,
    Visibility,
)


class TravelTable(SQLModel, registry=registry()):
    pass


def new_id() -> str:
    return str(uuid.uuid4())


class Trip(TravelTable, table=True):
    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    department: str = Field(index=True, max_length=20)
    title: str = Field(max_length=200)
    # Literal types are no column type SQLModel knows: the columns stay VARCHARs of these lengths.
    purpose: Purpose = Field(default="other", sa_type=AutoString(length=40))
    status: TripStatus = Field(default="planned", index=True, sa_type=AutoString(length=20))
    visibility: Visibility = Field(default="normal", sa_type=AutoString(length=20))
    estimated_cost: Decimal | None = Field(default=None, sa_column=Column(Numeric(12, 2)))
    currency: str | None = Field(default=None, max_length=3)
    created_at: datetime
    updated_at: datetime
    legs: list["Leg"] = Relationship(
        back_populates="trip",
        sa_relationship_kwargs={"order_by": "Leg.position", "lazy": "selectin", "cascade": "all, delete-orphan"},
    )
    travellers: list["Traveller"] = Relationship(
        back_populates="trip",
        sa_relationship_kwargs={"order_by": "Traveller.position", "lazy": "selectin", "cascade": "all, delete-orphan"},
    )


class Leg(TravelTable, table=True):
    """One stop of a trip, in the destination's local dates, with the place its city resolved to."""

    # Overlap candidates: the cells around a place, legs starting in a bounded window of dates. The
    # end date and trip id ride in the index, so legs that end too early never touch the table.
    __table_args__ = (Index("ix_leg_cell_start", "cell", "start_date", "end_date",
                            postgresql_include=["trip_id"]),)

    id: int | None = Field(default=None, primary_key=True)
    trip_id: str = Field(foreign_key="trip.id", index=True, max_length=36)
    position: int
    city: str = Field(max_length=100)  # as the department wrote it
    country: str = Field(max_length=2)
    place_id: int = Field(index=True)
    place_name: str = Field(max_length=200)
    latitude: float
    longitude: float
    timezone: str = Field(max_length=64)
    cell: int  # domain.cell_of(latitude, longitude)
    start_date: date
    end_date: date
    trip: Trip = Relationship(back_populates="legs")


class Traveller(TravelTable, table=True):
    id: int | None = Field(default=None, primary_key=True)
    trip_id: str = Field(foreign_key="trip.id", index=True, max_length=36)
    position: int
    name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=254)
    role: str | None = Field(default=None, max_length=100)
    elected_official: bool = False
    trip: Trip = Relationship(back_populates="travellers")


class Overlap(TravelTable, table=True):
    """Two departments at one place at one time: one row per unordered pair of their trips
    (kind "trips"), or of the delegations they host from one place (kind "delegations")."""

    __table_args__ = (UniqueConstraint("trip_a_id", "trip_b_id"),
                      UniqueConstraint("delegation_a_id", "delegation_b_id"))

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    kind: OverlapKind = Field(default="trips", sa_type=AutoString(length=20))
    # Of each pair, "a" is the one with the smaller id.
    trip_a_id: str | None = Field(default=None, foreign_key="trip.id", index=True, max_length=36)
    trip_b_id: str | None = Field(default=None, foreign_key="trip.id", index=True, max_length=36)
    leg_a_id: int | None = None
    leg_b_id: int | None = None
    delegation_a_id: str | None = Field(default=None, foreign_key="delegation.id", index=True, max_length=36)
    delegation_b_id: str | None = Field(default=None, foreign_key="delegation.id", index=True, max_length=36)
    place_name: str = Field(max_length=200)
    country: str = Field(max_length=2)
    distance_km: float
    shared_start: date
    shared_end: date
    restricted: bool = False  # either trip restricted: coordinators only
    status: OverlapStatus = Field(default="open", index=True, sa_type=AutoString(length=20))
    detected_at: datetime
    updated_at: datetime
    resolved_at: datetime | None = None
    # The last coordinator's mark: why, by whom (Principal.who: a role and a key's label, never the key), when.
    triage_note: str | None = Field(default=None, max_length=1000)
    triaged_by: str | None = Field(default=None, max_length=60)
    triaged_at: datetime | None = None


class Delegation(TravelTable, table=True):
    """A delegation visiting us, announced by the department hosting it."""

    __table_args__ = (Index("ix_delegation_cell_arrival", "origin_cell", "arrival"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    host_department: str = Field(index=True, max_length=20)
    origin_city: str = Field(max_length=100)  # as the department wrote it
    origin_country: str = Field(max_length=2)
    origin_place_id: int
    origin_place_name: str = Field(max_length=200)
    origin_latitude: float
    origin_longitude: float
    origin_cell: int
    organisation: str | None = Field(default=None, max_length=200)
    visitors: int
    arrival: date
    departure: date
    official_guest: bool = False  # a guest of the city (partner-city delegations are)
    status: DelegationStatus = Field(default="announced", sa_type=AutoString(length=20))
    created_at: datetime
    updated_at: datetime


class Crossing(TravelTable, table=True):
    """Our trip to a place while a delegation from that place visits us: nobody is home to host."""

    __table_args__ = (UniqueConstraint("trip_id", "delegation_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    trip_id: str = Field(foreign_key="trip.id", index=True, max_length=36)
    delegation_id: str = Field(foreign_key="delegation.id", index=True, max_length=36)
    leg_id: int
    place_name: str = Field(max_length=200)
    shared_start: date
    shared_end: date
    status: CrossingStatus = Field(default="open", sa_type=AutoString(length=20))
    detected_at: datetime
    resolved_at: datetime | None = None


class CalendarToken(TravelTable, table=True):
    """A secret calendar URL: one department's feed, or the whole city's (coordinators)."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    token_hash: str = Field(unique=True, max_length=64)  # HMAC of the token; the token is shown once
    department: str | None = Field(default=None, max_length=20)  # None: the whole city
    label: str | None = Field(default=None, max_length=200)
    created_by: str = Field(max_length=16)  # the id of the API key that made it
    created_at: datetime
    revoked_at: datetime | None = None
