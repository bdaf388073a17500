"""Travel's HTTP routes (thin: validation here, rules in service.py)."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field, model_validator
from sqlmodel import select

from services.travel import service
from services.travel.models import Trip
from shared.app import RuntimeDep
from shared.auth import CurrentPrincipal, DEPARTMENT
from shared.problems import FieldError

router = APIRouter(tags=["trips"])


class LegIn(BaseModel):
    city: str = Field(min_length=1, max_length=100)
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")
    start_date: date
    end_date: date

    @model_validator(mode="after")
    def _dates_in_order(self) -> "LegIn":
        if self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self


class TripIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    department: str | None = Field(None, pattern=DEPARTMENT.pattern,
                                   description="coordinators may book for any department")
    legs: list[LegIn] = Field(min_length=1, max_length=20)


class LegOut(BaseModel):
    city: str
    country: str
    start_date: date
    end_date: date


class TripOut(BaseModel):
    id: str
    department: str
    title: str
    status: str
    legs: list[LegOut]


def _out(trip: Trip) -> TripOut:
    return TripOut(id=trip.id, department=trip.department, title=trip.title, status=trip.status,
                   legs=[LegOut(city=l.city, country=l.country, start_date=l.start_date, end_date=l.end_date)
                         for l in trip.legs])


@router.post("/trips", status_code=201, response_model=TripOut, summary="Book a trip")
async def book_trip(body: TripIn, principal: CurrentPrincipal, runtime: RuntimeDep) -> TripOut:
    if not principal.can_write:
        raise HTTPException(403, detail="a reader key may not book trips")
    department = body.department or principal.department
    if department is None:
        raise FieldError("department", "required when the key has no department")
    if not principal.may_act_for(department):
        raise HTTPException(403, detail=f"this key may not book trips for department {department}")
    async with runtime.uow() as uow:
        trip = await service.book_trip(uow, department=department, title=body.title,
                                       legs=[leg.model_dump() for leg in body.legs])
    return _out(trip)


@router.get("/trips", response_model=list[TripOut], summary="List trips")
async def list_trips(principal: CurrentPrincipal, runtime: RuntimeDep,
                     department: Annotated[str | None, Query(pattern=DEPARTMENT.pattern)] = None,
                     limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[TripOut]:
    async with runtime.uow() as uow:
        query = select(Trip).order_by(Trip.created_at.desc()).limit(limit)
        if department:
            query = query.where(Trip.department == department)
        trips = (await uow.session.exec(query)).all()
    return [_out(t) for t in trips]


@router.get("/trips/{trip_id}", response_model=TripOut, summary="One trip")
async def get_trip(trip_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> TripOut:
    async with runtime.uow() as uow:
        trip = await uow.session.get(Trip, trip_id)
    if trip is None:
        raise HTTPException(404, detail=f"trip {trip_id} not found")
    return _out(trip)
