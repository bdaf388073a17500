"""Deliveries: each alert's deliveries per recipient and channel with their attempts and errors, an
admin's re-drive of a dead or skipped one, and the directory of recipients with their settings."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from babel.dates import format_datetime
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from board.i18n import LOCALES
from board.services import ServiceProblem
from board.session import Session
from board.web import Board, BoardDep, SessionDep, check_csrf, render

router = APIRouter(prefix="/board")

STATUSES = ("pending", "digest", "sending", "sending-digest", "sent", "skipped", "dead")
CHANNEL_KINDS = ("email", "slack", "teams", "webhook")
PAGE = 50


def _when(language: str) -> Callable[[str | None], str]:
    """Timestamps in the reader's language; in UTC, as the services keep them (and said so)."""
    def when(value: str | None) -> str:
        if not value:
            return ""
        return format_datetime(datetime.fromisoformat(value), "short", tzinfo=None,
                               locale=LOCALES[language]) + " UTC"
    return when


# -- the delivery log -----------------------------------------------------------------------------

@router.get("/deliveries")
async def deliveries(request: Request, board: BoardDep, session: SessionDep,
                     status: Annotated[str | None, Query(max_length=20)] = None,
                     recipient: Annotated[str | None, Query(max_length=40)] = None,
                     cursor: Annotated[str | None, Query(max_length=500)] = None) -> Response:
    ask = board.services
    try:
        (found, next_cursor), directory = await asyncio.gather(
            ask.page("notifications", "/deliveries", session.key,
                     {"status": status, "recipient": recipient, "cursor": cursor, "limit": PAGE}),
            ask.get("notifications", "/recipients", session.key, {"limit": 500}))
        # One alert (event) with its deliveries, in the log's order: newest first.
        alerts: dict[str, list[dict[str, Any]]] = {}
        for delivery in found:
            alerts.setdefault(delivery["event_id"], []).append(delivery)
        titles = await asyncio.gather(*(_title(board, session, event_id, rows[0]["recipient_id"])
                                        for event_id, rows in alerts.items()))
    except ServiceProblem as problem:  # a filter or cursor it refused (422), or not reachable
        return _refused(request, session, problem, "/board/deliveries")
    return render(request, "deliveries/list.html", session, statuses=STATUSES, recipients=directory,
                  alerts=[{"event_id": e, "title": t, "deliveries": rows}
                          for (e, rows), t in zip(alerts.items(), titles, strict=True)],
                  filters={"status": status or "", "recipient": recipient or ""}, cursor=cursor,
                  next_cursor=next_cursor, when=_when(session.language))


async def _title(board: Board, session: Session, event_id: str, recipient_id: str) -> str | None:
    """What the alert said, as its recipient's feed titled it (the delivery log names only the event)."""
    try:
        items = await board.services.get("notifications", "/feed", session.key,
                                         {"recipient": recipient_id, "event_id": event_id, "limit": 1})
    except ServiceProblem as problem:
        if problem.status in (403, 404):  # a recipient removed since, or a feed this key may not read
            return None
        raise
    return items[0]["title"] if items else None


@router.get("/deliveries/{delivery_id}")
async def delivery(delivery_id: str, request: Request, board: BoardDep, session: SessionDep,
                   redriven: bool = False) -> Response:
    try:
        found = await board.services.get("notifications", f"/deliveries/{delivery_id}", session.key)
    except ServiceProblem as problem:
        return _refused(request, session, problem, "/board/deliveries")
    return _delivery_page(request, session, found, redriven=redriven)


@router.post("/deliveries/{delivery_id}/retry")
async def send_again(delivery_id: str, request: Request, board: BoardDep, session: SessionDep,
                     csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    check_csrf(session, csrf)
    try:
        await board.services.post("notifications", f"/deliveries/{delivery_id}/retry", session.key)
    except ServiceProblem as problem:
        if problem.status not in (403, 409):  # in plain words below; anything else as the service said it
            return _refused(request, session, problem, "/board/deliveries")
        found = await board.services.get("notifications", f"/deliveries/{delivery_id}", session.key)
        return _delivery_page(request, session, found, refused=problem.status, status=problem.status)
    return RedirectResponse(f"/board/deliveries/{delivery_id}?redriven=1", status_code=303)


def _delivery_page(request: Request, session: Session, found: dict[str, Any], status: int = 200,
                   **context: Any) -> Response:
    context.setdefault("redriven", False)
    context.setdefault("refused", None)
    return render(request, "deliveries/delivery.html", session, status=status, delivery=found,
                  may_redrive=session.role == "admin" and found["status"] in ("dead", "skipped"),
                  when=_when(session.language), **context)


def _refused(request: Request, session: Session, problem: ServiceProblem, back: str) -> Response:
    """What the service said instead (one this key may not see is one that does not exist: 404)."""
    return render(request, "problem.html", session, status=problem.status, problem=problem, back=back)


# -- the directory --------------------------------------------------------------------------------

@router.get("/recipients")
async def recipients(request: Request, board: BoardDep, session: SessionDep,
                     cursor: Annotated[str | None, Query(max_length=500)] = None) -> Response:
    try:
        found, next_cursor = await board.services.page("notifications", "/recipients", session.key,
                                                       {"cursor": cursor, "limit": PAGE})
    except ServiceProblem as problem:
        return _refused(request, session, problem, "/board/recipients")
    return render(request, "deliveries/recipients.html", session, recipients=found, cursor=cursor,
                  next_cursor=next_cursor)


@router.get("/recipients/{recipient_id}")
async def recipient(recipient_id: str, request: Request, board: BoardDep, session: SessionDep,
                    saved: bool = False) -> Response:
    try:
        found = await board.services.get("notifications", f"/recipients/{recipient_id}", session.key)
    except ServiceProblem as problem:
        return _refused(request, session, problem, "/board/recipients")
    return await _recipient_page(request, board, session, found, saved=saved)


@router.post("/recipients/{recipient_id}/settings")
async def change_settings(recipient_id: str, request: Request, board: BoardDep, session: SessionDep,
                          language: Annotated[str, Form(max_length=5)],
                          timezone: Annotated[str, Form(max_length=64)],
                          quiet_start: Annotated[str, Form(max_length=20)] = "",
                          quiet_end: Annotated[str, Form(max_length=20)] = "",
                          digest_hour: Annotated[str, Form(max_length=2)] = "",
                          csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    check_csrf(session, csrf)
    body = {"language": language, "timezone": timezone.strip(),
            # Empty fields: no quiet hours, no digest (every alert at once).
            "quiet_start": quiet_start.strip() or None, "quiet_end": quiet_end.strip() or None,
            "digest_hour": digest_hour.strip() or None}
    given = {"language": language, "timezone": timezone, "quiet_start": quiet_start, "quiet_end": quiet_end,
             "digest_hour": digest_hour}
    return await _change(request, board, session, recipient_id, body, given)


@router.post("/recipients/{recipient_id}/channels")
async def change_channels(recipient_id: str, request: Request, board: BoardDep, session: SessionDep) -> Response:
    form = await request.form()
    check_csrf(session, str(form.get("csrf", "")))
    try:
        current = await board.services.get("notifications", f"/recipients/{recipient_id}", session.key)
    except ServiceProblem as problem:
        return _refused(request, session, problem, "/board/recipients")
    channels: list[dict[str, Any]] = []
    missing: dict[str, str] = {}
    for channel in current["channels"]:
        if form.get(f"remove-{channel['id']}"):
            continue
        kept = {"kind": channel["kind"], "address": channel["address"]}
        if channel["kind"] != "email" and channel["address"] is not None:
            # The API shows webhook URLs masked, and a change replaces every channel: a kept one
            # goes back with its full URL (and secret), entered again, or not at all.
            kept["address"] = str(form.get(f"url-{channel['id']}", "")).strip()
            if not kept["address"]:
                missing[channel["id"]] = "url"
            if channel["signed"]:
                kept["signing_secret"] = str(form.get(f"secret-{channel['id']}", "")).strip()
                if not kept["signing_secret"]:
                    missing[channel["id"]] = "secret"
        channels.append(kept)
    kind, address = str(form.get("new-kind", "")), str(form.get("new-address", "")).strip()
    if kind in CHANNEL_KINDS:
        added: dict[str, Any] = {"kind": kind, "address": address or None}
        if kind == "webhook" and (secret := str(form.get("new-secret", "")).strip()):
            added["signing_secret"] = secret
        channels.append(added)
    given = {"new-kind": kind, "new-address": address}
    if missing:
        return await _recipient_page(request, board, session, current, status=422, missing=missing, given=given)
    return await _change(request, board, session, recipient_id, {"channels": channels}, given)


async def _change(request: Request, board: Board, session: Session, recipient_id: str, body: dict[str, Any],
                  given: dict[str, str]) -> Response:
    try:
        await board.services.patch("notifications", f"/recipients/{recipient_id}", session.key, body)
    except ServiceProblem as problem:
        if problem.status not in (403, 422):
            return _refused(request, session, problem, "/board/recipients")
        current = await board.services.get("notifications", f"/recipients/{recipient_id}", session.key)
        return await _recipient_page(request, board, session, current, status=problem.status, problem=problem,
                                     given=given)
    return RedirectResponse(f"/board/recipients/{recipient_id}?saved=1", status_code=303)


async def _recipient_page(request: Request, board: Board, session: Session, found: dict[str, Any],
                          status: int = 200, **context: Any) -> Response:
    for name, default in (("saved", False), ("problem", None), ("given", {}), ("missing", {})):
        context.setdefault(name, default)
    # The service decides; this only spares a form its policy would refuse: a department changes
    # its own recipients but not its desk (the default alerts' address), readers nothing.
    reserved = found["kind"] in ("department", "coordinators")
    may_change = session.coordinates or (session.role == "department" and not reserved
                                         and found["department"] == session.department)
    changes = await board.services.changes("notifications", f"recipient/{found['id']}", session.key,
                                           session.coordinates)
    return render(request, "deliveries/recipient.html", session, status=status, recipient=found,
                  may_change=may_change, changes=changes, zone=board.settings.timezone, kinds=CHANNEL_KINDS,
                  hours=range(24),
                  error=_errors(context["problem"]), channel_errors=_channel_errors(context["problem"]), **context)


def _errors(problem: ServiceProblem | None) -> Callable[[str], str | None]:
    """The service's message for a field (`quiet_start`)."""
    def error(field: str) -> str | None:
        if problem is None:
            return None
        return next((_worded(e) for e in problem.errors if e.get("field") == field), None)
    return error


def _channel_errors(problem: ServiceProblem | None) -> list[str]:
    """The service's messages about the channels (`channels[1].address`, or a nested field's own name)."""
    return [_worded(e) for e in (problem.errors if problem else [])
            if str(e.get("field", "")).split("[")[0].split(".")[0] in ("channels", "address", "kind", "signing_secret")]


def _worded(error: dict[str, Any]) -> str:
    # The validator's own words, without the "Value error, " its library puts before them.
    return str(error.get("message", "")).removeprefix("Value error, ")
