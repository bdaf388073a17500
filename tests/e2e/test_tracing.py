"""One booking is one trace, across the four services as separate processes (PostgreSQL, RabbitMQ).

The ECON department books a trip to Köln (a partner city) that overlaps the MAYOR's, in a request
carrying a known `traceparent`. Its trace id then appears in the log lines of travel (the request,
the events it published), of partners (the visit it planned upon the booking, published), of
notifications (each delivery of the overlap alert and of the visit, sent) and of grants: grants
reacts to no travel event, so the flow's grants step is a request in the same trace (the city
profile a coordinator drafts for the visit), which asks partners over HTTP and passes the trace on.
Every log line naming an event names its correlation id and trace id. Spans leave the processes by
OTLP/HTTP to a receiver on loopback, the same trace id from every service.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from shared.testing import eventually
from tests.support.deployment import DESK_OFFICER, RECIPIENTS, SERVICES, bearer, deployment, set_up_desks
from tests.support.standins import SmtpStandIn, WebhookStandIn

pytestmark = pytest.mark.e2e

TRACE_ID = "5e1f0a2b3c4d5e6f708192a3b4c5d6e7"
TRACEPARENT = f"00-{TRACE_ID}-1a2b3c4d5e6f7081-01"
CORRELATION_ID = "booking-econ-koeln"


def log_lines(path: Path) -> list[dict]:
    """The process's JSON log lines (anything else it printed, skipped)."""
    lines = []
    for text in path.read_text(errors="replace").splitlines():
        try:
            line = json.loads(text)
        except ValueError:
            continue
        if isinstance(line, dict):
            lines.append(line)
    return lines


def exported_spans(otlp: WebhookStandIn) -> list[tuple[str, str, dict]]:
    """(service.name, trace id, span attributes) of every span the receiver was sent."""
    spans = []
    for post in otlp.accepted("v1/traces"):
        request = ExportTraceServiceRequest()
        request.ParseFromString(post.body)
        for resource_spans in request.resource_spans:
            service = next(a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name")
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans.append((service, span.trace_id.hex(), {a.key: a.value for a in span.attributes}))
    return spans


async def test_one_booking_is_one_trace_across_the_four_services_logs_and_spans(start):
    async with WebhookStandIn() as slack, WebhookStandIn() as otlp:
        with SmtpStandIn() as smtp:
            env = {"OIA_LOG_LEVEL": "INFO", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port),
                   "SMTP_STARTTLS": "false",
                   # Spans to the receiver on loopback, in batches sent every 100 ms.
                   "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp.port}", "OTEL_BSP_SCHEDULE_DELAY": "100"}
            async with deployment(start, env) as d, d.client("travel") as travel, \
                    d.client("notifications") as notifications, \
                    d.client("grants") as grants:
                processes = d.processes
                await set_up_desks(d, slack.url)

                # The MAYOR's trip first, in a trace of its own; then ECON's, which overlaps it, in ours.
                first_day = date.today() + timedelta(days=120)
                legs = {"start_date": first_day.isoformat(), "end_date": (first_day + timedelta(days=2)).isoformat()}
                response = await travel.post("/trips", headers=bearer("MAYOR"), json={
                    "title": "Partner city visit", "travellers": [{"name": "Mayor", "email": "mayor@x.example"}],
                    "legs": [{"city": "Düsseldorf", "country": "DE", **legs}]})
                assert response.status_code == 201, response.text
                response = await travel.post("/trips", headers={
                    **bearer("ECON"), "traceparent": TRACEPARENT, "X-Correlation-ID": CORRELATION_ID}, json={
                    "title": "Trade fair", "travellers": [{"name": "ECON lead", "email": "econ@x.example"}],
                    "legs": [{"city": "Köln", "country": "DE", **legs}]})
                assert response.status_code == 201, response.text

                # The coordinators draft the city profile for the visit, in the same trace: grants asks partners.
                profile = await grants.get("/boilerplate", params={"lang": "de"},
                                           headers={**bearer("OIA"), "traceparent": TRACEPARENT})
                assert profile.status_code == 200 and "Köln" in profile.text, profile.text

                def arrived() -> bool:
                    return all(len(smtp.to(a)) == 1 and len(slack.accepted(f"slack/{w}")) == 1
                               for w, a in RECIPIENTS.items()) and len(smtp.to(DESK_OFFICER)) == 1
                await eventually(arrived, timeout=20, message="the overlap alert to each, the visit to the desk officer")

                async def sent() -> bool:
                    found = (await notifications.get("/deliveries", headers=bearer("admin"))).json()
                    return len(found) == 7 and {d["status"] for d in found} == {"sent"}
                await eventually(sent, timeout=20, message="every delivery's outcome written")

                # Nothing of our trace went to the third party's webhook.
                assert not any("traceparent" in post.headers for w in RECIPIENTS for post in slack.accepted(f"slack/{w}"))

                def ours(service: str) -> list[dict]:
                    return [line for line in log_lines(processes[service].log) if line.get("trace_id") == TRACE_ID]

                def published(service: str, event_type: str) -> list[dict]:
                    return [line for line in ours(service)
                            if line["event"] == "event published" and line["event_type"] == event_type]

                await eventually(lambda: all(ours(s) for s in SERVICES) and len(
                    [line for line in ours("notifications") if line["event"] == "delivery attempt"]) == 7,
                    timeout=20, message="the trace in every service's log")

                # travel: the request, and each event it published, booked and overlap, with the caller's correlation id.
                assert any(line.get("logger") == "uvicorn.access" and "POST /travel/trips" in line["event"]
                           for line in ours("travel"))
                [trip_booked] = published("travel", "travel.trip.booked.v1")
                [overlap] = published("travel", "travel.overlap.detected.v1")
                assert trip_booked["correlation_id"] == overlap["correlation_id"] == CORRELATION_ID
                # partners: the visit it planned upon the booking, in the booking's trace.
                [visit] = published("partners", "partners.visit.planned.v1")
                assert visit["correlation_id"] == CORRELATION_ID
                # grants: the profile request, and partners answering grants' call within the trace.
                assert any(line.get("logger") == "uvicorn.access" and "GET /grants/boilerplate" in line["event"]
                           for line in ours("grants"))
                assert any(line.get("logger") == "uvicorn.access" and "GET /partners/partnerships" in line["event"]
                           for line in ours("partners"))
                # notifications: every delivery of the overlap alert (3 emails, 3 Slack messages) and the visit's email.
                attempts = [line for line in ours("notifications") if line["event"] == "delivery attempt"]
                assert {(a["event_id"], a["channel"], a["outcome"]) for a in attempts} >= {
                    (overlap["event_id"], "slack", "sent"), (overlap["event_id"], "email", "sent"),
                    (visit["event_id"], "email", "sent")}
                assert {a["correlation_id"] for a in attempts} == {CORRELATION_ID}
                assert all(a["delivery_id"] for a in attempts)

                # Every line naming an event, in every service, names its correlation id and trace id.
                for service in SERVICES:
                    for line in log_lines(processes[service].log):
                        if "event_id" in line:
                            assert line.get("correlation_id") and line.get("trace_id"), (service, line)

                # The spans reached the OTLP receiver: one trace id, each service under its own name.
                def traced_services() -> set[str]:
                    return {service for service, trace_id, _ in exported_spans(otlp) if trace_id == TRACE_ID}
                await eventually(lambda: traced_services() == set(SERVICES), timeout=20,
                                 message="every service's spans of the trace exported")
                routes = {(attrs["oia.service"].string_value, attrs["http.route"].string_value)
                          for _, trace_id, attrs in exported_spans(otlp) if trace_id == TRACE_ID and {"oia.service", "http.route"} <= attrs.keys()}
                assert {("travel", "/travel/trips"), ("grants", "/grants/boilerplate"),
                        ("partners", "/partners/partnerships")} <= routes, routes
