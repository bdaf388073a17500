"""FastAPI application factory: every service gets the same prefix, probes, metrics and errors."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from opentelemetry import trace
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, EmailStr, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.contextvars import bind_contextvars, clear_contextvars

from shared import audit, subject_requests
from shared.asyncapi import service_asyncapi
from shared.auth import CurrentPrincipal
from shared.bounds import Instant, RefuseNul
from shared.listing import Cursor
from shared.logging import configure_logging, get_logger
from shared.metrics import HTTP_LATENCY, HTTP_REQUESTS, ServiceRegistry
from shared.openapi import add_docs_pages, describe
from shared.policy import ANY, NONE, Policy, rule
from shared.problems import BodySizeLimit, install_problem_handlers
from shared.retention import run_retention
from shared.runtime import ServiceRuntime
from shared.subjects import SubjectRights, erase_here, scrubbed_json
from shared.tracing import FASTAPI_TELEMETRY, SERVICE_ATTRIBUTE, configure_tracing, shutdown_tracing
from shared.uow import utcnow

log = get_logger("shared.app")
CORRELATION_HEADER = "X-Correlation-ID"


class Observe:
    """Correlation id in and out (and on every log line of the request), request metrics. A plain
    ASGI middleware: Starlette's BaseHTTPMiddleware would cost every request a task and a stream."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        clear_contextvars()
        given = dict(scope.get("headers") or []).get(CORRELATION_HEADER.lower().encode())
        correlation_id = (given.decode("latin-1") if given else str(uuid.uuid4()))[:64]
        bind_contextvars(correlation_id=correlation_id, service=self.service)
        started = time.perf_counter()
        status = 500  # if the app fails before answering
        # The request's SERVER span is FastAPI's own (FASTAPI_TELEMETRY): it says whose it is.
        trace.get_current_span().set_attribute(SERVICE_ATTRIBUTE, self.service)

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []),
                                                  (CORRELATION_HEADER.encode(), correlation_id.encode("latin-1"))]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            HTTP_REQUESTS.labels(self.service, scope["method"], path, status).inc()
            HTTP_LATENCY.labels(self.service, scope["method"], path).observe(time.perf_counter() - started)


async def get_runtime(request: Request) -> ServiceRuntime:
    # async: FastAPI would run a plain function in a worker thread, for every request
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[ServiceRuntime, Depends(get_runtime)]


class DeadLetterOut(BaseModel):
    event_id: str
    event_type: str
    reason: str
    attempts: int
    dead_at: str
    data: dict[str, Any]


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = Field(description="each dependency: `ok` or why not (e.g. `unreachable`)")


def _subject_rights(runtime: ServiceRuntime) -> SubjectRights:
    if runtime.spec.subject is None:
        raise HTTPException(status_code=404, detail=f"{runtime.name} holds no personal data to export or erase")
    return runtime.spec.subject


async def _subject_request(runtime: ServiceRuntime, request_id: str) -> subject_requests.Status:
    async with runtime.reads() as uow:
        found = await subject_requests.status(uow, request_id, runtime.settings.subject_services)
    if found is None:
        raise HTTPException(status_code=404, detail=f"no request {request_id} in {runtime.name}")
    return found


class ReplayRequest(BaseModel):
    event_ids: list[str] | None = Field(None, description="only these; all when omitted")


# What every service serves beside its own routes, and who may use it: dead letters are the operators'.
PLATFORM = Policy("platform", {
    "dead_letters.manage": rule("inspect or re-drive dead letters",
                                admin=ANY, coordinator=NONE, department=NONE, reader=NONE),
    "audit.read": rule("read the audit trail: who changed what, when (personal values masked)",
                       admin=ANY, coordinator=ANY, department=NONE, reader=NONE),
    "retention.run": rule("run the retention rules now, or as of an instant (what the periodic job runs)",
                          admin=ANY, coordinator=NONE, department=NONE, reader=NONE),
    "subject.export": rule("export everything the service holds about a person (by email)",
                           admin=ANY, coordinator=NONE, department=NONE, reader=NONE),
    "subject.erase": rule("erase or anonymise a person in the service's data (by email)",
                          admin=ANY, coordinator=NONE, department=NONE, reader=NONE),
    "caller.read": rule("see who this key is (its role, department and label; never the key)",
                        admin=ANY, coordinator=ANY, department=ANY, reader=ANY),
})


class CallerOut(BaseModel):
    role: str
    department: str | None
    key_id: str = Field(description="the key's id (`key_…`), never the key")
    label: str | None


class AuditEntryOut(BaseModel):
    seq: int = Field(description="the entry's place in the trail (newer entries have higher numbers)")
    at: datetime
    actor: str = Field(description="who: a role and a key's label or a signed-in user, `event <type>`, "
                                    "`job <name>`; never a secret")
    resource: str = Field(description="`<kind>/<id>`, e.g. `trip/…`")
    action: str
    changes: dict[str, list[Any]] = Field(description="field → [old, new]; personal values show as `***`")
    correlation_id: str | None = Field(description="the request that caused it, across services")


class RetentionRun(BaseModel):
    now: Instant | None = Field(None, description="run as of this instant (with its offset); now when omitted")


# No body is a run as of now. A default, not `| None`: the document then shows one schema, not a choice.
NOW = RetentionRun()


class RetentionOut(BaseModel):
    removed: dict[str, int] = Field(description="per rule, the rows deleted or anonymised (0: none were due)")


class SubjectIn(BaseModel):
    email: EmailStr = Field(description="the person's email address (any case)")


class ErasureIn(SubjectIn):
    names: list[Annotated[str, Field(min_length=3, max_length=200)]] = Field(
        default_factory=list, max_length=20,
        description="the names the person is known by elsewhere: scrubbed from free text too")


class SubjectOut(BaseModel):
    service: str
    records: dict[str, list[dict[str, Any]]] = Field(description="by kind, every record held about the person")
    names: list[str] = Field(description="the names the person goes by here")


class SubjectRequestIn(BaseModel):
    kind: Literal["export", "erase"] = Field(description="`export`: everything every service holds about the "
                                                         "person; `erase`: every service erases them")
    email: EmailStr = Field(description="the person's email address (any case)")
    names: list[Annotated[str, Field(min_length=3, max_length=200)]] = Field(
        default_factory=list, max_length=20,
        description="erase: names the person is known by that no service has with their email")


class ErasureOut(BaseModel):
    service: str
    erased: dict[str, int] = Field(description="by kind, the rows deleted, anonymised or scrubbed")


def _platform_router(prefix: str, service: str) -> APIRouter:
    router = APIRouter(prefix=prefix, tags=["operations"])
    own_series = ServiceRegistry(service)  # the embedded process holds four services' series

    @router.get("/health", summary="Alive")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/ready", summary="Database and broker reachable", response_model=Readiness,
                responses={503: {"model": Readiness, "description": "The database or the broker is unreachable"}})
    async def ready(runtime: RuntimeDep) -> JSONResponse:
        checks = await runtime.readiness()
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks},
                            status_code=200 if ok else 503)

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response,
                responses={200: {"description": "The text exposition format",
                                 "content": {"text/plain": {"schema": {"type": "string"}}}}})
    async def metrics(runtime: RuntimeDep) -> Response:
        await runtime.refresh_gauges()
        return Response(generate_latest(own_series), media_type=CONTENT_TYPE_LATEST)

    @router.get("/asyncapi.json", summary="AsyncAPI document of the events this service publishes and reads")
    async def asyncapi(runtime: RuntimeDep) -> dict[str, Any]:
        return service_asyncapi(runtime.spec, runtime.settings.exchange)

    @router.get("/me", response_model=CallerOut, summary="Who the presented key is (what the board signs in with)")
    async def me(principal: CurrentPrincipal) -> CallerOut:
        PLATFORM.require(principal, "caller.read")
        return CallerOut(role=principal.role, department=principal.department, key_id=principal.key_id,
                         label=principal.label)

    @router.get("/audit", response_model=list[AuditEntryOut], summary="Who changed what, when",
                description="The service's audit trail, newest first: every change its use cases made, with "
                            "the actor, the resource, the action and the fields changed (old → new; personal "
                            "values masked). Admins and coordinators only.")
    async def audit_trail(
        runtime: RuntimeDep, principal: CurrentPrincipal,
        resource: Annotated[str | None, Query(max_length=110, description="`trip` (a kind), `trip/<id>` (one)")] = None,
        actor: Annotated[str | None, Query(min_length=1, max_length=120)] = None,
        since: Annotated[Instant | None, Query(description="entries from this instant on (with its offset)")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        cursor: Cursor = None,
        *, response: Response,
    ) -> list[AuditEntryOut]:
        PLATFORM.require(principal, "audit.read")
        async with runtime.reads() as uow:
            page = await audit.entries(uow.session, resource=resource, actor=actor, since=since, limit=limit,
                                       cursor=cursor)
        return [AuditEntryOut(**entry.__dict__) for entry in page.send(response)]

    @router.post("/admin/retention", response_model=RetentionOut, summary="Remove what is past its retention period",
                 description="Runs the service's retention rules (what the periodic job runs), as of `now`: "
                             "what holds personal data is deleted or anonymised at the end of its period.")
    async def retention_run(runtime: RuntimeDep, principal: CurrentPrincipal,
                            body: Annotated[RetentionRun, Body()] = NOW) -> RetentionOut:
        PLATFORM.require(principal, "retention.run")
        return RetentionOut(removed=await run_retention(runtime, body.now or utcnow()))

    @router.post("/admin/subjects/export", response_model=SubjectOut, summary="Everything held about a person",
                 description="The records this service holds about the person with this email (the right of "
                             "access). The email is sent in the body, so it stays out of access logs.")
    async def export_subject(body: SubjectIn, runtime: RuntimeDep, principal: CurrentPrincipal) -> SubjectOut:
        PLATFORM.require(principal, "subject.export")
        rights = _subject_rights(runtime)
        async with runtime.reads() as uow:
            found = await rights.export(uow, str(body.email))
        return SubjectOut(service=runtime.name, records=found.records, names=sorted(found.names))

    @router.post("/admin/subjects/erase", response_model=ErasureOut, summary="Erase a person",
                 description="Deletes or anonymises the person with this email in this service's data, and "
                             "scrubs them (email and names) from its outbox events, audit entries and dead "
                             "letters: a replay of either brings nothing erased back.")
    async def erase_subject(body: ErasureIn, runtime: RuntimeDep, principal: CurrentPrincipal) -> ErasureOut:
        PLATFORM.require(principal, "subject.erase")
        rights = _subject_rights(runtime)
        async with runtime.uow() as uow:
            erased, needles = await erase_here(uow, rights, str(body.email), set(body.names))
            await uow.commit()
        # After the commit: asked again (an outage here), the erasure finds its rows done and scrubs on.
        erased.add("dead letters", await runtime.bus.scrub_dead_letters(
            runtime.queue, lambda value: scrubbed_json(value, needles)))
        log.info("person erased", service=runtime.name, erased=erased.changed)
        return ErasureOut(service=runtime.name, erased=erased.changed)

    @router.post("/admin/subjects/requests", response_model=subject_requests.Status, status_code=202,
                 summary="Ask every service for a person's data, or their erasure",
                 description="Records the request and asks every service (`privacy.subject.requested.v1`); "
                             "their answers are collected here (`GET …/requests/{id}`): one export, or what "
                             "each service erased. A service that is down is waited for. The email is sent "
                             "in the body, so it stays out of access logs.")
    async def request_subject(body: SubjectRequestIn, runtime: RuntimeDep, principal: CurrentPrincipal,
                              response: Response) -> subject_requests.Status:
        PLATFORM.require(principal, "subject.export" if body.kind == "export" else "subject.erase")
        _subject_rights(runtime)
        async with runtime.uow() as uow:
            request_id = await subject_requests.request(uow, runtime.name, body.kind, str(body.email).lower(),
                                                        body.names, principal.who)
            await uow.commit()
        found = await _subject_request(runtime, request_id)
        response.headers["Location"] = f"{prefix}/admin/subjects/requests/{request_id}"
        log.info("a person's data requested", service=runtime.name, request_id=request_id, kind=body.kind)
        return found

    @router.get("/admin/subjects/requests", response_model=list[subject_requests.Status],
                summary="The requests for a person's data asked of this service, newest first",
                description="Each with its state and who answered; its result is on its own page. Paged like "
                            "every list (`X-Next-Cursor`).")
    async def subject_requests_asked(runtime: RuntimeDep, principal: CurrentPrincipal,
                                     limit: Annotated[int, Query(ge=1, le=100)] = 20, cursor: Cursor = None,
                                     *, response: Response) -> list[subject_requests.Status]:
        PLATFORM.require(principal, "subject.export")
        async with runtime.reads() as uow:
            page = await subject_requests.recent(uow, runtime.settings.subject_services, limit, cursor)
        return page.send(response)

    @router.get("/admin/subjects/requests/{request_id}", response_model=subject_requests.Status,
                summary="A request for a person's data: who answered, and the result",
                responses={404: {"description": "No such request here (or it is past its retention)"}})
    async def subject_request(request_id: uuid.UUID, runtime: RuntimeDep,
                              principal: CurrentPrincipal) -> subject_requests.Status:
        PLATFORM.require(principal, "subject.export")
        return await _subject_request(runtime, str(request_id))

    @router.get("/admin/dead-letters", response_model=list[DeadLetterOut], summary="Inspect the dead-letter queue")
    async def dead_letters(runtime: RuntimeDep, principal: CurrentPrincipal) -> list[dict[str, Any]]:
        PLATFORM.require(principal, "dead_letters.manage")
        letters = await runtime.bus.dead_letters(runtime.queue)  # the gauge is the runtime's (refresh_gauges)
        return [{**letter.__dict__, "dead_at": letter.dead_at.isoformat()} for letter in letters]

    @router.post("/admin/dead-letters/replay", summary="Re-drive dead letters into the service's queue")
    async def replay(body: ReplayRequest, runtime: RuntimeDep, principal: CurrentPrincipal) -> dict[str, int]:
        PLATFORM.require(principal, "dead_letters.manage")
        return {"replayed": await runtime.bus.replay_dead_letters(runtime.queue, body.event_ids)}

    return router


def create_service_app(runtime: ServiceRuntime, *, manage_lifecycle: bool = True) -> FastAPI:
    """One service's app, all routes under `/<name>`. With `manage_lifecycle`, the app's lifespan
    starts and stops the runtime; the embedded host manages four runtimes itself."""
    spec = runtime.spec
    prefix = f"/{spec.name}"
    configure_logging(runtime.settings.log_level)
    configure_tracing(spec.name, runtime.settings.otlp_endpoint)  # the embedded host has named the process first

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if manage_lifecycle:
            await runtime.start()
        try:
            yield
        finally:
            if manage_lifecycle:
                await runtime.stop()
                shutdown_tracing()  # the spans still batched are sent before the process ends

    app = FastAPI(
        title=spec.title,
        description=spec.description,
        version="0.1.0",
        docs_url=None,  # served from vendored assets by add_docs_pages, not a CDN
        redoc_url=None,
        openapi_url=f"{prefix}/openapi.json",
        # Relative: the document's paths carry the prefix, and clients call the host that served it.
        servers=[{"url": "/"}],
        lifespan=lifespan,
        telemetry=FASTAPI_TELEMETRY,
    )
    app.state.runtime = runtime
    describe(app)
    add_docs_pages(app, prefix, spec.title)
    install_problem_handlers(app)
    app.include_router(_platform_router(prefix, spec.name))
    for router in spec.routers:
        app.include_router(router, prefix=prefix)

    streamed = {prefix + path: limit for path, limit in runtime.spec.streamed_bodies.items()}
    app.add_middleware(RefuseNul, streamed=streamed)
    app.add_middleware(Observe, service=spec.name)
    app.add_middleware(BodySizeLimit, max_bytes=1_000_000, streamed=streamed)
    return app
