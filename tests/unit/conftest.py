"""Fixtures for tests through the embedded host: all four services in-process, SQLite, memory bus."""

from __future__ import annotations

import httpx
import pytest

from oia.embedded import EmbeddedHost, prepare
from tests.support.policy_cases import POLICY_KEYS


@pytest.fixture
async def host(tmp_path, monkeypatch):
    monkeypatch.setenv("OIA_API_KEYS", ",".join(["env-admin-key:admin,env-env-key:department:ENV", *POLICY_KEYS]))
    keys = await prepare(tmp_path, with_demo_data=False)
    embedded = EmbeddedHost(tmp_path)
    await embedded.start()
    embedded.keys = {(k["role"], k["department"]): k["key"] for k in keys}
    try:
        yield embedded
    finally:
        await embedded.stop()


@pytest.fixture
async def client(host):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=host), base_url="http://oia") as c:
        yield c
