"""Each service's Alembic history builds exactly the schema its models describe."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from oia.catalog import SERVICES, spec_of
from shared.db import make_engine
from shared.migrations import downgrade, upgrade
from shared.tables import platform_metadata


async def drift(service: str, url: str) -> list:
    spec = spec_of(service)
    await upgrade(service, spec.migrations_dir, spec.metadata, url)
    await downgrade(service, spec.migrations_dir, spec.metadata, url, "base")  # every step can be undone
    await upgrade(service, spec.migrations_dir, spec.metadata, url)
    await upgrade(service, spec.migrations_dir, spec.metadata, url)  # a second run changes nothing
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            def compare(sync_conn):
                context = MigrationContext.configure(sync_conn, opts={
                    "compare_type": True, "version_table": f"alembic_version_{service}"})
                return compare_metadata(context, [spec.metadata, platform_metadata])

            return await conn.run_sync(compare)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("service", SERVICES)
async def test_migrations_match_the_models_on_sqlite(service, tmp_path):
    assert await drift(service, f"sqlite+aiosqlite:///{tmp_path / service}.db") == []
