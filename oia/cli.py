"""`oia`: run, migrate and operate Diplomacity."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine

from oia.catalog import SERVICES, spec_of, system_asyncapi
from shared.auth import InvalidKeySpec, StoredKey, list_keys, new_key, revoke_key, store_key, validate_principal
from shared.bus.amqp import AmqpBus
from shared.bus.base import RetryPolicy
from shared.db import make_engine
from shared.logging import configure_logging
from shared.migrations import make_revision, upgrade
from shared.settings import ServiceSettings

app = typer.Typer(help="Diplomacity: the platform a city's Office for International Affairs runs on.",
                  no_args_is_help=True)
keys = typer.Typer(help="API keys.", no_args_is_help=True)
dlq = typer.Typer(help="Dead-letter queues (RabbitMQ).", no_args_is_help=True)
app.add_typer(keys, name="keys")
app.add_typer(dlq, name="dlq")

ServiceArg = Annotated[str, typer.Argument(help=f"one of: {', '.join(SERVICES)}")]


def _services(name: str) -> list[str]:
    if name == "all":
        return list(SERVICES)
    if name not in SERVICES:
        raise typer.BadParameter(f"unknown service {name!r}; one of: {', '.join(SERVICES)}, all")
    return [name]


def _settings(name: str) -> ServiceSettings:
    return spec_of(name).settings_cls()


@app.command()
def dev(
    port: Annotated[int, typer.Option(envvar="OIA_PORT")] = 8000,
    data_dir: Annotated[Path, typer.Option(envvar="OIA_DATA_DIR")] = Path("./data"),
    host: Annotated[str, typer.Option(envvar="OIA_HOST")] = "127.0.0.1",
) -> None:
    """Run the embedded default: all four services on one port, SQLite files, in-memory bus."""
    from oia.embedded import EmbeddedHost, prepare

    configure_logging(os.environ.get("OIA_LOG_LEVEL", "INFO"))
    demo_keys = asyncio.run(prepare(data_dir))
    base = f"http://{host}:{port}"
    typer.echo(f"\nDiplomacity (embedded) on {base}")
    for name in SERVICES:
        typer.echo(f"  {name:<14} {base}/{name}/docs")
    typer.echo(f"\nDemo API keys (also in {data_dir / 'demo-keys.json'}):")
    for k in demo_keys:
        who = k["role"] + (f" {k['department']}" if k["department"] else "")
        typer.echo(f"  {who:<22} {k['key']}")
    typer.echo(f"\nTry: curl -H 'Authorization: Bearer {demo_keys[0]['key']}' {base}/travel/trips\n")
    embedded = EmbeddedHost(data_dir)
    # As `serve` does: start-up's objects out of the collector's way, so a full collection (which
    # stalls every request; a large import causes several) scans only what came after.
    gc.collect()
    gc.freeze()
    uvicorn.run(embedded, host=host, port=port, log_config=None, proxy_headers=_behind_proxy())


@app.command()
def serve(service: ServiceArg, host: Annotated[str, typer.Option(envvar="OIA_HOST")] = "0.0.0.0") -> None:
    """Run one service against DATABASE_URL / AMQP_URL (migrating first)."""
    [name] = _services(service)
    settings = _settings(name)
    configure_logging(settings.log_level)
    spec = spec_of(name)
    asyncio.run(_wait_and_migrate(name, settings.database_url))
    from shared.app import create_service_app
    from shared.runtime import ServiceRuntime

    app = create_service_app(ServiceRuntime(spec, settings))
    # What start-up built lives as long as the process: out of the collector's way, so its full
    # collections stay short (they showed as latency spikes under load).
    gc.collect()
    gc.freeze()
    uvicorn.run(app, host=host, port=settings.port, log_config=None, proxy_headers=_behind_proxy())


def _behind_proxy() -> bool:
    """X-Forwarded-For replaces the peer's address (what the failed-authentication throttle counts
    by) only when FORWARDED_ALLOW_IPS lists the proxies that may say so; uvicorn's default would
    trust it from any local peer."""
    return bool(os.environ.get("FORWARDED_ALLOW_IPS", "").strip())


async def _wait_and_migrate(name: str, url: str, timeout: float = 60.0) -> None:
    """The prestart step: wait for the database to accept connections, then migrate."""
    spec = spec_of(name)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            await upgrade(name, spec.migrations_dir, spec.metadata, url)
            return
        except OSError as exc:
            if loop.time() > deadline:
                raise
            typer.echo(f"{name}: database not reachable yet ({exc}); retrying", err=True)
            await asyncio.sleep(1.0)


@app.command()
def asyncapi() -> None:
    """Print the AsyncAPI document of the whole system: every service's events (JSON)."""
    typer.echo(json.dumps(system_asyncapi(_settings(SERVICES[0]).exchange), indent=2, ensure_ascii=False))


@app.command()
def migrate(service: Annotated[str, typer.Argument(help="a service or 'all'")]) -> None:
    """Bring a service's database (or all of them) to the latest migration."""
    for name in _services(service):
        spec = spec_of(name)
        asyncio.run(upgrade(name, spec.migrations_dir, spec.metadata, _settings(name).database_url))
        typer.echo(f"{name}: migrated")


@app.command()
def makemigration(service: ServiceArg, message: Annotated[str, typer.Option("-m", "--message")]) -> None:
    """Autogenerate a new migration for a service from its models (developers)."""
    [name] = _services(service)
    spec = spec_of(name)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/scratch.db"
        asyncio.run(make_revision(name, spec.migrations_dir, spec.metadata, url, message))


@keys.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="department, coordinator, reader or admin")],
    department: Annotated[str | None, typer.Option(help="short upper-case code, e.g. ECON")] = None,
    label: Annotated[str | None, typer.Option(help="who or what uses the key")] = None,
    service: Annotated[str, typer.Option(help="store in this service's database, or 'all'")] = "all",
) -> None:
    """Create an API key; it is printed once and stored only as a hash (its id, on stderr, names it)."""
    try:
        validate_principal(role, department)
    except InvalidKeySpec as exc:
        raise typer.BadParameter(str(exc)) from exc
    key = new_key()

    async def store() -> set[str]:
        ids = set()
        for _, settings, engine in _each_service_engine(service):
            try:
                ids.add(await store_key(engine, settings.secret_key, key, role, department, label))
            finally:
                await engine.dispose()
        return ids

    ids = asyncio.run(store())
    typer.echo(key)  # stdout holds the key alone, for scripts
    typer.echo(f"id {', '.join(sorted(ids))} (for `oia keys list` and `oia keys revoke`)", err=True)


def _each_service_engine(service: str) -> Iterator[tuple[str, ServiceSettings, AsyncEngine]]:
    """(name, settings, engine) for `service` or every service; engines are disposed afterwards."""
    for name in _services(service):
        settings = _settings(name)
        yield name, settings, make_engine(settings.database_url)


@keys.command("list")
def keys_list(service: Annotated[str, typer.Option(help="the service whose database to read")] = "travel") -> None:
    """List API keys by id and label (never any part of a key)."""

    async def run() -> list[StoredKey]:
        [(_, _, engine)] = list(_each_service_engine(service))
        try:
            return await list_keys(engine)
        finally:
            await engine.dispose()

    for k in asyncio.run(run()):
        state = f"revoked {k['revoked_at']:%Y-%m-%d}" if k["revoked_at"] else "active"
        typer.echo(f"{k['id']}  {k['role']:<11} {k['department'] or '-':<6} {state:<18} {k['label'] or ''}")


@keys.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="the key's id (key_…), as `oia keys list` shows it")],
                service: Annotated[str, typer.Option(help="revoke in this service's database, or 'all'")] = "all",
                ) -> None:
    """Revoke a key: it stops working within 30 seconds."""

    async def run() -> int:
        total = 0
        for _, _, engine in _each_service_engine(service):
            try:
                total += await revoke_key(engine, key_id)
            finally:
                await engine.dispose()
        return total

    revoked = asyncio.run(run())
    if not revoked:
        raise typer.BadParameter(f"no active key has the id {key_id!r}")
    typer.echo(f"revoked in {revoked} database(s)")


def _amqp(name: str) -> tuple[AmqpBus, str]:
    settings = _settings(name)
    bus = AmqpBus(settings.amqp_url, settings.exchange,
                  RetryPolicy(settings.max_attempts, tuple(settings.retry_delays_ms)))
    return bus, f"{settings.queue_prefix}{name}"


@dlq.command("list")
def dlq_list(service: ServiceArg) -> None:
    """Show the messages in a service's dead-letter queue (leaves them there)."""
    [name] = _services(service)

    async def run() -> None:
        bus, queue = _amqp(name)
        await bus.connect()
        try:
            letters = await bus.dead_letters(queue)
        finally:
            await bus.close()
        for d in letters:
            typer.echo(f"{d.event_id}  {d.event_type}  attempts={d.attempts}  "
                       f"{d.dead_at:%Y-%m-%d %H:%M:%S}  {d.reason}")
        typer.echo(f"{len(letters)} dead letter(s) in {queue}.dlq")

    asyncio.run(run())


@dlq.command("replay")
def dlq_replay(service: ServiceArg,
               event_id: Annotated[list[str] | None, typer.Option("--event-id", help="only these")] = None) -> None:
    """Re-drive dead letters into the service's queue with a fresh attempt count."""
    [name] = _services(service)

    async def run() -> int:
        bus, queue = _amqp(name)
        await bus.connect()
        try:
            return await bus.replay_dead_letters(queue, event_id or None)
        finally:
            await bus.close()

    typer.echo(f"replayed {asyncio.run(run())} message(s)")


if __name__ == "__main__":
    app()
