"""The production shape on one machine: the four services as `oia serve` processes, each with its own
PostgreSQL database, on one RabbitMQ exchange of their own (nothing shared with other tests).

    async with deployment(start, env={...}) as d:
        d.url("travel")                      # http://127.0.0.1:<port>/travel
        async with d.client("travel") as travel: ...
        d.processes["notifications"].proc.kill(); d.launch("notifications"); await d.ready("notifications")
        d.launch_replica("notifications"); await d.ready_replicas()   # another process, same database

By default on the machine's RabbitMQ and PostgreSQL (unique names); `amqp_url` and `databases_from` (a
factory: service -> SQLAlchemy URL, e.g. a private server's) put it elsewhere, and what they made is theirs
to remove.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.testing import AMQP_URL, asyncpg_url, create_database, drop_database, require_rabbitmq, unique_name
from tests.conftest import delete_amqp_objects
from tests.support.processes import Process, free_port

# Makes a service's database and answers its SQLAlchemy URL.
DatabaseFactory = Callable[[str], Awaitable[str]]

SERVICES = ("partners", "travel", "grants", "notifications")
# The keys every deployment accepts: who → (key, its entry in OIA_API_KEYS).
KEYS = {"ECON": "e2e-econ", "MAYOR": "e2e-mayor", "OIA": "e2e-oia", "admin": "e2e-admin", "reader": "e2e-reader"}
_KEY_ENTRIES = ("e2e-econ:department:ECON,e2e-mayor:department:MAYOR,e2e-oia:coordinator:OIA,"
                "e2e-admin:admin,e2e-reader:reader")


def bearer(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[who]}"}


@dataclass
class Deployment:
    start: Callable[[list[str], dict[str, str]], Process]
    env: dict[str, str]
    databases: dict[str, str]
    ports: dict[str, int]
    exchange: str
    queue_prefix: str
    processes: dict[str, Process] = field(default_factory=dict)
    # Each service's database, to read its outbox (tests.support.settle.all_published) or its rows.
    engines: dict[str, AsyncEngine] = field(default_factory=dict)
    # SQLAlchemy URLs by service, when the databases are not on the machine's server (`databases` names them there).
    database_urls: dict[str, str] = field(default_factory=dict)
    # Extra `oia serve` processes of a service (launch_replica): its port and process each.
    replicas: dict[str, list[tuple[int, Process]]] = field(default_factory=dict)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}/{service}"

    def client(self, service: str, who: str | None = None, timeout: float = 10) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url(service), timeout=timeout, headers=bearer(who) if who else None)

    def database_url(self, service: str) -> str:
        return self.database_urls.get(service) or asyncpg_url(self.databases[service])

    def launch(self, service: str) -> Process:
        self.processes[service] = self.start(["serve", service], {
            **self.env, "DATABASE_URL": self.database_url(service), "PORT": str(self.ports[service])})
        return self.processes[service]

    def launch_replica(self, service: str, env: Mapping[str, str] | None = None) -> str:
        """Another `oia serve` of `service` on a port of its own, on the same database and queue (`env`
        adds to the deployment's, e.g. its own DELIVERY_JOURNAL_DIR); answers its URL."""
        port = free_port()
        process = self.start(["serve", service], {
            **self.env, **(env or {}), "DATABASE_URL": self.database_url(service), "PORT": str(port)})
        self.replicas.setdefault(service, []).append((port, process))
        return f"http://127.0.0.1:{port}/{service}"

    def urls(self, service: str) -> list[str]:
        """Every process's URL of `service`: the first one's, then its replicas'."""
        return [self.url(service)] + [f"http://127.0.0.1:{port}/{service}" for port, _ in self.replicas.get(service, [])]

    async def ready_replicas(self, timeout: float = 60) -> None:
        for service, replicas in self.replicas.items():
            for port, process in replicas:
                await asyncio.to_thread(process.wait_healthy, f"http://127.0.0.1:{port}/{service}/ready", timeout)

    async def ready(self, *services: str, timeout: float = 60) -> None:
        for service in services or SERVICES:
            await asyncio.to_thread(self.processes[service].wait_healthy, f"{self.url(service)}/ready", timeout)


@asynccontextmanager
async def deployment(start: Callable[[list[str], dict[str, str]], Process],
                     env: Mapping[str, str] | None = None, *, amqp_url: str = AMQP_URL,
                     databases_from: DatabaseFactory | None = None) -> AsyncIterator[Deployment]:
    """Four ready `oia serve` processes (the `start` fixture stops them); `env` adds to or overrides
    what they all get (an SMTP server, a log level, ...). Databases and the exchange go afterwards
    (those on the machine's servers; a private broker's and `databases_from`'s are left to their owner)."""
    if amqp_url == AMQP_URL:
        await require_rabbitmq()  # a private broker is its starter's to have ready
    databases = {} if databases_from else {s: await create_database(f"oia_e2e_{s}") for s in SERVICES}
    database_urls = {s: await databases_from(s) for s in SERVICES} if databases_from else {}
    ports = {s: free_port() for s in SERVICES}
    exchange, prefix = unique_name("e2e.events"), unique_name("e2e") + "."
    base = {"AMQP_URL": amqp_url, "OIA_EXCHANGE": exchange, "OIA_QUEUE_PREFIX": prefix, "OIA_ENV": "test",
            "OIA_SECRET_KEY": "e2e-secret-not-a-placeholder", "OIA_LOG_LEVEL": "WARNING",
            "OIA_API_KEYS": _KEY_ENTRIES, "ALLOW_HTTP_LOOPBACK": "true", "RELAY_POLL_SECONDS": "0.2",
            "HOME_CITY": "Frankfurt am Main", "HOME_COUNTRY": "DE",
            # Grants asks partners over HTTP for consortium candidates and the city profile.
            "PARTNERS_URL": f"http://127.0.0.1:{ports['partners']}", "GRANTS_PARTNERS_API_KEY": KEYS["reader"]}
    d = Deployment(start, {**base, **(env or {})}, databases, ports, exchange, prefix, database_urls=database_urls)
    d.engines = {s: create_async_engine(d.database_url(s)) for s in SERVICES}
    try:
        for service in SERVICES:
            d.launch(service)
        await d.ready()
        yield d
    finally:
        for engine in d.engines.values():
            await engine.dispose()
        for process in [*d.processes.values(), *(p for replicas in d.replicas.values() for _, p in replicas)]:
            await asyncio.to_thread(process.stop)  # before their databases go; stand-ins on this loop still answer
        if amqp_url == AMQP_URL:
            await delete_amqp_objects(exchange, prefix)
        for name in databases.values():
            await drop_database(name)


# The desks the e2e flows alert: each department and the coordinators by email and Slack.
RECIPIENTS = {"ECON": "econ@city.example", "MAYOR": "mayor-office@city.example", "OIA": "oia@city.example"}
DESK_OFFICER = "jana.koch@city.example"  # of the partnership with Köln


async def set_up_desks(d: Deployment, slack_url: Callable[[str], str]) -> None:
    """The RECIPIENTS in notifications (Slack at `slack_url(path)`), and Frankfurt's partnership with
    Köln (formalised 1958) in partners, its desk officer DESK_OFFICER: what a booking to Köln alerts."""
    async with d.client("notifications", "OIA") as notifications:
        for who, address in RECIPIENTS.items():
            response = await notifications.post("/recipients", json={
                "id": who, "kind": "coordinators" if who == "OIA" else "department", "name": f"{who} desk",
                "department": who, "channels": [{"kind": "email", "address": address},
                                                 {"kind": "slack", "address": slack_url(f"slack/{who}")}]})
            assert response.status_code == 201, response.text
    async with d.client("partners", "OIA") as partners:
        response = await partners.post("/partnerships", json={
            "partner_city": "Cologne", "partner_country": "DE", "formalised_on": "1958-06-14",
            "desk_officer_name": "Jana Koch", "desk_officer_email": DESK_OFFICER})
        assert response.status_code == 201, response.text
