"""Structured JSON logs. Request and event context (correlation id, event id) rides on contextvars."""

from __future__ import annotations

import logging
import sys
import uuid

import structlog
from structlog.contextvars import bind_contextvars, get_contextvars

_configured = False

# Applied to our own log calls and to every library's standard-library records alike.
_ENRICH = [
    structlog.contextvars.merge_contextvars,
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
    # httpx logs every request's full URL at INFO; a webhook URL is a secret (its token is in it).
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
    _configured = True


def json_formatter() -> logging.Formatter:
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_ENRICH,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)


def current_correlation_id() -> str:
    """The correlation id of the request or event being handled; a new one at the edge."""
    cid = get_contextvars().get("correlation_id")
    if not cid:
        cid = str(uuid.uuid4())
        bind_contextvars(correlation_id=cid)
    return cid
