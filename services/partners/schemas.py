"""Partners' HTTP request and response bodies."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, EmailStr, Field, field_validator

from services.partners import domain
from services.partners.domain import ContactKind, Health, Kind, LoggedContactKind, OrganisationKind, Status, Theme
from shared.auth import DEPARTMENT
from shared.bounds import Day, Instant, PlaceId

Days = Annotated[int, Field(ge=1, le=3650)]
Department = Annotated[str, Field(pattern=DEPARTMENT.pattern)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
Phone = Annotated[str, Field(max_length=50, pattern=r"^[+0-9 ()/-]{3,50}$")]
Language = Annotated[str, Field(pattern=r"^[a-z]{2}$")]
MouArea = Annotated[str, Field(min_length=1, max_length=100)]


# -- partnerships -----------------------------------------------------------------------------------

class PartnershipFields(BaseModel):
    formalised_year_only: bool = Field(False, description="only the year is known (formalised_on is 1 January)")
    kind: Kind = "twin"
    status: Status = "active"
    status_reason: str | None = Field(None, max_length=500, description="why it is suspended or ended")
    ends_on: Day | None = Field(None, description="time-limited: its end, or when renewal must be decided")
    themes: list[Theme] = Field(default_factory=list, max_length=len(domain.THEMES))
    annual_themes: dict[str, str] = Field(default_factory=dict, description='e.g. {"2027": "climate"}')
    mou_areas: list[MouArea] = Field(default_factory=list, max_length=30)
    desk_officer_name: str | None = Field(None, max_length=200)
    desk_officer_email: EmailStr | None = None
    department: Department = "OIA"
    ideal_contact_days: Days = domain.DEFAULT_IDEAL_DAYS
    max_contact_days: Days = domain.DEFAULT_MAX_DAYS

    @field_validator("annual_themes")
    @classmethod
    def _years(cls, themes: dict[str, str]) -> dict[str, str]:
        for year, theme in themes.items():
            if not (year.isdigit() and len(year) == 4):
                raise ValueError(f"{year!r} is not a year")
            if not 1 <= len(theme) <= 200:
                raise ValueError(f"the {year} theme must be 1 to 200 characters")
        return themes


class PartnershipIn(PartnershipFields):
    partner_city: str = Field(min_length=1, max_length=100, description="any common form: Krakau, Kraków, Krakow")
    partner_country: str = Field(min_length=2, max_length=60, description="ISO 3166 code or English name")
    partner_place_id: PlaceId | None = Field(None, description="GeoNames id, to pick one of several candidates")
    home_city: str | None = Field(None, min_length=1, max_length=100, description="default: this office's city")
    home_country: str | None = Field(None, min_length=2, max_length=60)
    formalised_on: Day
    last_contact_on: Day | None = Field(None, description="the latest contact before this record (default: today)")


class PartnershipPatch(BaseModel):
    formalised_on: Day | None = None
    formalised_year_only: bool | None = None
    kind: Kind | None = None
    status: Status | None = None
    status_reason: str | None = Field(None, max_length=500)
    ends_on: Day | None = None
    themes: list[Theme] | None = None
    annual_themes: dict[str, str] | None = None
    mou_areas: list[MouArea] | None = None
    desk_officer_name: str | None = Field(None, max_length=200)
    desk_officer_email: EmailStr | None = None
    department: Department | None = None
    ideal_contact_days: Days | None = None
    max_contact_days: Days | None = None


class PartnershipOut(BaseModel):
    id: str
    home_city: str
    home_country: str
    partner_city: str
    partner_country: str
    partner_place_id: int
    partner_latitude: float
    partner_longitude: float
    partner_timezone: str
    formalised_on: date
    formalised_year_only: bool
    kind: Kind
    status: Status
    status_reason: str | None
    ends_on: date | None
    themes: list[Theme]
    annual_themes: dict[str, str]
    mou_areas: list[str]
    desk_officer_name: str | None
    desk_officer_email: str | None
    department: str
    ideal_contact_days: int
    max_contact_days: int
    last_contact_on: date | None
    created_at: datetime
    updated_at: datetime


class ContactIn(BaseModel):
    kind: LoggedContactKind
    on: Day
    until: Day | None = None
    title: str = Field(min_length=1, max_length=300)
    department: Department | None = None


class ContactOut(BaseModel):
    id: str
    kind: ContactKind
    on: date
    until: date | None
    title: str
    department: str | None
    source: str
    restricted: bool


class HealthOut(BaseModel):
    partnership_id: str
    partner_city: str
    partner_country: str
    status: Status
    health: Health
    last_contact_on: date
    days_since_contact: int
    ideal_contact_days: int
    max_contact_days: int
    urgency: float = Field(description="days since contact / maximum interval (over 1: overdue)")


class AnniversaryOut(BaseModel):
    partnership_id: str
    home_city: str
    partner_city: str
    partner_country: str
    years: int
    on: date
    days_ahead: int


class JobsIn(BaseModel):
    now: Instant | None = Field(None, description="run as of this instant (default: now) — tests and back-fills")


class JobsOut(BaseModel):
    as_of: date
    partnerships: int
    anniversaries: int
    dormant: int
    renewals: int


class RowReportOut(BaseModel):
    line: int
    status: Literal["created", "duplicate", "rejected"]
    home_city: str
    partner_city: str
    reason: str | None
    partnership_id: str | None
    note: str | None = Field(None, description="the country as written, when that was a former state "
                                               "(\"Germany (East)\"): kept, as it was resolved to today's")


class ImportOut(BaseModel):
    mode: str
    rows: int
    created: int
    duplicates: int
    rejected: int
    report: list[RowReportOut]


# -- organisations and people -----------------------------------------------------------------------

class CityIn(BaseModel):
    city: str = Field(min_length=1, max_length=100)
    country: str = Field(min_length=2, max_length=60)


class OrganisationIn(BaseModel):
    kind: OrganisationKind
    name: str = Field(min_length=1, max_length=300)
    city: str | None = Field(None, min_length=1, max_length=100)
    country: str | None = Field(None, min_length=2, max_length=60)
    partnership_id: str | None = Field(None, min_length=1, max_length=36,
                                       description="the partnership it belongs to, if any")
    themes: list[Theme] = Field(default_factory=list)
    lead_department: Department | None = Field(None, description="networks: who leads")
    dues_amount: float | None = Field(None, ge=0, le=1e12)
    dues_currency: Currency | None = None
    role_held: str | None = Field(None, max_length=300, description='e.g. "Treasurer of the Executive Committee"')
    members: list[CityIn] = Field(default_factory=list, max_length=500, description="networks: member cities")
    website: str | None = Field(None, max_length=500)
    notes: str | None = Field(None, max_length=5000)


class OrganisationPatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=300)
    themes: list[Theme] | None = None
    lead_department: Department | None = None
    dues_amount: float | None = Field(None, ge=0, le=1e12)
    dues_currency: Currency | None = None
    role_held: str | None = Field(None, max_length=300)
    members: list[CityIn] | None = Field(None, max_length=500)
    website: str | None = Field(None, max_length=500)
    notes: str | None = Field(None, max_length=5000)


class OrganisationOut(BaseModel):
    id: str
    kind: OrganisationKind
    name: str
    city: str | None
    country: str | None
    partnership_id: str | None
    themes: list[Theme]
    lead_department: str | None
    dues_amount: float | None
    dues_currency: str | None
    role_held: str | None
    members: list[dict]
    website: str | None
    notes: str | None


class PersonIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: str | None = Field(None, max_length=200)
    organisation_id: str | None = Field(None, min_length=1, max_length=36)
    partnership_id: str | None = Field(None, min_length=1, max_length=36)
    email: EmailStr | None = None
    phone: Phone | None = None
    languages: list[Language] = Field(default_factory=list, max_length=20)


class PersonPatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    role: str | None = Field(None, max_length=200)
    email: EmailStr | None = None
    phone: Phone | None = None
    languages: list[Language] | None = Field(None, max_length=20)


class PersonOut(BaseModel):
    id: str
    name: str
    role: str | None
    organisation_id: str | None
    partnership_id: str | None
    email: str | None
    phone: str | None
    languages: list[str]


class Candidate(BaseModel):
    source: Literal["partnership", "network"]
    city: str
    country: str
    eu_member: bool
    themes: list[Theme]
    partnership_id: str | None = None
    network: str | None = None
    last_contact_on: date | None = None
