"""Helpers for tests and benchmarks that use the real PostgreSQL and RabbitMQ.

They fail loudly, saying how to get the service, instead of skipping: a skipped integration
test would hide exactly the failures it exists to find.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import uuid
from collections.abc import Awaitable, Callable

import aio_pika
import asyncpg

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")

HOW_TO_POSTGRES = (
    f"PostgreSQL is not reachable at TEST_POSTGRES_URL={POSTGRES_URL}. Start it "
    "(`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, or "
    "`docker compose up -d postgres`) or point TEST_POSTGRES_URL at a server where this user may create databases."
)
HOW_TO_RABBITMQ = (
    f"RabbitMQ is not reachable at TEST_AMQP_URL={AMQP_URL}. Start it (`rabbitmq-server -detached`, or "
    "`docker compose up -d rabbitmq`) or point TEST_AMQP_URL at a broker."
)


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def asyncpg_url(database: str) -> str:
    """SQLAlchemy URL for `database` on the test server."""
    base = POSTGRES_URL.rsplit("/", 1)[0]
    return f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{database}"


async def create_database(prefix: str = "oia_test") -> str:
    name = unique_name(prefix)
    try:
        conn = await asyncpg.connect(POSTGRES_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        raise RuntimeError(HOW_TO_POSTGRES) from exc
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def drop_database(name: str) -> None:
    conn = await asyncpg.connect(POSTGRES_URL, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def require_rabbitmq() -> None:
    try:
        connection = await aio_pika.connect(AMQP_URL, timeout=5)
    except Exception as exc:  # aio-pika raises several types for an unreachable broker
        raise RuntimeError(HOW_TO_RABBITMQ) from exc
    await connection.close()


async def eventually(check: Callable[[], bool | Awaitable[bool]], timeout: float = 15.0, interval: float = 0.02,
                     message: str = "condition") -> None:
    """Poll `check` (sync or async) until true; fail with `message` after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout

    async def holds() -> bool:
        result = check()
        return bool(await result) if inspect.isawaitable(result) else bool(result)

    while not await holds():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        await asyncio.sleep(interval)
