"""`GET /<svc>/places?q=&country=`: the offline gazetteer's suggestions for what someone typed, for
the services that resolve places (a form's autocomplete, or picking a `place_id` after a 422)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from shared.app import RuntimeDep
from shared.auth import CurrentPrincipal
from shared.places import Gazetteer, Place, UnknownCountry, country_code
from shared.policy import Policy
from shared.problems import FieldError


class PlaceOut(BaseModel):
    place_id: int
    name: str
    country: str
    population: int
    latitude: float
    longitude: float
    timezone: str

    @classmethod
    def of(cls, place: Place) -> PlaceOut:
        return cls(place_id=place.id, name=place.name, country=place.country, population=place.population,
                   latitude=place.latitude, longitude=place.longitude, timezone=place.timezone)


def add_place_routes(router: APIRouter, policy: Policy, action: str = "place.read") -> None:
    """The suggestion route; who may ask is the service's `policy` row `action`. The service's
    context holds its gazetteer as `places`."""

    @router.get("/places", response_model=list[PlaceOut], tags=["places"],
                summary="Places a name (or a misspelling of one) may mean, the likeliest first")
    async def suggest_places(
        principal: CurrentPrincipal, runtime: RuntimeDep,
        q: Annotated[str, Query(min_length=1, max_length=100, description="a city as typed")],
        country: Annotated[str | None, Query(min_length=2, max_length=60,
                                             description="an ISO code or a country's name")] = None,
        limit: Annotated[int, Query(ge=1, le=50)] = 10,
    ) -> list[PlaceOut]:
        policy.require(principal, action)
        places: Gazetteer = runtime.context.places
        try:
            code = country_code(country) if country is not None else None
        except UnknownCountry as exc:
            raise FieldError("country", str(exc)) from exc
        return [PlaceOut.of(p) for p in places.suggest(q, code, limit)]
