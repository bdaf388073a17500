"""What grants publishes. Every event carries what a consumer needs to act on it (the call, the
application's owner and department), so nobody has to call back. Grants reads no events."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from pydantic.config import JsonDict, JsonValue

from services.grants.domain import CallStatus, ReminderKind, VersionedField
from shared.envelope import EventRegistry

publishes = EventRegistry()
consumes = EventRegistry()

_CALL: JsonDict = {"call_id": "0b9f6c1e-2f44-4a51-9a3c-5c1f2d0e7a10", "identifier": "CERV-2027-CITIZENS-TOWN-TT",
         "programme": "cerv", "title": "Town-Twinning", "url": "https://ec.europa.eu/info/funding-tenders/"
                                                               "opportunities/portal/screen/opportunities/topic-details/"
                                                               "CERV-2027-CITIZENS-TOWN-TT"}
_DEADLINES: list[JsonValue] = [{"stage": 1, "at": "2027-09-16T15:00:00Z"}]
_APPLICATION: JsonDict = {
    "application_id": "6a0f5e1c-3b2d-4e8f-9a7c-1d2e3f4a5b6c", "title": "Twinning for climate action",
    "lead_department": "ENV", "owner": {"name": "Jana Weber", "email": "jana.weber@city.example"},
    "call": {**_CALL, "deadlines": _DEADLINES}}


class DeadlineV1(BaseModel):
    stage: int  # 1, or 2 for a two-stage call's full proposal
    at: datetime  # aware; a deadline given as a date is 17:00 Europe/Brussels


class CallRefV1(BaseModel):
    call_id: str
    identifier: str
    programme: str
    title: str
    url: str | None
    deadlines: list[DeadlineV1]


class OwnerV1(BaseModel):
    name: str
    email: str


class ApplicationRefV1(BaseModel):
    """Which application, whose, and for which call."""

    application_id: str
    title: str
    lead_department: str
    owner: OwnerV1
    call: CallRefV1


@publishes.event("grants.call.published.v1")
class CallPublishedV1(CallRefV1):
    """A new call that matches the city's themes: worth a look by the EU funding team."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        **_CALL, "deadlines": _DEADLINES, "topic": "Town-Twinning", "opens_at": "2027-03-01T00:00:00Z",
        "status": "forthcoming", "budget": 4_000_000, "grant_min": None, "grant_max": 30_000,
        "themes": ["citizens", "democracy"], "matched_themes": ["citizens"], "published_at": "2027-02-01T09:00:00Z"}]})

    topic: str | None
    opens_at: datetime | None
    status: CallStatus
    budget: float | None
    grant_min: float | None
    grant_max: float | None
    themes: list[str]
    matched_themes: list[str]
    published_at: datetime


class CallChangeV1(BaseModel):
    field: VersionedField
    before: str | None  # as text: dates ISO 8601, deadlines "1: …; 2: …", amounts in euros
    after: str | None


class AffectedApplicationV1(BaseModel):
    application_id: str
    title: str
    lead_department: str
    owner: OwnerV1
    stage: str


@publishes.event("grants.call.updated.v1")
class CallUpdatedV1(CallRefV1):
    """A call's deadline, status or budget changed; the applications for it are named so their
    owners hear of it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        **_CALL, "deadlines": [{"stage": 1, "at": "2027-09-23T15:00:00Z"}], "version": 2, "status": "open",
        "changes": [{"field": "deadlines", "before": "1: 2027-09-16T17:00:00+02:00",
                     "after": "1: 2027-09-23T17:00:00+02:00"}],
        "applications": [{"application_id": _APPLICATION["application_id"], "title": _APPLICATION["title"],
                          "lead_department": "ENV", "owner": _APPLICATION["owner"], "stage": "drafting"}],
        "updated_at": "2027-05-02T08:00:00Z"}]})

    version: int
    status: CallStatus
    changes: list[CallChangeV1]
    applications: list[AffectedApplicationV1]
    updated_at: datetime


@publishes.event("grants.application.stage_changed.v1")
class ApplicationStageChangedV1(ApplicationRefV1):
    """An application moved through the pipeline (idea → … → submitted → awarded | rejected | invited
    to a two-stage call's second stage …)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        **_APPLICATION, "from_stage": "submitted", "to_stage": "rejected",
        "reason": "Consortium too small for the networks strand", "requested_amount": 30_000,
        "awarded_amount": None, "changed_by": "coordinator OIA", "changed_at": "2027-11-20T10:00:00Z"}]})

    from_stage: str
    to_stage: str
    reason: str | None
    requested_amount: float
    awarded_amount: float | None
    changed_by: str
    changed_at: datetime


@publishes.event("grants.deadline.approaching.v1")
class DeadlineApproachingV1(ApplicationRefV1):
    """A deadline of an application not yet submitted is `days_ahead` calendar days away (Brussels):
    the call's stage deadline or the application's internal one (a buffer before it). Reminders are
    planned 30, 14, 7, 3 and 1 days ahead; each (application, deadline, lead) is said once;
    `critical` (the last reminder before the call's deadline) bypasses quiet hours and digests."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        **_APPLICATION, "kind": "call", "stage": 1, "deadline": "2027-09-16T17:00:00+02:00", "days_ahead": 7,
        "internal_buffer_days": 5, "application_stage": "drafting", "critical": False,
        "as_of": "2027-09-09T17:05:00+02:00"}]})

    kind: ReminderKind
    stage: int
    deadline: datetime
    days_ahead: int
    internal_buffer_days: int
    application_stage: str
    critical: bool
    as_of: datetime

