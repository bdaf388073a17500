"""What grants' unit tests share: the service's context with stand-ins for its outbound clients
(never asked by these tests), its tables on the fake unit of work, and the calls the component
tests use (tests/component/test_grants_api.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

from services.grants import domain
from services.grants.models import GrantsTable
from services.grants.partners_client import PartnersClient
from services.grants.portal import Portal
from services.grants.service import GrantsContext
from services.grants.settings import GrantsSettings
from shared.outbound import Guard
from shared.places import Gazetteer, ensure_index
from tests.support.fakes import FakeDatabase, fake_database

FIXTURE = Path(__file__).parents[2] / "services" / "grants" / "data" / "portal_calls.json"
OWNER = {"name": "Jana Weber", "email": "jana.weber@city.example"}
KRAKOW = {"name": "City of Kraków", "city": "Krakau", "country": "PL", "role": "partner"}


def grants_context() -> GrantsContext:
    places = Gazetteer(ensure_index())
    defaults = GrantsSettings.model_fields
    return GrantsContext(
        places=places, home=places.resolve(defaults["home_city"].default, defaults["home_country"].default),
        city_themes=tuple(defaults["city_themes"].default),
        # Unreachable on purpose: a test that asks partners or the portal fails loudly.
        partners=PartnersClient("http://127.0.0.1:9", "", timeout=0.1), portal=Portal((), 0.1, Guard()))


@asynccontextmanager
async def grants_database() -> AsyncIterator[FakeDatabase]:
    async with fake_database(GrantsTable.metadata, "grants") as db:
        yield db


def twinning_call(**extra: Any) -> dict[str, Any]:
    """The component tests' town-twinning call, as the API hands it to the service layer."""
    return {"identifier": "CERV-2027-CITIZENS-TOWN-TT", "programme": "cerv", "title": "Town-Twinning",
            "opens_at": datetime.combine(date(2027, 1, 10), datetime.min.time(), tzinfo=domain.BRUSSELS),
            "deadlines": [domain.deadline_at(date(2027, 3, 31))], "budget": 4_000_000, "grant_max": 30_000,
            "themes": ["town twinning", "citizens"], **extra}


def application(call_id: str, **extra: Any) -> dict[str, Any]:
    return {"call_id": call_id, "lead_department": "ENV", "title": "Twinning for climate action",
            "owner": OWNER, "requested_amount": 25_000, "consortium": [KRAKOW], **extra}
