"""Grants asks the partners service over HTTP (never by import): consortium candidates from its
partner finder, a consortium member's partnership, and the partnerships and network memberships
for the city profile. Partners
being down or slow is a clear 503 naming it, never a hang or a 500."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from shared.problems import FieldError, Problem
from shared.tracing import peer_transport


class PartnersClient:
    def __init__(self, base_url: str, api_key: str, timeout: float,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout = timeout
        self.transport = transport

    async def finder(self, **query: Any) -> list[dict[str, Any]]:
        # The query is the caller's: partners refusing it (e.g. an unknown theme) is the caller's 422.
        return await self._get("/partners/finder", {k: v for k, v in query.items() if v is not None},
                               relay_invalid=True)

    async def partnerships(self, home_city: str) -> list[dict[str, Any]]:
        return await self._get("/partners/partnerships", {"home_city": home_city, "status": "active", "limit": 1000})

    async def networks(self) -> list[dict[str, Any]]:
        return await self._get("/partners/organizations", {"kind": "network", "limit": 1000})

    async def partnership(self, partnership_id: str) -> dict[str, Any] | None:
        """The partnership, or None if partners has none of that id."""
        return await self._get(f"/partners/partnerships/{quote(partnership_id, safe='')}", {}, missing_ok=True)

    async def _get(self, path: str, params: dict[str, Any], *, missing_ok: bool = False,
                   relay_invalid: bool = False) -> Any:
        url = self.base_url + path
        try:
            # The call continues this request's trace in partners (a CLIENT span, `traceparent` sent).
            async with httpx.AsyncClient(timeout=self.timeout, transport=peer_transport(self.transport)) as client:
                response = await client.get(url, params=params, headers=self.headers)
        except httpx.TimeoutException as exc:
            raise Problem(503, f"the partners service did not answer within {self.timeout:g} s ({url}); "
                               f"try again shortly") from exc
        except httpx.TransportError as exc:
            raise Problem(503, f"the partners service is unreachable ({url}: {exc.__class__.__name__}); "
                               f"try again shortly") from exc
        if response.status_code in (401, 403):
            raise Problem(503, f"the partners service refused grants' key ({response.status_code}): "
                               f"set GRANTS_PARTNERS_API_KEY to a reader key of partners")
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code == 422 and relay_invalid:
            raise _invalid(response)
        if response.status_code != 200:
            raise Problem(503, f"the partners service answered {response.status_code} ({url})")
        try:
            return response.json()
        except ValueError as exc:
            raise Problem(503, f"the partners service answered with something that is not JSON ({url})") from exc


def _invalid(response: httpx.Response) -> FieldError | Problem:
    """Partners' 422 about a query grants passed on, naming the same field."""
    try:
        error = response.json()["errors"][0]
        return FieldError(str(error["field"]), str(error["message"]))
    except (ValueError, LookupError, TypeError):
        return Problem(503, f"the partners service answered 422 without naming a field ({response.url})")
