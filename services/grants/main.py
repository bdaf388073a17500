"""Grants' composition root."""

from pathlib import Path

from fastapi import FastAPI

from services.grants import demo, portal
from services.grants.api import router
from services.grants.events import publishes
from services.grants.models import GrantsTable
from services.grants.partners_client import PartnersClient
from services.grants.privacy import HOLDINGS, PERSONAL
from services.grants.scheduled import ReminderScheduler
from services.grants.service import GrantsContext, applications, subjects
from services.grants.settings import GrantsSettings
from services.grants.subscriptions import subscriptions
from shared.app import create_service_app
from shared.places import Gazetteer, ensure_index
from shared.retention import Rule
from shared.runtime import ServiceRuntime, ServiceSpec
from shared.scheduled import Retention
from shared.subjects import SubjectRights


def bootstrap(runtime: ServiceRuntime) -> GrantsContext:
    """The gazetteer and the city applying (a service that cannot place its city refuses to start),
    the partners client (in-process in the embedded host: `peer_transport`) and the portal fetch."""
    settings = runtime.settings_as(GrantsSettings)
    places = Gazetteer(settings.gazetteer_path)
    return GrantsContext(
        places=places, home=places.resolve(settings.home_city, settings.home_country),
        city_themes=tuple(t.lower() for t in settings.city_themes),
        partners=PartnersClient(settings.partners_url, settings.partners_api_key, settings.partners_timeout_seconds,
                                runtime.peer_transport),
        portal=portal.Portal(tuple(settings.portal_hosts), settings.portal_timeout_seconds,
                             settings.outbound_guard()))


spec = ServiceSpec(
    name="grants",
    title="Diplomacity — grants",
    description="EU funding calls, the application pipeline, consortium eligibility and deadline reminders.",
    settings_cls=GrantsSettings,
    metadata=GrantsTable.metadata,
    migrations_dir=Path(__file__).parent / "migrations",
    publishes=publishes,
    subscriptions=subscriptions,
    routers=[router],
    prepare=lambda settings: ensure_index(settings.gazetteer_path),
    workers=[ReminderScheduler, Retention],
    streamed_bodies={"/calls/import": portal.MAX_BYTES},
    demo=demo.seed,
    bootstrap=bootstrap,
    personal=PERSONAL,
    holdings=HOLDINGS,
    subject=SubjectRights(subjects.export_subject, subjects.erase_subject),
    retention=[Rule("owners of ended applications", "application_owners_retention_days",
                    applications.anonymise_owners)],
)


def create_app(settings: GrantsSettings | None = None) -> FastAPI:
    return create_service_app(ServiceRuntime(spec, settings or GrantsSettings()))
