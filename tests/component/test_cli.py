"""The `oia` command: keys and migrations, against SQLite files."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import inspect
from typer.testing import CliRunner

from oia.catalog import SERVICES
from oia.cli import app
from shared.auth import KeyRing
from shared.db import make_engine

runner = CliRunner()


@pytest.fixture
def sqlite_env(tmp_path, monkeypatch):
    for name in SERVICES:
        monkeypatch.setenv(f"{name.upper()}_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / name}.db")
    monkeypatch.setenv("OIA_SECRET_KEY", "cli-test-secret")
    result = runner.invoke(app, ["migrate", "all"])
    assert result.exit_code == 0, result.output
    return tmp_path


def resolve(tmp_path, service: str, key: str):
    async def run():
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / service}.db")
        try:
            return await KeyRing(engine, "cli-test-secret").resolve(key)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_migrate_creates_every_service_schema(sqlite_env):
    async def tables(service: str) -> set[str]:
        engine = make_engine(f"sqlite+aiosqlite:///{sqlite_env / service}.db")
        try:
            async with engine.connect() as conn:
                return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        finally:
            await engine.dispose()

    for service in SERVICES:
        assert {"outbox", "inbox", "api_key", f"alembic_version_{service}"} <= asyncio.run(tables(service))
    assert {"trip", "leg"} <= asyncio.run(tables("travel"))
    assert "feeditem" in asyncio.run(tables("notifications"))


def test_a_created_key_works_in_every_service_until_revoked(sqlite_env):
    result = runner.invoke(app, ["keys", "create", "--role", "department", "--department", "ECON", "--label", "ECON system"])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    assert key.startswith("oia_") and len(key) > 40
    key_id = result.stderr.split()[1]
    assert key_id.startswith("key_") and key_id[4:] not in key
    for service in SERVICES:
        principal = resolve(sqlite_env, service, key)
        assert (principal.role, principal.department) == ("department", "ECON")

    listed = runner.invoke(app, ["keys", "list", "--service", "travel"])
    assert key_id in listed.output and "ECON system" in listed.output
    assert key[4:10] not in listed.output  # named by id and label: no part of the key itself

    revoked = runner.invoke(app, ["keys", "revoke", key_id])
    assert revoked.exit_code == 0, revoked.output
    assert resolve(sqlite_env, "grants", key) is None


@pytest.mark.parametrize("args,message", [
    (["--role", "overlord"], "role must be one of"),
    (["--role", "department"], "needs --department"),
    (["--role", "department", "--department", "econ"], "upper-case"),
])
def test_bad_key_specs_are_refused(sqlite_env, args, message):
    result = runner.invoke(app, ["keys", "create", *args])
    assert result.exit_code != 0
    assert message in result.output


def test_unknown_service_is_refused(sqlite_env):
    result = runner.invoke(app, ["migrate", "tourism"])
    assert result.exit_code != 0
    assert "unknown service 'tourism'" in result.output
