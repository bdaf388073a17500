"""The migrations against PostgreSQL: the types it compares strictly."""

import pytest

from oia.catalog import SERVICES
from shared.testing import asyncpg_url, create_database, drop_database
from tests.unit.test_migrations import drift

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("service", SERVICES)
async def test_migrations_match_the_models_on_postgresql(service):
    name = await create_database(f"oia_migrate_{service}")
    try:
        assert await drift(service, asyncpg_url(name)) == []
    finally:
        await drop_database(name)
