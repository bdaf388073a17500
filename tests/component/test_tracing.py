"""A booking's trace, in the embedded host: the request continues the caller's `traceparent`, its
events carry the trace through the outbox to each consumer, and the log lines say it."""

from __future__ import annotations

import io
import json
import logging

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import select

from services.notifications.models import Notice
from shared.db import table_of
from shared.logging import configure_logging, get_logger, json_formatter
from shared.tables import outbox
from shared.testing import eventually
from shared.tracing import configure_tracing, context_of, current_traceparent, span, trace_id_of

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"


@pytest.fixture
def spans():
    """The spans this process ends, from now on."""
    provider = configure_tracing("tests")
    assert isinstance(trace.get_tracer_provider(), TracerProvider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()  # the processor stays on the process's provider, keeping nothing


@pytest.fixture
def log_stream():
    configure_logging("INFO")
    stream = io.StringIO()
    capture = logging.StreamHandler(stream)
    capture.setFormatter(json_formatter())
    logging.getLogger().addHandler(capture)
    yield stream
    logging.getLogger().removeHandler(capture)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]


def test_log_lines_carry_the_current_trace_and_span_ids(spans, log_stream):
    log = get_logger("tests.tracing")
    log.info("outside")
    with span("outer", "travel", parent=context_of(TRACEPARENT)) as outer:
        log.info("inside")
        logging.getLogger("some.library").warning("a library's line")
    outside, inside, library = lines(log_stream)[-3:]
    assert "trace_id" not in outside
    span_id = format(outer.get_span_context().span_id, "016x")
    assert (inside["trace_id"], inside["span_id"]) == (TRACE_ID, span_id)
    assert (library["trace_id"], library["span_id"]) == (TRACE_ID, span_id)
    [ended] = [s for s in spans.get_finished_spans() if s.name == "outer"]
    assert ended.attributes["oia.service"] == "travel"
    assert format(ended.parent.span_id, "016x") == "b7ad6b7169203331"


def test_a_missing_or_malformed_traceparent_starts_a_new_trace(spans):
    for given in (None, "", "00-nothex-b7ad6b7169203331-01", f"00-{'0' * 32}-b7ad6b7169203331-01"):
        with span("fresh", "travel", parent=context_of(given)):
            traceparent, _ = current_traceparent()
        assert trace_id_of(traceparent) not in (None, TRACE_ID, "0" * 32)
    assert current_traceparent() == (None, None)


async def test_a_booking_is_one_trace_from_request_to_delivery_row(tmp_path, host, spans, log_stream):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=host), base_url="http://oia") as client:
        booked = await client.post("/travel/trips", headers={
            "Authorization": f"Bearer {host.keys[('department', 'MAYOR')]}", "traceparent": TRACEPARENT,
            "tracestate": "city=ffm", "X-Correlation-ID": "council-report-42"}, json={
            "title": "Network meeting", "legs": [{"city": "Brussels", "country": "BE",
                                                  "start_date": "2027-02-03", "end_date": "2027-02-04"}]})
        assert booked.status_code == 201, booked.text

    async def noticed():
        async with host.runtimes["notifications"].engine.connect() as conn:
            notices = table_of(Notice)
            return (await conn.execute(select(notices).where(notices.c.event_type == "travel.trip.booked.v1"))).first()
    await eventually(noticed, message="notifications routed the booking")
    notice = await noticed()
    async with host.runtimes["travel"].engine.connect() as conn:
        [row] = (await conn.execute(select(outbox))).all()

    # The outbox row holds the request's span, in the caller's trace with its tracestate.
    assert trace_id_of(row.traceparent) == TRACE_ID and row.tracestate == "city=ffm"
    # The notice holds the consumer's span (its sends' parent), and the event's correlation id.
    assert trace_id_of(notice.traceparent) == TRACE_ID and notice.correlation_id == "council-report-42"

    ours = [s for s in spans.get_finished_spans() if format(s.context.trace_id, "032x") == TRACE_ID]
    [server] = [s for s in ours if s.kind == SpanKind.SERVER]
    [producer] = [s for s in ours if s.kind == SpanKind.PRODUCER]
    consumers = {s.attributes["oia.service"]: s for s in ours if s.kind == SpanKind.CONSUMER}
    assert server.attributes["http.route"] == "/travel/trips" and server.attributes["oia.service"] == "travel"
    assert format(server.parent.span_id, "016x") == "b7ad6b7169203331"  # the caller's span
    assert producer.parent.span_id == server.context.span_id  # stored with the row, published as its child
    assert consumers["notifications"].parent.span_id == producer.context.span_id
    assert format(consumers["notifications"].context.span_id, "016x") == notice.traceparent.split("-")[2]

    [published] = [line for line in lines(log_stream) if line["event"] == "event published"]
    assert (published["event_id"], published["correlation_id"], published["trace_id"]) == (
        row.event_id, "council-report-42", TRACE_ID)
    assert published["span_id"] == format(producer.context.span_id, "016x")

