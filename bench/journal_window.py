"""The windows the delivery journal leaves: from a receiver accepting a message to the outcome's line
written in the journal (a `kill -9` inside it sends the message again, with the same Idempotency-Key
/ Message-ID), and to that line's fsync (the same for a crash of the whole machine). Measured as the
worker does it: a webhook POST to a real HTTP server on loopback (the stand-in stamps each post as
it takes it), then the journal's append + fsync, in a folder on the disk given (default: a temporary
one), `--concurrency` sends at once as the worker's slots.

    python bench/journal_window.py [--sends 500] [--concurrency 16] [--dir /var/lib/diplomacity/journal]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.notifications.channels import Target  # noqa: E402
from services.notifications.channels.webhook import Webhook  # noqa: E402
from services.notifications.journal import Journal  # noqa: E402
from services.notifications.rendering import render  # noqa: E402
from tests.support.standins import WebhookStandIn  # noqa: E402

# A booking's alert, as the worker sends it.
MESSAGE = render("travel.trip.booked.v1", {
    "trip_id": "5f551f04-a5a7-4af1-8f5f-a3c10572934c", "department": "ECON", "title": "Trade fair",
    "purpose": "trade_fair", "visibility": "normal", "status": "booked", "booked_at": "2027-03-01T09:00:00Z",
    "legs": [{"city": "Munich", "country": "DE", "start_date": "2027-05-12", "end_date": "2027-05-15"}],
    "travellers": [{"name": "Anna Schmidt", "email": "anna@city.example", "role": "Head of unit"}]}, "en")


async def main(sends: int, concurrency: int, folder: Path) -> None:
    journal = Journal(folder)
    windows: list[float] = []  # acceptance → fsync
    written: list[float] = []  # acceptance → the line written
    slots = asyncio.Semaphore(concurrency)
    async with WebhookStandIn() as hooks, httpx.AsyncClient() as client:
        sender = Webhook(client, timeout=10, rate=None, max_wait=10)

        async def one(n: int) -> None:
            async with slots:
                path = f"hook/{n}"
                target = Target(kind="webhook", address=hooks.url(path), signing_secret=None,
                                delivery_id=f"d-{n}", event_id=f"e-{n}", event_type="bench.v1")
                outcome = await sender.send(target, MESSAGE)
                line = journal.write({"sent": [[target.delivery_id, 0]], "outcome": [outcome.outcome]})
                accepted = hooks.accepted(path)[0].at
                written.append(time.monotonic() - accepted)
                await journal.durable(line)
                windows.append(time.monotonic() - accepted)

        await asyncio.gather(*(one(n) for n in range(sends)))
    for name, window in (("written (kill -9)", written), ("fsync (machine crash)", windows)):
        window.sort()
        p = lambda q, w=window: w[min(len(w) - 1, int(q * len(w)))] * 1000  # noqa: E731
        print(f"{sends} sends, {concurrency} at once, journal in {folder}: acceptance → {name} "
              f"p50 {p(0.5):.2f} ms, p99 {p(0.99):.2f} ms, max {window[-1] * 1000:.2f} ms, "
              f"mean {statistics.fmean(window) * 1000:.2f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as scratch:
        asyncio.run(main(args.sends, args.concurrency, args.dir or Path(scratch)))
