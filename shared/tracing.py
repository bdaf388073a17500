"""Tracing (OpenTelemetry): one booking is one trace, from its HTTP request through the outbox, the
broker and each consumer to the message a recipient gets.

The context travels in the CloudEvent itself (the distributed-tracing extension: `traceparent`,
`tracestate`), stored with the outbox row and read back by the consumer, so it survives a crash
between commit and publish and needs no AMQP headers. A tracer provider is always there, so trace
ids exist and reach the log lines (shared/logging.py) even when nothing is exported; spans leave
the process only when an OTLP endpoint is configured (OTEL_EXPORTER_OTLP_ENDPOINT).

One provider per process: `oia serve` names the resource after its service; the embedded host
runs four services in one process under the name `diplomacity`. Every span we make carries the
service it belongs to as `oia.service`, whichever the shape.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import httpx
from fastapi.telemetry import TelemetryConfig
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

SERVICE_ATTRIBUTE = "oia.service"
# FastAPI's own instrumentation makes each request's SERVER span (continuing the caller's
# `traceparent`); its metrics are Prometheus's job here (shared/metrics.py), its log records our
# JSON logs', and a span each for dependencies, endpoint and serialisation would cost every request.
FASTAPI_TELEMETRY: TelemetryConfig = {"metrics": False, "logs": False, "operation_spans": False}
EMBEDDED_SERVICE_NAME = "diplomacity"

_W3C = TraceContextTextMapPropagator()
_tracer = trace.get_tracer("diplomacity")
_provider: TracerProvider | None = None


def configure_tracing(service: str, otlp_endpoint: str = "") -> TracerProvider:
    """Install the process's tracer provider (the first call wins: one process, one provider).

    `otlp_endpoint` is the OTLP/HTTP base URL (OTEL_EXPORTER_OTLP_ENDPOINT, `/v1/traces` is added);
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, the exporter's own variable, also turns export on.
    """
    global _provider
    if _provider is not None:
        return _provider
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if otlp_endpoint or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        # Imported only when exporting: it brings protobuf and requests along.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        # The signal's own variable wins, as the OTLP exporter specification says.
        exporter = (OTLPSpanExporter() if os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                    else OTLPSpanExporter(endpoint=f"{otlp_endpoint.rstrip('/')}/v1/traces"))
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _provider = provider
    return provider


def shutdown_tracing() -> None:
    """Send what is still batched (on a clean stop)."""
    if _provider is not None:
        _provider.force_flush()


def current_traceparent() -> tuple[str | None, str | None]:
    """The current span's W3C `traceparent` and `tracestate` (None, None outside any span)."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    return carrier.get("traceparent"), carrier.get("tracestate") or None


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id in a `traceparent` (`00-<trace id>-<span id>-<flags>`)."""
    parts = (traceparent or "").split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None


def context_of(traceparent: str | None, tracestate: str | None = None) -> Context:
    """The context a `traceparent` names; an empty one (a new trace) when there is none or it is malformed."""
    if not traceparent:
        return Context()
    carrier = {"traceparent": traceparent}
    if tracestate:
        carrier["tracestate"] = tracestate
    return _W3C.extract(carrier, context=Context())


@contextmanager
def span(name: str, service: str, *, kind: SpanKind = SpanKind.INTERNAL,
         parent: Context | None = None, attributes: Mapping[str, str | int] | None = None) -> Iterator[Span]:
    """A span made current for the block: a child of `parent` when given (a consumer continuing
    the trace an event carries, a request continuing its caller's), else of the current span."""
    with _tracer.start_as_current_span(name, context=parent, kind=kind,
                                       attributes={SERVICE_ATTRIBUTE: service, **(attributes or {})}) as current:
        yield current


def start_span(name: str, service: str, *, kind: SpanKind = SpanKind.INTERNAL, parent: Context | None = None,
               attributes: Mapping[str, str | int] | None = None) -> Span:
    """A span not made current (the relay's, one per event of a batch published together); end it yourself."""
    return _tracer.start_span(name, context=parent, kind=kind,
                              attributes={SERVICE_ATTRIBUTE: service, **(attributes or {})})


def traceparent_of(current: Span) -> tuple[str | None, str | None]:
    """`traceparent`/`tracestate` naming `current` as the parent."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier, context=trace.set_span_in_context(current, Context()))
    return carrier.get("traceparent"), carrier.get("tracestate") or None


def peer_transport(transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncBaseTransport:
    """A transport for calls to our own services: each call a CLIENT span whose `traceparent` goes
    with the request, so the service called continues the caller's trace. Only for our services:
    third parties' webhooks (shared/outbound.py) get no trace headers, which would be noise to them."""
    from opentelemetry.instrumentation.httpx import AsyncOpenTelemetryTransport

    return AsyncOpenTelemetryTransport(transport or httpx.AsyncHTTPTransport())


def ids() -> dict[str, str]:
    """The current trace and span ids (W3C hex), for a log line; empty outside any span."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")}
