"""Delegations visiting us: announced, changed and cancelled by the department hosting them."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel import col, select

from services.travel import domain
from services.travel.domain import DelegationStatus
from services.travel.events import DelegationAnnouncedV1, DelegationCancelledV1, DelegationUpdatedV1
from services.travel.models import Delegation
from services.travel.policy import POLICY, may_read_delegation, visible_delegations
from services.travel.privacy import delegation_record
from services.travel.schemas import DelegationIn, DelegationPatch
from services.travel.service import TravelContext
from services.travel.service.overlaps import recheck_delegation, take_turns
from services.travel.service.payloads import delegation_v1
from shared.auth import Principal
from shared.listing import Keyset, Page, where_given
from shared.places import Place, resolve_field
from shared.problems import FieldError, Problem
from shared.uow import UnitOfWork, utcnow


def _origin(ctx: TravelContext, city: str, country: str, place_id: int | None) -> Place:
    return resolve_field(ctx.places, city, country, place_id, lambda name: f"origin_{name}")


def _from(city: str, place: Place, arrival: date, departure: date) -> dict[str, Any]:
    """A delegation's stored columns for its origin (as the department wrote it, and resolved) and dates."""
    return dict(origin_city=city, origin_country=place.country, origin_place_id=place.id,
                origin_place_name=place.name, origin_latitude=place.latitude, origin_longitude=place.longitude,
                origin_cell=domain.cell_of(place.latitude, place.longitude), arrival=arrival, departure=departure)


async def announce_delegation(uow: UnitOfWork, ctx: TravelContext, data: DelegationIn, host: str) -> Delegation:
    """`host` is the department the policy let the caller announce for (policy.acting_for)."""
    place = _origin(ctx, data.origin_city, data.origin_country, data.origin_place_id)
    await take_turns(uow, ctx, [(place.latitude, place.longitude)])
    now = utcnow()
    delegation = Delegation(
        host_department=host, **_from(data.origin_city, place, data.arrival, data.departure),
        organisation=data.organisation, visitors=data.visitors, official_guest=data.official_guest,
        created_at=now, updated_at=now)
    uow.session.add(delegation)
    await uow.session.flush()
    uow.publish(DelegationAnnouncedV1(**delegation_v1(delegation).model_dump(), announced_at=now),
                subject=f"delegations/{delegation.id}")
    uow.audit("delegation", delegation.id, "announced", None, delegation_record(delegation))
    await recheck_delegation(uow, ctx, delegation, now)
    await uow.commit()
    return delegation


async def load_delegation(uow: UnitOfWork, delegation_id: str, principal: Principal, *,
                          for_action: str | None = None) -> Delegation:
    """The delegation, if `principal` may read it (else a 404), and may do `for_action` on it (else a 403)."""
    delegation = await uow.session.get(Delegation, delegation_id)
    if delegation is None or not may_read_delegation(principal, delegation):
        raise Problem(404, f"delegation {delegation_id} not found")
    if for_action:
        POLICY.require(principal, for_action, delegation.host_department)
    return delegation


async def change_delegation(uow: UnitOfWork, ctx: TravelContext, principal: Principal, delegation_id: str,
                            patch: DelegationPatch) -> Delegation:
    """Only the fields given change. The origin is given whole (city and country, place_id if need be)."""
    given = patch.model_fields_set
    for name in ("visitors", "arrival", "departure", "official_guest", "origin_city", "origin_country"):
        if name in given and getattr(patch, name) is None:
            raise FieldError(name, "cannot be null")
    moved = bool({"origin_city", "origin_country"} & given)
    if moved and not {"origin_city", "origin_country"} <= given:
        raise FieldError("origin_country" if "origin_city" in given else "origin_city",
                         "give origin_city and origin_country together")
    # From here, a field is given exactly when it is not None.
    if patch.arrival is not None and patch.departure is not None and patch.departure < patch.arrival:
        raise FieldError("departure", "is before arrival")
    delegation = await load_delegation(uow, delegation_id, principal, for_action="delegation.change")
    if delegation.status == "cancelled":
        raise Problem(409, f"delegation {delegation_id} is cancelled; it can no longer change")
    changed, origin_before = [], (delegation.origin_latitude, delegation.origin_longitude)
    before = delegation_record(delegation)
    if moved or {"arrival", "departure"} & given:
        city = delegation.origin_city if patch.origin_city is None else patch.origin_city
        country = delegation.origin_country if patch.origin_country is None else patch.origin_country
        place_id = patch.origin_place_id if moved else delegation.origin_place_id
        arrival = delegation.arrival if patch.arrival is None else patch.arrival
        departure = delegation.departure if patch.departure is None else patch.departure
        if departure < arrival:
            raise FieldError("departure", "is before arrival")
        if (departure - arrival).days > domain.MAX_LEG_DAYS:  # the overlap search relies on it
            raise FieldError("departure" if "departure" in given else "arrival",
                             f"is more than {domain.MAX_LEG_DAYS} days from the other end of the visit")
        for name, value in _from(city, _origin(ctx, city, country, place_id), arrival, departure).items():
            if getattr(delegation, name) != value:
                setattr(delegation, name, value)
                changed.append(name)
    for name in ("organisation", "visitors", "official_guest"):
        if name in given and getattr(delegation, name) != getattr(patch, name):
            setattr(delegation, name, getattr(patch, name))
            changed.append(name)
    if not changed:
        return delegation
    await take_turns(uow, ctx, [origin_before, (delegation.origin_latitude, delegation.origin_longitude)])
    now = delegation.updated_at = utcnow()
    uow.publish(DelegationUpdatedV1(**delegation_v1(delegation).model_dump(), changed=changed, updated_at=now),
                subject=f"delegations/{delegation.id}")
    uow.audit("delegation", delegation.id, "changed", before, delegation_record(delegation))
    await recheck_delegation(uow, ctx, delegation, now)
    await uow.commit()
    return delegation


async def cancel_delegation(uow: UnitOfWork, ctx: TravelContext, principal: Principal,
                            delegation_id: str) -> Delegation:
    delegation = await load_delegation(uow, delegation_id, principal, for_action="delegation.cancel")
    if delegation.status == "cancelled":
        return delegation
    await take_turns(uow, ctx, [(delegation.origin_latitude, delegation.origin_longitude)])
    now = delegation.updated_at = utcnow()
    uow.audit("delegation", delegation.id, "cancelled", {"status": delegation.status}, {"status": "cancelled"})
    delegation.status = "cancelled"
    uow.publish(DelegationCancelledV1(**delegation_v1(delegation).model_dump(), cancelled_at=now),
                subject=f"delegations/{delegation.id}")
    await recheck_delegation(uow, ctx, delegation, now, reason=f"delegation {delegation.id} was cancelled")
    await uow.commit()
    return delegation


DELEGATION_ORDER = Keyset((col(Delegation.arrival), col(Delegation.id)))


async def list_delegations(uow: UnitOfWork, principal: Principal, *, department: str | None, country: str | None,
                           city: str | None, status: DelegationStatus | None, start: date | None,
                           end: date | None, limit: int, cursor: str | None = None) -> Page[Delegation]:
    """A page of the delegations `principal` may read, latest arrival first."""
    query = where_given(select(Delegation).where(visible_delegations(principal)),
                        {Delegation.host_department: department, Delegation.origin_country: country,
                         Delegation.origin_place_name: city, Delegation.status: status},
                        col(Delegation.departure) >= start if start else None,
                        col(Delegation.arrival) <= end if end else None)
    found = list((await uow.session.exec(DELEGATION_ORDER.page(query, cursor, limit))).all())
    return Page(found, DELEGATION_ORDER.next_cursor(found, limit))
