"""Every Prometheus metric of the platform, declared in one place: what dashboards and alert rules may
rely on (issue 16's contract). All carry a `service` label, so the embedded process can serve four
services: each service's `/metrics` shows only its own series (`ServiceRegistry`), plus the process's
collectors (process_*, python_*)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

# -- HTTP -------------------------------------------------------------------------------------------
HTTP_REQUESTS = Counter(
    "oia_http_requests_total", "HTTP requests answered (count)", ["service", "method", "route", "status"])
HTTP_LATENCY = Histogram(
    "oia_http_request_duration_seconds", "HTTP request latency (seconds)", ["service", "method", "route"])

# -- events -----------------------------------------------------------------------------------------
EVENTS_PUBLISHED = Counter(
    "oia_events_published_total", "Events confirmed by the broker (count)", ["service", "type"])
# outcome: handled, duplicate, retried, dead_lettered
EVENTS_CONSUMED = Counter(
    "oia_events_consumed_total",
    "Events taken off the service's queue, by outcome: handled, duplicate, retried, dead_lettered (count)",
    ["service", "type", "outcome"])
HANDLER_LATENCY = Histogram(
    "oia_event_handler_duration_seconds", "Time to handle and commit one delivery of events (seconds)",
    ["service", "type"])

# -- kept current by the runtime (shared/runtime.py: every OIA_GAUGES_SECONDS and on every scrape) ----
OUTBOX_BACKLOG = Gauge("oia_outbox_backlog", "Outbox rows not yet published (rows)", ["service"])
OUTBOX_OLDEST_AGE = Gauge(
    "oia_outbox_oldest_pending_age_seconds", "Age of the oldest unpublished outbox row, 0 when none (seconds)",
    ["service"])
CONSUMER_LAG = Gauge("oia_consumer_lag", "Messages waiting in the service's queue (messages)", ["service"])
DEAD_LETTERS = Gauge("oia_dead_letters", "Messages in the service's dead-letter queue (messages)", ["service"])
# Set by the consumer itself (shared/bus/base.py), not by the refresh: 1 while it waits out a database outage.
CONSUMER_PAUSED = Gauge("oia_consumer_paused", "1 while consumption waits out a database outage", ["service"])

# -- notifications' deliveries ----------------------------------------------------------------------
DELIVERIES = Gauge(
    "oia_deliveries", "Delivery rows by channel and status: pending, digest, sending, sent, skipped, dead (rows)",
    ["service", "channel", "status"])
# outcome: sent, retried, dead
DELIVERY_ATTEMPTS = Counter(
    "oia_delivery_attempts_total", "Send attempts to a receiver, by outcome: sent, retried, dead (count)",
    ["service", "channel", "outcome"])
DELIVERY_SEND_DURATION = Histogram(
    "oia_delivery_send_duration_seconds", "One send to the receiver (seconds)", ["service", "channel"],
    buckets=(.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30))
# Buckets around the promise (an alert within a second), wide enough to see a backlog of minutes.
ALERT_LATENCY = Histogram(
    "oia_alert_latency_seconds",
    "The triggering event's time to its delivery sent, for deliveries sent as soon as they may be "
    "(not digests, not held by quiet hours) (seconds)",
    ["service", "channel"], buckets=(.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300))

# A person's id taken by another recipient, say: the event still reaches the rightful recipients.
ROUTING_CONFLICTS = Counter(
    "oia_notifications_routing_conflicts_total", "Routing conflicts resolved without failing the event (count)",
    ["service", "reason"])

# -- scheduled jobs (shared/scheduled.py) ----------------------------------------------------------
# outcome: ok, failed
JOB_RUNS = Counter("oia_job_runs_total", "Scheduled job runs, by outcome: ok, failed (count)",
                   ["service", "job_name", "outcome"])
JOB_DURATION = Histogram("oia_job_duration_seconds", "One run of a scheduled job (seconds)", ["service", "job_name"],
                         buckets=(.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300))
JOB_LAST_RUN = Gauge("oia_job_last_run_timestamp_seconds",
                     "When the job last finished a run, ok or failed (unix time, seconds)", ["service", "job_name"])
JOB_LAST_SUCCESS = Gauge("oia_job_last_success_timestamp_seconds",
                         "When the job last ran without failing; until its first success, when it started, "
                         "so that a job failing from the start is late too (unix time, seconds)",
                         ["service", "job_name"])
JOB_INTERVAL = Gauge("oia_job_interval_seconds", "The job's configured interval (seconds)", ["service", "job_name"])
JOB_ALERTS = Counter("oia_job_alerts_total", "Alerts (events) the job's runs said (count)", ["service", "job_name"])
RETENTION_REMOVED = Counter("oia_retention_removed_total",
                            "Rows deleted or anonymised at the end of their retention period (count)",
                            ["service", "data"])


class ServiceRegistry(Collector):
    """One service's view of the process's registry: samples labelled with another service are left
    out, samples with no `service` label (process_*, python_*) stay. What `/<svc>/metrics` serves."""

    def __init__(self, service: str, source: Collector = REGISTRY) -> None:
        self.service = service
        self.source = source

    def collect(self) -> Iterable[Metric]:
        for family in self.source.collect():
            samples = [s for s in family.samples if s.labels.get("service", self.service) == self.service]
            if len(samples) == len(family.samples):
                yield family
                continue
            # A copy: the source's families may be its own objects (a custom collector's).
            own = Metric(family.name, family.documentation, family.type, family.unit)
            own.samples = samples
            yield own
