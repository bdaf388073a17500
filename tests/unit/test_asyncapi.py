"""How payload models become `components.schemas`: one namespace for every participant's models."""

from __future__ import annotations

from pydantic import BaseModel, create_model

from shared.asyncapi import Participant, asyncapi_document

CityLeg = create_model("Leg", city=(str, ...))
CountryLeg = create_model("Leg", country=(str, ...))


class TripBooked(BaseModel):
    leg: CityLeg  # type: ignore[valid-type]


class TripCancelled(BaseModel):
    leg: CityLeg  # type: ignore[valid-type]


class VisitPlanned(BaseModel):
    leg: CountryLeg  # type: ignore[valid-type]


def test_models_of_one_name_but_different_shapes_keep_both_and_refs_follow():
    document = asyncapi_document("t", "d", [
        Participant("partners", "Partners", sends={"partners.visit.planned.v1": VisitPlanned}, receives={}),
        Participant("travel", "Travel", sends={"travel.trip.booked.v1": TripBooked,
                                               "travel.trip.cancelled.v1": TripCancelled}, receives={}),
    ], "oia.events")

    schemas = document["components"]["schemas"]
    # partners' events come first; travel's Leg is another shape, so it is qualified, once
    assert schemas["Leg"]["properties"].keys() == {"country"}
    assert schemas["travel_Leg"]["properties"].keys() == {"city"}
    assert schemas["VisitPlanned"]["properties"]["leg"] == {"$ref": "#/components/schemas/Leg"}
    assert schemas["TripBooked"]["properties"]["leg"] == {"$ref": "#/components/schemas/travel_Leg"}
    assert schemas["TripCancelled"]["properties"]["leg"] == {"$ref": "#/components/schemas/travel_Leg"}
