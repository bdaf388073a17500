"""Partners' composition root."""

from pathlib import Path

from fastapi import FastAPI

from services.partners import demo
from services.partners.api import router
from services.partners.events import publishes
from services.partners.models import PartnersTable
from services.partners.privacy import HOLDINGS, PERSONAL
from services.partners.scheduled import JobScheduler
from services.partners.service import PartnersContext, imports, subjects
from services.partners.settings import PartnersSettings
from services.partners.subscriptions import subscriptions
from shared.app import create_service_app
from shared.places import Gazetteer, ensure_index
from shared.runtime import ServiceRuntime, ServiceSpec
from shared.scheduled import Retention
from shared.subjects import SubjectRights


def bootstrap(runtime: ServiceRuntime) -> PartnersContext:
    """The gazetteer and this office's own city in it: a service that cannot place its home city
    refuses to start, saying so."""
    settings = runtime.settings_as(PartnersSettings)
    places = Gazetteer(settings.gazetteer_path)
    return PartnersContext(places=places, home=places.resolve(settings.home_city, settings.home_country))


spec = ServiceSpec(
    name="partners",
    title="Diplomacity — partners",
    description="Partner cities, organisations, people, anniversaries and relationship health.",
    settings_cls=PartnersSettings,
    metadata=PartnersTable.metadata,
    migrations_dir=Path(__file__).parent / "migrations",
    publishes=publishes,
    subscriptions=subscriptions,
    routers=[router],
    prepare=lambda settings: ensure_index(settings.gazetteer_path),
    workers=[JobScheduler, Retention],
    streamed_bodies={"/partnerships/import": imports.MAX_BYTES},
    demo=demo.seed,
    bootstrap=bootstrap,
    personal=PERSONAL,
    holdings=HOLDINGS,
    subject=SubjectRights(subjects.export_subject, subjects.erase_subject),
)


def create_app(settings: PartnersSettings | None = None) -> FastAPI:
    return create_service_app(ServiceRuntime(spec, settings or PartnersSettings()))
