"""Logs carry the event and correlation ids; metrics count what happened."""

from __future__ import annotations

import io
import json
import logging

import httpx
from prometheus_client import REGISTRY
from sqlalchemy import select
from structlog.contextvars import clear_contextvars

from oia.embedded import EmbeddedHost, prepare
from shared.logging import configure_logging, json_formatter
from shared.tables import outbox
from shared.testing import eventually

TRIP = {"title": "Network meeting", "legs": [{"city": "Brussels", "country": "BE",
                                              "start_date": "2027-02-03", "end_date": "2027-02-04"}]}


def metric(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_requests_correlation_id_travels_with_its_event_into_the_consumers_logs(tmp_path, monkeypatch):
    configure_logging("INFO")
    stream = io.StringIO()
    capture = logging.StreamHandler(stream)
    capture.setFormatter(json_formatter())
    logging.getLogger().addHandler(capture)
    keys = {(k["role"], k["department"]): k["key"] for k in await prepare(tmp_path, with_demo_data=False)}
    host = EmbeddedHost(tmp_path)
    await host.start()
    handled_before = metric("oia_events_consumed_total", service="notifications",
                            type="travel.trip.booked.v1", outcome="handled")
    published_before = metric("oia_events_published_total", service="travel", type="travel.trip.booked.v1")
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=host), base_url="http://oia") as client:
            booked = await client.post("/travel/trips", json=TRIP, headers={
                "Authorization": f"Bearer {keys[('department', 'MAYOR')]}",
                "X-Correlation-ID": "council-report-42"})
            assert booked.status_code == 201
            assert booked.headers["X-Correlation-ID"] == "council-report-42"

            await eventually(lambda: metric("oia_events_consumed_total", service="notifications",
                                            type="travel.trip.booked.v1", outcome="handled") == handled_before + 1,
                             message="the event handled")
        async with host.runtimes["travel"].engine.connect() as conn:
            [row] = (await conn.execute(select(outbox))).all()
        assert row.correlation_id == "council-report-42"
        assert metric("oia_events_published_total", service="travel", type="travel.trip.booked.v1") == published_before + 1

        # A handler's log line carries the event's ids (the duplicate notice is one such line).
        from shared.envelope import Envelope
        envelope = Envelope(type=row.type, source=row.source, data=json.loads(row.payload), id=row.event_id,
                            correlation_id=row.correlation_id)
        clear_contextvars()  # nothing left over from the request: the dispatcher must bind the ids
        assert await host.runtimes["notifications"].dispatcher([envelope]) == [False]
    finally:
        await host.stop()
        logging.getLogger().removeHandler(capture)
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    [duplicate] = [line for line in lines if line["event"] == "duplicate event ignored"]
    assert duplicate["event_id"] == row.event_id
    assert duplicate["correlation_id"] == "council-report-42"
    assert duplicate["event_type"] == "travel.trip.booked.v1"
