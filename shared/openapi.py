"""The OpenAPI document as the services behave, and the pages that show it.

FastAPI documents what it sees in a route's signature, and the bearer key (shared/auth.py declares it);
not what the platform does around the routes: the problem+json body of every error (shared/problems.py),
the 401/403/429 of a key, the 413 of the body limit. `describe` adds those to every operation, derived
from what the operation has (a key, path parameters, input); what only the code knows (a 409, a 503 from
a peer) a route declares with `responses=problems(...)`. Swagger UI and ReDoc load
from assets shipped in a Python package (fastapi-offline), so the pages work on an intranet."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from shared.problems import PROBLEM_JSON

PROBLEM_REF = "#/components/schemas/Problem"

# What each error status means here; a route's own `responses=` may say it more precisely.
MEANINGS = {
    400: "The body could not be parsed",
    401: "No API key, or an unknown or revoked one",
    403: "The key's role or department may not do this",
    404: "Not found (or not visible to this key)",
    409: "Conflicts with the record's current state",
    413: "The body is larger than the service accepts",
    422: "Invalid input; `errors` names each offending field",
    429: "Too many failed authentications from this address",
    502: "The upstream server answered with an error",
    503: "A service this one depends on is unavailable",
}

COMPONENTS: dict[str, Any] = {
    "Problem": {
        "title": "Problem",
        "type": "object",
        "description": "Problem details (RFC 9457), the body of every error.",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "description": "`about:blank`: the status says what kind of problem"},
            "title": {"type": "string", "description": "the status's name", "examples": ["Invalid input"]},
            "status": {"type": "integer", "minimum": 400, "maximum": 599, "examples": [422]},
            "detail": {"type": "string", "examples": ["legs[0].city: no place named Kolnn"]},
            "instance": {"type": "string", "description": "the request's path"},
            "errors": {"type": "array", "items": {"$ref": "#/components/schemas/FieldProblem"},
                       "description": "for input errors: one item per offending field"},
        },
    },
    "FieldProblem": {
        "title": "FieldProblem",
        "type": "object",
        "description": "One offending field; some errors add details (e.g. `candidates` for an unknown place).",
        "required": ["field", "message"],
        "properties": {
            "field": {"type": "string", "description": "`legs[0].city`, `query.limit`, `path.key` or `body`",
                      "examples": ["legs[0].city"]},
            "message": {"type": "string", "examples": ["no place named Kolnn"]},
        },
        "additionalProperties": True,
    },
}

HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer", "minimum": 1}}},
}


def problem_response(status: int, description: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description or MEANINGS[status],
                                "content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}}}
    if status in HEADERS:
        response["headers"] = HEADERS[status]
    return response


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """A route's `responses=` for the errors only its code knows, e.g. `problems(409)`; for its own
    wording, `{409: problem_response(409, "…")}`."""
    return {status: problem_response(status) for status in statuses}


def _derived(path: str, operation: dict[str, Any]) -> set[int]:
    """The error statuses the platform gives an operation, whatever its route does."""
    statuses: set[int] = {401, 403, 429} if operation.get("security") else set()  # the key (shared/auth.py)
    if "{" in path:
        statuses |= {404, 422}  # unknown id; a NUL in the path is refused as invalid
    if any(p.get("in") == "query" for p in operation.get("parameters", [])):
        statuses.add(422)
    if "requestBody" in operation:
        statuses |= {400, 413, 422}
    return statuses


def _own_body(response: dict[str, Any]) -> bool:
    """Whether a route declared an error's body itself (a `model`, as /ready's 503): else the error is
    problem+json, whatever media type FastAPI added to a declared status."""
    content = response.get("content", {})
    return PROBLEM_JSON not in content and any(media.get("schema") for media in content.values())


def truthful(document: dict[str, Any]) -> dict[str, Any]:
    """FastAPI's document with the platform's errors, each as problem+json."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas.update(COMPONENTS)
    for path, item in document["paths"].items():
        for operation in item.values():
            # An operation without a key says so (FastAPI leaves it out): no "Authorize" padlock on it.
            operation.setdefault("security", [])
            responses = operation["responses"]
            responses.pop("422", None)  # FastAPI's, describing a body we never send
            for status in _derived(path, operation):
                responses.setdefault(str(status), {})
            operation["responses"] = {
                status: problem_response(int(status), response.get("description"))
                if status[0] in "45" and not _own_body(response) else response
                for status, response in sorted(responses.items())}
    return document


def describe(app: FastAPI) -> None:
    """Make the app's OpenAPI document the truthful one."""
    generate = app.openapi
    described: list[dict[str, Any]] = []  # FastAPI builds it again only when the routes change

    def openapi() -> dict[str, Any]:
        document = generate()
        if not described or described[0] is not document:
            described[:] = [truthful(document)]
        return document

    app.openapi = openapi  # type: ignore[method-assign]


ASSETS = files("fastapi_offline") / "static"


# The docs pages load nothing from another host: ReDoc asks for Redocly's logo from their CDN (no option
# turns it off), which this refuses before any request leaves. Their own inline start-up scripts and
# styles are allowed; ReDoc's search runs in a worker made from a blob.
DOCS_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
               "frame-ancestors 'none'; base-uri 'none'")


def _page(page: HTMLResponse) -> HTMLResponse:
    """A docs page in English (FastAPI's template names no language) under the policy above."""
    html = bytes(page.body).replace(b"<html>", b'<html lang="en">', 1)
    return HTMLResponse(html, headers={"Content-Security-Policy": DOCS_POLICY})


def add_docs_pages(app: FastAPI, prefix: str, title: str) -> None:
    """`<prefix>/docs` (Swagger UI) and `<prefix>/redoc` (ReDoc), every asset served from here."""
    assets = f"{prefix}/docs-assets"
    app.mount(assets, StaticFiles(directory=str(ASSETS)), name="docs-assets")

    @app.get(f"{prefix}/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _page(get_swagger_ui_html(
            openapi_url=f"{root}{prefix}/openapi.json", title=f"{title} — Swagger UI",
            swagger_js_url=f"{root}{assets}/swagger-ui-bundle.js", swagger_css_url=f"{root}{assets}/swagger-ui.css",
            swagger_favicon_url=f"{root}{assets}/favicon.png", oauth2_redirect_url=None,
            # the key a reader authorised with survives a reload; no badge fetched from the validator's site
            swagger_ui_parameters={"persistAuthorization": True, "validatorUrl": None}))

    @app.get(f"{prefix}/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _page(get_redoc_html(
            openapi_url=f"{root}{prefix}/openapi.json", title=f"{title} — ReDoc",
            redoc_js_url=f"{root}{assets}/redoc.standalone.js", redoc_favicon_url=f"{root}{assets}/favicon.png",
            with_google_fonts=False))
