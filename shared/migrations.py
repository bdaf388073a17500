"""Alembic, per service: each has its own history and version table, run over an async engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, MetaData, text

from shared.db import is_postgres, make_engine
from shared.tables import platform_metadata


def alembic_config(service: str, migrations_dir: Path, metadata: MetaData) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.attributes["service"] = service
    cfg.attributes["target_metadata"] = [metadata, platform_metadata]
    return cfg


async def upgrade(service: str, migrations_dir: Path, metadata: MetaData, url: str,
                  revision: str = "head") -> None:
    await _run(command.upgrade, service, migrations_dir, metadata, url, revision)


async def downgrade(service: str, migrations_dir: Path, metadata: MetaData, url: str, revision: str) -> None:
    await _run(command.downgrade, service, migrations_dir, metadata, url, revision)


async def _run(step: Callable[[Config, str], None], service: str, migrations_dir: Path, metadata: MetaData,
               url: str, revision: str) -> None:
    cfg = alembic_config(service, migrations_dir, metadata)
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            if is_postgres(engine):
                # Replicas starting together: one migrates, the others wait and find nothing to do.
                await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"migrate:{service}"})

            def run(sync_conn: Connection) -> None:
                cfg.attributes["connection"] = sync_conn
                step(cfg, revision)

            await conn.run_sync(run)
    finally:
        await engine.dispose()


async def make_revision(service: str, migrations_dir: Path, metadata: MetaData, url: str, message: str) -> None:
    """Autogenerate a revision by comparing the models with a database at head."""
    await upgrade(service, migrations_dir, metadata, url)
    cfg = alembic_config(service, migrations_dir, metadata)
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            def run(sync_conn: Connection) -> None:
                cfg.attributes["connection"] = sync_conn
                command.revision(cfg, message=message, autogenerate=True)

            await conn.run_sync(run)
    finally:
        await engine.dispose()


def run_env() -> None:
    """The body of every service's migrations/env.py."""
    from alembic import context

    cfg = context.config
    connection = cfg.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations with `oia migrate <service>`, which supplies the connection")
    context.configure(
        connection=connection,
        target_metadata=cfg.attributes["target_metadata"],
        version_table=f"alembic_version_{cfg.attributes['service']}",
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
