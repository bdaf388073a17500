"""RFC 9457 problem details for every error, naming the offending field(s)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.logging import get_logger
from shared.outages import RETRY_AFTER_SECONDS, is_unreachable
from shared.redaction import redact, redact_value

log = get_logger("shared.problems")

PROBLEM_JSON = "application/problem+json"
BODY_UNPARSED = "There was an error parsing the body"  # FastAPI's words
TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
          405: "Method not allowed", 409: "Conflict", 413: "Payload too large",
          422: "Invalid input", 429: "Too many requests", 500: "Internal error", 503: "Unavailable"}


def problem(status: int, detail: str, *, errors: list[dict[str, Any]] | None = None,
            instance: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    # Redacted: the instance may be a secret calendar address, a message may quote a webhook URL.
    body: dict[str, Any] = {"type": "about:blank", "title": TITLES.get(status, "Error"),
                            "status": status, "detail": redact(detail)}
    if instance:
        body["instance"] = redact(instance)
    if errors:
        body["errors"] = redact_value(errors)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def field_name(loc: Sequence[int | str]) -> str:
    """('body', 'legs', 0, 'city') → 'legs[0].city'; query and path keep their location."""
    parts = list(loc)
    where = str(parts.pop(0)) if parts and parts[0] in ("body", "query", "path", "header", "cookie") else None
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    if where in (None, "body"):
        return name or "body"
    return f"{where}.{name}" if name else where


class FieldError(Exception):
    """Raised by domain code for input that parses but breaks a rule; becomes a 422 naming the field."""

    def __init__(self, field: str, message: str, status: int = 422, **extra: Any) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message, self.status, self.extra = field, message, status, extra


class Problem(Exception):
    """Raised by use cases for a refusal that is not about one field: 403, 404, 409."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem(exc.status, exc.detail, instance=request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": "body" if e.get("type") == "json_invalid" else field_name(e.get("loc", ())),
                   "message": e.get("msg", "invalid")} for e in exc.errors()]
        fields = ", ".join(dict.fromkeys(e["field"] for e in errors))
        return problem(422, f"invalid input: {fields}", errors=errors, instance=request.url.path)

    @app.exception_handler(FieldError)
    async def _field(request: Request, exc: FieldError) -> JSONResponse:
        return problem(exc.status, f"{exc.field}: {exc.message}",
                       errors=[{"field": exc.field, "message": exc.message, **exc.extra}],
                       instance=request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # FastAPI's own refusal of a body it could not parse (e.g. nested past the JSON parser's limit)
        errors = [{"field": "body", "message": str(exc.detail)}] if str(exc.detail) == BODY_UNPARSED else None
        return problem(exc.status_code, str(exc.detail), errors=errors, instance=request.url.path,
                       headers=getattr(exc, "headers", None))

    @app.exception_handler(IntegrityError)
    async def _conflict(request: Request, exc: IntegrityError) -> JSONResponse:
        if not is_unique_violation(exc):
            return await _unexpected(request, exc)
        # Two requests made the same thing at the same moment; the database kept one.
        log.warning("concurrent change refused", path=request.url.path, error=str(exc.orig))
        return problem(409, "another change to the same record was made at the same moment; "
                            "read it again and retry if still needed", instance=request.url.path)

    # The exception types a database outage arrives as. Answered here, inside the app, and not by
    # the catch-all below: Starlette's server-error layer re-raises after answering, and the server
    # then closes the connection, so the client's next request on it would get no answer.
    async def _outage(request: Request, exc: Exception) -> JSONResponse:
        if not is_unreachable(exc):
            raise exc  # a bug, not an outage: the catch-all's 500
        log.warning("database unreachable; request refused with 503", path=request.url.path,
                    error=f"{type(exc).__name__}: {exc}")
        return problem(503, "the database is unreachable for a moment; retry after Retry-After seconds",
                       instance=request.url.path, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})

    for outage_type in (OSError, DBAPIError, PoolTimeout, asyncpg.PostgresError, asyncpg.InterfaceError):
        app.add_exception_handler(outage_type, _outage)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", path=request.url.path, exc_info=exc)
        return problem(500, "internal error; it has been logged", instance=request.url.path)


def is_unique_violation(exc: IntegrityError) -> bool:
    """A unique key already taken (PostgreSQL 23505, or SQLite's UNIQUE constraint)."""
    text = str(exc.orig)
    return "duplicate key value violates unique constraint" in text or "UNIQUE constraint failed" in text


class BodySizeLimit:
    """Refuses request bodies over `max_bytes` with a 413 before the app reads them. Routes in
    `streamed` (path → limit) read their bodies as streams and enforce their own, larger limit."""

    def __init__(self, app: ASGIApp, max_bytes: int = 1_000_000, streamed: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.streamed = streamed or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.streamed:
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(scope, receive, send)
        if declared is not None:
            return await self.app(scope, receive, send)
        # No length declared (chunked): read it here, within the limit, then hand it on.
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return await self.app(scope, receive, send)
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_bytes:
                return await self._refuse(scope, receive, send)
        body = b"".join(chunks)
        await self.app(scope, replaying(body, receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(413, f"body: larger than {self.max_bytes} bytes",
                           errors=[{"field": "body", "message": f"at most {self.max_bytes} bytes"}])
        await response(scope, receive, send)


def replaying(body: bytes, receive: Receive) -> Receive:
    """An ASGI `receive` for a middleware that has read the body already: the app gets it whole
    once, and after that whatever the server says (a disconnect)."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
