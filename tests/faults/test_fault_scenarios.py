"""Issue 17's fault suite, the long scenarios (`make test-faults`; the short ones run in `make test`, from
tests/e2e/test_faults_short.py; the rolling restart and the RabbitMQ cluster have files of their own).
Each runs four `oia serve` processes on a PostgreSQL and a RabbitMQ of its own, bookings flowing, every
alert counted at an SMTP server and a Slack stand-in, and reports its line (tests.support.faults):
nothing lost, nothing doubled, nothing dead."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from shared.testing import eventually
from tests.support.faults import SLACK, kill_9, private_fault_run

pytestmark = pytest.mark.e2e

# How long the database is away: longer than the ~36 s after which events were once dead-lettered.
DB_OUTAGE_SECONDS = float(os.environ.get("FAULTS_DB_OUTAGE_SECONDS", "90"))
# How long Slack answers 500s, then 429s (half each): ten minutes; shorter while developing.
RECEIVER_OUTAGE_SECONDS = float(os.environ.get("FAULTS_RECEIVER_OUTAGE_SECONDS", "600"))


async def test_broker_restart_under_load(start, tmp_path):
    async with private_fault_run("broker restart", start, tmp_path) as (run, _, rabbit):
        await run.bookings_made(10)
        await rabbit.restart()  # a graceful stop, then a start: the queues are durable, quorum
        run.fault_over()
        await run.bookings_made(10)


async def test_database_restart(start, tmp_path):
    async with private_fault_run("database restart", start, tmp_path) as (run, pg, _):
        await run.bookings_made(10)
        await pg.restart("fast")  # every connection cut; the services reconnect
        run.fault_over()
        await run.bookings_made(10)


async def test_a_long_database_outage(start, tmp_path):
    async with private_fault_run("long database outage", start, tmp_path, settle_timeout=300) as (run, pg, _):
        await run.bookings_made(10)
        await pg.stop("immediate")  # as a crash: no checkpoint, recovery at the start
        down = time.monotonic()
        unavailable = run.bookings.unavailable
        # Meanwhile bookings are answered 503 (and nothing consumed is dead-lettered: dead=0).
        await eventually(lambda: run.bookings.unavailable > unavailable, timeout=60, message="a 503 while it is away")
        await asyncio.sleep(max(0.0, DB_OUTAGE_SECONDS - (time.monotonic() - down)))  # the outage's length
        await pg.start()
        run.fault_over()
        run.more["outage"] = f"{time.monotonic() - down:.0f}s"
        await run.bookings_made(10)


@pytest.mark.parametrize("service", ["partners", "travel", "grants"])  # notifications: tests/e2e
async def test_kill_9(start, tmp_path, service):
    async with private_fault_run(f"kill-9 {service}", start, tmp_path) as (run, _, _):
        await run.bookings_made(5)
        await kill_9(run, service)


async def test_three_replicas_of_each_service(start, tmp_path):
    async with private_fault_run("three replicas", start, tmp_path, replicas=3) as (run, _, _):
        await run.bookings_made(30)  # booked in turn on the three travel processes


async def test_slack_failing_with_500s_then_429s(start, tmp_path):
    # One booking every ~2 s: over ten minutes a few hundred messages wait for Slack. Retries capped at
    # a minute apart (RETRY_CAP_SECONDS; 600 by default), so the wait after the recovery is the
    # scenario's, not the cap's; the budget stays the default six hours.
    async with private_fault_run("slack 500s then 429s", start, tmp_path, pace=2.0,
                                 settle_timeout=RECEIVER_OUTAGE_SECONDS + 600,
                                 env={"RETRY_CAP_SECONDS": "60"}) as (run, _, _):
        began = time.monotonic()
        run.receivers.slack.script(SLACK, failing_until=began + RECEIVER_OUTAGE_SECONDS / 2,
                                   throttling_until=began + RECEIVER_OUTAGE_SECONDS, retry_after="30")
        await asyncio.sleep(RECEIVER_OUTAGE_SECONDS)  # the outage's length; bookings go on meanwhile
        run.fault_over()
        attempts = run.receivers.slack.attempts.get("/" + SLACK, [])
        run.more["slack_refusals"] = len(attempts) - len(run.receivers.slack.accepted(SLACK))
        run.more["outage"] = f"{RECEIVER_OUTAGE_SECONDS:.0f}s"
