"""Overlap-check latency as trips accumulate, against a naive full scan; bookings per second
against a plain peer, measured with a C load generator.

- The overlap check for 1,000, 10,000 and 100,000 stored trips (PostgreSQL; destinations drawn
  from the 2,000 largest cities, five departments). Trips come at a steady 1,000 a year, as a busy
  city's would, so more stored trips means a longer history, not a busier month; the trips checked
  are next year's: the indexed query plus the exact distance check, p50/p99, and a naive scan of
  every active leg in Python for the same trips.
- Bookings per second with `wrk` (8 connections; bench/wrk/load.lua posts a different booking each
  request): `oia serve travel` (check on, events to RabbitMQ) against bench/peers/plain_travel.py
  (FastAPI + asyncpg, pydantic validation, trip and legs in one transaction), one uvicorn worker
  each, the same PostgreSQL, on realistic data (overlaps rare) and dense data (most bookings
  overlap); and an authenticated one-row read (`GET /travel/trips?limit=1`) against the empty probe
  (`/travel/health`) and the plain peer's `/health`. Beside them the floor
  (bench/peers/floor_travel.py): our booking's own statements, and our read's, straight on asyncpg
  behind a bare FastAPI endpoint, which tells what the work costs from what our code adds. Every
  side warmed, every figure the median of `--repeats` runs (spread printed), the sides' order
  rotating from run to run.

    python bench/travel.py [--sizes 1000,10000,100000] [--probes 1000] [--seconds 10] [--repeats 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select, text  # noqa: E402

from oia.catalog import spec_of  # noqa: E402
from services.travel import domain  # noqa: E402
from services.travel.models import Leg, Trip  # noqa: E402
from services.travel.service.overlaps import candidate_trips  # noqa: E402
from shared.db import make_engine, make_sessionmaker  # noqa: E402
from shared.migrations import upgrade  # noqa: E402
from shared.places import AmbiguousCountry, Gazetteer, UnknownCountry, country, haversine_km  # noqa: E402
from shared.testing import AMQP_URL, asyncpg_url, create_database, drop_database, unique_name  # noqa: E402
from tests.conftest import delete_amqp_objects  # noqa: E402
from tests.support.processes import free_port  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from procs import spawn, stop, wait_http  # noqa: E402
from report import Row, Target, median_spread, percentile, write_rows  # noqa: E402
from wrkrun import WrkResult, wrk  # noqa: E402

DEPARTMENTS = ["ECON", "CULT", "ENV", "MAYOR", "POLICE"]
TODAY = date(2027, 1, 1)
TRIPS_PER_YEAR = 1000
RADIUS_KM = 50.0
CLIENTS = 8  # department systems booking at once: wrk's connections
BODIES = 5000  # different bookings wrk cycles through
WARM_SECONDS = 2


def largest_places(n: int = 2000):
    """The `n` largest cities whose country the API takes (the gazetteer knows places in XK, which
    ISO 3166 does not list: a booking there is refused)."""
    db = Gazetteer()._db()
    rows = db.execute("SELECT id, name, country, latitude, longitude, timezone FROM place "
                      "ORDER BY population DESC LIMIT ?", (2 * n,)).fetchall()
    return [row for row in rows if known_country(row[2])][:n]


def known_country(code: str) -> bool:
    try:
        country(code)
    except (UnknownCountry, AmbiguousCountry):
        return False
    return True


def random_trip(rng: random.Random, places, years_back: float = 0.0, days: int = 365,
                popular: float = 0.5) -> tuple[dict, list[dict]]:
    """A trip starting between `years_back` years ago and `days` from TODAY; a `popular` share of
    its legs go to the largest cities far more often than the rest."""
    trip_id = str(uuid.uuid4())
    start = TODAY + timedelta(days=rng.randrange(-int(years_back * 365), days))
    legs = []
    for position in range(rng.choice((1, 1, 1, 2))):
        place = places[min(int(rng.paretovariate(1.2)) - 1, len(places) - 1)] if rng.random() < popular \
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


def body_of(trip: dict, legs: list[dict]) -> str:
    return json.dumps({"title": trip["title"], "purpose": "other", "legs": [
        {"city": leg["city"], "country": leg["country"], "place_id": leg["place_id"],
         "start_date": leg["start_date"].isoformat(), "end_date": leg["end_date"].isoformat()} for leg in legs]})


def write_bodies(path: Path, rng: random.Random, places, days: int, popular: float, n: int) -> None:
    """Booking requests for wrk, one "<key>\t<body>" a line, as bench/wrk/load.lua reads them."""
    with path.open("w") as out:
        for _ in range(n):
            trip, legs = random_trip(rng, places, days=days, popular=popular)
            out.write(f"bench-{trip['department'].lower()}\t{body_of(trip, legs)}\n")


async def stored_trips(engine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT count(*) FROM trip"))).scalar_one()


async def overlapping_share(engine) -> float:
    async with engine.connect() as conn:
        trips = (await conn.execute(text("SELECT count(*) FROM trip"))).scalar_one()
        involved = (await conn.execute(text("SELECT count(DISTINCT trip_id) FROM ("
                                            "SELECT trip_a_id AS trip_id FROM overlap UNION ALL "
                                            "SELECT trip_b_id FROM overlap) AS t"))).scalar_one()
    return involved / max(trips, 1)


async def empty(engine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE trip, leg, traveller, overlap, crossing, delegation"))


async def book(engine, url: str, bodies: Path, seconds: float) -> WrkResult:
    """One wrk run of bookings from empty tables; the trips stored must be the 2xx answers (and the
    few still in flight when wrk stopped counting)."""
    await empty(engine)
    result = await asyncio.to_thread(wrk, url, seconds, connections=CLIENTS, bodies=bodies)
    answered = result.requests - result.status_errors
    # The bookings still in flight when wrk stopped finish first, so they count here, not after
    # the next run's truncation.
    stored, settled = -1, await stored_trips(engine)
    while stored != settled:
        await asyncio.sleep(0.5)
        stored, settled = settled, await stored_trips(engine)
    if result.failures() or not answered <= stored <= answered + CLIENTS:
        raise SystemExit(f"travel: {url}: {result.failures() or 'every answer 2xx'}; {stored} trips stored for "
                         f"{answered} bookings answered")
    return result


async def http_figures(url: str, rng: random.Random, places, seconds: float, repeats: int,
                       work: Path) -> list[Row]:
    """Ours (`oia serve travel`, check on, events to RabbitMQ) beside the plain peer
    (bench/peers/plain_travel.py) and the floor (bench/peers/floor_travel.py), one uvicorn worker
    each, the same PostgreSQL (a database each), wrk's 8 connections; each figure the median of
    `repeats` runs, the sides' order rotating."""
    peers = {side: await create_database(f"oia_bench_travel_{side}") for side in ("peer", "floor")}
    peer_urls = {side: asyncpg_url(database) for side, database in peers.items()}
    for peer_url in peer_urls.values():
        await upgrade("travel", spec_of("travel").migrations_dir, spec_of("travel").metadata, peer_url)
    exchange, prefix = unique_name("bench.travel"), unique_name("bt") + "."
    ports = {"ours": free_port(), "peer": free_port(), "floor": free_port()}
    keys = {f"bench-{d.lower()}": d for d in DEPARTMENTS}
    logs = {side: work / f"travel-{side}.log" for side in ports}
    procs = {
        "ours": spawn(Path(sys.executable).parent / "oia", ["serve", "travel"], {
            "DATABASE_URL": url, "AMQP_URL": AMQP_URL, "PORT": str(ports["ours"]), "OIA_HOST": "127.0.0.1",
            "OIA_EXCHANGE": exchange, "OIA_QUEUE_PREFIX": prefix, "OIA_ENV": "test",
            "OIA_SECRET_KEY": "bench-secret-not-placeholder", "OIA_LOG_LEVEL": "WARNING",
            "OIA_API_KEYS": ",".join(f"{k}:department:{d}" for k, d in keys.items())}, logs["ours"]),
        **{side: spawn(ROOT / "bench" / "peers" / f"{program}_travel.py", [], {
            "DATABASE_URL": peer_urls[side].replace("postgresql+asyncpg://", "postgresql://", 1),
            "PORT": str(ports[side]), "PEER_KEYS": ",".join(f"{k}:{d}" for k, d in keys.items())}, logs[side])
           for side, program in (("peer", "plain"), ("floor", "floor"))},
    }
    engines = {"ours": make_engine(url), **{side: make_engine(peer_url) for side, peer_url in peer_urls.items()}}
    bookings = {"ours": f"http://127.0.0.1:{ports['ours']}/travel/trips",
                "peer": f"http://127.0.0.1:{ports['peer']}/trips",
                "floor": f"http://127.0.0.1:{ports['floor']}/trips"}
    try:
        for side, probe in (("ours", "/travel/ready"), ("peer", "/health"), ("floor", "/health")):
            await asyncio.to_thread(wait_http, procs[side], f"http://127.0.0.1:{ports[side]}{probe}", logs[side])
        rows = []
        # Realistic: a busy city's trips (TRIPS_PER_YEAR) to the 2,000 largest cities, as many years
        # of them as there are bookings, so overlaps are as rare as in a real city; dense: twenty
        # cities in the same three weeks, the largest most often, so most bookings overlap others.
        for variant, variant_places, days, popular in (
                ("realistic", places, 365 * BODIES // TRIPS_PER_YEAR, 0.0), ("dense", places[:20], 21, 0.5)):
            bodies = work / f"bookings-{variant}.tsv"
            write_bodies(bodies, rng, variant_places, days, popular, BODIES)
            for side in bookings:  # warm-up: connections, caches, plans
                await book(engines[side], bookings[side], bodies, WARM_SECONDS)
            runs: dict[str, list[WrkResult]] = {side: [] for side in bookings}
            overlapping: list[float] = []  # share of our bookings in an overlap: rare or dense, as meant
            for n in range(repeats):
                for side in rotated(list(bookings), n):
                    runs[side].append(await book(engines[side], bookings[side], bodies, seconds))
                    if side == "ours":
                        overlapping.append(await overlapping_share(engines["ours"]))
            rates = {side: [r.rate for r in results] for side, results in runs.items()}
            p99s = {side: [r.p99_ms for r in results] for side, results in runs.items()}
            print(f"travel: bookings/s ({variant}, {CLIENTS} connections, {repeats} × {seconds:.0f} s): ours "
                  f"{median_spread(rates['ours'])}, plain FastAPI + asyncpg {median_spread(rates['peer'])}; "
                  f"ratio {statistics.median(rates['ours']) / statistics.median(rates['peer']):.2f} (target ≥ 0.5); "
                  f"p99 ours {statistics.median(p99s['ours']):.1f} ms, peer {statistics.median(p99s['peer']):.1f} ms; "
                  f"{statistics.median(overlapping):.1%} of our bookings in an overlap")
            ours, floor, peer = (statistics.median(rates[side]) for side in ("ours", "floor", "peer"))
            print(f"travel: booking floor ({variant}: our statements on asyncpg, nothing else) "
                  f"{median_spread(rates['floor'])}, p99 {statistics.median(p99s['floor']):.1f} ms; "
                  f"floor / plain peer {floor / peer:.2f}, ours / floor {ours / floor:.2f}")
            realistic = variant == "realistic"  # the targets are on a real city's data
            rows.append(Row("travel", f"bookings/s, {variant} data", "req/s", statistics.median(rates["ours"]),
                            statistics.median(rates["peer"]), "plain FastAPI + asyncpg",
                            Target("ratio", ">=", 0.5) if realistic else None))
            rows.append(Row("travel", f"booking p99 at {CLIENTS} connections, {variant} data", "ms",
                            statistics.median(p99s["ours"]), statistics.median(p99s["peer"]),
                            "plain FastAPI + asyncpg", Target("ours", "<=", 50) if realistic else None))
            rows.append(Row("travel", f"bookings/s, {variant} data, vs the floor", "req/s", ours, floor,
                            "our statements on asyncpg"))
            rows.append(Row("travel", f"booking floor, {variant} data, vs the plain peer", "req/s", floor, peer,
                            "plain FastAPI + asyncpg"))
        # Reads on empty tables: what the request path costs, not the query.
        await empty(engines["ours"])
        await empty(engines["floor"])
        reads = {"read": (f"http://127.0.0.1:{ports['ours']}/travel/trips?limit=1",
                          {"Authorization": "Bearer bench-econ"}),
                 "floor": (f"http://127.0.0.1:{ports['floor']}/trips?limit=1", {"Authorization": "Bearer bench-econ"}),
                 "probe": (f"http://127.0.0.1:{ports['ours']}/travel/health", {}),
                 "plain": (f"http://127.0.0.1:{ports['peer']}/health", {})}
        for target, headers in reads.values():
            await asyncio.to_thread(wrk, target, WARM_SECONDS, connections=CLIENTS, headers=headers)
        read_rates: dict[str, list[float]] = {name: [] for name in reads}
        for n in range(repeats):
            for name in rotated(list(reads), n):
                target, headers = reads[name]
                result = await asyncio.to_thread(wrk, target, seconds, connections=CLIENTS, headers=headers)
                if result.failures():
                    raise SystemExit(f"travel: {target}: {result.failures()}")
                read_rates[name].append(result.rate)
        read, floor_read, empty_probe, plain = (statistics.median(read_rates[name]) for name in reads)
        print(f"travel: authenticated GET /travel/trips?limit=1 {median_spread(read_rates['read'])}/s; empty probe "
              f"/travel/health {median_spread(read_rates['probe'])}/s; ratio {read / empty_probe:.2f} "
              f"(target ≥ 0.5); plain FastAPI /health {median_spread(read_rates['plain'])}/s")
        print(f"travel: read floor (the same read on asyncpg, nothing else) {median_spread(read_rates['floor'])}/s; "
              f"floor / our empty probe {floor_read / empty_probe:.2f}, ours / floor {read / floor_read:.2f}")
        rows.append(Row("travel", "authenticated one-row read", "req/s", read, empty_probe, "our empty probe",
                        Target("ratio", ">=", 0.5)))
        rows.append(Row("travel", "read floor vs our empty probe", "req/s", floor_read, empty_probe,
                        "our empty probe"))
        rows.append(Row("travel", "empty probe", "req/s", empty_probe, plain, "plain FastAPI /health"))
        return rows
    finally:
        for proc in procs.values():
            stop(proc)
        for engine in engines.values():
            await engine.dispose()
        await delete_amqp_objects(exchange, prefix)
        for database in peers.values():
            await drop_database(database)


def rotated(sides: list[str], n: int) -> list[str]:
    """The sides in the order of run `n`: each starts a run in turn, so none always follows another."""
    return sides[n % len(sides):] + sides[:n % len(sides)]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--probes", type=int, default=1000)
    parser.add_argument("--naive-probes", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10, help="each wrk run")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(7)
    places = largest_places()
    spec = spec_of("travel")
    database = await create_database("oia_bench_travel")
    url = asyncpg_url(database)
    p99s, p50s, naive_p50s = {}, {}, {}
    work = Path(tempfile.mkdtemp(prefix="oia-bench-travel-"))
    try:
        await upgrade("travel", spec.migrations_dir, spec.metadata, url)
        engine = make_engine(url)
        for size in (int(s) for s in args.sizes.split(",")):
            await fill(engine, size, rng, places)
            probes = [Probe(*random_trip(rng, places)) for _ in range(args.probes)]
            indexed, naive = await measure_checks(url, probes, args.naive_probes)
            p99s[size], p50s[size], naive_p50s[size] = percentile(indexed, 99), statistics.median(indexed), \
                statistics.median(naive)
            print(f"travel: overlap check with {size:>7,} trips stored: p50 {p50s[size]:6.2f} ms, "
                  f"p99 {p99s[size]:6.2f} ms; naive scan p50 {naive_p50s[size]:8.1f} ms "
                  f"({naive_p50s[size] / p50s[size]:6.0f}× slower)")
        await engine.dispose()
        first, last = min(p99s), max(p99s)
        print(f"travel: p99 at {last:,} / p99 at {first:,} = {p99s[last] / p99s[first]:.2f} "
              f"(target ≤ 2; p99 at 100,000 ≤ 2 ms; ≥ 50× faster than the scan)")
        rows = [Row("travel", f"overlap check p99 at {last:,} trips", "ms", p99s[last], target=Target("ours", "<=", 2)),
                Row("travel", f"overlap check p99 at {last:,} vs {first:,} trips", "ms", p99s[last], p99s[first],
                    f"p99 at {first:,}", Target("ratio", "<=", 2)),
                Row("travel", f"overlap check p50 at {last:,} trips vs a naive scan", "ms", p50s[last],
                    naive_p50s[last], "naive scan", Target("ratio", "<=", 1 / 50))]
        rows += await http_figures(url, rng, places, args.seconds, args.repeats, work)
        write_rows("travel", rows)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        await drop_database(database)


if __name__ == "__main__":
    asyncio.run(main())
