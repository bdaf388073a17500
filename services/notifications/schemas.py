"""Notifications' HTTP request and response bodies."""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Annotated
from zoneinfo import available_timezones

from pydantic import (
    BaseModel,
    BeforeValidator,
    EmailStr,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from services.notifications import domain
from services.notifications.domain import AttemptOutcome, ChannelKind, DeliveryStatus, Language, RecipientKind
from services.notifications.events import consumes
from shared.auth import DEPARTMENT

RecipientId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$",
                                   description="e.g. ECON (a department's own), OIA (the coordinators), j.doe")]
_EMAIL = TypeAdapter(EmailStr)


# A wall-clock time in the recipient's zone, "22:00" or "22:00:30", given and shown without an offset.
# JSON Schema's `format: time` (RFC 3339's full-time) requires one, so the schema states the shape instead.
WALL_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$")


def _wall_clock(at: object) -> object:
    if isinstance(at, time):  # read back from the database
        return at
    if not isinstance(at, str) or not WALL_CLOCK.match(at):
        # an offset would make it an instant, compared with the recipient's local time, which has none
        raise ValueError("a local time in the recipient's time zone, HH:MM without an offset (e.g. 22:00)")
    return at


LocalTime = Annotated[time, BeforeValidator(_wall_clock),
                      WithJsonSchema({"type": "string", "pattern": WALL_CLOCK.pattern, "examples": ["22:00"]})]


class ChannelIn(BaseModel):
    kind: ChannelKind
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
    kind: RecipientKind
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
    kind: ChannelKind
    address: str | None = Field(description="webhook URLs are shown masked")
    signed: bool


class RecipientOut(BaseModel):
    id: str
    kind: RecipientKind
    name: str
    department: str | None
    language: Language
    timezone: str
    quiet_start: LocalTime | None
    quiet_end: LocalTime | None
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
    outcome: AttemptOutcome
    status_code: int | None
    error: str | None


class DeliveryOut(BaseModel):
    id: str
    event_id: str
    recipient_id: str
    channel_id: str
    channel_kind: ChannelKind
    status: DeliveryStatus
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
