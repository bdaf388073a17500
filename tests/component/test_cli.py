"""The `oia` command: keys and migrations, against SQLite files."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from sqlalchemy import inspect, select
from typer.testing import CliRunner

from oia.catalog import SERVICES
from oia.cli import app
from oia.embedded import prepare
from shared.auth import KeyRing
from shared.db import make_engine
from shared.tables import audit

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
    # Each service's audit trail has both, by the command line, the label masked and no part of the key.
    for service in SERVICES:
        entries = audit_rows(sqlite_env, service)
        assert [(e.resource_type, e.resource_id, e.action, e.actor) for e in entries] == [
            ("api_key", key_id, "created", "command line (oia keys)"),
            ("api_key", key_id, "revoked", "command line (oia keys)")]
        assert json.loads(entries[0].changes) == {"role": [None, "department"], "department": [None, "ECON"],
                                                  "label": [None, "***"]}
        assert "ECON system" not in repr(entries) and key[4:] not in repr(entries)


def audit_rows(tmp_path, service: str) -> list:
    async def run():
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / service}.db")
        try:
            async with engine.connect() as conn:
                return (await conn.execute(select(audit).order_by(audit.c.seq))).all()
        finally:
            await engine.dispose()

    return asyncio.run(run())


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


def said(output: str) -> str:
    """An error as the user reads it, without the box and line breaks around it."""
    return " ".join(re.sub("[│╭╮╰╯─]", " ", output).split())


@pytest.fixture
def new_user(tmp_path, monkeypatch):
    """A new user's shell: no database configured, in a fresh checkout's folder."""
    for name in ("DATABASE_URL", *(f"{s.upper()}_DATABASE_URL" for s in SERVICES), "OIA_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OIA_SECRET_KEY", "cli-test-secret")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_keys_create_as_the_readme_gives_it_works_on_oia_devs_data(new_user):
    data = new_user / "data"
    asyncio.run(prepare(data, with_demo_data=False))  # `oia dev` ran once

    result = runner.invoke(app, ["keys", "create", "--role", "department", "--department", "ENV"])

    assert result.exit_code == 0, result.output
    assert "accepted by partners, travel, grants, notifications (oia dev's database" in result.stderr
    key = result.stdout.strip()
    for service in SERVICES:
        principal = resolve(data, service, key)
        assert (principal.role, principal.department) == ("department", "ENV")
    assert sorted(p.name for p in data.glob("*.db")) == sorted(f"{s}.db" for s in SERVICES)  # no stray service.db


def test_keys_on_a_fresh_checkout_make_the_dev_databases_oia_dev_then_uses(new_user):
    data = new_user / "data"
    listed = runner.invoke(app, ["keys", "list"])
    assert listed.exit_code != 0 and "no travel database" in said(listed.output)
    assert not data.exists()

    result = runner.invoke(app, ["keys", "create", "--role", "reader", "--label", "dashboard"])
    assert result.exit_code == 0, result.output
    key, key_id = result.stdout.strip(), result.stderr.split()[1]
    demo = asyncio.run(prepare(data, with_demo_data=False))  # `oia dev` starts on them
    assert resolve(data, "notifications", key).label == "dashboard"
    assert {k["department"] for k in demo} >= {"MAYOR", "ECON", "CULT", "ENV"}

    every = runner.invoke(app, ["keys", "list", "--service", "all"])
    assert every.output.count(key_id) == len(SERVICES)
    revoked = runner.invoke(app, ["keys", "revoke", key_id, "--service", "grants"])
    assert revoked.exit_code == 0, revoked.output
    assert "revoked in grants" in revoked.output
    assert resolve(data, "grants", key) is None
    assert resolve(data, "travel", key) is not None


def test_keys_for_a_production_database_go_to_the_named_service_only(new_user, monkeypatch):
    url = f"sqlite+aiosqlite:///{new_user / 'prod-travel.db'}"
    monkeypatch.setenv("TRAVEL_DATABASE_URL", url)
    unmigrated = runner.invoke(app, ["keys", "create", "--role", "admin", "--service", "travel"])
    assert unmigrated.exit_code != 0 and "oia migrate travel" in said(unmigrated.output)

    assert runner.invoke(app, ["migrate", "travel"]).exit_code == 0
    everywhere = runner.invoke(app, ["keys", "create", "--role", "admin"])
    assert everywhere.exit_code != 0
    assert "no database configured for partners, grants, notifications" in said(everywhere.output)
    result = runner.invoke(app, ["keys", "create", "--role", "admin", "--service", "travel"])
    assert result.exit_code == 0, result.output
    assert f"accepted by travel ({url})" in result.stderr
    assert resolve(new_user, "prod-travel", result.stdout.strip()).role == "admin"
    assert not (new_user / "data").exists()  # nothing written where `oia dev` keeps its data


def _tables(path) -> set[str]:
    async def run():
        engine = make_engine(f"sqlite+aiosqlite:///{path}")
        try:
            async with engine.connect() as conn:
                return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        finally:
            await engine.dispose()

    return asyncio.run(run())


@pytest.mark.parametrize(("migrate_on_start", "migrated"), [(None, True), ("true", True), ("false", False)])
def test_serve_migrates_first_unless_told_not_to(tmp_path, monkeypatch, migrate_on_start, migrated):
    # Kubernetes runs `oia migrate` as a Job before a rollout and the replicas with OIA_MIGRATE_ON_START=false.
    db = tmp_path / "travel.db"
    monkeypatch.setenv("TRAVEL_DATABASE_URL", f"sqlite+aiosqlite:///{db}")
    monkeypatch.setenv("OIA_SECRET_KEY", "cli-test-secret")
    if migrate_on_start is not None:
        monkeypatch.setenv("OIA_MIGRATE_ON_START", migrate_on_start)
    served = []
    def serve_once(server, sockets=None):  # the server `oia serve` runs, stood in for: no port is opened
        served.append(server.config.port)
        server.started = True

    monkeypatch.setattr("oia.cli._DrainingServer.run", serve_once)
    result = runner.invoke(app, ["serve", "travel"])
    assert result.exit_code == 0, result.output
    assert served == [8002]  # it went on to serve either way
    tables = _tables(db) if db.exists() else set()
    assert ("alembic_version_travel" in tables) is migrated
    assert ("trip" in tables) is migrated
