"""Alert latency and the highest booking rate held on the production shape, ours against a naive
peer in the same run: from a trip booking's HTTP response to the Slack stand-in receiving the
overlap alert.

Ours: `oia serve travel` and `oia serve notifications`, separate processes on PostgreSQL and
RabbitMQ. The peer: the same travel service, its overlap events consumed by
bench/peers/naive_alerts.py (FastStream; the same Jinja template; no database, dedupe or outbox).
The Slack stand-in (bench/peers/slack_standin.py) runs in its own process; this process is the
load generator. MAYOR holds a year-long trip to each of twenty cities; ECON books short trips to
them in turn, on dates spread over that year, at a steady rate, so every booking overlaps and the
coordinators' Slack channel gets one alert per booking. (Real Slack takes about one message a
second per webhook; the stand-in takes any rate, so the bench lifts that pacing.)

The highest rate held: steps of `--step-seconds` each, from `--start` bookings/s up by
`--raise` (a quarter) a step until one fails; a step holds when every booking is answered 201 on
schedule (the last within a second of the schedule's end) and every alert arrives within a
second of its booking's answer. Then ours for `--seconds` at half its held rate: p50/p99.

    python bench/alerts.py [--start 10] [--raise 0.25] [--step-seconds 20] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from shared.testing import AMQP_URL, asyncpg_url, create_database, drop_database, unique_name  # noqa: E402
from tests.conftest import delete_amqp_objects  # noqa: E402
from tests.support.processes import free_port  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from procs import spawn, stop, wait_http, wait_line  # noqa: E402
from report import Row, Target, percentile, write_rows  # noqa: E402

OIA = Path(sys.executable).parent / "oia"
PEERS = ROOT / "bench" / "peers"
CITIES = [("Köln", "DE"), ("Paris", "FR"), ("Madrid", "ES"), ("Rome", "IT"), ("Vienna", "AT"), ("Warsaw", "PL"),
          ("Prague", "CZ"), ("Lisbon", "PT"), ("Dublin", "IE"), ("Stockholm", "SE"), ("Oslo", "NO"),
          ("Helsinki", "FI"), ("Athens", "GR"), ("Budapest", "HU"), ("Bucharest", "RO"), ("Sofia", "BG"),
          ("Zagreb", "HR"), ("Riga", "LV"), ("Vilnius", "LT"), ("Tallinn", "EE")]
YEAR = 360  # days the MAYOR's trips last
IN_TIME = 1.0  # seconds: an alert later than this after its booking's answer fails the step
MAX_RATE = 5000  # bookings/s: a ramp that gets here stops (nothing on this machine should)


@dataclass
class Phase:
    rate: float
    latencies: list[float]  # ms, booking response → alert received
    bookings: int
    failed: int  # bookings that got no 201
    lag: float  # seconds the last response came after the schedule's end
    late: int  # alerts not in within IN_TIME of their booking's answer (or never)

    @property
    def held(self) -> bool:
        return self.failed == 0 and self.lag < 1.0 and self.late == 0

    def line(self) -> str:
        return (f"p50 {statistics.median(self.latencies):7.1f} ms, p99 {percentile(self.latencies, 99):7.1f} ms; "
                f"{self.failed} bookings failed, last response {self.lag:4.1f} s after the schedule, "
                f"{self.late} of {self.bookings} alerts later than {IN_TIME:.0f} s")


class Stack:
    """The travel service and what turns its overlap events into Slack posts (ours or the peer)."""

    def __init__(self, travel: str, slack: str, first: int) -> None:
        self.travel, self.slack, self.next = travel, slack, first

    async def run_phase(self, client: httpx.AsyncClient, rate: float, seconds: float, day: date) -> Phase:
        """Book `rate` trips a second for `seconds`, each the moment its schedule says."""
        first, count = self.next, int(rate * seconds)
        self.next += count
        responded: dict[int, float] = {}
        failures: list[str] = []
        started = time.time()

        async def book(n: int) -> None:
            city, country = CITIES[n % len(CITIES)]
            start = day + timedelta(days=(n * 7) % (YEAR - 3))
            try:
                response = await client.post(f"{self.travel}/trips", headers={"Authorization": "Bearer bench-econ"},
                                             json={"title": f"Bench {n}", "legs": [{
                                                 "city": city, "country": country, "start_date": start.isoformat(),
                                                 "end_date": (start + timedelta(days=2)).isoformat()}]})
            except httpx.HTTPError as exc:  # an overloaded server drops connections: counted, not fatal
                failures.append(type(exc).__name__)
                return
            if response.status_code != 201:
                failures.append(f"{response.status_code} {response.text[:200]}")
                return
            responded[n] = time.time()

        tasks = []
        for i in range(count):
            delay = started + i / rate - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(book(first + i)))
        await asyncio.gather(*tasks)
        lag = time.time() - (started + seconds)
        if failures:
            print(f"alerts: {len(failures)} bookings failed at {rate:.0f}/s, e.g. {failures[0]}")
        # Asked once the schedule is done, so the asking does not load the stand-in meanwhile; the
        # stragglers still count for the latencies (for at most 30 s).
        arrived: dict[int, float] = {}
        deadline = time.time() + 30
        while time.time() < deadline:
            answer = await client.get(f"{self.slack}/arrived", params={"first": first, "count": count})
            arrived = {int(n): at for n, at in answer.json().items()}
            if all(n in arrived for n in responded):
                break
            await asyncio.sleep(0.25)
        latencies = [(arrived[n] - at) * 1000 for n, at in responded.items() if n in arrived]
        late = sum(1 for n, at in responded.items() if n not in arrived or arrived[n] - at > IN_TIME)
        return Phase(rate, latencies or [float("nan")], count, len(failures), lag, late)

    async def ramp(self, client: httpx.AsyncClient, name: str, start: float, step: float, seconds: float,
                   day: date) -> float:
        """The highest rate held: the same `seconds` for every step, raised until one fails."""
        await self.run_phase(client, 10, 3, day)  # warm-up: connections, caches, plans
        held, rate = 0.0, start
        while rate <= MAX_RATE:
            phase = await self.run_phase(client, rate, seconds, day)
            print(f"alerts: {name}: step {rate:6.1f} bookings/s for {seconds:.0f} s: {phase.line()}")
            if not phase.held:
                break
            held, rate = rate, rate * (1 + step)
        print(f"alerts: {name}: highest rate held (every alert within {IN_TIME:.0f} s, no growing backlog): "
              f"{held:.1f} bookings/s")
        return held


@asynccontextmanager
async def stack(kind: str, slack: str, work: Path) -> AsyncIterator[Stack]:
    """A fresh travel service (its own database and exchange) with our notifications service or the
    naive peer behind it, the coordinators' channel pointing at the stand-in."""
    databases = {s: await create_database(f"oia_bench_{s}") for s in ("travel", "notifications")}
    exchange, prefix = unique_name("bench.alerts"), unique_name("ba") + "."
    ports = {s: free_port() for s in databases}
    env = {"AMQP_URL": AMQP_URL, "OIA_EXCHANGE": exchange, "OIA_QUEUE_PREFIX": prefix, "OIA_HOST": "127.0.0.1",
           "OIA_ENV": "test", "OIA_SECRET_KEY": "bench-secret-not-a-placeholder", "OIA_LOG_LEVEL": "WARNING",
           "OIA_API_KEYS": "bench-econ:department:ECON,bench-mayor:department:MAYOR,bench-oia:coordinator:OIA",
           "ALLOW_HTTP_LOOPBACK": "true", "SLACK_RATE_PER_SECOND": "10000"}
    procs = []
    try:
        services = ("travel", "notifications") if kind == "ours" else ("travel",)
        for service in services:
            log = work / f"alerts-{kind}-{service}.log"
            proc = spawn(OIA, ["serve", service], {**env, "DATABASE_URL": asyncpg_url(databases[service]),
                                                   "PORT": str(ports[service])}, log)
            procs.append(proc)
            await asyncio.to_thread(wait_http, proc, f"http://127.0.0.1:{ports[service]}/{service}/ready", log)
        if kind == "ours":
            async with httpx.AsyncClient() as client:
                response = await client.post(
                    f"http://127.0.0.1:{ports['notifications']}/notifications/recipients",
                    headers={"Authorization": "Bearer bench-oia"}, json={
                        "id": "OIA", "kind": "coordinators", "name": "OIA coordinators",
                        "channels": [{"kind": "slack", "address": f"{slack}/slack/oia"}]})
                assert response.status_code == 201, response.text
        else:
            log = work / "alerts-peer-naive.log"
            proc = spawn(PEERS / "naive_alerts.py", [], {"AMQP_URL": AMQP_URL, "EXCHANGE": exchange,
                                                         "QUEUE": prefix + "naive", "SLACK_URL": f"{slack}/slack/peer"},
                         log)
            procs.append(proc)
            await asyncio.to_thread(wait_line, proc, "ready", log)
        yield Stack(f"http://127.0.0.1:{ports['travel']}/travel", slack, first=1_000_000 * (1 + (kind == "peer")))
    finally:
        for proc in reversed(procs):
            stop(proc)
        await delete_amqp_objects(exchange, prefix)
        for name in databases.values():
            await drop_database(name)


async def year_long_trips(client: httpx.AsyncClient, travel: str, day: date) -> None:
    for city, country in CITIES:
        response = await client.post(f"{travel}/trips", headers={"Authorization": "Bearer bench-mayor"}, json={
            "title": f"A year in {city}", "legs": [{"city": city, "country": country, "start_date": day.isoformat(),
                                                   "end_date": (day + timedelta(days=YEAR)).isoformat()}]})
        assert response.status_code == 201, response.text


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--start", type=float, default=10, help="the ramp's first rate, bookings/s")
    parser.add_argument("--raise", dest="step", type=float, default=0.25, help="each step's rise over the last")
    parser.add_argument("--step-seconds", type=float, default=20)
    parser.add_argument("--seconds", type=float, default=60, help="the latency run at half our held rate")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="oia-bench-alerts-"))
    slack_port = free_port()
    slack_log = work / "slack.log"
    slack_proc = spawn(PEERS / "slack_standin.py", [], {"PORT": str(slack_port)}, slack_log)
    slack = f"http://127.0.0.1:{slack_port}"
    day = date.today() + timedelta(days=30)
    held: dict[str, float] = {}
    try:
        await asyncio.to_thread(wait_http, slack_proc, f"{slack}/health", slack_log)
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=500)) as client:
            for kind in ("ours", "peer"):
                async with stack(kind, slack, work) as alerts:
                    await year_long_trips(client, alerts.travel, day)
                    held[kind] = await alerts.ramp(client, kind, args.start, args.step, args.step_seconds, day)
                    if kind == "ours":
                        phase = await alerts.run_phase(client, max(held["ours"] / 2, 1), args.seconds, day)
                        print(f"alerts: ours at half its held rate, {phase.rate:.1f} bookings/s for "
                              f"{args.seconds:.0f} s: {phase.line()} (target p99 ≤ 100 ms)")
    finally:
        stop(slack_proc)
    print(f"alerts: highest rate held, ours / naive peer: {held['ours']:.1f} / {held['peer']:.1f} bookings/s "
          f"(target ≥ 0.5, and ours ≥ 100)")
    write_rows("alerts", [
        Row("alerts", "highest rate held vs naive peer", "bookings/s", held["ours"], held["peer"],
            "FastStream, no database", Target("ratio", ">=", 0.5)),
        Row("alerts", "highest rate held", "bookings/s", held["ours"], target=Target("ours", ">=", 100)),
        Row("alerts", "alert p99 at half the held rate", "ms", percentile(phase.latencies, 99),
            target=Target("ours", "<=", 100)),
        Row("alerts", "alert p50 at half the held rate", "ms", statistics.median(phase.latencies)),
    ])


if __name__ == "__main__":
    asyncio.run(main())
