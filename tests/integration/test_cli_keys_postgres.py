"""`oia keys` against a production database: PostgreSQL, named as `oia serve` finds it."""

import asyncio

import pytest
from typer.testing import CliRunner

from oia.cli import app
from shared.auth import KeyRing
from shared.db import make_engine
from shared.testing import asyncpg_url, create_database, drop_database
from tests.component.test_cli import said

pytestmark = pytest.mark.integration
runner = CliRunner()


async def resolve(url: str, key: str):
    engine = make_engine(url)
    try:
        return await KeyRing(engine, "cli-test-secret").resolve(key)
    finally:
        await engine.dispose()


def test_a_key_made_for_travels_postgresql_works_there_until_revoked(tmp_path, monkeypatch):
    name = asyncio.run(create_database("oia_cli_keys"))
    url = asyncpg_url(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRAVEL_DATABASE_URL", raising=False)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("OIA_SECRET_KEY", "cli-test-secret")
    try:
        unmigrated = runner.invoke(app, ["keys", "create", "--role", "department", "--department", "ENV",
                                         "--service", "travel"])
        assert unmigrated.exit_code != 0 and "run `oia migrate travel`" in said(unmigrated.output)
        assert runner.invoke(app, ["migrate", "travel"]).exit_code == 0

        created = runner.invoke(app, ["keys", "create", "--role", "department", "--department", "ENV",
                                      "--label", "ENV system", "--service", "travel"])
        assert created.exit_code == 0, created.output
        key, key_id = created.stdout.strip(), created.stderr.split()[1]
        assert "accepted by travel (postgresql+asyncpg://" in created.stderr and name in created.stderr
        principal = asyncio.run(resolve(url, key))
        assert (principal.department, principal.label) == ("ENV", "ENV system")

        listed = runner.invoke(app, ["keys", "list", "--service", "travel"])
        assert key_id in listed.output and "ENV system" in listed.output
        revoked = runner.invoke(app, ["keys", "revoke", key_id, "--service", "travel"])
        assert revoked.exit_code == 0, revoked.output
        assert asyncio.run(resolve(url, key)) is None
        assert not (tmp_path / "data").exists()
    finally:
        asyncio.run(drop_database(name))
