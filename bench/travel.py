"""Overlap-check latency as trips accumulate, against a naive full scan; bookings per second.

For 1,000, 10,000 and 100,000 stored trips (PostgreSQL; destinations drawn from the 2,000 largest
cities, five departments). Trips come at a steady 1,000 a year, as a busy city's would, so more
stored trips means a longer history, not a busier month; the trips checked are next year's:
- the overlap check for a new trip (the indexed query plus the exact distance check), p50/p99,
  and a naive scan of every active leg in Python for the same trips;
- bookings per second over HTTP (`oia serve travel`, check on, events to RabbitMQ) against a bare
  insert of the same rows.

    python bench/travel.py [--sizes 1000,10000,100000] [--probes 1000] [--bookings 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import insert, select, text  # noqa: E402

from oia.catalog import spec_of  # noqa: E402
from services.travel import domain  # noqa: E402
from services.travel.models import Leg, Trip  # noqa: E402
from services.travel.service.overlaps import candidate_trips  # noqa: E402
from shared.db import make_engine, make_sessionmaker  # noqa: E402
from shared.migrations import upgrade  # noqa: E402
from shared.places import Gazetteer, haversine_km  # noqa: E402
from shared.testing import AMQP_URL, asyncpg_url, create_database, drop_database, unique_name  # noqa: E402
from tests.conftest import delete_amqp_objects  # noqa: E402
from tests.support.processes import free_port  # noqa: E402

DEPARTMENTS = ["ECON", "CULT", "ENV", "MAYOR", "POLICE"]
TODAY = date(2027, 1, 1)
TRIPS_PER_YEAR = 1000
RADIUS_KM = 50.0
CLIENTS = 8  # department systems booking at once


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def largest_places(n: int = 2000):
    db = Gazetteer()._db()
    rows = db.execute("SELECT id, name, country, latitude, longitude, timezone FROM place "
                      "ORDER BY population DESC LIMIT ?", (n,)).fetchall()
    return rows


def random_trip(rng: random.Random, places, years_back: float = 0.0) -> tuple[dict, list[dict]]:
    """A trip starting between `years_back` years ago and a year from TODAY."""
    trip_id = str(uuid.uuid4())
    start = TODAY + timedelta(days=rng.randrange(-int(years_back * 365), 365))
    legs = []
    for position in range(rng.choice((1, 1, 1, 2))):
        place = places[min(int(rng.paretovariate(1.2)) - 1, len(places) - 1)] if rng.random() < 0.5 \
            else rng.choice(places)
        end = start + timedelta(days=rng.randrange(1, 6))
        legs.append(dict(trip_id=trip_id, position=position, city=place[1], country=place[2], place_id=place[0],
                         cell=domain.cell_of(place[3], place[4]),
                         place_name=place[1], latitude=place[3], longitude=place[4], timezone=place[5],
                         start_date=start, end_date=end))
        start = end
    now = time.time()
    from datetime import datetime
    stamp = datetime.fromtimestamp(now, UTC)
    trip = dict(id=trip_id, department=rng.choice(DEPARTMENTS), title="Benchmark trip", purpose="other",
                status=rng.choice(("planned", "booked", "booked", "completed")), visibility="normal",
                created_at=stamp, updated_at=stamp)
    return trip, legs


async def fill(engine, n: int, rng: random.Random, places) -> None:
    """Store exactly `n` trips, spread over n / TRIPS_PER_YEAR years up to a year from TODAY."""
    years = max(n / TRIPS_PER_YEAR - 1, 0)
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE trip, leg, traveller, overlap, crossing, delegation"))
        for offset in range(0, n, 5000):
            batch = [random_trip(rng, places, years) for _ in range(min(5000, n - offset))]
            await conn.execute(insert(Trip.__table__), [t for t, _ in batch])
            await conn.execute(insert(Leg.__table__), [leg for _, legs in batch for leg in legs])
    # Measure the steady state, not the bulk load's aftermath: vacuumed, analysed, and its pages
    # written out, so autovacuum and the checkpointer do not compete with the probes.
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE"))
        await conn.execute(text("CHECKPOINT"))


class Probe:
    """A trip being booked: legs with coordinates, not stored."""

    def __init__(self, trip: dict, legs: list[dict]) -> None:
        self.id, self.department = trip["id"], trip["department"]
        self.legs = [Leg(id=-i, **leg) for i, leg in enumerate(legs)]


async def indexed_check(session, probe: Probe) -> int:
    others = await candidate_trips(session, probe, RADIUS_KM)
    return sum(1 for other in others if domain.best_match(probe.legs, other.legs, RADIUS_KM))


async def naive_check(session, probe: Probe) -> int:
    """Every active leg of every other department, compared in Python."""
    rows = (await session.execute(select(Leg.trip_id, Leg.latitude, Leg.longitude, Leg.start_date, Leg.end_date)
                                  .join(Trip, Trip.id == Leg.trip_id)
                                  .where(Trip.department != probe.department, Trip.status.in_(domain.ACTIVE)))).all()
    hits = set()
    for row in rows:
        for leg in probe.legs:
            if max(leg.start_date, row.start_date) <= min(leg.end_date, row.end_date) and \
                    haversine_km(leg.latitude, leg.longitude, row.latitude, row.longitude) <= RADIUS_KM:
                hits.add(row.trip_id)
    return len(hits)


async def measure_checks(url: str, probes: list[Probe], naive_probes: int) -> tuple[list[float], list[float]]:
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    indexed, naive = [], []
    try:
        async with sessions() as session:
            for probe in probes[:20]:  # warm-up: caches, plans
                await indexed_check(session, probe)
            found = []
            for probe in probes:
                started = time.perf_counter()
                found.append(await indexed_check(session, probe))
                indexed.append((time.perf_counter() - started) * 1000)
            # The scans after, so their large results do not disturb the timings above.
            for probe, count in list(zip(probes, found, strict=True))[:naive_probes]:
                started = time.perf_counter()
                assert await naive_check(session, probe) == count, "the index must find what the scan finds"
                naive.append((time.perf_counter() - started) * 1000)
    finally:
        await engine.dispose()
    return indexed, naive


async def bookings_per_second(url: str, n: int, rng: random.Random, places) -> tuple[float, float, float]:
    """(HTTP bookings/s with the check, HTTP round trips/s to the liveness probe, bare inserts/s of
    the same rows). The round trips are the HTTP limit: the same client, server and concurrency,
    with no work behind them."""
    exchange, prefix = unique_name("bench.travel"), unique_name("bt") + "."
    port = free_port()
    keys = ",".join(f"bench-{d.lower()}:department:{d}" for d in DEPARTMENTS)
    proc = subprocess.Popen([str(Path(sys.executable).parent / "oia"), "serve", "travel"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={
                                **os.environ, "DATABASE_URL": url, "AMQP_URL": AMQP_URL, "PORT": str(port),
                                "OIA_EXCHANGE": exchange, "OIA_QUEUE_PREFIX": prefix, "OIA_ENV": "test",
                                "OIA_SECRET_KEY": "bench-secret-not-placeholder", "OIA_API_KEYS": keys,
                                "OIA_LOG_LEVEL": "WARNING"})
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(f"{base}/travel/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass  # not up yet
            await asyncio.sleep(0.1)
        trips = [random_trip(rng, places) for _ in range(n)]
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            semaphore = asyncio.Semaphore(CLIENTS)

            async def probe() -> None:
                async with semaphore:
                    response = await client.get("/travel/health")
                assert response.status_code == 200, response.text

            started = time.perf_counter()
            await asyncio.gather(*(probe() for _ in range(n)))
            round_trip_rate = n / (time.perf_counter() - started)

            async def book(trip, legs) -> None:
                body = {"title": trip["title"], "purpose": "other", "legs": [
                    {"city": leg["city"], "country": leg["country"], "place_id": leg["place_id"],
                     "start_date": leg["start_date"].isoformat(), "end_date": leg["end_date"].isoformat()}
                    for leg in legs]}
                async with semaphore:
                    response = await client.post("/travel/trips", json=body, headers={
                        "Authorization": f"Bearer bench-{trip['department'].lower()}"})
                assert response.status_code == 201, response.text

            started = time.perf_counter()
            await asyncio.gather(*(book(t, legs) for t, legs in trips))
            http_rate = n / (time.perf_counter() - started)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        await delete_amqp_objects(exchange, prefix)
    # Bare: the same rows, one transaction per trip, straight into the tables, as many at once as
    # the HTTP clients above (the raw limit for that load).
    engine = make_engine(url)
    try:
        again = [random_trip(rng, places) for _ in range(n)]
        semaphore = asyncio.Semaphore(CLIENTS)

        async def insert_bare(trip, legs) -> None:
            async with semaphore, engine.begin() as conn:
                await conn.execute(insert(Trip.__table__), [trip])
                await conn.execute(insert(Leg.__table__), legs)

        started = time.perf_counter()
        await asyncio.gather(*(insert_bare(t, legs) for t, legs in again))
        bare_rate = n / (time.perf_counter() - started)
    finally:
        await engine.dispose()
    return http_rate, round_trip_rate, bare_rate


async def check_share(url: str, n: int, rng: random.Random, places) -> tuple[float, float]:
    """Bookings/s through the same app in-process, with the overlap and crossing check and with it
    switched off: what the check itself costs a booking."""
    from services.travel.service import trips
    from services.travel.settings import TravelSettings
    from shared.app import create_service_app
    from shared.runtime import ServiceRuntime

    keys = ",".join(f"bench-{d.lower()}:department:{d}" for d in DEPARTMENTS)
    runtime = ServiceRuntime(spec_of("travel"), TravelSettings(database_url=url, bus="memory", api_keys=keys,
                                                               secret_key="bench-secret-not-placeholder",
                                                               environment="test", log_level="WARNING"))
    await runtime.start()
    app = create_service_app(runtime, manage_lifecycle=False)
    rates = []
    real_recheck = trips.recheck_trip
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://travel") as client:
            for check in (True, False):
                if not check:
                    async def no_check(*args, **kwargs) -> None:
                        return None
                    trips.recheck_trip = no_check
                trips = [random_trip(rng, places) for _ in range(n)]
                started = time.perf_counter()
                for trip, legs in trips:
                    response = await client.post("/travel/trips", headers={
                        "Authorization": f"Bearer bench-{trip['department'].lower()}"}, json={
                        "title": trip["title"], "purpose": "other", "legs": [
                            {"city": leg["city"], "country": leg["country"], "place_id": leg["place_id"],
                             "start_date": leg["start_date"].isoformat(), "end_date": leg["end_date"].isoformat()}
                            for leg in legs]})
                    assert response.status_code == 201, response.text
                rates.append(n / (time.perf_counter() - started))
    finally:
        trips.recheck_trip = real_recheck
        await runtime.stop()
    return rates[0], rates[1]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--probes", type=int, default=1000)
    parser.add_argument("--naive-probes", type=int, default=20)
    parser.add_argument("--bookings", type=int, default=300)
    args = parser.parse_args()
    rng = random.Random(7)
    places = largest_places()
    spec = spec_of("travel")
    database = await create_database("oia_bench_travel")
    url = asyncpg_url(database)
    p99s = {}
    try:
        await upgrade("travel", spec.migrations_dir, spec.metadata, url)
        engine = make_engine(url)
        for size in (int(s) for s in args.sizes.split(",")):
            await fill(engine, size, rng, places)
            probes = [Probe(*random_trip(rng, places)) for _ in range(args.probes)]
            indexed, naive = await measure_checks(url, probes, args.naive_probes)
            p99s[size] = percentile(indexed, 99)
            print(f"travel: overlap check with {size:>7,} trips stored: p50 {statistics.median(indexed):6.2f} ms, "
                  f"p99 {p99s[size]:6.2f} ms; naive scan p50 {statistics.median(naive):8.1f} ms "
                  f"({statistics.median(naive) / statistics.median(indexed):6.0f}× slower)")
        await engine.dispose()
        first, last = min(p99s), max(p99s)
        print(f"travel: p99 at {last:,} / p99 at {first:,} = {p99s[last] / p99s[first]:.2f} "
              f"(target ≤ 2; p99 at 100,000 < 2 ms; ≥ 50× faster than the scan)")
        http_rate, round_trip_rate, bare_rate = await bookings_per_second(url, args.bookings, rng, places)
        print(f"travel: bookings over HTTP with the check {http_rate:7.0f}/s; bare insert of the same rows "
              f"{bare_rate:7.0f}/s; ratio {http_rate / bare_rate:.2f} (target ≥ 0.5)")
        print(f"travel: HTTP round trips to /travel/health (same client and concurrency) {round_trip_rate:7.0f}/s; "
              f"bookings / round trips {http_rate / round_trip_rate:.2f}; round trips / bare insert "
              f"{round_trip_rate / bare_rate:.2f} (the ceiling for any endpoint, with this client on this machine)")
        with_check, without = await check_share(url, args.bookings, rng, places)
        print(f"travel: bookings in-process with the check {with_check:6.0f}/s, without it {without:6.0f}/s; "
              f"ratio {with_check / without:.2f} (what the check itself costs, at 100,000 trips stored)")
    finally:
        await drop_database(database)


if __name__ == "__main__":
    asyncio.run(main())
