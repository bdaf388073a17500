"""The plain peer for bench/travel.py: what a booking costs in a FastAPI + asyncpg endpoint with
nothing else, validating with pydantic and inserting the trip and its legs in one transaction
into the same tables on the same PostgreSQL. No overlap check, no outbox, no events.

    DATABASE_URL=postgresql://… PORT=… PEER_KEYS=key:DEPT,… python bench/peers/plain_travel.py
"""

from __future__ import annotations

import gc
import os
import sys
import uuid
from collections.abc import Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
import uvicorn
from fastapi import FastAPI, Header, HTTPException
from pydantic import BaseModel, Field

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from services.travel.domain import cell_of  # noqa: E402
from shared.places import Gazetteer  # noqa: E402

POOL_SIZE = 8  # as many connections as the load generator's


class LegIn(BaseModel):
    city: str = Field(max_length=100)
    country: str = Field(min_length=2, max_length=2)
    place_id: int
    start_date: date
    end_date: date


class TripIn(BaseModel):
    title: str = Field(max_length=200)
    purpose: str = "other"
    legs: list[LegIn] = Field(min_length=1, max_length=20)


def largest_places(n: int = 10_000) -> dict[int, tuple[str, float, float, str]]:
    """The places the bench books (among the 2,000 largest it takes), by id: a dict lookup is the
    plain way."""
    rows = Gazetteer()._db().execute("SELECT id, name, latitude, longitude, timezone FROM place "
                                     "ORDER BY population DESC LIMIT ?", (n,)).fetchall()
    return {row[0]: row[1:] for row in rows}


def pooled_app(database_url: str) -> tuple[FastAPI, Callable[[], asyncpg.Pool]]:
    """A bare FastAPI app answering /health, with an asyncpg pool for its lifetime (and what gives it)."""
    pools: list[asyncpg.Pool] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        pools.append(await asyncpg.create_pool(database_url, min_size=POOL_SIZE, max_size=POOL_SIZE))
        yield
        await pools.pop().close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app, lambda: pools[0]


def serve(create: Callable[[str, dict[str, str]], FastAPI]) -> None:
    """Run a peer as `oia serve` runs a service: one uvicorn worker, the heap frozen after start-up
    (a frozen heap keeps collections short)."""
    keys = dict(pair.split(":", 1) for pair in os.environ["PEER_KEYS"].split(","))
    app = create(os.environ["DATABASE_URL"], keys)
    gc.collect()
    gc.freeze()
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), log_config=None, access_log=False)


def create_app(database_url: str, keys: dict[str, str]) -> FastAPI:
    places = largest_places()
    app, pool = pooled_app(database_url)

    @app.post("/trips", status_code=201)
    async def book(trip: TripIn, authorization: str = Header()) -> dict[str, str]:
        department = keys.get(authorization.removeprefix("Bearer "))
        if department is None:
            raise HTTPException(401)
        if any(leg.place_id not in places or leg.end_date < leg.start_date for leg in trip.legs):
            raise HTTPException(422)
        trip_id, now = str(uuid.uuid4()), datetime.now(UTC)
        async with pool().acquire() as conn, conn.transaction():
            await conn.execute("INSERT INTO trip (id, department, title, purpose, status, visibility, created_at, "
                               "updated_at) VALUES ($1, $2, $3, $4, 'planned', 'normal', $5, $5)",
                               trip_id, department, trip.title, trip.purpose, now)
            await conn.executemany(
                "INSERT INTO leg (trip_id, position, city, country, place_id, place_name, latitude, longitude, "
                "timezone, cell, start_date, end_date) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                [(trip_id, position, leg.city, leg.country, leg.place_id, name, lat, lon, tz, cell_of(lat, lon),
                  leg.start_date, leg.end_date)
                 for position, leg in enumerate(trip.legs)
                 for name, lat, lon, tz in [places[leg.place_id]]])
        return {"id": trip_id}

    return app


if __name__ == "__main__":
    serve(create_app)
