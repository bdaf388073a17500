"""The board's app: `oia serve board` runs it alone; `oia dev` serves it at /board/ beside the four
services, which it then reaches in-process."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.base import RequestResponseEndpoint

from board import routes as areas
from board.services import Services
from board.session import Sessions
from board.settings import BoardSettings
from board.web import Board, CsrfRefused, SignInNeeded, render
from shared.tracing import FASTAPI_TELEMETRY

STATIC = Path(__file__).parent / "static"


def create_board_app(settings: BoardSettings | None = None,
                     transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """`transport`: how the services are reached (the embedded host in-process); else their URLs."""
    settings = settings or BoardSettings()
    board = Board(settings, Services(settings, transport), Sessions(settings.session_idle_minutes * 60))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await board.services.close()

    app = FastAPI(title="Diplomacity — board", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan,
                  telemetry=FASTAPI_TELEMETRY)
    app.state.board = board
    app.mount("/board/static", StaticFiles(directory=STATIC), name="static")
    # Each module of board/routes is one area of the board, with its own router.
    for area in pkgutil.iter_modules(areas.__path__):
        app.include_router(importlib.import_module(f"board.routes.{area.name}").router)

    @app.exception_handler(SignInNeeded)
    async def sign_in_first(request: Request, _: SignInNeeded) -> Response:
        return RedirectResponse("/board/sign-in", status_code=303)

    @app.exception_handler(CsrfRefused)
    async def refused(request: Request, _: CsrfRefused) -> Response:
        return render(request, "problem.html", None, status=403, problem=None, back="/board/")

    @app.middleware("http")
    async def headers(request: Request, call_next: RequestResponseEndpoint) -> Response:
        response: Response = await call_next(request)
        # Only our own scripts, styles and images; no framing; no referrer to other sites.
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
                                    "base-uri 'none'; form-action 'self'")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    @app.get("/board/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
