"""Two tiny services for testing the mechanism: `alpha` publishes, `beta` consumes.

Beta's handler writes an Effect row (no unique constraint: only the inbox stops a duplicate)
and can be told to fail for chosen names, so tests can watch retries and dead letters.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from shared.consumer import Subscriptions
from shared.envelope import Envelope, EventRegistry
from shared.runtime import ServiceRuntime, ServiceSpec
from shared.settings import ServiceSettings
from shared.tables import inbox, outbox, platform_metadata
from shared.uow import UnitOfWork

EVENT = "alpha.thing.happened.v1"

# -- alpha: the producer's model ---------------------------------------------------------------
alpha_publishes = EventRegistry()


class Coordinates(BaseModel):
    lat: float
    lon: float


@alpha_publishes.event(EVENT)
class ThingHappenedV1(BaseModel):
    name: str
    on: date
    at: datetime
    amount: Decimal
    tags: list[str]
    where: Coordinates
    extra_field_beta_ignores: str = "ignored"


class AlphaTable(SQLModel, registry=registry()):
    pass


# -- beta: the consumer's own model of the same event ------------------------------------------
beta_consumes = EventRegistry()


@beta_consumes.event(EVENT)
class ThingHappened(BaseModel):
    name: str
    on: date
    at: datetime
    amount: Decimal
    tags: list[str]
    where: Coordinates


class BetaTable(SQLModel, registry=registry()):
    pass


class Effect(BetaTable, table=True):
    id: int | None = Field(default=None, primary_key=True)
    event_id: str
    name: str


@dataclass
class Behaviour:
    """What beta's handler does; tests change it while the consumer runs."""

    fail_names: set[str] = field(default_factory=set)
    seen: list[ThingHappened] = field(default_factory=list)
    attempts: dict[str, list[float]] = field(default_factory=dict)
    # While set, the handler fails as it would with its database away (a refused connection).
    database_away: bool = False


behaviour = Behaviour()
beta_subscriptions = Subscriptions(beta_consumes)


@beta_subscriptions.on(EVENT)
async def record_thing(event: ThingHappened, envelope: Envelope, uow: UnitOfWork, ctx: object) -> None:
    behaviour.attempts.setdefault(event.name, []).append(asyncio.get_running_loop().time())
    if behaviour.database_away:
        raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
    if event.name in behaviour.fail_names:
        raise RuntimeError(f"handler refuses {event.name}")
    uow.session.add(Effect(event_id=envelope.id, name=event.name))
    behaviour.seen.append(event)


def _spec(name: str, metadata, publishes, subscriptions) -> ServiceSpec:
    return ServiceSpec(name=name, title=name, settings_cls=ServiceSettings, metadata=metadata,
                       migrations_dir=Path("/nonexistent"), publishes=publishes, subscriptions=subscriptions)


alpha_spec = _spec("alpha", AlphaTable.metadata, alpha_publishes, Subscriptions(EventRegistry()))
beta_spec = _spec("beta", BetaTable.metadata, EventRegistry(), beta_subscriptions)


def probe_settings(database_url: str, **overrides) -> ServiceSettings:
    return ServiceSettings(database_url=database_url, environment="test", secret_key="probe-test-secret",
                           max_attempts=overrides.pop("max_attempts", 4),
                           retry_delays_ms=overrides.pop("retry_delays_ms", [100, 200, 300]),
                           relay_poll_seconds=0.2, **overrides)


async def create_schema(runtime: ServiceRuntime) -> None:
    async with runtime.engine.begin() as conn:
        await conn.run_sync(runtime.spec.metadata.create_all)
        await conn.run_sync(platform_metadata.create_all)


def thing(name: str) -> ThingHappenedV1:
    return ThingHappenedV1(name=name, on=date(2027, 5, 12), at=datetime.fromisoformat("2027-05-12T09:30:00+02:00"),
                           amount=Decimal("25000.50"), tags=["jubilee", "köln"], where=Coordinates(lat=50.94, lon=6.96))


async def publish_things(runtime: ServiceRuntime, names: list[str]) -> list[Envelope]:
    async with runtime.uow() as uow:
        for name in names:
            uow.publish(thing(name), subject=f"things/{name}")
        return await uow.commit()


async def effects(runtime: ServiceRuntime, name: str | None = None) -> int:
    async with runtime.engine.connect() as conn:
        query = select(func.count()).select_from(Effect.__table__)
        if name is not None:
            query = query.where(Effect.__table__.c.name == name)
        return await conn.scalar(query)


async def pending_outbox(runtime: ServiceRuntime) -> int:
    async with runtime.engine.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None)))


async def inbox_rows(runtime: ServiceRuntime) -> int:
    async with runtime.engine.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(inbox))

