"""The production shape on one machine: the four services as `oia serve` processes, each with its own
PostgreSQL database, on one RabbitMQ exchange of their own (nothing shared with other tests).

    async with deployment(start, env={...}) as d:
        d.url("travel")                      # http://127.0.0.1:<port>/travel
        async with d.client("travel") as travel: ...
        d.processes["notifications"].proc.kill(); d.launch("notifications"); await d.ready("notifications")
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.testing import AMQP_URL, asyncpg_url, create_database, drop_database, require_rabbitmq, unique_name
from tests.conftest import delete_amqp_objects
from tests.support.processes import Process, free_port

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

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}/{service}"

    def client(self, service: str, who: str | None = None, timeout: float = 10) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url(service), timeout=timeout, headers=bearer(who) if who else None)

    def launch(self, service: str) -> Process:
        self.processes[service] = self.start(["serve", service], {
            **self.env, "DATABASE_URL": asyncpg_url(self.databases[service]), "PORT": str(self.ports[service])})
        return self.processes[service]

    async def ready(self, *services: str, timeout: float = 60) -> None:
        for service in services or SERVICES:
            await asyncio.to_thread(self.processes[service].wait_healthy, f"{self.url(service)}/ready", timeout)


@asynccontextmanager
async def deployment(start: Callable[[list[str], dict[str, str]], Process],
                     env: Mapping[str, str] | None = None) -> AsyncIterator[Deployment]:
    """Four ready `oia serve` processes (the `start` fixture stops them); `env` adds to or overrides
    what they all get (an SMTP server, a log level, ...). Databases and the exchange go afterwards."""
    await require_rabbitmq()
    databases = {s: await create_database(f"oia_e2e_{s}") for s in SERVICES}
    ports = {s: free_port() for s in SERVICES}
    exchange, prefix = unique_name("e2e.events"), unique_name("e2e") + "."
    base = {"AMQP_URL": AMQP_URL, "OIA_EXCHANGE": exchange, "OIA_QUEUE_PREFIX": prefix, "OIA_ENV": "test",
            "OIA_SECRET_KEY": "e2e-secret-not-a-placeholder", "OIA_LOG_LEVEL": "WARNING",
            "OIA_API_KEYS": _KEY_ENTRIES, "ALLOW_HTTP_LOOPBACK": "true", "RELAY_POLL_SECONDS": "0.2",
            "HOME_CITY": "Frankfurt am Main", "HOME_COUNTRY": "DE",
            # Grants asks partners over HTTP for consortium candidates and the city profile.
            "PARTNERS_URL": f"http://127.0.0.1:{ports['partners']}", "GRANTS_PARTNERS_API_KEY": KEYS["reader"]}
    d = Deployment(start, {**base, **(env or {})}, databases, ports, exchange, prefix,
                   engines={s: create_async_engine(asyncpg_url(databases[s])) for s in SERVICES})
    try:
        for service in SERVICES:
            d.launch(service)
        await d.ready()
        yield d
    finally:
        for engine in d.engines.values():
            await engine.dispose()
        for process in d.processes.values():
            process.stop()  # before their databases go
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
