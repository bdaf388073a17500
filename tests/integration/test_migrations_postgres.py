"""The migrations against PostgreSQL: the types it compares strictly."""

import pytest

from oia.catalog import SERVICES
from shared.testing import asyncpg_url, create_database, drop_database
from tests.component.test_migrations import drift
from tests.component.test_secrets import upgrade_scrubs_heard_key_prefixes, upgrade_scrubs_key_prefixes

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("service", SERVICES)
async def test_migrations_match_the_models_on_postgresql(service):
    name = await create_database(f"oia_migrate_{service}")
    try:
        assert await drift(service, asyncpg_url(name)) == []
    finally:
        await drop_database(name)


async def test_upgrading_replaces_recorded_key_prefixes_with_key_ids_on_postgresql():
    name = await create_database("oia_migrate_key_ids")
    try:
        await upgrade_scrubs_key_prefixes(asyncpg_url(name))
    finally:
        await drop_database(name)


async def test_upgrading_notifications_renames_keys_in_heard_stage_changes_on_postgresql():
    name = await create_database("oia_migrate_heard_keys")
    try:
        await upgrade_scrubs_heard_key_prefixes(asyncpg_url(name))
    finally:
        await drop_database(name)
