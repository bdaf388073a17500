"""Notifications' HTTP routes: the directory, subscriptions, the delivery log and the feed."""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Annotated, Literal
from zoneinfo import available_timezones

from fastapi import APIRouter, Query, Response
from pydantic import (
    AfterValidator,
    BaseModel,
    EmailStr,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from sqlalchemy import delete
from sqlmodel import col, select

from services.notifications import directory, domain
from services.notifications.channels import masked
from services.notifications.events import consumes
from services.notifications.models import Channel, Delivery, DeliveryAttempt, FeedItem, Notice, Recipient, Subscription
from services.notifications.policy import POLICY
from services.notifications.settings import NotificationsSettings
from shared import outbound
from shared.app import RuntimeDep
from shared.auth import DEPARTMENT, CurrentPrincipal, Principal
from shared.policy import OWN
from shared.problems import FieldError, Problem
from shared.uow import utcnow

router = APIRouter()

RecipientId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$",
                                   description="e.g. ECON (a department's own), OIA (the coordinators), j.doe")]
Language = Literal[domain.LANGUAGES]  # type: ignore[valid-type]
_EMAIL = TypeAdapter(EmailStr)


def _wall_clock(at: time) -> time:
    if at.tzinfo is not None:  # compared with the recipient's local time, which has none
        raise ValueError("a local time in the recipient's time zone, without an offset (e.g. 22:00)")
    return at


LocalTime = Annotated[time, AfterValidator(_wall_clock)]


class ChannelIn(BaseModel):
    kind: Literal[domain.CHANNEL_KINDS]  # type: ignore[valid-type]
    address: str | None = Field(None, max_length=2000, description="email address, or the webhook URL (a secret)")
    signing_secret: str | None = Field(None, min_length=16, max_length=200,
                                       description="generic webhooks: key for the X-Diplomacity-Signature HMAC")

    @field_validator("address")
    @classmethod
    def _valid_email(cls, address: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("kind") != "email" or address is None:
            return address
        try:
            return _EMAIL.validate_python(address)
        except ValidationError as exc:
            raise ValueError(f"not a valid email address: {exc.errors()[0]['msg']}") from None

    @field_validator("signing_secret")
    @classmethod
    def _only_webhooks_sign(cls, secret: str | None, info: ValidationInfo) -> str | None:
        if secret is not None and info.data.get("kind") != "webhook":
            raise ValueError("only generic webhooks are signed")
        return secret

    @model_validator(mode="after")
    def _email_has_address(self) -> ChannelIn:
        if self.kind == "email" and not self.address:
            raise ValueError("an email channel needs an address")
        return self


class RecipientIn(BaseModel):
    id: RecipientId
    kind: Literal[domain.RECIPIENT_KINDS]  # type: ignore[valid-type]
    name: str = Field(min_length=1, max_length=200)
    department: str | None = Field(None, pattern=DEPARTMENT.pattern)
    language: Language = "en"
    timezone: str = Field("Europe/Berlin", max_length=64, description="IANA time zone, e.g. Europe/Berlin")
    quiet_start: LocalTime | None = Field(None, description="local time non-critical alerts start waiting, e.g. 22:00")
    quiet_end: LocalTime | None = Field(None, description="local time they go out, e.g. 07:00")
    digest_hour: int | None = Field(None, ge=0, le=23, description="one message a day at this local hour")
    channels: list[ChannelIn] = Field(default_factory=list, max_length=20)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        return _zone(zone)

    @model_validator(mode="after")
    def _consistent(self) -> RecipientIn:
        if (self.quiet_start is None) != (self.quiet_end is None):
            raise ValueError("quiet_end: quiet hours need both quiet_start and quiet_end")
        if self.kind == "department" and self.department is None:
            raise ValueError("department: a department's recipient names its department")
        if self.kind == "coordinators":
            self.department = domain.COORDINATORS
        return self


class RecipientPatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    language: Language | None = None
    timezone: str | None = Field(None, max_length=64)
    quiet_start: LocalTime | None = None
    quiet_end: LocalTime | None = None
    digest_hour: int | None = Field(None, ge=0, le=23)
    channels: list[ChannelIn] | None = Field(None, max_length=20)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str | None) -> str | None:
        return zone if zone is None else _zone(zone)


def _zone(zone: str) -> str:
    # Only the known names: ZoneInfo would look any other up as a path (a directory such as "America"
    # raised IsADirectoryError, a 500).
    if zone not in _ZONES:
        raise ValueError(f"unknown time zone {zone!r}; use an IANA name such as Europe/Berlin")
    return zone


_ZONES = available_timezones()


class ChannelOut(BaseModel):
    id: str
    kind: str
    address: str | None = Field(description="webhook URLs are shown masked")
    signed: bool


class RecipientOut(BaseModel):
    id: str
    kind: str
    name: str
    department: str | None
    language: str
    timezone: str
    quiet_start: time | None
    quiet_end: time | None
    digest_hour: int | None
    channels: list[ChannelOut]
    created_at: datetime
    updated_at: datetime


class SubscriptionIn(BaseModel):
    recipient_id: RecipientId
    event_type: str = Field(max_length=200)
    department: str | None = Field(None, pattern=DEPARTMENT.pattern, description="only events about this department")
    country: str | None = Field(None, pattern=r"^[A-Z]{2}$", description="only events about this country")

    @field_validator("event_type")
    @classmethod
    def _known_type(cls, event_type: str) -> str:
        if event_type not in consumes.types:
            raise ValueError(f"no such event type; one of: {', '.join(consumes.types)}")
        return event_type


class SubscriptionOut(BaseModel):
    id: str
    recipient_id: str
    event_type: str
    department: str | None
    country: str | None
    created_at: datetime


class AttemptOut(BaseModel):
    number: int
    started_at: datetime
    finished_at: datetime
    outcome: str
    status_code: int | None
    error: str | None


class DeliveryOut(BaseModel):
    id: str
    event_id: str
    recipient_id: str
    channel_id: str
    channel_kind: str
    status: str
    due_at: datetime
    held_reason: str | None
    attempts: int
    attempt_limit: int
    last_error: str | None
    digest_id: str | None
    created_at: datetime
    sent_at: datetime | None
    log: list[AttemptOut] | None = None


class FeedItemOut(BaseModel):
    id: str
    recipient: str
    event_id: str
    event_type: str
    title: str
    body: str
    critical: bool
    created_at: datetime
    read_at: datetime | None
    acknowledged_at: datetime | None


# -- permissions (the table is services/notifications/policy.py) ----------------------------------

def _reserved(recipient_id: str, kind: str) -> bool:
    """A department's desk or the coordinators' recipient: the default alerts go to them, so
    whoever holds such an id hears what a department (or the office) is told. A department code
    as an id counts too, whatever its kind."""
    return kind in ("department", "coordinators") or DEPARTMENT.match(recipient_id) is not None


def _may_manage(principal: Principal, action: str, recipient_id: str, kind: str, department: str | None) -> None:
    POLICY.require(principal, action, department)
    if _reserved(recipient_id, kind):
        POLICY.require(principal, "recipient.reserved", department)


def _namespaced(principal: Principal, recipient_id: str) -> None:
    """Ids of the router's people are never handed out; a key that adds recipients only for its
    own department names them `<its code>-…`, so it can never take another's id."""
    if recipient_id.lower().startswith(domain.PERSON_PREFIX):
        raise FieldError("id", f"ids starting with {domain.PERSON_PREFIX} are the ones routing gives people "
                               "named by email")
    own = principal.department
    if POLICY.reach(principal, "recipient.create") is OWN and not recipient_id.startswith(f"{own}-"):
        raise FieldError("id", f"a {own} key names its recipients {own}-…", status=403)


_RECEIVER_STATUS = re.compile(r"^(?:HTTP|SMTP) \d{3}")
_OWN_WORDS = re.compile(r"^\w+ posting to the \w+ webhook$")  # channels.py: no word of the receiver's


def _error_shown(principal: Principal, error: str | None, ours: bool) -> str | None:
    """A failure's text as this key may see it: what a receiver answered (it may say anything) only
    for admins; others see its status."""
    if error is None or ours or _OWN_WORDS.match(error) or POLICY.allows(principal, "delivery.error_body"):
        return error
    status = _RECEIVER_STATUS.match(error)
    return f"{status.group(0) if status else 'failed'} (the receiver's answer is kept for admins)"


# -- recipients -----------------------------------------------------------------------------------

@router.post("/recipients", status_code=201, response_model=RecipientOut, tags=["directory"],
             summary="Add a recipient with its channels")
async def create_recipient(body: RecipientIn, principal: CurrentPrincipal, runtime: RuntimeDep) -> RecipientOut:
    if body.department is None and POLICY.reach(principal, "recipient.create") is OWN:
        body.department = principal.department  # a department's recipients are its own
    _may_manage(principal, "recipient.create", body.id, body.kind, body.department)
    _namespaced(principal, body.id)
    channels = await _checked_channels(body.channels, runtime.settings, "channels")
    now = utcnow()
    async with runtime.uow() as uow:
        if await uow.session.get(Recipient, body.id) is not None:
            raise FieldError("id", f"recipient {body.id} exists already", status=409)
        recipient = Recipient(**body.model_dump(exclude={"channels"}), created_at=now, updated_at=now)
        uow.session.add(recipient)
        await uow.session.flush()
        rows = [Channel(recipient_id=recipient.id, created_at=now, **c.model_dump()) for c in channels]
        uow.session.add_all(rows)
        await directory.changed(await uow.session.connection())
        await uow.commit()
        return _recipient_out(recipient, rows)


@router.get("/recipients", response_model=list[RecipientOut], tags=["directory"], summary="The directory")
async def list_recipients(principal: CurrentPrincipal, runtime: RuntimeDep,
                          department: Annotated[str | None, Query(pattern=DEPARTMENT.pattern)] = None,
                          kind: Annotated[Literal[domain.RECIPIENT_KINDS] | None, Query()] = None,  # type: ignore[valid-type]
                          limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[RecipientOut]:
    query = select(Recipient).order_by(Recipient.id).limit(limit)
    if (scope := POLICY.own_only(principal, "recipient.read")) is not None:
        query = query.where(Recipient.department == scope)
    if department:
        query = query.where(Recipient.department == department)
    if kind:
        query = query.where(Recipient.kind == kind)
    async with runtime.uow() as uow:
        recipients = (await uow.session.exec(query)).all()
        channels = await _channels(uow, [r.id for r in recipients])
    return [_recipient_out(r, channels.get(r.id, [])) for r in recipients]


@router.get("/recipients/{recipient_id}", response_model=RecipientOut, tags=["directory"])
async def get_recipient(recipient_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> RecipientOut:
    async with runtime.uow() as uow:
        recipient = await _recipient(uow, recipient_id, principal)
        return _recipient_out(recipient, (await _channels(uow, [recipient.id])).get(recipient.id, []))


@router.patch("/recipients/{recipient_id}", response_model=RecipientOut, tags=["directory"],
              summary="Change a recipient; `channels`, when given, replaces them all")
async def update_recipient(recipient_id: str, body: RecipientPatch, principal: CurrentPrincipal,
                           runtime: RuntimeDep) -> RecipientOut:
    changes = body.model_dump(exclude_unset=True)
    channels = (await _checked_channels(body.channels, runtime.settings, "channels")
                if body.channels is not None else None)
    async with runtime.uow() as uow:
        recipient = await _recipient(uow, recipient_id, principal)
        _may_manage(principal, "recipient.change", recipient.id, recipient.kind, recipient.department)
        for name in ("name", "language", "timezone", "quiet_start", "quiet_end", "digest_hour"):
            if name in changes:
                if changes[name] is None and name in ("name", "language", "timezone"):
                    raise FieldError(name, "may not be null")
                setattr(recipient, name, changes[name])
        if (recipient.quiet_start is None) != (recipient.quiet_end is None):
            raise FieldError("quiet_end", "quiet hours need both quiet_start and quiet_end")
        recipient.updated_at = utcnow()
        if channels is not None:
            await uow.session.exec(delete(Channel).where(col(Channel.recipient_id) == recipient.id))
            uow.session.add_all([Channel(recipient_id=recipient.id, created_at=recipient.updated_at, **c.model_dump())
                                 for c in channels])
        await directory.changed(await uow.session.connection())
        await uow.commit()
        return _recipient_out(recipient, (await _channels(uow, [recipient.id])).get(recipient.id, []))


@router.delete("/recipients/{recipient_id}", status_code=204, tags=["directory"],
               summary="Remove a recipient, its channels and subscriptions (the delivery log stays)")
async def delete_recipient(recipient_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> Response:
    async with runtime.uow() as uow:
        recipient = await _recipient(uow, recipient_id, principal)
        _may_manage(principal, "recipient.delete", recipient.id, recipient.kind, recipient.department)
        await uow.session.exec(delete(Subscription).where(col(Subscription.recipient_id) == recipient.id))
        await uow.session.exec(delete(Channel).where(col(Channel.recipient_id) == recipient.id))
        await uow.session.delete(recipient)
        await directory.changed(await uow.session.connection())
        await uow.commit()
    return Response(status_code=204)


async def _checked_channels(channels: list[ChannelIn], settings: NotificationsSettings,
                           field: str) -> list[ChannelIn]:
    """Webhook URLs must be https and lead to public addresses (shared/outbound.py; plain http
    only to loopback, when tests allow it). Checked again at every send."""
    guard = settings.outbound_guard()
    for i, channel in enumerate(channels):
        if channel.kind == "email" or channel.address is None:
            continue
        try:
            await guard.check_url(channel.address)
        except outbound.Refused as exc:
            raise FieldError(f"{field}[{i}].address", str(exc)) from None
    return channels


async def _recipient(uow, recipient_id: str, principal: Principal) -> Recipient:
    recipient = await uow.session.get(Recipient, recipient_id)
    if recipient is None or not POLICY.allows(principal, "recipient.read", recipient.department):
        raise Problem(404, f"recipient {recipient_id} not found")
    return recipient


async def _channels(uow, recipient_ids: list[str]) -> dict[str, list[Channel]]:
    found: dict[str, list[Channel]] = {}
    if recipient_ids:
        for channel in (await uow.session.exec(select(Channel).where(
                col(Channel.recipient_id).in_(recipient_ids)).order_by(Channel.created_at))).all():
            found.setdefault(channel.recipient_id, []).append(channel)
    return found


def _recipient_out(recipient: Recipient, channels: list[Channel]) -> RecipientOut:
    return RecipientOut(**recipient.model_dump(), channels=[
        ChannelOut(id=c.id, kind=c.kind, address=c.address if c.kind == "email" else masked(c.address),
                   signed=c.signing_secret is not None) for c in channels])


# -- subscriptions --------------------------------------------------------------------------------

@router.post("/subscriptions", status_code=201, response_model=SubscriptionOut, tags=["routing"],
             summary="Let a recipient hear of an event type (beyond the defaults), optionally narrowed")
async def subscribe(body: SubscriptionIn, principal: CurrentPrincipal, runtime: RuntimeDep) -> Subscription:
    async with runtime.uow() as uow:
        recipient = await uow.session.get(Recipient, body.recipient_id)
        if recipient is None or not POLICY.allows(principal, "recipient.read", recipient.department):
            raise FieldError("recipient_id", f"no recipient {body.recipient_id}")
        # What it then hears is still only what its owner may read (routing asks domain.may_receive).
        POLICY.require(principal, "subscription.create", recipient.department)
        subscription = Subscription(**body.model_dump(), created_at=utcnow())
        uow.session.add(subscription)
        await directory.changed(await uow.session.connection())
        await uow.commit()
        return subscription


@router.get("/subscriptions", response_model=list[SubscriptionOut], tags=["routing"])
async def list_subscriptions(principal: CurrentPrincipal, runtime: RuntimeDep,
                             recipient_id: Annotated[str | None, Query(max_length=40)] = None) -> list[Subscription]:
    query = select(Subscription).join(Recipient, col(Recipient.id) == Subscription.recipient_id).order_by(
        Subscription.created_at)
    if recipient_id:
        query = query.where(Subscription.recipient_id == recipient_id)
    if (scope := POLICY.own_only(principal, "subscription.read")) is not None:
        query = query.where(Recipient.department == scope)
    async with runtime.uow() as uow:
        return list((await uow.session.exec(query)).all())


@router.delete("/subscriptions/{subscription_id}", status_code=204, tags=["routing"])
async def unsubscribe(subscription_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> Response:
    async with runtime.uow() as uow:
        subscription = await uow.session.get(Subscription, subscription_id)
        recipient = subscription and await uow.session.get(Recipient, subscription.recipient_id)
        if subscription is None or recipient is None or not POLICY.allows(principal, "subscription.read",
                                                                          recipient.department):
            raise Problem(404, f"subscription {subscription_id} not found")
        POLICY.require(principal, "subscription.delete", recipient.department)
        await uow.session.delete(subscription)
        await directory.changed(await uow.session.connection())
        await uow.commit()
    return Response(status_code=204)


# -- the delivery log -----------------------------------------------------------------------------

DeliveryStatus = Literal["pending", "digest", "sending", "sending-digest", "sent", "skipped", "dead"]


@router.get("/deliveries", response_model=list[DeliveryOut], tags=["deliveries"],
            summary="Deliveries, newest first, filtered")
async def list_deliveries(principal: CurrentPrincipal, runtime: RuntimeDep,
                          event_id: Annotated[str | None, Query(max_length=36)] = None,
                          status: Annotated[DeliveryStatus | None, Query()] = None,
                          recipient: Annotated[str | None, Query(max_length=40)] = None,
                          limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[DeliveryOut]:
    query = select(Delivery).order_by(col(Delivery.created_at).desc(), col(Delivery.id)).limit(limit)
    if event_id:
        query = query.where(Delivery.event_id == event_id)
    if status:
        query = query.where(Delivery.status == status)
    if recipient:
        query = query.where(Delivery.recipient_id == recipient)
    if (scope := POLICY.own_only(principal, "delivery.read")) is not None:
        query = query.join(Recipient, col(Recipient.id) == Delivery.recipient_id).where(Recipient.department == scope)
    if not POLICY.allows(principal, "restricted.read"):
        query = query.join(Notice, col(Notice.event_id) == Delivery.event_id).where(col(Notice.restricted).is_(False))
    async with runtime.uow() as uow:
        return [_delivery_out(principal, d) for d in (await uow.session.exec(query)).all()]


@router.get("/deliveries/{delivery_id}", response_model=DeliveryOut, tags=["deliveries"],
            summary="One delivery with every attempt")
async def get_delivery(delivery_id: str, principal: CurrentPrincipal, runtime: RuntimeDep) -> DeliveryOut:
    async with runtime.uow() as uow:
        delivery = await _delivery(uow, delivery_id, principal)
        attempts = (await uow.session.exec(select(DeliveryAttempt).where(
            DeliveryAttempt.delivery_id == delivery.id).order_by(col(DeliveryAttempt.number)))).all()
        return _delivery_out(principal, delivery, attempts)


@router.post("/deliveries/{delivery_id}/retry", response_model=DeliveryOut, tags=["deliveries"],
             summary="Re-drive a dead or skipped delivery (admin): due now, with a fresh set of attempts")
async def retry_delivery(delivery_id: str, runtime: RuntimeDep, principal: CurrentPrincipal) -> DeliveryOut:
    POLICY.require(principal, "delivery.retry")
    async with runtime.uow() as uow:
        delivery = await _delivery(uow, delivery_id, principal)
        if delivery.status not in ("dead", "skipped"):
            raise Problem(409, f"delivery {delivery_id} is {delivery.status}; only dead or skipped ones are re-driven")
        delivery.status, delivery.due_at, delivery.held_reason = "pending", utcnow(), None
        delivery.attempt_limit = delivery.attempts + domain.MAX_ATTEMPTS
        await uow.commit()
        shown = _delivery_out(principal, delivery)
    for worker in runtime.workers:
        worker.wake()
    return shown


async def _delivery(uow, delivery_id: str, principal: Principal) -> Delivery:
    delivery = await uow.session.get(Delivery, delivery_id)
    recipient = delivery and await uow.session.get(Recipient, delivery.recipient_id)
    notice = delivery and await uow.session.get(Notice, delivery.event_id)
    if (delivery is None or not POLICY.allows(principal, "delivery.read", recipient.department if recipient else None)
            or not _may_see(principal, notice)):
        raise Problem(404, f"delivery {delivery_id} not found")
    return delivery


def _may_see(principal: Principal, item: Notice | FeedItem | None) -> bool:
    """Whether an item about an event may be shown at all: one about a restricted trip only to
    those who may see restricted items."""
    return item is not None and (not item.restricted or POLICY.allows(principal, "restricted.read"))


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
               limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[FeedItem]:
    async with runtime.uow() as uow:
        POLICY.require(principal, "feed.read", await _feed_owner(uow, recipient))
        query = select(FeedItem).where(FeedItem.recipient == recipient)
        if not POLICY.allows(principal, "restricted.read"):
            query = query.where(col(FeedItem.restricted).is_(False))
        if event_id:
            query = query.where(FeedItem.event_id == event_id)
        if unread:
            query = query.where(col(FeedItem.read_at).is_(None))
        return list((await uow.session.exec(query.order_by(col(FeedItem.created_at).desc()).limit(limit))).all())


@router.post("/feed/{item_id}/{state}", response_model=FeedItemOut, tags=["feed"],
             summary="Mark a feed item read, or acknowledged (which reads it too)")
async def mark_feed_item(item_id: str, state: Literal["read", "acknowledged"], principal: CurrentPrincipal,
                         runtime: RuntimeDep) -> FeedItem:
    async with runtime.uow() as uow:
        item = await uow.session.get(FeedItem, item_id)
        if item is None or not _may_see(principal, item):
            raise Problem(404, f"feed item {item_id} not found")
        owner = await _feed_owner(uow, item.recipient)
        POLICY.require(principal, "feed.read", owner)
        POLICY.require(principal, "feed.mark", owner)
        now = utcnow()
        item.read_at = item.read_at or now
        if state == "acknowledged":
            item.acknowledged_at = item.acknowledged_at or now
        await uow.commit()
        return item


async def _feed_owner(uow, recipient_id: str) -> str | None:
    """Whose feed it is: its recipient's department; a feed kept under a department's code before
    anyone set that department up is the department's."""
    recipient = await uow.session.get(Recipient, recipient_id)
    if recipient is not None:
        return recipient.department
    return recipient_id if DEPARTMENT.match(recipient_id) else None
