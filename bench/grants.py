"""Grants on PostgreSQL: importing the portal's answer, and the deadline-reminder job.

- Import: a SEDIA search answer of `--calls` rows (built like the shipped sample: single- and
  two-stage calls, keywords as JSON strings, budgets in `budgetOverview`) parsed and upserted in one
  transaction, against a bare insert of the same calls' rows; then the same answer again (every
  row compared, nothing changed).
- Reminders: the job over `--applications` applications being prepared, as of an instant when each
  has a reminder due (the run that says them), then again (the run that finds them all said, as
  every hourly run does), against a bare read of the same applications with their calls.

    python bench/grants.py [--calls 2000] [--applications 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select, text  # noqa: E402

from oia.catalog import spec_of  # noqa: E402
from services.grants import domain, portal  # noqa: E402
from services.grants.models import Application, Call, new_id  # noqa: E402
from services.grants.service import calls, reminders  # noqa: E402
from services.grants.settings import GrantsSettings  # noqa: E402
from shared.bus.memory import MemoryBus  # noqa: E402
from shared.migrations import upgrade  # noqa: E402
from shared.runtime import ServiceRuntime  # noqa: E402
from shared.testing import asyncpg_url, create_database, drop_database  # noqa: E402

PROGRAMMES = ["CERV", "HORIZON", "LIFE", "ERASMUS", "DIGITAL"]
FIRST_DEADLINE = date(2027, 6, 1)


def portal_answer(n: int) -> bytes:
    results = []
    for i in range(n):
        identifier = f"{PROGRAMMES[i % len(PROGRAMMES)]}-2027-BENCH-{i:05d}"
        deadlines = [FIRST_DEADLINE + timedelta(days=i % 200)]
        if i % 4 == 0:
            deadlines.append(deadlines[0] + timedelta(days=150))
        metadata = {
            "identifier": [identifier], "title": [f"Call {i} on climate and citizens"],
            "startDate": ["2027-01-15T00:00:00.000+0000"],
            "deadlineDate": [f"{d.isoformat()}T00:00:00.000+0000" for d in deadlines],
            "deadlineModel": ["two-stage" if len(deadlines) == 2 else "single-stage"],
            "keywords": [json.dumps(["climate", "citizens", f"topic {i % 37}"])],
            "budgetOverview": [json.dumps({"budgetTopicActionMap": {"1": [{
                "action": f"{identifier} - GRANT", "budgetYearMap": {"2027": 1_000_000 + i},
                "minContribution": 10_000, "maxContribution": 500_000}]}})]}
        results.append({"metadata": metadata})
    return json.dumps({"results": results}).encode()


def timed(started: float) -> float:
    return time.perf_counter() - started


async def bench_import(runtime: ServiceRuntime, n: int) -> None:
    ctx = runtime.context
    body = portal_answer(n)
    started = time.perf_counter()
    parsed = portal.parse(body)
    parse_s = timed(started)
    started = time.perf_counter()
    json.loads(body)
    raw_parse_s = timed(started)
    async with runtime.uow() as uow:
        started = time.perf_counter()
        report = await calls.import_calls(uow, ctx, parsed.calls, parsed.skipped)
        import_s = timed(started)
    assert report.created == n, report
    async with runtime.uow() as uow:
        started = time.perf_counter()
        again = await calls.import_calls(uow, ctx, portal.parse(body).calls, [])
        reimport_s = timed(started)
    assert again.unchanged == n, again
    # Bare: the same calls' rows inserted in one transaction.
    rows = [{"id": new_id(), "identifier": c.identifier + "-bare", "programme": c.programme, "title": c.title,
             "topic": c.topic, "opens_at": c.opens_at, "deadlines": calls._stored(c.deadlines), "budget": c.budget,
             "grant_min": c.grant_min, "grant_max": c.grant_max, "themes": c.themes, "url": c.url,
             "source": "portal", "version": 1, "created_at": datetime.now(UTC),
             "updated_at": datetime.now(UTC)} for _, c in parsed.calls]
    started = time.perf_counter()
    async with runtime.engine.begin() as conn:
        await conn.execute(insert(Call.__table__), rows)
    bare_s = timed(started)
    print(f"grants: parse {n:,} portal rows {parse_s * 1000:7.0f} ms (json.loads alone {raw_parse_s * 1000:5.0f} ms, "
          f"{parse_s / raw_parse_s:4.1f}×)")
    print(f"grants: import {n:,} new calls {n / import_s:7.0f} calls/s; bare insert of the same rows "
          f"{n / bare_s:7.0f} rows/s; ratio {bare_s / import_s:.2f}")
    print(f"grants: re-import {n:,} unchanged calls {n / reimport_s:7.0f} calls/s")


async def bench_reminders(runtime: ServiceRuntime, n: int) -> None:
    async with runtime.engine.begin() as conn:
        await conn.execute(text("TRUNCATE call, callversion, application, reminder, stagechange CASCADE"))
        now = datetime.now(UTC)
        calls = [{"id": new_id(), "identifier": f"CERV-2027-REM-{i:03d}", "programme": "cerv", "title": f"Call {i}",
                  "deadlines": [{"stage": 1, "at": domain.deadline_at(FIRST_DEADLINE + timedelta(days=i % 20))
                                 .isoformat()}], "themes": [], "source": "manual", "version": 1,
                  "created_at": now, "updated_at": now} for i in range(100)]
        await conn.execute(insert(Call.__table__), calls)
        applications = [{"id": new_id(), "call_id": calls[i % 100]["id"], "lead_department": "ENV",
                         "title": f"Application {i}", "owner_name": "Jana Weber",
                         "owner_email": f"owner{i}@city.example",
                         "requested_amount": 10_000, "cofinancing_amount": 0, "city_role": "coordinator",
                         "consortium": [], "stage": "drafting", "internal_buffer_days": 5, "created_at": now,
                         "updated_at": now} for i in range(n)]
        for offset in range(0, n, 5000):
            await conn.execute(insert(Application.__table__), applications[offset:offset + 5000])
        await conn.execute(text("ANALYZE"))
    as_of = datetime(2027, 5, 25, 16, tzinfo=UTC)  # a week before the first deadlines
    async with runtime.uow() as uow:
        started = time.perf_counter()
        first = await reminders.run_jobs(uow, as_of)
        first_s = timed(started)
    async with runtime.uow() as uow:
        started = time.perf_counter()
        second = await reminders.run_jobs(uow, as_of)
        second_s = timed(started)
    assert first.reminders >= n and second.reminders == 0, (first, second)
    started = time.perf_counter()
    async with runtime.engine.connect() as conn:
        await conn.execute(select(Application.__table__, Call.__table__).join(
            Call.__table__, Call.__table__.c.id == Application.__table__.c.call_id))
    bare_s = timed(started)
    print(f"grants: reminder job over {n:,} applications saying {first.reminders:,} reminders {first_s:6.2f} s "
          f"({first.reminders / first_s:5.0f} reminders/s, each with its event in the outbox)")
    print(f"grants: reminder job with all said (the hourly run) {second_s * 1000:7.0f} ms; bare read of the same "
          f"rows {bare_s * 1000:5.0f} ms; ratio {bare_s / second_s:.2f}")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--applications", type=int, default=10_000)
    args = parser.parse_args()
    spec = spec_of("grants")
    database = await create_database("oia_bench_grants")
    url = asyncpg_url(database)
    try:
        await upgrade("grants", spec.migrations_dir, spec.metadata, url)
        runtime = ServiceRuntime(spec, GrantsSettings(database_url=url, bus="memory", environment="test",
                                                      secret_key="bench-secret-not-placeholder"), bus=MemoryBus())
        await runtime.prepare()
        try:
            await bench_import(runtime, args.calls)
            await bench_reminders(runtime, args.applications)
        finally:
            await runtime.stop()
    finally:
        await drop_database(database)


if __name__ == "__main__":
    asyncio.run(main())
