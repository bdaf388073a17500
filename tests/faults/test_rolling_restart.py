"""A rolling restart under load: notifications and travel are stopped with SIGTERM (what Kubernetes
sends on a rolling update) and started again, twice each, while a department books trip after trip.
Each process exits 0 within its grace; every booking answered 201 is alerted exactly once by email
and once by Slack (counted per Message-ID and per Idempotency-Key at the stand-ins), and nothing is
alerted that was not booked."""

from __future__ import annotations

import asyncio
import re
import signal
import time
from collections import Counter
from datetime import date, timedelta

import httpx
import pytest

from shared.testing import eventually
from tests.support.deployment import Deployment, bearer, deployment
from tests.support.settle import all_published
from tests.support.standins import SmtpStandIn, WebhookStandIn

pytestmark = pytest.mark.e2e

GRACE_SECONDS = 20
WATCHER = "coordinators@city.example"
TITLE = re.compile(r"Rolling (\d+)\b")


class Bookings:
    """Books trip after trip (ECON, to Lisbon, none overlapping another) until stopped. A booking
    is `booked` when answered 201, `unanswered` when the request was sent but no answer came (it
    may or may not have been made), and otherwise not made (refused, or answered 503)."""

    def __init__(self, d: Deployment) -> None:
        self.d = d
        self.booked: set[int] = set()
        self.unanswered: set[int] = set()
        self.refused = 0
        self._stop = asyncio.Event()

    async def run(self) -> None:
        first = date.today() + timedelta(days=60)
        n = 0
        while not self._stop.is_set():
            n += 1
            day = first + timedelta(days=3 * n)
            # A fresh connection each time: a kept-alive one may be closed by a stopping server just
            # as a request goes out on it, which says nothing about the service.
            async with self.d.client("travel", timeout=30) as travel:
                try:
                    response = await travel.post("/trips", headers=bearer("ECON"), json={
                        "title": f"Rolling {n}", "travellers": [{"name": "ECON lead", "email": "econ@x.example"}],
                        "legs": [{"city": "Lisbon", "country": "PT", "start_date": day.isoformat(),
                                  "end_date": (day + timedelta(days=1)).isoformat()}]})
                except (httpx.ConnectError, httpx.RemoteProtocolError) as exc:
                    # Refused: travel is between processes. A protocol error before any answer is
                    # a connection closed by the stopping server before it read the request.
                    if isinstance(exc, httpx.RemoteProtocolError):
                        self.unanswered.add(n)
                    else:
                        self.refused += 1
                    await asyncio.sleep(0.1)  # travel is starting again; try the next one shortly
                    continue
                except httpx.ReadError:
                    self.unanswered.add(n)
                    continue
            if response.status_code == 201:
                self.booked.add(n)
            else:
                assert response.status_code == 503, response.text
            await asyncio.sleep(0.02)  # a steady stream, not a flood: the machine is shared

    def stop(self) -> None:
        self._stop.set()


async def _restart(d: Deployment, service: str, bookings: Bookings) -> float:
    process = d.processes[service]
    before = len(bookings.booked)
    process.proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    code = await asyncio.to_thread(process.proc.wait, GRACE_SECONDS + 20)
    took = time.monotonic() - started
    assert code == 0, f"{service} exited {code} on SIGTERM:\n{process.output()}"
    # Requests get at most 5 s (cli.GRACE_SECONDS), the runtime its grace; the rest is the exit.
    assert took < GRACE_SECONDS + 5 + 5, f"{service} took {took:.1f}s to stop"
    d.launch(service)
    await d.ready(service)
    # Some bookings go through the new process before the next restart.
    await eventually(lambda: len(bookings.booked) >= before + 5, timeout=60, message=f"bookings after {service}")
    return took


async def test_a_rolling_restart_under_load_loses_and_doubles_nothing(start):
    async with WebhookStandIn() as slack:
        with SmtpStandIn() as smtp:
            async with deployment(start, env={
                    "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port), "SMTP_STARTTLS": "false",
                    "OIA_SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS)}) as d:
                async with d.client("notifications", "OIA") as notifications:
                    # The coordinators hear of every booking, by email and Slack.
                    created = await notifications.post("/recipients", json={
                        "id": "OIA", "kind": "coordinators", "name": "Coordinators", "department": "OIA",
                        "channels": [{"kind": "email", "address": WATCHER},
                                     {"kind": "slack", "address": slack.url("slack/OIA")}]})
                    assert created.status_code == 201, created.text
                    subscribed = await notifications.post("/subscriptions", json={
                        "recipient_id": "OIA", "event_type": "travel.trip.booked.v1"})
                    assert subscribed.status_code == 201, subscribed.text

                stopped: list[tuple[str, float]] = []  # how long each took to exit, for the failure's message
                bookings = Bookings(d)
                stream = asyncio.create_task(bookings.run())
                try:
                    await eventually(lambda: len(bookings.booked) >= 5, timeout=60, message="the first bookings")
                    for _ in range(2):
                        for service in ("notifications", "travel"):
                            stopped.append((service, round(await _restart(d, service, bookings), 1)))
                finally:
                    bookings.stop()
                    await stream

                def mailed() -> Counter[int]:
                    return Counter(int(m.group(1)) for mail in smtp.to(WATCHER)
                                   if (m := TITLE.search(str(mail["Subject"]))))

                def posted() -> Counter[int]:
                    return Counter(int(m.group(1)) for post in slack.accepted("slack/OIA")
                                   if (m := TITLE.search(post.body.decode())))

                await eventually(lambda: bookings.booked <= set(mailed()) and bookings.booked <= set(posted()),
                                 timeout=60, message="an email and a Slack message for every booking")
                # Settled: everything said is published and every delivery's outcome written, so a
                # copy would have been sent by now.
                await all_published(*d.engines.values(), timeout=30)
                async with d.client("notifications", "admin") as notifications:
                    async def all_sent() -> bool:
                        found = (await notifications.get("/deliveries", params={"limit": 500})).json()
                        return len(found) >= 2 * len(bookings.booked) and {x["status"] for x in found} == {"sent"}
                    await eventually(all_sent, timeout=60, message="every delivery sent")

                mails, posts = smtp.to(WATCHER), slack.accepted("slack/OIA")
                assert len(bookings.booked) >= 25, (bookings.booked, stopped)
                doubled_ids = [k for k, n in Counter(str(m["Message-ID"]) for m in mails).items() if n > 1]
                doubled_keys = [k for k, n in Counter(p.headers["idempotency-key"] for p in posts).items() if n > 1]
                assert doubled_ids == [] and doubled_keys == [], stopped
                assert [n for n, count in mailed().items() if count > 1] == []
                assert [n for n, count in posted().items() if count > 1] == []
                # Alerted: every booking, and nothing that was not (an unanswered request may have been made).
                assert bookings.booked <= set(mailed()) <= bookings.booked | bookings.unanswered
                assert set(mailed()) == set(posted())
