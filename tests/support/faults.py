"""The fault suite's harness (issue 17): a deployment of the production shape whose coordinators hear of
every booking by email and by Slack, a stream of bookings while a fault is made, and the alerts counted at
the receivers, reported as one line per scenario:

    scenario=<name> expected=<n> delivered=<n> lost=<n> duplicated=<n> settle=<s>s booked=<n> ...

    async with fault_run("kill -9 notifications", start, tmp_path) as run:   # bookings are flowing
        run.d.processes["notifications"].proc.kill()
        ...
        run.fault_over()  # settle is counted from here (by default: when the block ends)
    # Leaving the block: a few more bookings, the stream stops, the alerts are waited for, counted and
    # reported (test-output/faults.txt and the terminal summary), then lost == 0 and duplicated == 0 asserted.

expected: bookings answered 201, times the two channels. delivered: those alerted, once or more, per
channel. lost: expected - delivered. duplicated: arrivals beyond the first per Message-ID /
Idempotency-Key, or per booking and channel, whichever is more. settle: from the fault's end until every
booking made before it has been alerted on both channels ("never" if that did not happen).

The copies the design allows (README, "Delivery guarantees"): a `kill -9` that lands between a
receiver taking a message and the sender's journal line for it resends that message after the lease,
with the same identifier. Such a copy is counted in `duplicated` and named in `resent_at_kill` (one
more arrival, same identifier, the first taken within KILL_WINDOW before the kill); the run asserts
that every copy is one of those. Any other copy (a second resend, a new identifier, a first copy
taken earlier: a journal that was not replayed, an outcome not held) fails it.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from services.notifications.models import Delivery, DeliveryAttempt
from shared.bus.amqp import AmqpBus
from shared.testing import AMQP_URL, eventually
from tests.support.deployment import SERVICES, DatabaseFactory, Deployment, bearer, deployment
from tests.support.private_infra import PrivatePostgres, PrivateRabbit
from tests.support.processes import ROOT, Process
from tests.support.settle import all_published
from tests.support.standins import SmtpStandIn, WebhookStandIn

REPORT = ROOT / "test-output" / "faults.txt"
# This process's lines. Each goes with its test's report to the terminal summary (user_properties:
# pytest-xdist carries them from the worker that ran the test), see `fault_lines` and `summarise`.
REPORTED: list[str] = []
FAULT_LINE = "fault scenario"

WATCHER = "coordinators@city.example"
SLACK = "slack/OIA"
TITLE = re.compile(r"Fault (\d+)\b")
CHANNELS = ("email", "slack")
# Slack's pace for the stand-in (SLACK_RATE_PER_SECOND): see fault_run. FAULTS_SLACK_RATE=1 is Slack's own.
SLACK_RATE = os.environ.get("FAULTS_SLACK_RATE", "20")


class Bookings:
    """Books trip after trip (ECON, to Lisbon, none overlapping another) until stopped, in turn on
    every travel process given. A booking is `booked` when answered 201, `unanswered` when the
    request went out but no answer came (it may or may not have been made), and otherwise not made:
    `refused` (no connection: travel is between processes) or `unavailable` (503: the database away).
    Any other answer is kept in `wrong`."""

    def __init__(self, travel_urls: Callable[[], list[str]], pace: float = 0.02) -> None:
        self.travel_urls = travel_urls
        self.pace = pace
        self.booked: set[int] = set()
        self.unanswered: set[int] = set()
        self.refused = 0
        self.unavailable = 0
        self.wrong: list[str] = []
        self._stop = asyncio.Event()

    async def run(self) -> None:
        first = date.today() + timedelta(days=60)
        n = 0
        while not self._stop.is_set():
            n += 1
            day = first + timedelta(days=3 * n)
            urls = self.travel_urls()
            # A fresh connection each time: a kept-alive one may be closed by a stopping server just
            # as a request goes out on it, which says nothing about the service.
            async with httpx.AsyncClient(base_url=urls[n % len(urls)], timeout=30) as travel:
                try:
                    response = await travel.post("/trips", headers=bearer("ECON"), json={
                        "title": f"Fault {n}", "travellers": [{"name": "ECON lead", "email": "econ@x.example"}],
                        "legs": [{"city": "Lisbon", "country": "PT", "start_date": day.isoformat(),
                                  "end_date": (day + timedelta(days=1)).isoformat()}]})
                except httpx.ConnectError:
                    self.refused += 1
                    await asyncio.sleep(0.1)  # travel is starting again; try the next one shortly
                    continue
                except (httpx.RemoteProtocolError, httpx.ReadError, httpx.TimeoutException):
                    # Sent, but the connection closed or timed out before any answer: maybe made.
                    self.unanswered.add(n)
                    continue
            if response.status_code == 201:
                self.booked.add(n)
            elif response.status_code == 503:
                self.unavailable += 1
                await asyncio.sleep(0.2)
            else:
                self.wrong.append(f"Fault {n}: {response.status_code} {response.text[:200]}")
            await asyncio.sleep(self.pace)  # a steady stream, not a flood: the machine is shared

    def stop(self) -> None:
        self._stop.set()


@dataclass
class Receivers:
    """The coordinators' SMTP server and Slack, counting each arrival by its identifier and booking."""

    smtp: SmtpStandIn
    slack: WebhookStandIn

    @property
    def env(self) -> dict[str, str]:
        return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(self.smtp.port), "SMTP_STARTTLS": "false"}

    async def subscribe(self, d: Deployment) -> None:
        """The coordinators hear of every booking, by email and by Slack."""
        async with d.client("notifications", "OIA") as notifications:
            created = await notifications.post("/recipients", json={
                "id": "OIA", "kind": "coordinators", "name": "Coordinators", "department": "OIA",
                "channels": [{"kind": "email", "address": WATCHER},
                             {"kind": "slack", "address": self.slack.url(SLACK)}]})
            assert created.status_code == 201, created.text
            subscribed = await notifications.post("/subscriptions", json={
                "recipient_id": "OIA", "event_type": "travel.trip.booked.v1"})
            assert subscribed.status_code == 201, subscribed.text

    def arrivals(self) -> dict[str, list[tuple[str, int | None]]]:
        """(identifier, booking) of every message accepted, by channel."""
        return {channel: [(key, n) for key, n, _ in found] for channel, found in self.timed_arrivals().items()}

    def timed_arrivals(self) -> dict[str, list[tuple[str, int | None, float]]]:
        """(identifier, booking, when: time.monotonic()) of every message accepted, by channel."""
        with self.smtp.lock:
            mails = [(m, at) for m, at in zip(self.smtp.messages, self.smtp.arrived, strict=True) if WATCHER in m["To"]]
        return {
            "email": [(str(m["Message-ID"]), _booking(str(m["Subject"])), at) for m, at in mails],
            "slack": [(p.headers.get("idempotency-key", ""), _booking(p.body.decode()), p.at)
                      for p in self.slack.accepted(SLACK)],
        }

    def copies(self, since: float) -> str:
        """The doubled messages, for a line: channel, booking and when each copy came, in seconds from
        `since` (say the kill), e.g. `slack#12@-0.1/+31.2`."""
        found = []
        for channel, arrivals in self.timed_arrivals().items():
            times: dict[str, list[float]] = {}
            booking: dict[str, int | None] = {}
            for key, n, at in arrivals:
                times.setdefault(key, []).append(at - since)
                booking[key] = n
            found += [f"{channel}#{booking[key]}@" + "/".join(f"{t:+.1f}" for t in ts)
                      for key, ts in times.items() if len(ts) > 1]
        return ",".join(found)

    def resent_at(self, kills: list[float]) -> int:
        """Copies the design allows: one more arrival with the same identifier, the first taken within
        KILL_WINDOW of one of the `kills` (time.monotonic())."""
        before, after = KILL_WINDOW
        found = 0
        for arrivals in self.timed_arrivals().values():
            times: dict[str, list[float]] = {}
            for key, _, at in arrivals:
                times.setdefault(key, []).append(at)
            found += sum(1 for ts in times.values()
                         if len(ts) == 2 and any(k - before <= min(ts) <= k + after for k in kills))
        return found

    def alerted(self) -> dict[str, set[int]]:
        return {channel: {n for _, n in found if n is not None} for channel, found in self.arrivals().items()}


def _booking(text: str) -> int | None:
    return int(m.group(1)) if (m := TITLE.search(text)) else None


# From a receiver taking a message to the sender's journal line for it: measured p99 41 ms on a busy
# 2-core machine (bench/journal_window.py); a machine running the whole suite stretches it, hence 0.5 s.
KILL_WINDOW = (0.5, 0.1)  # seconds before and after the kill's signal (the receivers stamp in this process)


@dataclass
class Tally:
    scenario: str
    expected: int
    delivered: int
    lost: int
    duplicated: int
    settle: float | None
    more: dict[str, object] = field(default_factory=dict)  # booked=, unanswered=, refused=, dead=, ...

    @property
    def resent_at_kill(self) -> int:
        """Of `duplicated`: the copies the design allows (see the module)."""
        return int(self.more.get("resent_at_kill", 0))

    def line(self) -> str:
        settle = "never" if self.settle is None else f"{self.settle:.1f}s"
        extra = "".join(f" {k}={v}" for k, v in self.more.items())
        return (f"scenario={self.scenario.replace(' ', '-')} expected={self.expected} delivered={self.delivered} "
                f"lost={self.lost} duplicated={self.duplicated} settle={settle}{extra}")


def tally(scenario: str, booked: set[int], unanswered: set[int],
          arrivals: Mapping[str, Iterable[tuple[str, int | None]]], settle: float | None, **more: object) -> Tally:
    """Counts what arrived against what was booked (the definitions are the module's)."""
    delivered = by_id = by_booking = unexpected = 0
    for found in arrivals.values():
        found = list(found)
        bookings = [n for _, n in found if n is not None]
        delivered += len(booked & set(bookings))
        by_id += len(found) - len({key for key, _ in found})
        by_booking += len(bookings) - len(set(bookings))
        # Alerted, never asked for (or about no booking at all, say a poison message).
        unexpected += len(set(bookings) - booked - unanswered) + len(found) - len(bookings)
    more = {"booked": len(booked), "unanswered": len(unanswered), **more}
    if unexpected:
        more["unexpected"] = unexpected
    expected = len(booked) * len(arrivals)
    return Tally(scenario, expected, delivered, expected - delivered, max(by_id, by_booking), settle, more)


def report(line: str) -> None:
    """Into test-output/faults.txt and this session's summary; printed too (seen with -s)."""
    REPORTED.append(line)
    REPORT.parent.mkdir(exist_ok=True)
    with REPORT.open("a") as out:
        out.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}\n")
    print(line, flush=True)


@pytest.fixture(autouse=True)
def fault_lines(request: pytest.FixtureRequest) -> Iterator[None]:
    """The lines a test reports go with its report (imported, as autouse, by the e2e and faults conftests)."""
    since = len(REPORTED)
    yield
    request.node.user_properties += [(FAULT_LINE, line) for line in REPORTED[since:]]


def summarise(terminalreporter) -> None:
    """For pytest_terminal_summary (tests/conftest.py): the session's lines, without -s."""
    lines = [value for reports in terminalreporter.stats.values() for r in reports
             if getattr(r, "when", None) == "teardown"
             for name, value in getattr(r, "user_properties", ()) if name == FAULT_LINE]
    if lines:
        terminalreporter.section("fault scenarios (also in test-output/faults.txt)")
        for line in lines:
            terminalreporter.write_line(line)


class FaultRun:
    """One scenario under way: `d` the deployment, `bookings` the stream, `receivers` the counters."""

    def __init__(self, name: str, d: Deployment, receivers: Receivers, bookings: Bookings) -> None:
        self.name, self.d, self.receivers, self.bookings = name, d, receivers, bookings
        self.more: dict[str, object] = {}  # the scenario's own figures, added to its line
        self.dead_letters_expected = 0  # events the scenario has dead-lettered on purpose (poison), all queues
        self.fault_began: float | None = None  # set by the scenario (say at a kill): copies are timed from it
        self.kills: list[float] = []  # when a process was sent SIGKILL (time.monotonic())
        self.fault_ended: float | None = None
        self._settled: asyncio.Task[float | None] | None = None

    def fault_over(self) -> None:
        """The fault has ended: settle counts from now, until every booking made by now is alerted."""
        if self.fault_ended is not None:
            return
        self.fault_ended = time.monotonic()
        made = set(self.bookings.booked)
        self._settled = asyncio.create_task(self._alerted(lambda: made, timeout=None))

    async def bookings_made(self, count: int, timeout: float = 90) -> None:
        """Until `count` more bookings are answered 201 than now."""
        target = len(self.bookings.booked) + count
        await eventually(lambda: len(self.bookings.booked) >= target, timeout=timeout,
                         message=f"{count} more bookings ({self.bookings.refused} refused, "
                                 f"{self.bookings.unavailable} unavailable, {self.bookings.wrong[-3:]})")

    async def _alerted(self, booked: Callable[[], set[int]], timeout: float | None) -> float | None:
        """Seconds from the fault's end until `booked` is alerted on every channel; None past `timeout`."""
        assert self.fault_ended is not None
        while True:
            alerted = self.receivers.alerted()
            if all(booked() <= alerted[channel] for channel in CHANNELS):
                return max(0.0, time.monotonic() - self.fault_ended)
            if timeout is not None and time.monotonic() - self.fault_ended > timeout:
                return None
            await asyncio.sleep(0.1)

    async def finish(self, settle_timeout: float) -> Tally:
        """Waits for the alerts, then for quiet (so a copy would have come), and counts."""
        self.fault_over()
        assert self._settled is not None and self.fault_ended is not None
        # Every booking alerted (or the time is up: then the missing ones are lost).
        await self._alerted(lambda: self.bookings.booked, timeout=settle_timeout)
        for engine in self.d.engines.values():
            await engine.dispose()  # its pooled connections may be to a database server since restarted
        dead = await self._quiet()
        try:  # what was made by the fault's end may have come since, while the deliveries finished
            settle = await asyncio.wait_for(asyncio.shield(self._settled), 2)
        except TimeoutError:
            self._settled.cancel()
            settle = None
        resent_at_kill = self.receivers.resent_at(self.kills)
        return tally(self.name, self.bookings.booked, self.bookings.unanswered, self.receivers.arrivals(), settle,
                     refused=self.bookings.refused, unavailable=self.bookings.unavailable,
                     wrong=len(self.bookings.wrong), dead=dead, dead_letters=await self.dead_letters(),
                     failed_attempts=await self.failed_attempts(), **self.more,
                     **({"resent_at_kill": resent_at_kill} if resent_at_kill else {}),
                     **({"copies": copies} if (copies := self.receivers.copies(
                         self.fault_began or self.fault_ended or 0.0)) else {}))

    async def dead_letters(self) -> int:
        """Events in the services' dead-letter queues: an outage must put none there."""
        bus = AmqpBus(self.d.env["AMQP_URL"], self.d.exchange)
        await bus.connect()
        try:
            return sum([await bus.dead_letter_count(self.d.queue_prefix + service) for service in SERVICES])
        finally:
            await bus.close()

    async def failed_attempts(self) -> str:
        """Sends that failed (to be retried), by what went wrong: `0`, or e.g. `3[HTTP 500: ...]`."""
        async with self.d.engines["notifications"].connect() as conn:
            rows = (await conn.execute(select(DeliveryAttempt.error, func.count()).where(
                DeliveryAttempt.outcome == "failed").group_by(DeliveryAttempt.error))).all()
        total = sum(n for _, n in rows)
        errors = ";".join(f"{n}x{(error or '')[:60]}" for error, n in rows)
        return f"{total}[{errors}]".replace(" ", "_") if total else "0"

    async def _quiet(self) -> int:
        """Until everything said is published and no delivery is left to send: a copy would have been
        sent by now. Answers the dead deliveries."""
        await all_published(*self.d.engines.values(), timeout=120)

        async def statuses() -> Counter[str]:
            async with self.d.engines["notifications"].connect() as conn:
                rows = await conn.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
                return Counter({status: n for status, n in rows.all()})

        async def none_to_send() -> bool:
            found = await statuses()
            return found["pending"] + found["sending"] == 0 and found.total() >= 2 * len(self.bookings.booked)

        await eventually(none_to_send, timeout=120, interval=0.5, message="no delivery left to send")
        return (await statuses())["dead"]


async def kill_9(run: FaultRun, service: str) -> None:
    """SIGKILL `service` while bookings flow, leave it down while they go on, start it again."""
    run.fault_began = time.monotonic()
    if service == "notifications":  # only the sender's death can leave a copy (see the module)
        run.kills.append(run.fault_began)
    run.d.processes[service].proc.kill()
    await asyncio.to_thread(run.d.processes[service].proc.wait)
    if service == "travel":  # nothing is booked while it is away: refused instead
        refused = run.bookings.refused
        await eventually(lambda: run.bookings.refused >= refused + 3, timeout=30, message="bookings refused")
    else:
        await run.bookings_made(5)  # their events wait in its queue
    run.d.launch(service)
    await run.d.ready(service)


@asynccontextmanager
async def fault_run(name: str, start: Callable[[list[str], dict[str, str]], Process], workdir: Path, *,
                    env: Mapping[str, str] | None = None, replicas: int = 1, amqp_url: str = AMQP_URL,
                    databases_from: DatabaseFactory | None = None, after: int = 10, pace: float = 0.02,
                    settle_timeout: float = 180) -> AsyncIterator[FaultRun]:
    """The scenario `name`: a deployment (`replicas` processes of each service; on `amqp_url` and
    `databases_from`, the machine's by default) with bookings flowing when the block starts (one each
`pace` seconds, plus the booking's own time). Leaving
    it, `after` more bookings are made, then the run is counted, reported and asserted on (see the
    module). Notifications journals its send outcomes (DELIVERY_JOURNAL_DIR, one directory per process,
    kept across its restarts, like a pod's volume)."""
    async with WebhookStandIn() as slack:
        with SmtpStandIn() as smtp:
            receivers = Receivers(smtp, slack)
            async with deployment(start, env={
                    **receivers.env, "DELIVERY_JOURNAL_DIR": str(workdir / "journal-0"),
                    # The stand-in is no Slack: at Slack's own pace (one message a second per webhook)
                    # a stream of bookings builds a backlog, and settle would measure the backlog.
                    "SLACK_RATE_PER_SECOND": SLACK_RATE, **(env or {})},
                    amqp_url=amqp_url, databases_from=databases_from) as d:
                for n in range(1, replicas):
                    for service in SERVICES:
                        d.launch_replica(service, {"DELIVERY_JOURNAL_DIR": str(workdir / f"journal-{n}")})
                await d.ready_replicas()
                await receivers.subscribe(d)
                bookings = Bookings(lambda: d.urls("travel"), pace)
                run = FaultRun(name, d, receivers, bookings)
                stream = asyncio.create_task(bookings.run())
                try:
                    await run.bookings_made(5)
                    yield run
                    run.fault_over()
                    await run.bookings_made(after)
                except BaseException as exc:
                    run.more["error"] = type(exc).__name__
                    raise
                finally:
                    bookings.stop()
                    await stream
                    # Alerts still to come when the stream stopped (on a channel, of a booking made).
                    alerted = receivers.alerted()
                    run.more["backlog"] = sum(len(bookings.booked - alerted[c]) for c in CHANNELS)
                    if "error" in run.more:
                        # Still a line: what had arrived by then.
                        report(tally(name, bookings.booked, bookings.unanswered, receivers.arrivals(), None,
                                     **run.more).line())
                result = await run.finish(settle_timeout)
                report(result.line())
                assert bookings.wrong == [], bookings.wrong
                # Every copy, if any, is the one a kill may leave (see the module).
                assert result.lost == 0 and result.duplicated == result.resent_at_kill, result.line()
                assert "unexpected" not in result.more and result.more["dead"] == 0, result.line()
                assert result.more["dead_letters"] == run.dead_letters_expected, result.line()


@asynccontextmanager
async def private_fault_run(name: str, start: Callable[[list[str], dict[str, str]], Process], workdir: Path,
                            **kwargs) -> AsyncIterator[tuple[FaultRun, PrivatePostgres, PrivateRabbit]]:
    """fault_run on a PostgreSQL and a RabbitMQ of the scenario's own (tests.support.private_infra),
    which it may stop, kill and start: the machine's are shared with other work."""
    async with PrivatePostgres() as pg, PrivateRabbit() as rabbit:
        async def database(service: str) -> str:
            return await pg.create_database(f"oia_{service}")

        async with fault_run(name, start, workdir, amqp_url=rabbit.amqp_url, databases_from=database,
                             **kwargs) as run:
            yield run, pg, rabbit
