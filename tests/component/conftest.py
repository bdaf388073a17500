"""Fixtures for tests through the embedded host: all four services in-process, SQLite, memory bus."""

from __future__ import annotations

import asyncio
import shutil

import httpx
import pytest

from oia.embedded import EmbeddedHost, prepare
from tests.support.policy_cases import POLICY_KEYS


@pytest.fixture(scope="session")
def migrated(tmp_path_factory):
    """Four migrated SQLite files and demo keys, made once: each test starts from a copy (milliseconds,
    where migrating anew takes seconds)."""
    template = tmp_path_factory.mktemp("migrated")
    keys = asyncio.run(prepare(template, with_demo_data=False))
    return template, keys


@pytest.fixture
async def host(tmp_path, monkeypatch, migrated):
    monkeypatch.setenv("OIA_API_KEYS", ",".join(["env-admin-key:admin,env-env-key:department:ENV", *POLICY_KEYS]))
    template, keys = migrated
    shutil.copytree(template, tmp_path, dirs_exist_ok=True)
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
