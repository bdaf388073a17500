"""Grants' HTTP API bodies: what requests carry and responses give, and nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, EmailStr, Field, field_validator

from services.grants import domain
from services.grants.domain import CallSource, CallStatus, CityRole, Language, Programme, Role, Stage
from shared.auth import DEPARTMENT
from shared.bounds import Instant, PlaceId

Amount = Annotated[float, Field(ge=0, le=1e12)]


def _moment(at: time):
    """A timestamp with its offset, or a date meaning `at` o'clock in Brussels that day (a time
    without an offset is ambiguous, so refused)."""
    def parse(value: Any) -> Any:
        if isinstance(value, str) and len(value.strip()) == 10:
            try:
                value = date.fromisoformat(value.strip())
            except ValueError:
                raise ValueError("not a date (YYYY-MM-DD) or a timestamp with its offset") from None
        if isinstance(value, date) and not isinstance(value, datetime):
            return datetime.combine(value, at, tzinfo=domain.BRUSSELS)
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                raise ValueError("not a date (YYYY-MM-DD) or a timestamp with its offset") from None
        if isinstance(value, datetime) and value.tzinfo is None:
            raise ValueError("give the offset (e.g. 2027-03-31T17:00:00+02:00), or only the date")
        return value
    return BeforeValidator(parse)


# A deadline given as a date is 17:00 Brussels time that day; an opening, the start of the day.
Deadline = Annotated[Instant, _moment(domain.DEADLINE_TIME)]
Opening = Annotated[Instant, _moment(time(0, 0))]


# -- calls ----------------------------------------------------------------------------------------

class CallFields(BaseModel):
    title: str = Field(min_length=1, max_length=500)
    topic: str | None = Field(None, max_length=500)
    opens_at: Opening | None = Field(None, description="a date means 00:00 in Brussels")
    deadlines: list[Deadline] = Field(
        min_length=1, max_length=2, description="one per stage, in order; a date means 17:00 Europe/Brussels")
    budget: Amount | None = None
    grant_min: Amount | None = None
    grant_max: Amount | None = None
    cofinancing_rate: float | None = Field(None, gt=0, le=1, description="the share the EU pays, e.g. 0.9")
    min_applicants: int | None = Field(None, ge=1, le=100)
    min_countries: int | None = Field(None, ge=1, le=100)
    min_eu_members: int | None = Field(None, ge=0, le=27)
    rules_source: str | None = Field(None, max_length=300, description="where the consortium rules come from")
    themes: list[Annotated[str, Field(min_length=1, max_length=60)]] = Field(default_factory=list, max_length=50)
    url: str | None = Field(None, max_length=1000, pattern=r"^https?://")


class CallIn(CallFields):
    identifier: str = Field(min_length=3, max_length=120, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                            examples=["CERV-2027-CITIZENS-TOWN-TT"])
    programme: Programme


class CallPatch(BaseModel):
    title: str | None = Field(None, min_length=1, max_length=500)
    topic: str | None = Field(None, max_length=500)
    programme: Programme | None = None
    opens_at: Opening | None = None
    deadlines: list[Deadline] | None = Field(None, min_length=1, max_length=2)
    budget: Amount | None = None
    grant_min: Amount | None = None
    grant_max: Amount | None = None
    cofinancing_rate: float | None = Field(None, gt=0, le=1)
    min_applicants: int | None = Field(None, ge=1, le=100)
    min_countries: int | None = Field(None, ge=1, le=100)
    min_eu_members: int | None = Field(None, ge=0, le=27)
    rules_source: str | None = Field(None, max_length=300)
    themes: list[Annotated[str, Field(min_length=1, max_length=60)]] | None = Field(None, max_length=50)
    url: str | None = Field(None, max_length=1000, pattern=r"^https?://")


class DeadlineOut(BaseModel):
    stage: int
    at: datetime


class CallOut(BaseModel):
    id: str
    identifier: str
    programme: Programme
    title: str
    topic: str | None
    opens_at: datetime | None
    deadlines: list[DeadlineOut]
    status: CallStatus
    budget: float | None
    grant_min: float | None
    grant_max: float | None
    cofinancing_rate: float | None
    rules: dict[str, Any]
    themes: list[str]
    url: str | None
    source: CallSource
    version: int
    created_at: datetime
    updated_at: datetime


class CallVersionOut(BaseModel):
    version: int
    changes: list[dict[str, Any]]
    recorded_at: datetime


# Import and job reports are dataclasses: the service layer builds them row by row (thousands in an
# import), and shared.render turns them into JSON off the event loop.

@dataclass
class ImportedRow:
    line: int
    identifier: str | None
    status: Literal["created", "updated", "unchanged", "skipped"]
    call_id: str | None = None
    reason: str | None = None
    changes: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    report: list[ImportedRow] = field(default_factory=list)


# -- applications ---------------------------------------------------------------------------------

class OwnerIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr


class ConsortiumMemberIn(BaseModel):
    name: str = Field(min_length=1, max_length=300, description="the organisation, e.g. 'City of Kraków'")
    city: str = Field(min_length=1, max_length=100)
    country: str = Field(min_length=2, max_length=60, description="ISO 3166 code or English name")
    place_id: PlaceId | None = Field(None, description="GeoNames id, to pick one of several candidates")
    role: Role = "partner"
    partnership_id: str | None = Field(None, min_length=1, max_length=36,
                                       description="the partnership it comes from, if any")


class ApplicationIn(BaseModel):
    call_id: str = Field(min_length=1, max_length=36)
    lead_department: str | None = Field(None, pattern=DEPARTMENT.pattern, description="default: the caller's")
    title: str = Field(min_length=1, max_length=300)
    owner: OwnerIn
    requested_amount: Amount
    cofinancing_amount: Amount = 0.0
    city_role: CityRole = "coordinator"
    consortium: list[ConsortiumMemberIn] = Field(default_factory=list, max_length=100)
    notes: str | None = Field(None, max_length=10_000)
    internal_buffer_days: int = Field(domain.DEFAULT_INTERNAL_BUFFER_DAYS, ge=0, le=60)


class ApplicationPatch(BaseModel):
    title: str | None = Field(None, min_length=1, max_length=300)
    owner: OwnerIn | None = None
    requested_amount: Amount | None = None
    cofinancing_amount: Amount | None = None
    city_role: CityRole | None = None
    consortium: list[ConsortiumMemberIn] | None = Field(None, max_length=100)
    notes: str | None = Field(None, max_length=10_000)
    internal_buffer_days: int | None = Field(None, ge=0, le=60)


class StageIn(BaseModel):
    stage: Stage
    reason: str | None = Field(None, max_length=1000, description="required when rejected")
    awarded_amount: Amount | None = Field(None, description="when awarded (default: the amount requested)")

    @field_validator("reason")
    @classmethod
    def _strip(cls, reason: str | None) -> str | None:
        return reason.strip() or None if reason is not None else None


class CheckOut(BaseModel):
    rule: str
    required: int
    actual: int
    passed: bool
    source: str
    counted: list[str]


class EligibilityOut(BaseModel):
    application_id: str
    call_id: str
    eligible: bool
    checks: list[CheckOut]


class ApplicationOut(BaseModel):
    id: str
    call_id: str
    call_identifier: str
    programme: Programme
    lead_department: str
    title: str
    owner: dict[str, str]
    requested_amount: float
    cofinancing_amount: float
    awarded_amount: float | None
    city_role: CityRole
    consortium: list[dict[str, Any]]
    notes: str | None
    stage: Stage
    stage_reason: str | None
    next_stages: list[Stage]
    call_stage: int = Field(description="the call's stage it is prepared for: 2 once invited to the second")
    internal_buffer_days: int
    next_deadline: datetime | None = Field(description="the call's deadline it works towards, while ahead")
    internal_deadline: datetime | None
    eligibility: EligibilityOut
    submitted_at: datetime | None
    decided_at: datetime | None
    created_at: datetime
    updated_at: datetime


class StageChangeOut(BaseModel):
    from_stage: Stage
    to_stage: Stage
    reason: str | None
    changed_by: str
    changed_at: datetime


class PartnerCandidateOut(BaseModel):
    source: str
    city: str
    country: str
    eu_member: bool
    themes: list[str]
    partnership_id: str | None = None
    network: str | None = None
    last_contact_on: date | None = None
    adds_country: bool = Field(description="from a country not yet in the consortium")
    adds_eu_member_state: bool = Field(description="from an EU member state not yet in the consortium")


class PartnerCandidatesOut(BaseModel):
    application_id: str
    missing: list[CheckOut] = Field(description="the eligibility checks the consortium does not pass yet")
    candidates: list[PartnerCandidateOut]


# -- the city profile -----------------------------------------------------------------------------

class TextBlockIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=20_000, description="Markdown")
    position: int = Field(0, ge=0, le=1000)


class TextBlockOut(TextBlockIn):
    key: str
    language: Language
    updated_at: datetime


# -- reports and jobs -----------------------------------------------------------------------------

class ReportOut(BaseModel):
    year: int
    applications: int
    by_stage: dict[str, int]
    by_programme: dict[str, int]
    requested: float = Field(description="euros requested by the year's applications")
    awarded: float = Field(description="euros awarded to them")
    decided: int = Field(description="applications the EU has decided on (won or rejected)")
    won: int
    win_rate: float | None = Field(description="won / decided; none before any decision")
    won_by_department: dict[str, float]


class JobsIn(BaseModel):
    now: Instant | None = Field(None, description="run as of this instant (default: now)")


@dataclass
class JobReport:
    as_of: datetime
    applications: int = 0
    reminders: int = 0
