"""The embedded host on PostgreSQL: the same four services in one process and memory bus, but each
service on a database of its own on the test server, as in production. For input checks whose
outcome depends on the database (PostgreSQL refuses NUL in text, and strings over a VARCHAR's length)."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

import pytest

import oia.embedded
from oia.catalog import SERVICES
from shared.testing import asyncpg_url, create_database, drop_database


async def create_databases() -> dict[str, str]:
    return {service: await create_database(f"oia_test_{service}") for service in SERVICES}


async def drop_databases(names: dict[str, str]) -> None:
    for name in names.values():
        await drop_database(name)


def use_databases(monkeypatch: pytest.MonkeyPatch, names: dict[str, str]) -> None:
    """From now on (until `monkeypatch` undoes it), `oia.embedded.prepare` and `EmbeddedHost` put each
    service on its database in `names`."""
    sqlite_settings = oia.embedded.embedded_settings

    def postgres_settings(name: str, data_dir: Path):
        return sqlite_settings(name, data_dir).model_copy(update={"database_url": asyncpg_url(names[name])})

    monkeypatch.setattr(oia.embedded, "embedded_settings", postgres_settings)


@asynccontextmanager
async def on_postgres(monkeypatch: pytest.MonkeyPatch):
    """While open, the embedded host's services each use a new database, dropped at the end."""
    names = await create_databases()
    with monkeypatch.context() as patched:
        use_databases(patched, names)
        try:
            yield names
        finally:
            await drop_databases(names)
