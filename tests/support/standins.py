"""Real servers on loopback standing in for Slack, Teams, a generic webhook and an SMTP relay:
they record what they receive, and can be told to fail first."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage

import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from tests.support.processes import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)  # when it arrived

    def json(self):
        import json
        return json.loads(self.body)


@dataclass
class Script:
    """How a path answers: `fail_first` 500s, then `throttle_first` 429s (with Retry-After), then OK;
    or by the clock: 500s until `failing_until`, then 429s until `throttling_until` (time.monotonic())."""

    fail_first: int = 0
    throttle_first: int = 0
    retry_after: str = "1"
    answered: int = 0
    failing_until: float = 0.0
    throttling_until: float = 0.0


@dataclass
class WebhookStandIn:
    """One HTTP server; every path is a webhook. `received[path]` holds the accepted posts,
    `attempts[path]` every post, accepted or not."""

    port: int = field(default_factory=free_port)
    received: dict[str, list[Received]] = field(default_factory=dict)
    attempts: dict[str, list[Received]] = field(default_factory=dict)
    scripts: dict[str, Script] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def script(self, path: str, **kwargs) -> None:
        self.scripts["/" + path.lstrip("/")] = Script(**kwargs)

    def accepted(self, path: str) -> list[Received]:
        return self.received.get("/" + path.lstrip("/"), [])

    async def _hook(self, request: Request):
        got = Received(request.url.path, dict(request.headers), await request.body())
        self.attempts.setdefault(got.path, []).append(got)
        script = self.scripts.get(got.path, Script())
        script.answered += 1
        now = time.monotonic()
        if script.answered <= script.fail_first or now < script.failing_until:
            return PlainTextResponse("internal error", status_code=500)
        if script.answered <= script.fail_first + script.throttle_first or now < script.throttling_until:
            return JSONResponse({"error": "rate_limited"}, status_code=429, headers={"Retry-After": script.retry_after})
        self.received.setdefault(got.path, []).append(got)
        # Slack answers 200 "ok"; Teams Workflows 202; either counts as accepted.
        return PlainTextResponse("ok", status_code=202 if "teams" in got.path else 200)

    async def __aenter__(self) -> WebhookStandIn:
        app = Starlette(routes=[Route("/{path:path}", self._hook, methods=["POST"])])
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                     lifespan="off"))
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc) -> None:
        self._server.should_exit = True
        await self._task


class _Recorder:
    def __init__(self, mailbox: SmtpStandIn) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, server, session, envelope) -> str:
        message = email.message_from_bytes(envelope.original_content or envelope.content,
                                           policy=email.policy.default)
        with self.mailbox.lock:
            if self.mailbox.refuse is not None:
                self.mailbox.refused.append(message)
                return self.mailbox.refuse
            self.mailbox.messages.append(message)
            self.mailbox.arrived.append(time.monotonic())
        return "250 OK"


@dataclass
class SmtpStandIn:
    """An SMTP server (aiosmtpd) on loopback that keeps every message it accepts; with `login`
    (user, password) it accepts mail only after AUTH with those (over plain text: loopback); with
    `refuse` (an SMTP reply, e.g. "550 5.1.1 no such mailbox") it answers every message so, keeping
    it in `refused`."""

    port: int = field(default_factory=free_port)
    login: tuple[str, str] | None = None
    refuse: str | None = None
    messages: list[EmailMessage] = field(default_factory=list)
    arrived: list[float] = field(default_factory=list)  # when each of `messages` came (time.monotonic())
    refused: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if address in m["To"]]

    def __enter__(self) -> SmtpStandIn:
        auth = {} if self.login is None else {
            "auth_required": True, "auth_require_tls": False, "authenticator": self._authenticate}
        self._controller = Controller(_Recorder(self), hostname="127.0.0.1", port=self.port, **auth)
        self._controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self._controller.stop()

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False)
        return AuthResult(success=(auth_data.login.decode(), auth_data.password.decode()) == self.login)
