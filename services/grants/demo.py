"""Demo data for the embedded default: the calls of a portal search (the fixture in data/, the way
an office imports the portal's answer), the OIA's profile texts, and two applications — one of them
close enough to its deadline that its owner gets a reminder on the first run."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from services.grants import domain
from services.grants.service import applications, calls, profile
from shared.uow import utcnow

PORTAL_RESPONSE = Path(__file__).parent / "data" / "portal_calls.json"
PROFILE: dict[domain.Language, tuple[str, str]] = {
    "en": ("The Office for International Affairs",
           "The Office for International Affairs (OIA) coordinates the city's international work: its city "
           "partnerships, its memberships of European city networks, the travel of its departments and the "
           "delegations it receives. For EU-funded projects it provides the project management of multi-city "
           "applications, finds partners through its partnerships and networks, and holds the city's experience "
           "of earlier EU projects."),
    "de": ("Das Büro für Internationale Angelegenheiten",
           "Das Büro für Internationale Angelegenheiten koordiniert die internationale Arbeit der Stadt: ihre "
           "Städtepartnerschaften, ihre Mitgliedschaften in europäischen Städtenetzwerken, die Dienstreisen der "
           "Ämter und die Delegationen, die sie empfängt. Für EU-geförderte Projekte übernimmt es das "
           "Projektmanagement von Anträgen mehrerer Städte, findet Partner über seine Partnerschaften und Netzwerke "
           "und bündelt die Erfahrung der Stadt aus früheren EU-Projekten."),
}


async def seed(runtime) -> None:
    ctx = runtime.context
    now = utcnow()
    async with runtime.uow() as uow:
        await calls.import_answer(uow, ctx, PORTAL_RESPONSE.read_bytes())
    for language, (title, body) in PROFILE.items():
        async with runtime.uow() as uow:
            await profile.write_block(uow, "oia", language, title, body, position=10)
    async with runtime.uow() as uow:
        # A call closing in 10 days, so the demo shows a reminder (7 days) soon and an internal deadline passed.
        soon = domain.deadline_at((now + timedelta(days=10)).date())
        urbact = (await calls.create_call(uow, ctx, dict(
            identifier="URBACT-DEMO-APN", programme="urbact", title="URBACT Action Planning Networks",
            topic="Sustainable urban development", opens_at=now - timedelta(days=60), deadlines=[soon],
            budget=9_000_000, grant_max=850_000, themes=["urban", "climate", "inclusion"],
            min_applicants=6, min_countries=3, min_eu_members=3,
            rules_source="URBACT action planning networks: 6 to 9 partner cities from at least 3 member states",
            url="https://urbact.eu/calls-for-proposals"))).id
    async with runtime.uow() as uow:
        twinning = await calls.call_by_identifier(uow, "CERV-2027-CITIZENS-TOWN-TT")
        if twinning is None:
            raise RuntimeError(f"{PORTAL_RESPONSE.name} has no call CERV-2027-CITIZENS-TOWN-TT any more")
        await applications.create_application(uow, ctx, dict(
            call_id=twinning.id, lead_department="CULT", title="Twinning for European remembrance",
            owner={"name": "Clara Neumann", "email": "clara.neumann@city.example"}, requested_amount=28_000,
            consortium=[{"name": "City of Kraków", "city": "Krakau", "country": "PL", "role": "partner"}]))
    async with runtime.uow() as uow:
        await applications.create_application(uow, ctx, dict(
            call_id=urbact, lead_department="ENV", title="Climate-neutral neighbourhoods network",
            owner={"name": "Jana Weber", "email": "jana.weber@city.example"}, requested_amount=600_000,
            cofinancing_amount=120_000,
            consortium=[{"name": "Ville de Lyon", "city": "Lyon", "country": "FR", "role": "partner"},
                        {"name": "City of Birmingham", "city": "Birmingham", "country": "GB", "role": "associated"}]))
