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


@asynccontextmanager
async def on_postgres(monkeypatch: pytest.MonkeyPatch):
    """While open, `oia.embedded.prepare` and `EmbeddedHost` put each service on a new database."""
    names = {service: await create_database(f"oia_test_{service}") for service in SERVICES}
    sqlite_settings = oia.embedded.embedded_settings

    def postgres_settings(name: str, data_dir: Path):
        return sqlite_settings(name, data_dir).model_copy(update={"database_url": asyncpg_url(names[name])})

    monkeypatch.setattr(oia.embedded, "embedded_settings", postgres_settings)
    try:
        yield names
    finally:
        monkeypatch.setattr(oia.embedded, "embedded_settings", sqlite_settings)
        for name in names.values():
            await drop_database(name)
