"""Demo data for the embedded default: a few months of a city's travel, with one overlap and one
crossing for a newcomer to see (the paper's own examples: Köln and Düsseldorf are 34 km apart;
Katowice is a partner city whose delegation visits while our people travel there)."""

from __future__ import annotations

from datetime import date, timedelta

from services.travel.schemas import DelegationIn, LegIn, TravellerIn, TripIn
from services.travel.service import delegations, trips


async def seed(runtime) -> None:
    ctx = runtime.context
    soon = date.today() + timedelta(days=45)

    def leg(city: str, country: str, offset: int, days: int) -> LegIn:
        start = soon + timedelta(days=offset)
        return LegIn(city=city, country=country, start_date=start, end_date=start + timedelta(days=days))

    booked = [
        ("ECON", TripIn(title="Trade fair: Anuga food fair", purpose="trade_fair", legs=[leg("Köln", "DE", 0, 3)],
                        travellers=[TravellerIn(name="Anna Schmidt", email="anna.schmidt@city.example",
                                                role="Head of trade promotion")], status="booked")),
        ("MAYOR", TripIn(title="Partner-city visit and investors' dinner", purpose="partner_city_visit",
                         legs=[leg("Düsseldorf", "DE", 1, 2)],
                         travellers=[TravellerIn(name="The Mayor", email="mayor@city.example", role="Mayor",
                                                 elected_official=True)], status="booked")),
        ("CULT", TripIn(title="Eurocities culture forum", purpose="network_meeting",
                        legs=[leg("Katowice", "PL", 20, 3)],
                        travellers=[TravellerIn(name="Jonas Weber", email="jonas.weber@city.example",
                                                role="Festival office")], status="booked")),
        ("ENV", TripIn(title="EU project meeting: climate-neutral cities", purpose="eu_project_meeting",
                       legs=[leg("Lyon", "FR", 60, 2)], status="booked")),
    ]
    for department, trip in booked:
        async with runtime.uow() as uow:
            await trips.book_trip(uow, ctx, trip, department)
    visit = leg("Katowice", "PL", 21, 2)
    async with runtime.uow() as uow:
        await delegations.announce_delegation(uow, ctx, DelegationIn(
            origin_city=visit.city, origin_country=visit.country, arrival=visit.start_date,
            departure=visit.end_date, organisation="City of Katowice", visitors=6, official_guest=True), "MAYOR")
