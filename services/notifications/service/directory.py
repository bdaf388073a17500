"""The directory's use cases: recipients with their channels, and subscriptions. Every change
bumps the directory's version in its transaction (directory.changed), so routing sees it."""

from __future__ import annotations

from sqlalchemy import delete
from sqlmodel import col, select

from services.notifications import directory, domain
from services.notifications.models import Channel, Recipient, Subscription
from services.notifications.policy import POLICY
from services.notifications.privacy import recipient_record
from services.notifications.schemas import ChannelIn, RecipientIn, RecipientPatch, SubscriptionIn
from services.notifications.service import NotificationsContext
from shared import outbound
from shared.audit import fields_of
from shared.auth import Principal
from shared.listing import Keyset, Page, where_given
from shared.policy import OWN, key_of
from shared.problems import FieldError, Problem
from shared.uow import UnitOfWork, utcnow

# -- recipients -----------------------------------------------------------------------------------


async def create_recipient(uow: UnitOfWork, ctx: NotificationsContext, data: RecipientIn,
                           principal: Principal) -> tuple[Recipient, list[Channel]]:
    if data.department is None and POLICY.reach(principal, "recipient.create") is OWN:
        data.department = principal.department  # a department's recipients are its own
    _may_manage(principal, "recipient.create", data.id, data.kind, data.department)
    _namespaced(principal, data.id)
    channels = await _checked_channels(ctx, data.channels)
    now = utcnow()
    if await uow.session.get(Recipient, data.id) is not None:
        raise FieldError("id", f"recipient {data.id} exists already", status=409)
    recipient = Recipient(**data.model_dump(exclude={"channels"}), created_at=now, updated_at=now)
    uow.session.add(recipient)
    await uow.session.flush()
    rows = [Channel(recipient_id=recipient.id, created_at=now, **c.model_dump()) for c in channels]
    uow.session.add_all(rows)
    uow.audit("recipient", recipient.id, "created", None, recipient_record(recipient, rows))
    await directory.changed(await uow.session.connection())
    await uow.commit()
    return recipient, rows


RECIPIENT_ORDER = Keyset((col(Recipient.id),), descending=False)


async def list_recipients(uow: UnitOfWork, principal: Principal, department: str | None,
                          kind: domain.RecipientKind | None, limit: int,
                          cursor: str | None = None) -> Page[tuple[Recipient, list[Channel]]]:
    query = where_given(select(Recipient), {Recipient.department: department, Recipient.kind: kind})
    if (scope := POLICY.own_only(principal, "recipient.read")) is not None:
        query = query.where(Recipient.department == scope)
    recipients = list((await uow.session.exec(RECIPIENT_ORDER.page(query, cursor, limit))).all())
    channels = await _channels(uow, [r.id for r in recipients])
    return Page([(r, channels.get(r.id, [])) for r in recipients], RECIPIENT_ORDER.next_cursor(recipients, limit))


async def get_recipient(uow: UnitOfWork, recipient_id: str, principal: Principal) -> tuple[Recipient, list[Channel]]:
    recipient = await _recipient(uow, recipient_id, principal)
    return recipient, (await _channels(uow, [recipient.id])).get(recipient.id, [])


async def update_recipient(uow: UnitOfWork, ctx: NotificationsContext, recipient_id: str, data: RecipientPatch,
                           principal: Principal) -> tuple[Recipient, list[Channel]]:
    """Changes what `data` sets; `channels`, when given, replaces them all."""
    changes = data.model_dump(exclude_unset=True)
    channels = await _checked_channels(ctx, data.channels) if data.channels is not None else None
    recipient = await _recipient(uow, recipient_id, principal)
    _may_manage(principal, "recipient.change", recipient.id, recipient.kind, recipient.department)
    had = (await _channels(uow, [recipient.id])).get(recipient.id, [])
    before = recipient_record(recipient, had)
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
        had = [Channel(recipient_id=recipient.id, created_at=recipient.updated_at, **c.model_dump()) for c in channels]
        uow.session.add_all(had)
    uow.audit("recipient", recipient.id, "changed", before, recipient_record(recipient, had))
    await directory.changed(await uow.session.connection())
    await uow.commit()
    return recipient, (await _channels(uow, [recipient.id])).get(recipient.id, [])


async def delete_recipient(uow: UnitOfWork, recipient_id: str, principal: Principal) -> None:
    """The recipient, its channels and subscriptions go; the delivery log stays."""
    recipient = await _recipient(uow, recipient_id, principal)
    _may_manage(principal, "recipient.delete", recipient.id, recipient.kind, recipient.department)
    uow.audit("recipient", recipient.id, "deleted",
              recipient_record(recipient, (await _channels(uow, [recipient.id])).get(recipient.id, [])), None)
    await uow.session.exec(delete(Subscription).where(col(Subscription.recipient_id) == recipient.id))
    await uow.session.exec(delete(Channel).where(col(Channel.recipient_id) == recipient.id))
    await uow.session.delete(recipient)
    await directory.changed(await uow.session.connection())
    await uow.commit()


def _may_manage(principal: Principal, action: str, recipient_id: str, kind: domain.RecipientKind,
                department: str | None) -> None:
    POLICY.require(principal, action, department)
    if domain.is_reserved(recipient_id, kind):
        POLICY.require(principal, "recipient.reserved", department)


def _namespaced(principal: Principal, recipient_id: str) -> None:
    """Ids of the router's people are never handed out; a key that adds recipients only for its
    own department names them `<its code>-…`, so it can never take another's id."""
    if recipient_id.lower().startswith(domain.PERSON_PREFIX):
        raise FieldError("id", f"ids starting with {domain.PERSON_PREFIX} are the ones routing gives people "
                               "named by email")
    own = principal.department
    if POLICY.reach(principal, "recipient.create") is OWN and not recipient_id.startswith(f"{own}-"):
        raise FieldError("id", f"{key_of(own or principal.role)} names its recipients {own}-…", status=403)


async def _checked_channels(ctx: NotificationsContext, channels: list[ChannelIn]) -> list[ChannelIn]:
    """Webhook URLs must be https and lead to public addresses (shared/outbound.py; plain http
    only to loopback, when tests allow it). Checked again at every send."""
    for i, channel in enumerate(channels):
        if channel.kind == "email" or channel.address is None:
            continue
        try:
            await ctx.outbound.check_url(channel.address)
        except outbound.Refused as exc:
            raise FieldError(f"channels[{i}].address", str(exc)) from None
    return channels


async def _recipient(uow: UnitOfWork, recipient_id: str, principal: Principal) -> Recipient:
    recipient = await uow.session.get(Recipient, recipient_id)
    if recipient is None or not POLICY.allows(principal, "recipient.read", recipient.department):
        raise Problem(404, f"recipient {recipient_id} not found")
    return recipient


async def _channels(uow: UnitOfWork, recipient_ids: list[str]) -> dict[str, list[Channel]]:
    found: dict[str, list[Channel]] = {}
    if recipient_ids:
        for channel in (await uow.session.exec(select(Channel).where(
                col(Channel.recipient_id).in_(recipient_ids)).order_by(col(Channel.created_at)))).all():
            found.setdefault(channel.recipient_id, []).append(channel)
    return found


# -- subscriptions --------------------------------------------------------------------------------

async def subscribe(uow: UnitOfWork, data: SubscriptionIn, principal: Principal) -> Subscription:
    recipient = await uow.session.get(Recipient, data.recipient_id)
    if recipient is None or not POLICY.allows(principal, "recipient.read", recipient.department):
        raise FieldError("recipient_id", f"no recipient {data.recipient_id}")
    # What it then hears is still only what its owner may read (routing asks domain.may_receive).
    POLICY.require(principal, "subscription.create", recipient.department)
    subscription = Subscription(**data.model_dump(), created_at=utcnow())
    uow.session.add(subscription)
    uow.audit("subscription", subscription.id, "created", None, fields_of(subscription))
    await directory.changed(await uow.session.connection())
    await uow.commit()
    return subscription


async def list_subscriptions(uow: UnitOfWork, principal: Principal, recipient_id: str | None) -> list[Subscription]:
    query = select(Subscription).join(Recipient, col(Recipient.id) == Subscription.recipient_id).order_by(
        col(Subscription.created_at))
    if recipient_id:
        query = query.where(Subscription.recipient_id == recipient_id)
    if (scope := POLICY.own_only(principal, "subscription.read")) is not None:
        query = query.where(Recipient.department == scope)
    return list((await uow.session.exec(query)).all())


async def unsubscribe(uow: UnitOfWork, subscription_id: str, principal: Principal) -> None:
    subscription = await uow.session.get(Subscription, subscription_id)
    if subscription is None:
        raise Problem(404, f"subscription {subscription_id} not found")
    recipient = await uow.session.get(Recipient, subscription.recipient_id)
    if recipient is None or not POLICY.allows(principal, "subscription.read", recipient.department):
        raise Problem(404, f"subscription {subscription_id} not found")
    POLICY.require(principal, "subscription.delete", recipient.department)
    await uow.session.delete(subscription)
    uow.audit("subscription", subscription.id, "deleted", fields_of(subscription), None)
    await directory.changed(await uow.session.connection())
    await uow.commit()

