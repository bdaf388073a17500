from pydantic import Field

from shared.outbound import OutboundSettings
from shared.settings import ServiceSettings


class GrantsSettings(ServiceSettings, OutboundSettings):
    service_name = "grants"
    port: int = 8003
    # The city applying: it is in every consortium it applies with.
    home_city: str = "Frankfurt am Main"
    home_country: str = "DE"
    # What the city works on: a new call mentioning one of these is announced to the EU funding team.
    city_themes: list[str] = ["town twinning", "citizens", "democracy", "climate", "energy", "mobility", "urban",
                              "culture", "digital", "inclusion", "migration", "youth", "environment"]
    # An application that ended (rejected, withdrawn, closed) longer ago than this loses its owner and
    # notes (shared/retention.py). Five years: the EU may audit a grant for that long after its end.
    application_owners_retention_days: int = Field(1825, ge=1)
    # How often the scheduled jobs (deadline reminders) run by themselves.
    jobs_interval_seconds: float = Field(3600.0, gt=0)
    # The partners service, asked for consortium candidates and for the city profile: a reader key
    # it accepts, and how long to wait for it.
    partners_api_key: str = Field("", repr=False)
    partners_timeout_seconds: float = Field(5.0, gt=0)
    # Fetching a call list from the portal (POST /grants/calls/import?url=…): only from these hosts,
    # over https, to public addresses only (OUTBOUND_ALLOW, ALLOW_HTTP_LOOPBACK: OutboundSettings).
    portal_hosts: list[str] = ["api.tech.ec.europa.eu", "ec.europa.eu"]
    portal_timeout_seconds: float = Field(30.0, gt=0)
