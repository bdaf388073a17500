"""Prometheus metrics, labelled by service so the embedded process can serve all four."""

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "oia_http_requests_total", "HTTP requests", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "oia_http_request_duration_seconds", "HTTP request latency", ["service", "method", "route"]
)
EVENTS_PUBLISHED = Counter(
    "oia_events_published_total", "Events confirmed by the broker", ["service", "type"]
)
# outcome: handled, duplicate, retried, dead_lettered
EVENTS_CONSUMED = Counter(
    "oia_events_consumed_total", "Events taken off a service's queue", ["service", "type", "outcome"]
)
HANDLER_LATENCY = Histogram(
    "oia_event_handler_duration_seconds", "Time to handle and commit one event", ["service", "type"]
)
OUTBOX_BACKLOG = Gauge("oia_outbox_backlog", "Outbox rows not yet published", ["service"])
CONSUMER_LAG = Gauge("oia_consumer_lag", "Messages waiting in the service's queue", ["service"])
DEAD_LETTERS = Gauge("oia_dead_letters", "Messages in the service's dead-letter queue", ["service"])
