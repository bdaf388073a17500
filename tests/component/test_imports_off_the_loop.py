"""A large import does not hold the event loop: a cheap request made while the import is working
through its rows is answered before the import has got through them, and the import's results
are those of an import with nothing else going on."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import func, select

from services.grants.models import Call
from services.grants.service import calls as grants_calls
from services.partners.models import Partnership
from services.partners.service import imports
from shared.testing import eventually
from tests.support.embedded import auth
from tests.support.registers import register

COORDINATOR = ("coordinator", "OIA")
DEADLINE = 120.0  # seconds; generous, only so a hung test fails


class Counting:
    """Wraps a function the import calls once per row, counting the calls (from any thread)."""

    def __init__(self, function) -> None:
        self.function, self.calls = function, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.function(*args, **kwargs)


async def until_started(counting: Counting, task: asyncio.Task) -> None:
    def started() -> bool:
        assert not task.done(), task.result().text if not task.exception() else task.exception()
        return counting.calls > 0
    await eventually(started, timeout=DEADLINE, interval=0.001, message="the import to start on its rows")


async def count(host, service: str, model) -> int:
    async with host.runtimes[service].engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(model))).scalar_one()


async def test_a_request_during_a_large_register_import_is_answered_before_the_rows_are_through(
        client, host, monkeypatch):
    body = register(1_500_000)
    total = body.count(b"\n") - 1
    checked = Counting(imports._check)
    monkeypatch.setattr(imports, "_check", checked)
    importing = asyncio.create_task(client.post("/partners/partnerships/import", content=body,
                                                headers={**auth(host, *COORDINATOR), "content-type": "text/csv"}))
    await until_started(checked, importing)

    health = await client.get("/travel/health")  # another service in the same process
    rows_checked_by_then = checked.calls

    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert not importing.done()
    assert rows_checked_by_then < total
    response = await asyncio.wait_for(importing, DEADLINE)
    assert response.status_code == 200, response.text
    report = response.json()
    assert checked.calls == report["rows"] == total
    assert report["created"] + report["duplicates"] + report["rejected"] == total
    assert report["created"] > total // 2 and report["duplicates"] > 0 and report["rejected"] > 0
    statuses = [r["status"] for r in report["report"]]
    assert statuses.count("created") == report["created"] and "valid" not in statuses
    assert [r["line"] for r in report["report"]] == list(range(2, total + 2))
    assert await count(host, "partners", Partnership) == report["created"]


def portal_answer(n: int) -> bytes:
    return json.dumps({"results": [{"metadata": {
        "identifier": [f"CERV-2027-LOOP-{i:05d}"], "title": [f"Citizens and town twinning {i}"],
        "deadlineDate": ["2027-09-18T00:00:00.000+0000"], "keywords": ['["citizens", "climate"]']}}
        for i in range(n)]}).encode()


async def test_a_request_during_a_large_portal_import_is_answered_before_the_calls_are_made(
        client, host, monkeypatch):
    total = 4000
    made = Counting(grants_calls._new_call)
    monkeypatch.setattr(grants_calls, "_new_call", made)
    importing = asyncio.create_task(client.post(
        "/grants/calls/import", content=portal_answer(total),
        headers={**auth(host, *COORDINATOR), "content-type": "application/json"}))
    await until_started(made, importing)

    health = await client.get("/partners/health")
    calls_made_by_then = made.calls

    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert not importing.done()
    assert calls_made_by_then < total
    response = await asyncio.wait_for(importing, DEADLINE)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["rows"], report["created"], report["skipped"]) == (total, total, 0)
    assert [r["line"] for r in report["report"]] == list(range(1, total + 1))
    assert await count(host, "grants", Call) == total
