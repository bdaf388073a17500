"""Logs carry the event and correlation ids; metrics count what happened."""

from __future__ import annotations

import io
import json
import logging
import shutil
import time

import httpx
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from structlog.contextvars import clear_contextvars

from oia.embedded import EmbeddedHost, prepare
from shared.app import create_service_app
from shared.envelope import Envelope
from shared.logging import configure_logging, json_formatter
from shared.tables import outbox
from shared.testing import eventually
from tests.component.test_notifications_api import add, book_overlap, recipient, settled
from tests.support import probe

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


# -- the metric contract (issue 16) ------------------------------------------------------------------

async def scrape(client, service: str) -> dict[tuple[str, frozenset], float]:
    """The service's /metrics, parsed: (sample name, labels) -> value."""
    response = await client.get(f"/{service}/metrics")
    assert response.status_code == 200, response.text
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


def value(samples: dict, name: str, **labels) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def names(samples: dict) -> set[str]:
    return {name for name, _ in samples}


async def test_an_overlaps_deliveries_are_measured_on_notifications_metrics_and_each_service_shows_its_own(
        client, host, tmp_path):
    await add(client, host, recipient("ECON"))
    await add(client, host, recipient("MAYOR", language="de"))
    before = await scrape(client, "notifications")
    email = {"service": "notifications", "channel": "email"}

    def grew(samples: dict, name: str, **labels) -> float:
        return (value(samples, name, **labels) or 0.0) - (value(before, name, **labels) or 0.0)

    await book_overlap(client, host)
    await eventually(lambda: len(list((tmp_path / "mail").glob("*.eml"))) == 2, message="two .eml files")
    await settled(host)
    after: dict = {}

    async def measured() -> bool:
        after.update(await scrape(client, "notifications"))
        return grew(after, "oia_alert_latency_seconds_count", **email) == 2

    await eventually(measured, message="two alert latencies observed")
    assert grew(after, "oia_delivery_attempts_total", **email, outcome="sent") == 2
    assert grew(after, "oia_delivery_send_duration_seconds_count", **email) == 2
    # Both alerts left well within the test's time: the latency is the event's time to sent.
    assert 0 < grew(after, "oia_alert_latency_seconds_sum", **email) < 60
    assert grew(after, "oia_alert_latency_seconds_bucket", **email, le="300.0") == 2
    # The gauges come from this host's own tables and queues, whatever earlier tests left.
    assert value(after, "oia_deliveries", **email, status="sent") == 2
    assert value(after, "oia_deliveries", **email, status="dead") == 0
    assert value(after, "oia_consumer_lag", service="notifications") == 0
    assert value(after, "oia_dead_letters", service="notifications") == 0
    assert value(after, "oia_consumer_paused", service="notifications") == 0  # its database answered throughout
    assert value(after, "oia_outbox_backlog", service="notifications") == 0
    assert value(after, "oia_outbox_oldest_pending_age_seconds", service="notifications") == 0
    assert grew(after, "oia_events_consumed_total", service="notifications", type="travel.overlap.detected.v1",
                outcome="handled") == 1
    assert grew(after, "oia_event_handler_duration_seconds_count", service="notifications",
                type="travel.overlap.detected.v1") == 1

    travel = await scrape(client, "travel")
    assert (value(travel, "oia_http_requests_total", service="travel", method="POST", route="/trips",
                  status="201") or 0) >= 2
    assert (value(travel, "oia_http_request_duration_seconds_count", service="travel", method="POST",
                  route="/trips") or 0) >= 2
    assert (value(travel, "oia_events_published_total", service="travel", type="travel.overlap.detected.v1")
            or 0) >= 1
    assert value(travel, "oia_outbox_backlog", service="travel") == 0
    assert value(travel, "oia_outbox_oldest_pending_age_seconds", service="travel") == 0
    # Travel consumes only the requests for a person's data: its queue is empty, nothing dead.
    assert value(travel, "oia_consumer_lag", service="travel") == 0
    assert value(travel, "oia_dead_letters", service="travel") == 0

    for service, samples in [("notifications", after), ("travel", travel)] + [
            (s, await scrape(client, s)) for s in ("partners", "grants")]:
        others = {(name, dict(labels).get("service")) for name, labels in samples
                  if dict(labels).get("service", service) != service}
        assert others == set(), f"/{service}/metrics shows other services' series"
        assert any(name.startswith(("process_", "python_")) for name in names(samples))  # the process's stay


async def test_scheduled_jobs_are_measured_on_their_services_metrics(tmp_path, migrated):
    template, _ = migrated
    shutil.copytree(template, tmp_path, dirs_exist_ok=True)
    started = time.time()
    host = EmbeddedHost(tmp_path)
    await host.start()  # each service's jobs run once at start, then every interval
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=host), base_url="http://oia") as client:
            for service, job in [("partners", "partnerships"), ("grants", "reminders")]:
                labels = {"service": service, "job_name": job}
                samples: dict = {}

                async def ran(service: str = service, labels: dict = labels, samples: dict = samples) -> bool:
                    samples.update(await scrape(client, service))
                    return (value(samples, "oia_job_last_run_timestamp_seconds", **labels) or 0) >= started

                await eventually(ran, message=f"{service}'s {job} run")
                assert (value(samples, "oia_job_interval_seconds", **labels)
                        == host.runtimes[service].settings.jobs_interval_seconds)
                assert (value(samples, "oia_job_last_success_timestamp_seconds", **labels) or 0) >= started
                assert (value(samples, "oia_job_runs_total", **labels, outcome="ok") or 0) >= 1
                assert (value(samples, "oia_job_duration_seconds_count", **labels) or 0) >= 1
                assert value(samples, "oia_job_alerts_total", **labels) is not None
    finally:
        await host.stop()


async def test_the_dead_letter_gauge_is_kept_current_without_anyone_opening_the_admin_page(transport):
    """A poison event in beta's queue shows on oia_dead_letters by the runtime's own refresh: no scrape,
    no /admin/dead-letters. Then the scrape shows it too, labelled by the service, not its queue."""
    beta = await transport.runtime(probe.beta_spec, gauges_seconds=0.1)
    await probe.create_schema(beta)
    dead_before = metric("oia_events_consumed_total", service="beta", type=probe.EVENT, outcome="dead_lettered")
    await beta.start()
    await eventually(lambda: REGISTRY.get_sample_value("oia_dead_letters", {"service": "beta"}) == 0,
                     message="the gauge set at start")

    poison = Envelope(type=probe.EVENT, source="/tests", data={"name": "no other fields"})
    await beta.bus.publish([poison])

    await eventually(lambda: metric("oia_dead_letters", service="beta") == 1, message="the gauge to show the letter")
    assert metric("oia_events_consumed_total", service="beta", type=probe.EVENT,
                  outcome="dead_lettered") == dead_before + 1
    assert metric("oia_events_consumed_total", service=beta.queue, type=probe.EVENT, outcome="dead_lettered") == 0
    app = create_service_app(beta, manage_lifecycle=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://oia") as client:
        samples = await scrape(client, "beta")
    assert value(samples, "oia_dead_letters", service="beta") == 1
    assert value(samples, "oia_consumer_lag", service="beta") == 0


async def test_a_gauge_that_cannot_be_read_is_logged_and_the_others_are_still_set(transport, monkeypatch):
    beta = await transport.runtime(probe.beta_spec)
    await probe.create_schema(beta)
    await beta.start_consuming()
    await beta.bus.publish([Envelope(type=probe.EVENT, source="/tests", data={"name": "poison"})])
    await eventually(lambda: _is(beta.bus.dead_letter_count(beta.queue), 1), message="the dead letter")
    async with beta.uow() as uow:  # one row waits in the outbox: the relay is not running
        uow.publish(probe.thing("waiting"), subject="things/waiting")
        await uow.commit()

    async def broker_gone(queue: str) -> int:
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(beta.bus, "queue_depth", broker_gone)
    configure_logging("INFO")
    stream = io.StringIO()
    capture = logging.StreamHandler(stream)
    capture.setFormatter(json_formatter())
    logging.getLogger().addHandler(capture)
    try:
        await beta.refresh_gauges()
    finally:
        logging.getLogger().removeHandler(capture)
    assert metric("oia_outbox_backlog", service="beta") == 1
    assert metric("oia_outbox_oldest_pending_age_seconds", service="beta") >= 0
    assert metric("oia_dead_letters", service="beta") == 1
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    [failed] = [line for line in lines if line["event"] == "could not refresh a gauge"]
    assert failed["gauge"] == "consumer_lag" and failed["service"] == "beta"
    assert "broker unreachable" in failed["exception"]


async def _is(awaitable, expected) -> bool:
    return await awaitable == expected
