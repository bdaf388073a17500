"""`oia`: run, migrate and operate Diplomacity."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import signal
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, TypeVar

import typer
import uvicorn
from sqlalchemy import inspect, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from oia.catalog import SERVICES, spec_of, system_asyncapi
from shared import records
from shared.audit import acting_as
from shared.auth import InvalidKeySpec, StoredKey, list_keys, new_key, revoke_key, store_key, validate_principal
from shared.bus.amqp import AmqpBus
from shared.bus.base import RetryPolicy
from shared.db import make_engine
from shared.logging import configure_logging
from shared.migrations import make_revision, upgrade
from shared.settings import ServiceSettings
from shared.tables import api_key

T = TypeVar("T")

app = typer.Typer(help="Diplomacity: the platform a city's Office for International Affairs runs on.",
                  no_args_is_help=True)
keys = typer.Typer(help="API keys.", no_args_is_help=True)
KEYS_ACTOR = "command line (oia keys)"  # how the audit trail names a key made or revoked here
dlq = typer.Typer(help="Dead-letter queues (RabbitMQ).", no_args_is_help=True)
app.add_typer(keys, name="keys")
app.add_typer(dlq, name="dlq")

ServiceArg = Annotated[str, typer.Argument(help=f"one of: {', '.join(SERVICES)} (or board, for `serve`)")]


def _services(name: str) -> list[str]:
    if name == "all":
        return list(SERVICES)
    if name not in SERVICES:
        raise typer.BadParameter(f"unknown service {name!r}; one of: {', '.join(SERVICES)}, all")
    return [name]


def _settings(name: str) -> ServiceSettings:
    return spec_of(name).settings_cls()


# How long a stopping server lets requests finish: streams (the live feed) never end on their own,
# so uvicorn, which would wait for them, cancels what is still running after this.
GRACE_SECONDS = 5


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
    typer.echo(f"  {'board':<14} {base}/board/   (sign in with a demo key below)")
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
    # As `serve`: a SIGTERM stops it cleanly (requests finished, the services drained, exit 0).
    _run_draining(uvicorn.Config(embedded, host=host, port=port, log_config=None, proxy_headers=_behind_proxy(),
                                 timeout_graceful_shutdown=GRACE_SECONDS))


@app.command()
def serve(service: ServiceArg, host: Annotated[str, typer.Option(envvar="OIA_HOST")] = "0.0.0.0") -> None:
    """Run one service against DATABASE_URL / AMQP_URL (migrating first, unless
    OIA_MIGRATE_ON_START=false), or the board (`board`), which asks the services at
    BOARD_<SERVICE>_URL and listens on BOARD_PORT (8005)."""
    if service == "board":
        return _serve_board(host)
    [name] = _services(service)
    settings = _settings(name)
    configure_logging(settings.log_level)
    spec = spec_of(name)
    if settings.migrate_on_start:
        asyncio.run(_wait_and_migrate(name, settings.database_url))
    from shared.app import create_service_app
    from shared.runtime import ServiceRuntime

    app = create_service_app(ServiceRuntime(spec, settings))
    # What start-up built lives as long as the process: out of the collector's way, so its full
    # collections stay short (they showed as latency spikes under load).
    gc.collect()
    gc.freeze()
    _run_draining(uvicorn.Config(app, host=host, port=settings.port, log_config=None, proxy_headers=_behind_proxy(),
                                 timeout_graceful_shutdown=min(GRACE_SECONDS, int(settings.shutdown_grace_seconds))))


def _run_draining(config: uvicorn.Config) -> None:
    server = _DrainingServer(config)
    server.run()
    if not server.started:
        raise typer.Exit(3)  # uvicorn's STARTUP_FAILURE, as uvicorn.run says it


class _DrainingServer(uvicorn.Server):
    """uvicorn's server, but a SIGTERM (or Ctrl-C) is a request to stop that it fulfils: it stops
    accepting, lets requests finish, the lifespan drains the runtime, and the process exits 0.
    (uvicorn itself raises the signal again once it has stopped, and the process dies of it: an
    orchestrator would count a clean rolling update as a crash.)"""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # As uvicorn's own, less raising the signal again at the end.
        original = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def _serve_board(host: str) -> None:
    from board.app import create_board_app
    from board.settings import BoardSettings

    configure_logging(os.environ.get("OIA_LOG_LEVEL", "INFO"))
    port = int(os.environ.get("BOARD_PORT", "8005"))
    # As a service: a SIGTERM lets the pages being answered finish, and the process exits 0.
    _run_draining(uvicorn.Config(create_board_app(BoardSettings()), host=host, port=port, log_config=None,
                                 proxy_headers=_behind_proxy(), timeout_graceful_shutdown=GRACE_SECONDS))


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
def status(
    url: Annotated[list[str] | None, typer.Option(
        "--url", metavar="[SERVICE=]URL",
        help="where to ask: a URL for all four services, or SERVICE=URL for one (repeatable). Default: "
             "PARTNERS_URL … NOTIFICATIONS_URL, as the services call each other, or `oia dev` on OIA_PORT")] = None,
    watch: Annotated[bool, typer.Option("--watch", help="redraw every SECONDS until Ctrl-C")] = False,
    # A positional, not the option's value: `--watch` alone and `--watch 2` both read naturally.
    seconds: Annotated[float | None, typer.Argument(
        metavar="[SECONDS]", help="with --watch: seconds between redraws [default: 5]", show_default=False)] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for each service's answer")] = 5.0,
) -> None:
    """The deployment on one screen: each service's readiness, queue, outbox, dead letters, dead
    deliveries, HTTP requests and errors, and scheduled jobs, from its /ready and /metrics.

    Exits 1 when a service is down or not ready (with --watch: as the last screen said), 0 otherwise."""
    from rich.console import Console
    from rich.live import Live

    from oia.status import collect, exit_code, render, service_urls

    try:
        urls = service_urls(os.environ, url or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--url") from exc
    if seconds is not None and (not watch or seconds <= 0):
        raise typer.BadParameter("SECONDS goes with --watch, and is more than 0", param_hint="SECONDS")
    console = Console()
    statuses = asyncio.run(collect(urls, timeout))
    if not watch:
        console.print(render(statuses, time.time()))
        raise typer.Exit(exit_code(statuses))
    try:
        with Live(render(statuses, time.time()), console=console, auto_refresh=False) as live:
            while True:
                time.sleep(seconds or 5.0)
                statuses = asyncio.run(collect(urls, timeout))
                live.update(render(statuses, time.time()), refresh=True)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how --watch ends
    raise typer.Exit(exit_code(statuses))


@app.command()
def asyncapi() -> None:
    """Print the AsyncAPI document of the whole system: every service's events (JSON)."""
    typer.echo(json.dumps(system_asyncapi(_settings(SERVICES[0]).exchange), indent=2, ensure_ascii=False))


@app.command(name="privacy-doc")
def privacy_doc() -> None:
    """Print the records of processing (docs/privacy.md): each table's personal data, why, how long, who sees it."""
    typer.echo(privacy_document(), nl=False)


def privacy_document() -> str:
    """From each service's declarations and its settings' defaults (not this environment's)."""
    return records.document((name, spec_of(name).holdings, spec_of(name).settings_cls.model_construct())
                            for name in SERVICES)


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


DataDirOption = Annotated[Path, typer.Option(envvar="OIA_DATA_DIR",
                                              help="`oia dev`'s data folder, when no DATABASE_URL is set")]


@dataclass(frozen=True)
class KeyStore:
    """One database `oia keys` works on, and the services that read their keys from it."""

    services: tuple[str, ...]
    url: str
    secret: str
    dev: bool

    @property
    def where(self) -> str:
        if self.dev:
            return f"oia dev's databases in {Path(make_url(self.url).database or '.').parent}"
        return make_url(self.url).render_as_string(hide_password=True)


def _key_stores(service: str, data_dir: Path, create: bool) -> list[KeyStore]:
    """The databases holding the keys of `service` (or all): a production database where
    DATABASE_URL (or <SERVICE>_DATABASE_URL) names one, as `oia serve` finds it; otherwise the
    SQLite files `oia dev` runs on, migrated first (and, for `create`, made when missing)."""
    from oia.embedded import embedded_settings

    names = _services(service)
    configured = {name: settings for name in names
                  if "database_url" in (settings := _settings(name)).model_fields_set}
    if configured:
        missing = [name for name in names if name not in configured]
        if missing:
            raise typer.BadParameter(
                f"no database configured for {', '.join(missing)} (DATABASE_URL or <SERVICE>_DATABASE_URL) "
                f"while {', '.join(configured)} has one: name the services with --service", param_hint="--service")
        by_url: dict[tuple[str, str], list[str]] = {}
        for name, settings in configured.items():  # services sharing one database hold a key once
            by_url.setdefault((settings.database_url, settings.secret_key), []).append(name)
        stores = [KeyStore(tuple(services), url, secret, dev=False) for (url, secret), services in by_url.items()]
        for store in stores:
            asyncio.run(_require_key_table(store))
        return stores
    stores = []
    for name in names:
        settings = embedded_settings(name, data_dir)
        if not create and not (data_dir / f"{name}.db").exists():
            raise typer.BadParameter(f"no {name} database in {data_dir} (run `oia dev` or `oia keys create` "
                                     "first, or set DATABASE_URL)", param_hint="--data-dir")
        spec = spec_of(name)
        asyncio.run(upgrade(name, spec.migrations_dir, spec.metadata, settings.database_url))
        stores.append(KeyStore((name,), settings.database_url, settings.secret_key, dev=True))
    return stores


async def _require_key_table(store: KeyStore) -> None:
    """A production database is migrated by `oia serve` or `oia migrate`, not behind an operator's back."""
    engine = make_engine(store.url)
    try:
        async with engine.connect() as conn:
            migrated = await conn.run_sync(lambda c: inspect(c).has_table(api_key.name))
    finally:
        await engine.dispose()
    if not migrated:
        raise typer.BadParameter(f"{store.where} has no API-key table yet: run `oia migrate "
                                 f"{store.services[0]}` (or start the service) first", param_hint="--service")


async def _each_store(stores: list[KeyStore], act: Callable[[KeyStore, AsyncEngine], Awaitable[T]]) -> list[T]:
    results = []
    for store in stores:
        engine = make_engine(store.url)
        try:
            results.append(await act(store, engine))
        finally:
            await engine.dispose()
    return results


def _accepted_by(stores: list[KeyStore]) -> str:
    """The services that accept a key, by where their databases are: "travel (postgresql://…)"."""
    services: dict[str, list[str]] = {}
    for store in stores:
        services.setdefault(store.where, []).extend(store.services)
    return "; ".join(f"{', '.join(names)} ({where})" for where, names in services.items())


@keys.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="department, coordinator, reader or admin")],
    department: Annotated[str | None, typer.Option(help="short upper-case code, e.g. ECON")] = None,
    label: Annotated[str | None, typer.Option(help="who or what uses the key")] = None,
    service: Annotated[str, typer.Option(help="store in this service's database, or 'all'")] = "all",
    data_dir: DataDirOption = Path("./data"),
) -> None:
    """Create an API key; it is printed once and stored only as a hash (its id, on stderr, names it).
    Each service accepts the keys in its own database: the key works in the services it is stored for."""
    try:
        validate_principal(role, department)
    except InvalidKeySpec as exc:
        raise typer.BadParameter(str(exc)) from exc
    stores = _key_stores(service, data_dir, create=True)
    key = new_key()

    async def store(store: KeyStore, engine: AsyncEngine) -> str:
        with acting_as(KEYS_ACTOR):
            return await store_key(engine, store.secret, key, role, department, label)

    ids = set(asyncio.run(_each_store(stores, store)))
    typer.echo(key)  # stdout holds the key alone, for scripts
    typer.echo(f"id {', '.join(sorted(ids))} (for `oia keys list` and `oia keys revoke`)", err=True)
    typer.echo(f"accepted by {_accepted_by(stores)}", err=True)


@keys.command("list")
def keys_list(service: Annotated[str, typer.Option(help="the service whose database to read, or 'all'")] = "travel",
              data_dir: DataDirOption = Path("./data")) -> None:
    """List API keys by id and label (never any part of a key)."""
    stores = _key_stores(service, data_dir, create=False)

    async def listed(_: KeyStore, engine: AsyncEngine) -> list[StoredKey]:
        return await list_keys(engine)

    for store, stored in zip(stores, asyncio.run(_each_store(stores, listed)), strict=True):
        if len(stores) > 1:
            typer.echo(f"# {_accepted_by([store])}")
        for k in stored:
            state = f"revoked {k['revoked_at']:%Y-%m-%d}" if k["revoked_at"] else "active"
            typer.echo(f"{k['id']}  {k['role']:<11} {k['department'] or '-':<6} {state:<18} {k['label'] or ''}")


@keys.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="the key's id (key_…), as `oia keys list` shows it")],
                service: Annotated[str, typer.Option(help="revoke in this service's database, or 'all'")] = "all",
                data_dir: DataDirOption = Path("./data"),
                ) -> None:
    """Revoke a key: it stops working within 30 seconds."""
    stores = _key_stores(service, data_dir, create=False)

    async def revoke(_: KeyStore, engine: AsyncEngine) -> int:
        with acting_as(KEYS_ACTOR):
            return await revoke_key(engine, key_id)

    revoked = [store for store, count in zip(stores, asyncio.run(_each_store(stores, revoke)), strict=True)
               if count]
    if not revoked:
        raise typer.BadParameter(f"no active key has the id {key_id!r}")
    typer.echo(f"revoked in {_accepted_by(revoked)}")


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
