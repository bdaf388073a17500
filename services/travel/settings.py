from pydantic import Field

from shared.settings import ServiceSettings


class TravelSettings(ServiceSettings):
    service_name = "travel"
    port: int = 8002
    # Two departments' trips closer than this on shared dates overlap (Düsseldorf–Köln is 34 km).
    overlap_radius_km: float = Field(50.0, gt=0, le=500)
    # Travellers of a trip that ended longer ago than this are anonymised (shared/retention.py).
    travellers_retention_days: int = Field(730, ge=1)
