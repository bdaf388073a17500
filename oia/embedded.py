"""The embedded default: four services, one process, one port, SQLite files, in-memory bus."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, TypedDict

import httpx
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from board.app import create_board_app
from board.settings import BoardSettings
from oia.catalog import SERVICES, spec_of, system_asyncapi
from shared.app import create_service_app
from shared.audit import acting_as
from shared.auth import new_key, store_key
from shared.bus.memory import MemoryBus
from shared.migrations import upgrade
from shared.problems import install_problem_handlers
from shared.runtime import ServiceRuntime
from shared.settings import ServiceSettings
from shared.tracing import EMBEDDED_SERVICE_NAME, FASTAPI_TELEMETRY, configure_tracing, shutdown_tracing


class DemoKey(TypedDict):
    """One of the demo API keys, as data/demo-keys.json keeps it."""

    key: str
    role: str
    department: str | None


def demo_principals() -> list[tuple[str, str | None]]:
    """A demo key for each role, and one for every department the demo directory has a desk for
    (the departments whose trips, applications and alerts the demo data holds)."""
    desks = importlib.import_module("services.notifications.demo").DESKS  # by name, as oia.catalog loads services
    return [("admin", None), ("coordinator", "OIA"), ("reader", None),
            *(("department", code) for code, kind, *_ in desks if kind == "department")]


def embedded_settings(name: str, data_dir: Path) -> ServiceSettings:
    settings_cls = spec_of(name).settings_cls
    extra: dict[str, Any] = {"mail_dir": data_dir / "mail"} if "mail_dir" in settings_cls.model_fields else {}
    if "delivery_journal_dir" in settings_cls.model_fields and "DELIVERY_JOURNAL_DIR" not in os.environ:
        extra["delivery_journal_dir"] = data_dir / "journal"  # notifications' send outcomes, replayed on start
    keys_file = data_dir / "demo-keys.json"
    if "partners_api_key" in settings_cls.model_fields and keys_file.exists():
        # Grants asks partners over HTTP (in-process here) with the demo reader key.
        extra["partners_api_key"] = next(k["key"] for k in json.loads(keys_file.read_text()) if k["role"] == "reader")
    return settings_cls(database_url=f"sqlite+aiosqlite:///{data_dir / (name + '.db')}", bus="memory", **extra)


async def prepare(data_dir: Path, with_demo_data: bool = True) -> list[DemoKey]:
    """Migrate every service's SQLite file and, on the first run, make demo keys and demo data;
    returns the demo keys."""
    data_dir.mkdir(parents=True, exist_ok=True)
    for name in SERVICES:
        spec = spec_of(name)
        await upgrade(name, spec.migrations_dir, spec.metadata, embedded_settings(name, data_dir).database_url)
    keys_file = data_dir / "demo-keys.json"
    first_run = not keys_file.exists()
    demo: list[DemoKey] = [] if first_run else json.loads(keys_file.read_text())
    # A data folder from before a demo department was added gets that department's key too.
    have = {(k["role"], k["department"]) for k in demo}
    added: list[DemoKey] = [{"key": new_key(), "role": role, "department": dept}
                            for role, dept in demo_principals() if (role, dept) not in have]
    if not added:
        return demo
    for name in SERVICES:
        runtime = ServiceRuntime(spec_of(name), embedded_settings(name, data_dir), bus=MemoryBus())
        try:
            with acting_as("oia dev (demo data)"):  # how the audit trail names what this writes
                for k in added:
                    await store_key(runtime.engine, runtime.settings.secret_key, k["key"], k["role"],
                                    k["department"], label="demo")
                if first_run and with_demo_data and runtime.spec.demo is not None:
                    await runtime.prepare()
                    await runtime.spec.demo(runtime)  # its events wait in the outbox for the first start
        finally:
            await runtime.stop()
    demo += added
    keys_file.write_text(json.dumps(demo, indent=2))
    os.chmod(keys_file, 0o600)
    return demo


class EmbeddedHost:
    """ASGI app that routes `/<service>/…` to that service's app and runs all four runtimes."""

    def __init__(self, data_dir: Path) -> None:
        self.bus = MemoryBus()
        self.runtimes = {name: ServiceRuntime(spec_of(name), embedded_settings(name, data_dir), bus=self.bus)
                         for name in SERVICES}
        # One process, one tracer provider: named for the whole; each span says its service (oia.service).
        configure_tracing(EMBEDDED_SERVICE_NAME, self.runtimes[SERVICES[0]].settings.otlp_endpoint)
        self.apps = {name: create_service_app(rt, manage_lifecycle=False) for name, rt in self.runtimes.items()}
        for runtime in self.runtimes.values():
            runtime.peer_transport = httpx.ASGITransport(app=self)  # services call each other in-process
        # The board, at /board/, asks the services in-process too.
        self.board = create_board_app(BoardSettings(), transport=httpx.ASGITransport(app=self))
        self.apps["board"] = self.board
        self.index = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, telemetry=FASTAPI_TELEMETRY)
        install_problem_handlers(self.index)

        @self.index.get("/")
        async def services() -> dict[str, str | dict[str, dict[str, str]]]:
            return {"board": "/board/",
                    "services": {name: {"docs": f"/{name}/docs", "health": f"/{name}/health"}
                                 for name in SERVICES}}

        @self.index.get("/asyncapi.json")
        async def asyncapi() -> dict[str, Any]:
            return system_asyncapi(self.runtimes[SERVICES[0]].settings.exchange)

    async def start(self) -> None:
        await asyncio.gather(*(runtime.prepare() for runtime in self.runtimes.values()))
        await self.bus.connect()
        # Every queue exists before any relay publishes, so no early event finds no queue.
        for runtime in self.runtimes.values():
            await runtime.start_consuming()
        for runtime in self.runtimes.values():
            runtime.start_relay()
            runtime.start_workers()
            runtime.start_gauges()

    async def stop(self) -> None:
        # Callbacks run last-in first-out: relays and engines stop before the bus closes.
        async with AsyncExitStack() as stack:
            stack.callback(shutdown_tracing)  # last: what the stopping services said is sent too
            stack.push_async_callback(self.bus.close)
            stack.push_async_callback(self.board.state.board.services.close)
            for runtime in self.runtimes.values():
                stack.push_async_callback(runtime.stop)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return await self._lifespan(receive, send)
        first = scope.get("path", "/").strip("/").split("/", 1)[0]
        app = self.apps.get(first, self.index)
        await app(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    raise
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return
