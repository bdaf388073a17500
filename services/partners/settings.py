from pydantic import Field

from shared.settings import ServiceSettings


class PartnersSettings(ServiceSettings):
    service_name = "partners"
    port: int = 8001
    # The city this office works for: trips and delegations of its departments to and from a
    # partner city are contacts of that partnership.
    home_city: str = "Frankfurt am Main"
    home_country: str = "DE"
    # How often the scheduled jobs (health, anniversaries, renewals) run by themselves.
    jobs_interval_seconds: float = Field(3600.0, gt=0)
