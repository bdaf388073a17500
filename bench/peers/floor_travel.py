"""The floor for bench/travel.py: our booking's own database work, and our one-row read, in a
FastAPI + asyncpg endpoint with nothing else. What no Python layer of ours could go below on this
machine and this PostgreSQL, so the bench can tell what our code costs from what the work costs.

A booking, in one transaction, the statements `oia serve travel` sends (PostgreSQL's statement
log of a booking): lock the grid cells around its legs, insert the trip and its legs, read the
announced delegations and the other departments' legs near its legs, insert its audit entry and its
event into the outbox. The overlaps found are not compared or stored (on realistic data there are almost none),
nothing is published, and a key is a dict lookup. A read is the visible trips, newest first, and
their legs.

    DATABASE_URL=postgresql://… PORT=… PEER_KEYS=key:DEPT,… python bench/peers/floor_travel.py
"""

from __future__ import annotations

import json
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, Header, HTTPException, Query

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.peers.plain_travel import TripIn, largest_places, pooled_app, serve  # noqa: E402
from services.travel.domain import ACTIVE, MAX_LEG_DAYS, cell_of, cells_around  # noqa: E402

RADIUS_KM = 50.0  # the service's default

LOCK_CELLS = "SELECT pg_advisory_xact_lock(hashtext('travel:cells'), cell) FROM unnest($1::int[]) cell"
INSERT_TRIP = ("INSERT INTO trip (id, department, title, purpose, status, visibility, created_at, updated_at) "
               "VALUES ($1, $2, $3, $4, 'planned', 'normal', $5, $5)")
INSERT_LEGS = ("INSERT INTO leg (trip_id, position, city, country, place_id, place_name, latitude, longitude, "
               "timezone, cell, start_date, end_date) SELECT $1, * FROM unnest($2::int[], $3::text[], $4::text[], "
               "$5::int[], $6::text[], $7::float8[], $8::float8[], $9::text[], $10::int[], $11::date[], $12::date[]) "
               "RETURNING id")
DELEGATIONS = ("SELECT * FROM delegation WHERE status = 'announced' AND origin_cell = ANY($1::int[]) "
               "AND arrival BETWEEN $2 AND $3 AND departure >= $4")
NEAR_LEGS = ("WITH near AS MATERIALIZED (SELECT id, trip_id, latitude, longitude, start_date, end_date, place_name, "
             "country FROM leg WHERE cell = ANY($1::int[]) AND start_date BETWEEN $2 AND $3 AND end_date >= $4) "
             "SELECT near.*, trip.department, trip.visibility FROM near JOIN trip ON trip.id = near.trip_id "
             "WHERE trip.department != $5 AND trip.status = ANY($6::text[]) AND trip.id != $7")
INSERT_AUDIT = ("INSERT INTO audit (at, actor, resource_type, resource_id, action, changes) "
                "VALUES ($1, $2, 'trip', $3, 'booked', $4)")
INSERT_EVENT = ("INSERT INTO outbox (event_id, type, source, subject, payload, occurred_at) "
                "VALUES ($1, 'travel.trip.booked.v1', '/travel', $2, $3, $4)")
VISIBLE_TRIPS = ("SELECT * FROM trip WHERE department = $1 OR visibility != 'restricted' "
                 "ORDER BY created_at DESC, id DESC LIMIT $2")
LEGS_OF = "SELECT * FROM leg WHERE trip_id = ANY($1::text[]) ORDER BY trip_id, position"


def create_app(database_url: str, keys: dict[str, str]) -> FastAPI:
    places = largest_places()
    app, pool = pooled_app(database_url)

    def department_of(authorization: str) -> str:
        department = keys.get(authorization.removeprefix("Bearer "))
        if department is None:
            raise HTTPException(401)
        return department

    @app.post("/trips", status_code=201)
    async def book(trip: TripIn, authorization: str = Header()) -> dict[str, str]:
        department = department_of(authorization)
        if any(leg.place_id not in places or leg.end_date < leg.start_date for leg in trip.legs):
            raise HTTPException(422)
        trip_id, now = str(uuid.uuid4()), datetime.now(UTC)
        legs = [(position, leg.city, leg.country, leg.place_id, name, lat, lon, tz, cell_of(lat, lon),
                 leg.start_date, leg.end_date)
                for position, leg in enumerate(trip.legs) for name, lat, lon, tz in [places[leg.place_id]]]
        near = [cells_around(lat, lon, RADIUS_KM) for _, _, _, _, _, lat, lon, *_ in legs]
        first, last = min(leg.start_date for leg in trip.legs), max(leg.end_date for leg in trip.legs)
        async with pool().acquire() as conn, conn.transaction():
            await conn.execute(LOCK_CELLS, sorted({cell for cells in near for cell in cells}))
            await conn.execute(INSERT_TRIP, trip_id, department, trip.title, trip.purpose, now)
            await conn.fetch(INSERT_LEGS, trip_id, *map(list, zip(*legs, strict=True)))
            await conn.fetch(DELEGATIONS, [c for cells in near for c in cells], first - timedelta(days=365), last,
                             first)
            for cells, leg in zip(near, trip.legs, strict=True):  # ours: one OR-ed query for every leg
                await conn.fetch(NEAR_LEGS, cells, leg.start_date - timedelta(days=MAX_LEG_DAYS), leg.end_date,
                                 leg.start_date, department, sorted(ACTIVE), trip_id)
            await conn.execute(INSERT_AUDIT, now, f"department {department} (bench)", trip_id,
                               json.dumps({"title": [None, trip.title]}))
            await conn.execute(INSERT_EVENT, str(uuid.uuid4()), f"trips/{trip_id}",
                               json.dumps({"trip_id": trip_id, "department": department, "title": trip.title}), now)
        return {"id": trip_id}

    @app.get("/trips")
    async def trips(authorization: Annotated[str, Header()],
                    limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[dict]:
        department = department_of(authorization)
        async with pool().acquire() as conn:
            rows = await conn.fetch(VISIBLE_TRIPS, department, limit)
            legs = await conn.fetch(LEGS_OF, [row["id"] for row in rows]) if rows else []
        return [{**row, "legs": [dict(leg) for leg in legs if leg["trip_id"] == row["id"]]} for row in rows]

    return app


if __name__ == "__main__":
    serve(create_app)
