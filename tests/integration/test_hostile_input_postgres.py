"""Hostile input on PostgreSQL, where it fails differently from SQLite: text cannot hold U+0000 (in a
write and in a query alike). Each is a 422 naming the field, and nothing is stored."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import func, select

from oia.embedded import EmbeddedHost, prepare
from services.grants.models import Call
from services.partners.models import Partnership
from services.travel.models import Trip
from shared.tables import outbox
from tests.component.test_hostile_input import LEG, PARTNERSHIP, TRIP, refused
from tests.support.embedded import auth
from tests.support.policy_cases import POLICY_KEYS
from tests.support.postgres_host import on_postgres

pytestmark = pytest.mark.integration

ECON, COORDINATOR = ("department", "ECON"), ("coordinator", "OIA")


@pytest.fixture
async def pg_host(tmp_path, monkeypatch):
    monkeypatch.setenv("OIA_API_KEYS", ",".join(POLICY_KEYS))
    async with on_postgres(monkeypatch):
        keys = await prepare(tmp_path, with_demo_data=False)
        host = EmbeddedHost(tmp_path)
        await host.start()
        host.keys = {(k["role"], k["department"]): k["key"] for k in keys}
        try:
            yield host
        finally:
            await host.stop()


@pytest.fixture
async def pg_client(pg_host):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=pg_host), base_url="http://oia") as c:
        yield c


async def count(host, service: str, table) -> int:
    async with host.runtimes[service].engine.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(table))


async def test_a_nul_in_a_body_query_or_path_is_a_422_on_postgres(pg_client, pg_host):
    host, client = pg_host, pg_client
    assert "postgresql" in str(host.runtimes["travel"].engine.url)
    refused(await client.post("/travel/trips", json={**TRIP, "title": "Trade\x00fair"}, headers=auth(host, *ECON)),
            "title")
    refused(await client.post("/travel/trips", json={**TRIP, "legs": [{**LEG, "city": "Chong\x00qing"}]},
                              headers=auth(host, *ECON)), "legs[0].city")
    refused(await client.post("/partners/partnerships", json={**PARTNERSHIP, "status_reason": "\x00"},
                              headers=auth(host, *COORDINATOR)), "status_reason")
    refused(await client.get("/travel/trips?city=K%00ln", headers=auth(host, *ECON)), "query.city")
    refused(await client.get("/travel/trips/abc%00", headers=auth(host, *ECON)), "path")
    refused(await client.get("/partners/partnerships?home_city=%00", headers=auth(host, *COORDINATOR)),
            "query.home_city")
    document = {"results": [{"metadata": {"identifier": ["LIFE-2027-NUL"], "deadlineDate": ["2027-05-01"],
                                          "title": ["Nature\x00"]}}]}
    refused(await client.post("/grants/calls/import", content=json.dumps(document),
                              headers={**auth(host, *COORDINATOR), "Content-Type": "application/json"}),
            "results[0].metadata.title[0]")
    for service, table in (("travel", Trip), ("partners", Partnership), ("grants", Call)):
        assert await count(host, service, table) == 0, service
        assert await count(host, service, outbox) == 0, service

    # The same requests without the NUL are stored: the refusal was the NUL's.
    booked = await client.post("/travel/trips", json={**TRIP, "title": "Trade fair"}, headers=auth(host, *ECON))
    assert booked.status_code == 201, booked.text
    assert await count(host, "travel", Trip) == 1
