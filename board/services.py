"""The four services as the board reaches them: their public HTTP APIs, asked with the signed-in
person's own key, so every answer is what that person may see and do (the services' policies
decide; the board never widens them)."""

from __future__ import annotations

from typing import Any

import httpx

from board.settings import BoardSettings

SERVICES = ("partners", "travel", "grants", "notifications")


class ServiceProblem(Exception):
    """A service said no (a problem+json answer) or could not be reached: shown to the person as
    the service worded it, field by field."""

    def __init__(self, status: int, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(f"{status}: {detail}")
        self.status, self.detail, self.errors = status, detail, errors or []

    def field(self, name: str) -> str | None:
        """The message for one field (`legs[0].city`), if the service named it."""
        return next((e.get("message") for e in self.errors if e.get("field") == name), None)


class Services:
    def __init__(self, settings: BoardSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        # One client per service: its own base URL, or (in `oia dev`) the host in-process.
        self._clients = {
            name: httpx.AsyncClient(base_url="http://embedded" if transport else settings.base_url(name),
                                    transport=transport, timeout=settings.timeout_seconds)
            for name in SERVICES}

    async def close(self) -> None:
        for client in self._clients.values():
            await client.aclose()

    async def get(self, service: str, path: str, key: str, params: dict[str, Any] | None = None) -> Any:
        return (await self._ask("GET", service, path, key, params=_given(params))).json()

    async def page(self, service: str, path: str, key: str,
                   params: dict[str, Any] | None = None) -> tuple[Any, str | None]:
        """A list and the cursor of its next page (None: the last)."""
        response = await self._ask("GET", service, path, key, params=_given(params))
        return response.json(), response.headers.get("X-Next-Cursor")

    async def text(self, service: str, path: str, key: str, params: dict[str, Any] | None = None) -> str:
        """A document a service answers as text (Markdown, iCalendar), not JSON."""
        return (await self._ask("GET", service, path, key, params=_given(params))).text

    async def post(self, service: str, path: str, key: str, body: dict[str, Any] | None = None) -> Any:
        return (await self._ask("POST", service, path, key, json=body or {})).json()

    async def patch(self, service: str, path: str, key: str, body: dict[str, Any]) -> Any:
        return (await self._ask("PATCH", service, path, key, json=body)).json()

    async def changes(self, service: str, resource: str, key: str, readable: bool) -> list[dict[str, Any]] | None:
        """A record's audit trail (`<kind>/<id>`), newest first; None for who may not read it
        (`readable`: the session coordinates), so the page shows no section rather than a refusal."""
        if not readable:
            return None
        found: list[dict[str, Any]] = await self.get(service, "/audit", key, {"resource": resource, "limit": 100})
        return found

    async def _ask(self, method: str, service: str, path: str, key: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._clients[service].request(
                method, f"/{service}{path}", headers={"Authorization": f"Bearer {key}"}, **kwargs)
        except httpx.HTTPError as exc:
            raise ServiceProblem(503, f"{service} is not reachable ({type(exc).__name__})") from exc
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {}
            raise ServiceProblem(response.status_code, str(problem.get("detail") or response.reason_phrase),
                                 problem.get("errors"))
        return response


def _given(params: dict[str, Any] | None) -> dict[str, Any]:
    """Query parameters the person filled in (empty form fields are not filters)."""
    return {k: v for k, v in (params or {}).items() if v not in (None, "")}
