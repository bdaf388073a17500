"""Structured JSON logs. Request and event context (correlation id, event id) rides on contextvars;
the trace and span ids of the current span (shared/tracing.py) are added to every line.

No secret reaches a log line: every record is redacted where it is made (URLs masked, calendar
tokens and API keys cut out; see shared/redaction.py), whichever handler writes it, and the
rendered line once more, tracebacks included."""

from __future__ import annotations

import logging
import sys
import uuid
from typing import Any

import structlog
from structlog.contextvars import bind_contextvars, get_contextvars
from structlog.typing import EventDict, Processor, WrappedLogger

from shared.redaction import redact_value
from shared.tracing import ids as trace_ids

_configured = False


def _add_trace_ids(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """`trace_id` and `span_id` of the span the line is written in: the thread through the services."""
    for key, value in trace_ids().items():
        event_dict.setdefault(key, value)
    return event_dict


# Applied to our own log calls and to every library's standard-library records alike.
_ENRICH: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    _add_trace_ids,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_logging(level: str = "INFO") -> None:
    global _configured
    if _configured:
        return
    structlog.configure(
        processors=[*_ENRICH, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    # Library logs (uvicorn, aio-pika, alembic) go through the same JSON renderer.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(json_formatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request's full URL at INFO (webhook URLs are secrets); aiosqlite logs every
    # statement's parameters at DEBUG (a signing secret among them). Never below the root's level.
    for name, quiet in (("httpx", logging.WARNING), ("httpcore", logging.WARNING), ("aiosqlite", logging.INFO)):
        logging.getLogger(name).setLevel(max(quiet, root.level))
    install_redaction()
    _configured = True


def install_redaction() -> None:
    """Every log record, from any library, is redacted as it is made: a handler someone else adds
    (pytest's, a sidecar's) sees no more than ours. Installed once per process."""
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "redacts", False):
        return

    def redacting(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        if not record.args:  # with arguments, the message is a template from code: they carry the data
            record.msg = _redacted(record.msg)
        # Argument by argument, so formatters that read args (uvicorn's access log) still work.
        elif isinstance(record.args, tuple):
            record.args = tuple(_redacted(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _redacted(v) for k, v in record.args.items()}
        return record

    redacting.redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(redacting)


def _redacted(value: object) -> object:
    """A string or structure redacted; another object (httpx logs an `httpx.URL`) replaced by its
    redacted text only when that differs, so numbers stay numbers for %d."""
    if value is None or isinstance(value, (str, dict, list, tuple, int, float)):
        return redact_value(value)
    shown = str(value)
    hidden = redact_value(shown)
    return value if hidden == shown else hidden


def _redact_rendered(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """After tracebacks are rendered: an exception's message may quote a URL."""
    redacted: EventDict = redact_value(event_dict)
    return redacted


def json_formatter() -> logging.Formatter:
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_ENRICH,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _redact_rendered,
            structlog.processors.JSONRenderer(),
        ],
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)


def current_correlation_id() -> str:
    """The correlation id of the request or event being handled; a new one at the edge."""
    cid = get_contextvars().get("correlation_id")
    if not cid:
        cid = str(uuid.uuid4())
        bind_contextvars(correlation_id=cid)
    return cid
