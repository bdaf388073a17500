"""Demo data for the embedded default: a few months of a city's travel, with one overlap and one
crossing for a newcomer to see (the paper's own examples: Köln and Düsseldorf are 34 km apart;
Katowice is a partner city whose delegation visits while our people travel there)."""

from __future__ import annotations

from datetime import date, timedelta

from services.travel import service
from shared.places import Gazetteer


async def seed(runtime) -> None:
    ctx = service.TravelContext(places=Gazetteer(runtime.settings.gazetteer_path),
                                radius_km=runtime.settings.overlap_radius_km)
    soon = date.today() + timedelta(days=45)

    def legs(city: str, country: str, offset: int, days: int) -> list[service.LegInput]:
        start = soon + timedelta(days=offset)
        return [service.LegInput(city, country, start, start + timedelta(days=days))]

    trips = [
        ("ECON", "Trade fair: Anuga food fair", "trade_fair", legs("Köln", "DE", 0, 3),
         [service.TravellerInput("Anna Schmidt", "anna.schmidt@city.example", "Head of trade promotion")]),
        ("MAYOR", "Partner-city visit and investors' dinner", "partner_city_visit", legs("Düsseldorf", "DE", 1, 2),
         [service.TravellerInput("The Mayor", "mayor@city.example", "Mayor", elected_official=True)]),
        ("CULT", "Eurocities culture forum", "network_meeting", legs("Katowice", "PL", 20, 3),
         [service.TravellerInput("Jonas Weber", "jonas.weber@city.example", "Festival office")]),
        ("ENV", "EU project meeting: climate-neutral cities", "eu_project_meeting", legs("Lyon", "FR", 60, 2),
         []),
    ]
    for department, title, purpose, trip_legs, travellers in trips:
        async with runtime.uow() as uow:
            await service.book_trip(uow, ctx, department=department, title=title, purpose=purpose, legs=trip_legs,
                                    travellers=travellers, status="booked")
    async with runtime.uow() as uow:
        await service.announce_delegation(uow, ctx, service.DelegationInput(
            host_department="MAYOR", origin=legs("Katowice", "PL", 21, 2)[0], organisation="City of Katowice",
            visitors=6, official_guest=True))
