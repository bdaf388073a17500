"""A running service: its engine, bus, outbox relay, consumer and keys, wired in one place."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx
from fastapi import APIRouter
from sqlalchemy import MetaData, text

from shared import subject_requests
from shared.auth import AccessTokens, KeyRing
from shared.bus import Bus, make_bus
from shared.consumer import Dispatcher, Subscriptions
from shared.db import make_engine, make_reading_sessionmaker, make_sessionmaker
from shared.envelope import EventRegistry
from shared.identity import OpenIdProvider
from shared.logging import get_logger
from shared.metrics import CONSUMER_LAG, CONSUMER_PAUSED, DEAD_LETTERS
from shared.outbox import OutboxRelay
from shared.records import Holding
from shared.retention import Rule
from shared.settings import ServiceSettings
from shared.subjects import SubjectRights
from shared.uow import UnitOfWork

Settings = TypeVar("Settings", bound=ServiceSettings)

log = get_logger("shared.runtime")


class Worker(Protocol):
    """A service's own background loop (the notifications delivery worker, say)."""

    def start(self) -> None: ...
    def wake(self) -> None: ...  # something it may have work for just committed
    # Finish what it holds within `grace_seconds` (None: the settings' shutdown grace), then cut it off.
    async def stop(self, grace_seconds: float | None = None) -> None: ...


@dataclass
class ServiceSpec:
    """What a service is: declared once in its main.py and read by every runtime shape."""

    name: str
    title: str
    settings_cls: type[ServiceSettings]
    metadata: MetaData
    migrations_dir: Path
    publishes: EventRegistry
    subscriptions: Subscriptions
    routers: list[APIRouter] = field(default_factory=list)
    description: str = ""
    # Blocking work the service needs done before it serves (compiling an index, say); run in a thread.
    prepare: Callable[[ServiceSettings], object] | None = None
    # Background loops the service runs beside its consumer; woken whenever the consumer commits.
    workers: list[Callable[[ServiceRuntime], Worker]] = field(default_factory=list)
    # Routes that stream large bodies (an import) and enforce their own limit: path → bytes.
    streamed_bodies: dict[str, int] = field(default_factory=dict)
    # Demo data for the embedded default, written once into a fresh database (`make run`).
    demo: Callable[[ServiceRuntime], Awaitable[None]] | None = None
    # The service's dependencies (its gazetteer, home city, the worker to wake, outbound clients),
    # built once at bootstrap and handed to every use case and handler: nothing reaches for them.
    bootstrap: Callable[[ServiceRuntime], object] | None = None
    # Per kind of resource its audit entries name ("trip"), the fields that hold personal data: masked
    # in the audit trail (shared/audit.py). The service's privacy.py says which, and why.
    personal: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # What the service deletes or anonymises at the end of its period, beside the platform's own
    # rows (shared/retention.py); run by its Retention worker and POST /<svc>/admin/retention.
    retention: Sequence[Rule] = ()
    # How a person's data is found, exported and erased in this service (shared/subjects.py).
    subject: SubjectRights | None = None
    # Its tables' records of processing: what personal data each holds, why, how long, who sees it.
    holdings: Sequence[Holding] = ()
    # Sets the service's own gauges (notifications: deliveries by channel and status) from its own
    # tables; called with the platform's gauges (ServiceRuntime.refresh_gauges).
    gauges: Callable[[ServiceRuntime], Awaitable[None]] | None = None

    def __post_init__(self) -> None:
        # A service with personal data answers the platform's requests for a person's data, and
        # collects the answers to those it was asked (shared/subject_requests.py), beside its own events.
        if self.subject is not None:
            self.publishes = self.publishes.merged(subject_requests.EVENTS)
            self.subscriptions = self.subscriptions.merged(subject_requests.subscriptions(self.name, self.subject))
            self.workers = [*self.workers, subject_requests.SubjectRequests]


class ServiceRuntime:
    def __init__(self, spec: ServiceSpec, settings: ServiceSettings, bus: Bus | None = None) -> None:
        self.spec = spec
        self.name = spec.name
        self.settings = settings
        self.engine = make_engine(settings.database_url)
        self.sessionmaker = make_sessionmaker(self.engine)
        self.reading_sessionmaker = make_reading_sessionmaker(self.engine)
        self._owns_bus = bus is None
        self.bus = bus if bus is not None else make_bus(settings)
        self.queue = f"{settings.queue_prefix}{spec.name}"
        # The relay and the consumer have their own connections, so a burst of requests cannot
        # starve publishing or consuming.
        self.relay_engine = make_engine(settings.database_url, pool_size=2)
        self.consumer_engine = make_engine(settings.database_url, pool_size=2, pre_ping=False)
        consumer_sessions = make_sessionmaker(self.consumer_engine)
        self.relay = OutboxRelay(spec.name, self.relay_engine, self.bus, batch=settings.relay_batch,
                                 poll_seconds=settings.relay_poll_seconds)
        self.workers = [make(self) for make in spec.workers]
        self._context: object | None = None
        self.dispatcher = Dispatcher(spec.name, spec.subscriptions,
                                     lambda: UnitOfWork(consumer_sessions, self.name, self.relay.wake,
                                                        personal=spec.personal),
                                     context=lambda: self.context, on_committed=self._wake_workers)
        self.keyring = KeyRing(self.engine, settings.secret_key, settings.api_keys)
        # The identity provider's access tokens, when one is configured.
        self.access_tokens = AccessTokens(
            OpenIdProvider(settings.oidc_issuer), settings.oidc_audience, settings.oidc_role_claim,
            settings.oidc_department_claim, settings.oidc_roles) if settings.oidc_issuer else None
        # How this service's HTTP calls reach the other services: the network (None), or, in the
        # embedded host, the host itself in-process.
        self.peer_transport: httpx.AsyncBaseTransport | None = None
        self._gauges_task: asyncio.Task[None] | None = None
        self._gauges_stopping = asyncio.Event()
        self._consuming = False

    def settings_as(self, settings_cls: type[Settings]) -> Settings:
        """The settings as the service's own class (its spec's `settings_cls`), to read its own values."""
        if not isinstance(self.settings, settings_cls):
            raise TypeError(f"{self.name}'s settings are {type(self.settings).__name__}, not {settings_cls.__name__}")
        return self.settings

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessionmaker, self.name, self.relay.wake, personal=self.spec.personal)

    def reads(self) -> UnitOfWork:
        """For a request that only reads: no transaction, so no BEGIN and ROLLBACK around its queries."""
        return UnitOfWork(self.reading_sessionmaker, self.name, read_only=True)

    @property
    def context(self) -> Any:
        """What the service's use cases and handlers are given (ServiceSpec.bootstrap), once prepared."""
        if self._context is None and self.spec.bootstrap is not None:
            raise RuntimeError(f"{self.name} is not prepared: call prepare() (or start()) first")
        return self._context

    async def connect(self) -> None:
        if self._owns_bus:
            await self.bus.connect()

    async def start_consuming(self) -> None:
        keys = self.spec.subscriptions.binding_keys
        if keys:
            CONSUMER_PAUSED.labels(self.name).set(0)  # a series from the start, so 'paused' is never 'absent'
            await self.bus.subscribe(self.queue, keys, self.dispatcher, service=self.name)
            self._consuming = True

    def start_relay(self) -> None:
        self.relay.start()

    def start_workers(self) -> None:
        for worker in self.workers:
            worker.start()

    def start_gauges(self) -> None:
        """Keep the gauges current without a scrape: an alert on one must fire though nobody looks."""
        if self._gauges_task is None:
            self._gauges_stopping.clear()
            self._gauges_task = asyncio.create_task(self._refresh_gauges_loop(), name=f"gauges:{self.name}")

    async def _refresh_gauges_loop(self) -> None:
        while not self._gauges_stopping.is_set():
            await self.refresh_gauges()
            try:
                await asyncio.wait_for(self._gauges_stopping.wait(), timeout=self.settings.gauges_seconds)
            except TimeoutError:
                pass  # time for the next refresh

    async def stop_gauges(self) -> None:
        task, self._gauges_task = self._gauges_task, None
        if task is not None:
            self._gauges_stopping.set()
            # A refresh waiting on an unreachable broker need not hold up the shutdown.
            _, late = await asyncio.wait([task], timeout=5)
            for pending in late:
                pending.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _wake_workers(self) -> None:
        for worker in self.workers:
            worker.wake()

    async def prepare(self) -> None:
        if self.spec.prepare is not None:
            await asyncio.to_thread(self.spec.prepare, self.settings)
        if self.spec.bootstrap is not None and self._context is None:
            self._context = self.spec.bootstrap(self)

    async def start(self) -> None:
        await self.prepare()
        await self.connect()
        await self.start_consuming()
        self.start_relay()
        self.start_workers()
        self.start_gauges()

    async def stop(self) -> None:
        """Drain, within `shutdown_grace_seconds`: take no more messages and finish the batch in
        hand (its unhandled rest goes back to the queue), then let the workers finish their sends and
        the relay its batch. (Requests were drained before: the HTTP server stops accepting first.)"""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.shutdown_grace_seconds

        def left() -> float:
            return max(0.0, deadline - loop.time())

        if self._consuming:
            self._consuming = False
            await self.bus.stop_consuming(self.queue, left())
        await self.stop_gauges()
        for worker in self.workers:
            await worker.stop(left())
        # A moment for the relay even when the time is up: its batch in hand ends or is rolled back.
        await self.relay.stop(grace_seconds=max(left(), 1.0))
        if self._owns_bus:
            await self.bus.close()
        for engine in (self.engine, self.relay_engine, self.consumer_engine):
            await engine.dispose()

    async def readiness(self) -> dict[str, str]:
        checks = {}
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # reported in the response, which is the point of /ready
            checks["database"] = f"unreachable: {type(exc).__name__}"
        checks["broker"] = "ok" if await self.bus.is_ready() else "unreachable"
        return checks

    async def refresh_gauges(self) -> None:
        """Set the gauges from the outbox, the broker and the service's own tables. One that cannot be
        read (the broker down, say) is logged and keeps its last value; the others are still set."""
        reads: list[tuple[str, Callable[[], Awaitable[object]]]] = [("outbox", self.relay.refresh_gauges)]
        if self.spec.subscriptions.binding_keys:
            reads += [("consumer_lag", self._consumer_lag), ("dead_letters", self._dead_letters)]
        if self.spec.gauges is not None:
            gauges = self.spec.gauges
            reads.append((self.name, lambda: gauges(self)))
        for gauge, read in reads:
            try:
                await read()
            except Exception:  # the next refresh tries again; a scrape still gets the others
                log.exception("could not refresh a gauge", service=self.name, gauge=gauge)

    async def _consumer_lag(self) -> None:
        CONSUMER_LAG.labels(self.name).set(await self.bus.queue_depth(self.queue))

    async def _dead_letters(self) -> None:
        DEAD_LETTERS.labels(self.name).set(await self.bus.dead_letter_count(self.queue))
