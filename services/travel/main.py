"""Travel's composition root: what it is, and its app."""

from pathlib import Path

from fastapi import FastAPI

from services.travel import demo
from services.travel.api import router
from services.travel.events import publishes
from services.travel.models import TravelTable
from services.travel.privacy import HOLDINGS, PERSONAL
from services.travel.service import TravelContext, subjects, trips
from services.travel.settings import TravelSettings
from services.travel.subscriptions import subscriptions
from shared.app import create_service_app
from shared.places import Gazetteer, ensure_index
from shared.retention import Rule
from shared.runtime import ServiceRuntime, ServiceSpec
from shared.scheduled import Retention
from shared.subjects import SubjectRights


def bootstrap(runtime: ServiceRuntime) -> TravelContext:
    settings = runtime.settings_as(TravelSettings)
    return TravelContext(places=Gazetteer(settings.gazetteer_path), radius_km=settings.overlap_radius_km)


spec = ServiceSpec(
    name="travel",
    title="Diplomacity — travel",
    description="Trips booked by departments, visiting delegations, and the overlaps between them.",
    settings_cls=TravelSettings,
    metadata=TravelTable.metadata,
    migrations_dir=Path(__file__).parent / "migrations",
    publishes=publishes,
    subscriptions=subscriptions,
    routers=[router],
    prepare=lambda settings: ensure_index(settings.gazetteer_path),
    demo=demo.seed,
    bootstrap=bootstrap,
    personal=PERSONAL,
    holdings=HOLDINGS,
    workers=[Retention],
    subject=SubjectRights(subjects.export_subject, subjects.erase_subject),
    retention=[Rule("travellers of ended trips", "travellers_retention_days", trips.anonymise_travellers)],
)


def create_app(settings: TravelSettings | None = None) -> FastAPI:
    return create_service_app(ServiceRuntime(spec, settings or TravelSettings()))
