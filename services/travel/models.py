"""Travel's tables, on its own metadata (its own database)."""

import uuid
from datetime import date, datetime

from sqlalchemy.orm import registry
from sqlmodel import Field, Relationship, SQLModel


class TravelTable(SQLModel, registry=registry()):
    pass


class Trip(TravelTable, table=True):
    id: str = Field(default_factory=lambda: str(uuid.uuid4()), primary_key=True, max_length=36)
    department: str = Field(index=True, max_length=20)
    title: str = Field(max_length=200)
    status: str = Field(default="planned", max_length=20)
    created_at: datetime
    legs: list["Leg"] = Relationship(
        back_populates="trip", sa_relationship_kwargs={"order_by": "Leg.position", "lazy": "selectin"}
    )


class Leg(TravelTable, table=True):
    id: int | None = Field(default=None, primary_key=True)
    trip_id: str = Field(foreign_key="trip.id", index=True, max_length=36)
    position: int
    city: str = Field(max_length=100)
    country: str = Field(max_length=2)
    start_date: date = Field(index=True)
    end_date: date
    trip: Trip = Relationship(back_populates="legs")
