"""Fixtures shared by every test layer: a transport (memory + SQLite, or RabbitMQ + PostgreSQL)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import aio_pika
import pytest

from shared.bus.amqp import AmqpBus
from shared.bus.base import Bus, RetryPolicy
from shared.bus.memory import MemoryBus
from shared.envelope import Envelope
from shared.runtime import ServiceRuntime, ServiceSpec
from shared.settings import ServiceSettings
from shared.testing import (
    AMQP_URL,
    asyncpg_url,
    create_database,
    drop_database,
    eventually,
    require_rabbitmq,
    unique_name,
)
from tests.support.processes import start  # noqa: F401  (a fixture: `oia` processes)

TEST_SECRET = "test-secret-not-a-placeholder"
# Bound to every listener's queue besides the types it asked for; never shown in what it heard.
MARKER = "test.marker.v1"


# The slowest layers first: `make test`'s workers share them out at the start, and none is left
# running a long test alone at the end. (Within a layer, collection order.)
FIRST = ("fuzz", "e2e", "integration", "browser")
HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        layer = item.path.relative_to(HERE).parts[0] if item.path.is_relative_to(HERE) else ""
        return FIRST.index(layer) if layer in FIRST else len(FIRST)

    items.sort(key=rank)


def pytest_terminal_summary(terminalreporter) -> None:
    """The fault scenarios' lines (e2e and tests/faults), whichever worker ran them."""
    from tests.support.faults import summarise  # here: it imports this module's helpers

    summarise(terminalreporter)



@dataclass
class Transport:
    """One way of running services: `memory` (SQLite files, in-memory bus) or `rabbitmq` (PostgreSQL, RabbitMQ)."""

    kind: str
    tmp: Path
    exchange: str = field(default_factory=lambda: unique_name("test.events"))
    queue_prefix: str = field(default_factory=lambda: unique_name("t") + ".")
    policy: RetryPolicy = RetryPolicy(max_attempts=4, delays_ms=(100, 200, 300))
    amqp_url: str = AMQP_URL  # the machine's broker, or one of the test's own (tests.support.private_infra)
    _databases: list[str] = field(default_factory=list)
    _buses: list[Bus] = field(default_factory=list)
    _runtimes: list[ServiceRuntime] = field(default_factory=list)
    _memory: MemoryBus | None = None
    _markers: set[str] = field(default_factory=set)

    @property
    def real(self) -> bool:
        return self.kind == "rabbitmq"

    async def database_url(self, service: str) -> str:
        if not self.real:
            return f"sqlite+aiosqlite:///{self.tmp / (service + '.db')}"
        name = await create_database(f"oia_test_{service}")
        self._databases.append(name)
        return asyncpg_url(name)

    async def bus(self) -> Bus:
        """A connected bus. Memory: the one shared in-process bus. RabbitMQ: a new connection, like a new process."""
        if not self.real:
            if self._memory is None:
                self._memory = MemoryBus(self.policy)
                await self._memory.connect()
                self._buses.append(self._memory)
            return self._memory
        bus = AmqpBus(self.amqp_url, self.exchange, self.policy, prefetch=32)
        await bus.connect()
        self._buses.append(bus)
        return bus

    async def listen(self, *types: str, queue: str = "audit") -> list:
        """Every envelope of these types (binding patterns) from now on, as a test's own consumer hears them."""
        heard: list = []

        async def collect(envelopes):
            for envelope in envelopes:
                if envelope.type == MARKER:
                    self._markers.add(envelope.id)
                else:
                    heard.append(envelope)
            return [True] * len(envelopes)

        await (await self.bus()).subscribe(self.queue_prefix + queue, [*types, MARKER], collect)
        return heard

    async def heard_everything(self, timeout: float = 15.0) -> None:
        """Until every listener has heard all that the broker held for it when this was called.

        A marker published now is queued behind all of that in each listener's queue; the queue
        hands its messages to its one consumer in order, and `collect` never fails (so nothing is
        retried out of order). Once the marker is heard, nothing queued before it is still to come.
        """
        marker = Envelope(type=MARKER, source="/tests", data={})
        await (await self.bus()).publish([marker])
        await eventually(lambda: marker.id in self._markers, timeout=timeout, message="the listeners' marker")

    def settings(self, settings_cls: type[ServiceSettings], database_url: str, **overrides) -> ServiceSettings:
        values = dict(database_url=database_url, environment="test", secret_key=TEST_SECRET,
                      bus="amqp" if self.real else "memory", exchange=self.exchange,
                      queue_prefix=self.queue_prefix, max_attempts=self.policy.max_attempts,
                      retry_delays_ms=list(self.policy.delays_ms), relay_poll_seconds=0.2)
        return settings_cls(**{**values, **overrides})

    async def runtime(self, spec: ServiceSpec, database_url: str | None = None, bus: Bus | None = None,
                      **overrides) -> ServiceRuntime:
        url = database_url or await self.database_url(spec.name)
        runtime = ServiceRuntime(spec, self.settings(spec.settings_cls, url, **overrides), bus=bus or await self.bus())
        self._runtimes.append(runtime)
        return runtime

    async def close(self) -> None:
        for runtime in self._runtimes:
            await runtime.stop()
        for bus in self._buses:
            await bus.close()
        if self.real:
            await delete_amqp_objects(self.exchange, self.queue_prefix, self.amqp_url)
            for name in self._databases:
                await drop_database(name)


async def delete_amqp_objects(exchange: str, queue_prefix: str, amqp_url: str = AMQP_URL) -> None:
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        for service in ("alpha", "beta", "audit", "travel", "notifications", "partners", "grants"):
            base = queue_prefix + service
            for queue in [base, f"{base}.dlq"] + [f"{base}.retry.{n}" for n in range(1, 6)]:
                await channel.queue_delete(queue)
        await channel.exchange_delete(exchange)
    finally:
        await connection.close()


@pytest.fixture(params=["memory", "rabbitmq"])
async def transport(request, tmp_path):
    if request.param == "rabbitmq":
        await require_rabbitmq()
    t = Transport(request.param, tmp_path)
    try:
        yield t
    finally:
        await t.close()


@pytest.fixture
async def rabbitmq(tmp_path):
    """The real transport only, for tests about crashes and broker restarts."""
    await require_rabbitmq()
    t = Transport("rabbitmq", tmp_path)
    try:
        yield t
    finally:
        await t.close()
