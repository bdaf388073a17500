"""Alert latency on the production shape: from a trip booking's HTTP response to the Slack
stand-in receiving the overlap alert.

`oia serve travel` and `oia serve notifications` as separate processes on PostgreSQL and
RabbitMQ; the Slack stand-in (a real HTTP server on loopback) and the load generator in this
process. MAYOR holds a year-long trip to each of twenty cities; ECON books short trips to them in
turn, on dates spread over that year, at a steady rate, so every booking overlaps and the
coordinators' Slack channel gets one alert per booking. (Real
Slack takes about one message a second per webhook; the stand-in takes any rate, so the bench
lifts that pacing.)

Prints p50/p99 at the target rate held for `--seconds`, then steps the rate up to find the highest
one held without a growing backlog: every booking answered 201 and on schedule (the last within a
second of the schedule's end), and every alert in within a second after that.

    python bench/alerts.py [--rate 50] [--seconds 60] [--steps 75,100,150]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from shared.testing import AMQP_URL, asyncpg_url, create_database, drop_database, unique_name  # noqa: E402
from tests.conftest import delete_amqp_objects  # noqa: E402
from tests.support.processes import Process, free_port  # noqa: E402
from tests.support.standins import WebhookStandIn  # noqa: E402

TITLE = re.compile(r"Bench (\d+)")
CITIES = [("Köln", "DE"), ("Paris", "FR"), ("Madrid", "ES"), ("Rome", "IT"), ("Vienna", "AT"), ("Warsaw", "PL"),
          ("Prague", "CZ"), ("Lisbon", "PT"), ("Dublin", "IE"), ("Stockholm", "SE"), ("Oslo", "NO"),
          ("Helsinki", "FI"), ("Athens", "GR"), ("Budapest", "HU"), ("Bucharest", "RO"), ("Sofia", "BG"),
          ("Zagreb", "HR"), ("Riga", "LV"), ("Vilnius", "LT"), ("Tallinn", "EE")]
YEAR = 360  # days the MAYOR's trips last


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


class Alerts(WebhookStandIn):
    """The Slack stand-in, noting when each booking's alert arrives."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived: dict[int, float] = {}

    async def _hook(self, request):
        response = await super()._hook(request)
        now = time.perf_counter()
        for match in TITLE.finditer((await request.body()).decode()):  # starlette keeps the body read
            self.arrived.setdefault(int(match.group(1)), now)
        return response


@dataclass
class Phase:
    latencies: list[float]  # ms, booking response → alert received
    bookings: int
    failed: int  # bookings that got no 201
    lag: float  # seconds the last response came after the schedule's end
    missing: int  # alerts not in 1 s after the last response

    @property
    def held(self) -> bool:
        return self.failed == 0 and self.lag < 1.0 and self.missing == 0

    def line(self) -> str:
        return (f"p50 {statistics.median(self.latencies):7.1f} ms, p99 {percentile(self.latencies, 99):7.1f} ms; "
                f"{self.failed} bookings failed, last response {self.lag:4.1f} s after the schedule, "
                f"{self.missing} of {self.bookings} alerts not in 1 s after it")


async def run_phase(client: httpx.AsyncClient, alerts: Alerts, rate: float, seconds: float, first: int,
                    day: date) -> Phase:
    """Book `rate` trips a second for `seconds`, each the moment its schedule says."""
    responded: dict[int, float] = {}
    failures: list[str] = []
    count = int(rate * seconds)
    started = time.perf_counter()

    async def book(n: int) -> None:
        city, country = CITIES[n % len(CITIES)]
        start = day + timedelta(days=(n * 7) % (YEAR - 3))
        try:
            response = await client.post("/trips", headers={"Authorization": "Bearer bench-econ"}, json={
                "title": f"Bench {n}", "legs": [{"city": city, "country": country, "start_date": start.isoformat(),
                                                "end_date": (start + timedelta(days=2)).isoformat()}]})
        except httpx.HTTPError as exc:  # an overloaded server drops connections: counted, not fatal
            failures.append(type(exc).__name__)
            return
        if response.status_code != 201:
            failures.append(f"{response.status_code} {response.text[:200]}")
            return
        responded[n] = time.perf_counter()

    tasks = []
    for i in range(count):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(book(first + i)))
    await asyncio.gather(*tasks)
    lag = time.perf_counter() - (started + seconds)
    if failures:
        print(f"alerts: {len(failures)} bookings failed at {rate:.0f}/s, e.g. {failures[0]}")
    ids = [n for n in range(first, first + count) if n in responded]
    settle = time.perf_counter() + 1.0
    while time.perf_counter() < settle and not all(n in alerts.arrived for n in ids):
        await asyncio.sleep(0.01)
    missing = sum(1 for n in ids if n not in alerts.arrived)
    deadline = time.perf_counter() + 30  # the stragglers still count for the latencies
    while time.perf_counter() < deadline and not all(n in alerts.arrived for n in ids):
        await asyncio.sleep(0.05)
    latencies = [(alerts.arrived[n] - responded[n]) * 1000 for n in ids if n in alerts.arrived]
    return Phase(latencies or [float("nan")], count, len(failures), lag, missing)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--steps", default="75,100,150")
    parser.add_argument("--step-seconds", type=float, default=15)
    args = parser.parse_args()

    databases = {s: await create_database(f"oia_bench_{s}") for s in ("travel", "notifications")}
    exchange, prefix = unique_name("bench.alerts"), unique_name("ba") + "."
    ports = {s: free_port() for s in databases}
    logs = Path(os.environ.get("TMPDIR", "/tmp"))
    processes: list[Process] = []
    try:
        async with Alerts() as slack:
            env = {**os.environ, "AMQP_URL": AMQP_URL, "OIA_EXCHANGE": exchange, "OIA_QUEUE_PREFIX": prefix,
                   "OIA_ENV": "test", "OIA_SECRET_KEY": "bench-secret-not-a-placeholder", "OIA_LOG_LEVEL": "WARNING",
                   "OIA_API_KEYS": "bench-econ:department:ECON,bench-mayor:department:MAYOR,bench-oia:coordinator:OIA",
                   "ALLOW_HTTP_LOOPBACK": "true", "SLACK_RATE_PER_SECOND": "10000"}
            for service in databases:
                processes.append(Process(["serve", service], {**env, "DATABASE_URL": asyncpg_url(databases[service]),
                                                              "PORT": str(ports[service])},
                                         logs / f"bench-alerts-{service}.log"))
            for service, process in zip(databases, processes, strict=True):
                await asyncio.to_thread(process.wait_healthy, f"http://127.0.0.1:{ports[service]}/{service}/ready", 60)
            base = {s: f"http://127.0.0.1:{ports[s]}/{s}" for s in databases}
            async with httpx.AsyncClient(base_url=base["travel"], timeout=30,
                                         limits=httpx.Limits(max_connections=200)) as travel:
                response = await httpx.AsyncClient(base_url=base["notifications"]).post(
                    "/recipients", headers={"Authorization": "Bearer bench-oia"}, json={
                        "id": "OIA", "kind": "coordinators", "name": "OIA coordinators",
                        "channels": [{"kind": "slack", "address": slack.url("slack/oia")}]})
                assert response.status_code == 201, response.text
                day = date.today() + timedelta(days=30)
                for city, country in CITIES:
                    response = await travel.post("/trips", headers={"Authorization": "Bearer bench-mayor"}, json={
                        "title": f"A year in {city}", "legs": [{"city": city, "country": country,
                                                               "start_date": day.isoformat(),
                                                               "end_date": (day + timedelta(days=YEAR)).isoformat()}]})
                    assert response.status_code == 201, response.text

                await run_phase(travel, slack, 10, 3, 0, day)  # warm-up: connections, caches, plans
                phase = await run_phase(travel, slack, args.rate, args.seconds, 100_000, day)
                print(f"alerts: booking response → Slack stand-in at {args.rate:.0f} bookings/s for "
                      f"{args.seconds:.0f} s: {phase.line()} (target p50 ≤ 25 ms, p99 ≤ 100 ms)")
                held = args.rate if phase.held else 0.0
                for n, rate in enumerate(float(r) for r in args.steps.split(",")):
                    phase = await run_phase(travel, slack, rate, args.step_seconds, 200_000 + n * 100_000, day)
                    print(f"alerts: step {rate:5.0f} bookings/s for {args.step_seconds:.0f} s: {phase.line()}")
                    if not phase.held:
                        break
                    held = rate
                print(f"alerts: highest rate held without a growing backlog: {held:.0f} bookings/s")
    finally:
        for process in processes:
            process.stop()
        await delete_amqp_objects(exchange, prefix)
        for name in databases.values():
            await drop_database(name)


if __name__ == "__main__":
    asyncio.run(main())
