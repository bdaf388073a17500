"""Notifications' HTTP routes: the directory, subscriptions, the delivery log and the feed."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import aclosing
from time import monotonic
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from services.notifications.channels import masked
from services.notifications.domain import DeliveryStatus, RecipientKind
from services.notifications.models import Channel, Delivery, DeliveryAttempt, FeedItem, Recipient, Subscription
from services.notifications.policy import POLICY
from services.notifications.schemas import (
    AttemptOut,
    ChannelOut,
    DeliveryOut,
    FeedItemOut,
    RecipientIn,
    RecipientOut,
    RecipientPatch,
    SubscriptionIn,
    SubscriptionOut,
)
from services.notifications.service import NotificationsContext, deliveries, directory
from services.notifications.service.feed import FeedFollower, follow_feed, mark_item, read_feed
from shared.app import RuntimeDep
from shared.auth import DEPARTMENT, CurrentPrincipal, Principal
from shared.listing import Cursor
from shared.openapi import problems
from shared.runtime import ServiceRuntime

router = APIRouter()


def _context(runtime: RuntimeDep) -> NotificationsContext:
    return runtime.context


ContextDep = Annotated[NotificationsContext, Depends(_context)]


# -- recipients -----------------------------------------------------------------------------------

@router.post("/recipients", status_code=201, response_model=RecipientOut, tags=["directory"],
             summary="Add a recipient with its channels", responses=problems(409))
async def create_recipient(body: Annotated[RecipientIn, Body(openapi_examples={"department": {
                               "summary": "A department's inbox, quiet at night",
                               "value": {"id": "ECON", "kind": "department", "name": "Economic Development",
                                         "department": "ECON", "language": "de", "timezone": "Europe/Berlin",
                                         "quiet_start": "22:00", "quiet_end": "07:00",
                                         "channels": [{"kind": "email", "address": "econ@city.example"}]}}})],
                           principal: CurrentPrincipal, runtime: RuntimeDep,
                           ctx: ContextDep) -> RecipientOut:
    async with runtime.uow() as uow:
        return _recipient_out(*await directory.create_recipient(uow, ctx, body, principal))


@router.get("/recipients", response_model=list[RecipientOut], tags=["directory"], summary="The directory")
async def list_recipients(principal: CurrentPrincipal, runtime: RuntimeDep,
                          department: Annotated[str | None, Query(pattern=DEPARTMENT.pattern)] = None,
                          kind: Annotated[RecipientKind | None, Query()] = None,
                          limit: Annotated[int, Query(ge=1, le=500)] = 100, cursor: Cursor = None, *,
                          response: Response) -> list[RecipientOut]:
    async with runtime.reads() as uow:
        found = await directory.list_recipients(uow, principal, department, kind, limit, cursor)
    return [_recipient_out(recipient, channels) for recipient, channels in found.send(response)]


@router.get("/recipients/{recipient_id}", response_model=RecipientOut, tags=["directory"])
async def get_recipient(recipient_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> RecipientOut:
    async with runtime.reads() as uow:
        return _recipient_out(*await directory.get_recipient(uow, recipient_id, principal))


@router.patch("/recipients/{recipient_id}", response_model=RecipientOut, tags=["directory"],
              summary="Change a recipient; `channels`, when given, replaces them all")
async def update_recipient(recipient_id: str, body: RecipientPatch, principal: CurrentPrincipal,
                           runtime: RuntimeDep, ctx: ContextDep) -> RecipientOut:
    async with runtime.uow() as uow:
        return _recipient_out(*await directory.update_recipient(uow, ctx, recipient_id, body, principal))


@router.delete("/recipients/{recipient_id}", status_code=204, tags=["directory"],
               summary="Remove a recipient, its channels and subscriptions (the delivery log stays)")
async def delete_recipient(recipient_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> Response:
    async with runtime.uow() as uow:
        await directory.delete_recipient(uow, recipient_id, principal)
    return Response(status_code=204)


def _recipient_out(recipient: Recipient, channels: list[Channel]) -> RecipientOut:
    return RecipientOut(**recipient.model_dump(), channels=[
        ChannelOut(id=c.id, kind=c.kind, address=c.address if c.kind == "email" else masked(c.address),
                   signed=c.signing_secret is not None) for c in channels])


# -- subscriptions --------------------------------------------------------------------------------

@router.post("/subscriptions", status_code=201, response_model=SubscriptionOut, tags=["routing"],
             summary="Let a recipient hear of an event type (beyond the defaults), optionally narrowed")
async def subscribe(body: SubscriptionIn, principal: CurrentPrincipal, runtime: RuntimeDep) -> Subscription:
    async with runtime.uow() as uow:
        return await directory.subscribe(uow, body, principal)


@router.get("/subscriptions", response_model=list[SubscriptionOut], tags=["routing"])
async def list_subscriptions(principal: CurrentPrincipal, runtime: RuntimeDep,
                             recipient_id: Annotated[str | None, Query(max_length=40)] = None) -> list[Subscription]:
    async with runtime.reads() as uow:
        return await directory.list_subscriptions(uow, principal, recipient_id)


@router.delete("/subscriptions/{subscription_id}", status_code=204, tags=["routing"])
async def unsubscribe(subscription_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> Response:
    async with runtime.uow() as uow:
        await directory.unsubscribe(uow, subscription_id, principal)
    return Response(status_code=204)


# -- the delivery log -----------------------------------------------------------------------------

@router.get("/deliveries", response_model=list[DeliveryOut], tags=["deliveries"],
            summary="Deliveries, newest first, filtered")
async def list_deliveries(principal: CurrentPrincipal, runtime: RuntimeDep,
                          event_id: Annotated[str | None, Query(max_length=36)] = None,
                          status: Annotated[DeliveryStatus | None, Query()] = None,
                          recipient: Annotated[str | None, Query(max_length=40)] = None,
                          limit: Annotated[int, Query(ge=1, le=500)] = 100, cursor: Cursor = None, *,
                          response: Response) -> list[DeliveryOut]:
    async with runtime.reads() as uow:
        found = await deliveries.list_deliveries(uow, principal, event_id, status, recipient, limit, cursor)
    return [_delivery_out(principal, d) for d in found.send(response)]


@router.get("/deliveries/{delivery_id}", response_model=DeliveryOut, tags=["deliveries"],
            summary="One delivery with every attempt")
async def get_delivery(delivery_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> DeliveryOut:
    async with runtime.reads() as uow:
        delivery, attempts = await deliveries.get_delivery(uow, delivery_id, principal)
    return _delivery_out(principal, delivery, attempts)


@router.post("/deliveries/{delivery_id}/retry", response_model=DeliveryOut, tags=["deliveries"],
             summary="Re-drive a dead or skipped delivery (admin): due now, with a fresh set of attempts",
             responses=problems(409))
async def retry_delivery(delivery_id: str, runtime: RuntimeDep, principal: CurrentPrincipal,
                         ctx: ContextDep) -> DeliveryOut:
    POLICY.require(principal, "delivery.retry")
    async with runtime.uow() as uow:
        return _delivery_out(principal, await deliveries.redrive(uow, ctx, delivery_id, principal))


_RECEIVER_STATUS = re.compile(r"^(?:HTTP|SMTP) \d{3}")
_OWN_WORDS = re.compile(r"^\w+ posting to the \w+ webhook$")  # channels/posting.py: no word of the receiver's


def _error_shown(principal: Principal, error: str | None, ours: bool) -> str | None:
    """A failure's text as this key may see it: what a receiver answered (it may say anything) only
    for admins; others see its status."""
    if error is None or ours or _OWN_WORDS.match(error) or POLICY.allows(principal, "delivery.error_body"):
        return error
    status = _RECEIVER_STATUS.match(error)
    return f"{status.group(0) if status else 'failed'} (the receiver's answer is kept for admins)"


def _delivery_out(principal: Principal, delivery: Delivery, attempts: list[DeliveryAttempt] | None = None
                  ) -> DeliveryOut:
    """A delivery as this key may see it: a receiver's answer only for admins. Skipped deliveries
    and attempts carry our own words (why there was nothing to send to)."""
    shown = DeliveryOut(**delivery.model_dump(), log=None if attempts is None else [
        AttemptOut(**a.model_dump()) for a in attempts])
    shown.last_error = _error_shown(principal, delivery.last_error, ours=delivery.status == "skipped")
    for attempt in shown.log or []:
        attempt.error = _error_shown(principal, attempt.error, ours=attempt.outcome == "skipped")
    return shown


# -- the in-app feed ------------------------------------------------------------------------------

@router.get("/feed", response_model=list[FeedItemOut], tags=["feed"], summary="A recipient's feed, newest first")
async def feed(principal: CurrentPrincipal, runtime: RuntimeDep,
                    recipient: Annotated[str, Query(min_length=1, max_length=100)],
                    event_id: Annotated[str | None, Query(max_length=36)] = None,
                    unread: Annotated[bool, Query(description="only items not yet read")] = False,
                    limit: Annotated[int, Query(ge=1, le=500)] = 100, cursor: Cursor = None, *,
                    response: Response) -> list[FeedItem]:
    async with runtime.reads() as uow:
        return (await read_feed(uow, principal, recipient, event_id, unread, limit, cursor)).send(response)


HEARTBEAT_SECONDS = 15  # a comment line, so proxies and browsers keep an idle stream open


@router.get("/feed/stream", tags=["feed"], response_class=StreamingResponse,
            summary="A recipient's new feed items as they come (server-sent events)",
            description="Sends nothing old: each feed item from now on (or, reconnecting, after the item named by "
                        "`Last-Event-ID`) as an event `feed` whose `id` is the item's id and whose `data` is the "
                        "item (FeedItemOut) as JSON; a comment line (`: keep-alive`) every 15 seconds of quiet. "
                        "Read as the feed is: the same key, the same items.",
            responses={200: {"description": "An endless `text/event-stream`", "content": {"text/event-stream": {
                "schema": {"type": "string"},
                "example": 'id: 5f0c…\nevent: feed\ndata: {"id": "5f0c…", "recipient": "ECON", …}\n\n'}}}})
async def feed_stream(request: Request, principal: CurrentPrincipal, runtime: RuntimeDep, ctx: ContextDep,
                      recipient: Annotated[str, Query(min_length=1, max_length=100)],
                      last_event_id: Annotated[str | None, Header(
                          alias="Last-Event-ID", max_length=36,
                          description="the id of the last event had: a browser's EventSource sends it when it "
                                      "reconnects")] = None) -> StreamingResponse:
    async with runtime.reads() as uow:
        follower = await follow_feed(uow, principal, recipient, last_event_id)
    return StreamingResponse(_feed_events(request, runtime, ctx, follower), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def _feed_events(request: Request, runtime: ServiceRuntime, ctx: NotificationsContext,
                       follower: FeedFollower) -> AsyncIterator[str]:
    """Each look's items as events, until the reader goes (or the server stops: uvicorn then cancels
    the stream after its graceful-shutdown timeout, see oia/cli.py)."""
    quiet_since = monotonic()
    async with aclosing(follower.looks(runtime.reads, ctx.feed_bell)) as looks:
        async for items in looks:
            if await request.is_disconnected():
                return
            for item in items:
                data = FeedItemOut.model_validate(item, from_attributes=True).model_dump_json()
                yield f"id: {item.id}\nevent: feed\ndata: {data}\n\n"
            if items or monotonic() - quiet_since >= HEARTBEAT_SECONDS:
                if not items:
                    yield ": keep-alive\n\n"
                quiet_since = monotonic()


@router.post("/feed/{item_id}/{state}", response_model=FeedItemOut, tags=["feed"],
             summary="Mark a feed item read, or acknowledged (which reads it too)")
async def mark_feed_item(item_id: str, state: Literal["read", "acknowledged"], principal: CurrentPrincipal,
                         runtime: RuntimeDep) -> FeedItem:
    async with runtime.uow() as uow:
        return await mark_item(uow, item_id, state, principal)
