"""12-factor settings shared by every service.

Each service subclasses `ServiceSettings` and names itself; a variable prefixed with the
service name (`TRAVEL_DATABASE_URL`) wins over the plain one (`DATABASE_URL`), so one
environment can configure four services.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

PLACEHOLDER_SECRETS = {"", "changethis", "changeme", "secret", "dev-secret-change-me"}

Environment = Literal["dev", "test", "prod"]


class ServiceSettings(BaseSettings):
    """Settings every service has. Subclasses set `service_name` and their default port."""

    service_name: ClassVar[str] = ""
    # An error never quotes the input: it is the environment, passwords and keys included.
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True,
                                      hide_input_in_errors=True)

    environment: Environment = Field("dev", validation_alias="OIA_ENV")
    database_url: str = "sqlite+aiosqlite:///./data/service.db"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    port: int = 8000
    # The bus: "amqp" in production, "memory" in the embedded default and unit tests.
    bus: Literal["amqp", "memory"] = "amqp"
    exchange: str = Field("oia.events", validation_alias="OIA_EXCHANGE")
    # Prepended to queue names, so several deployments (or test runs) can share one broker.
    queue_prefix: str = Field("", validation_alias="OIA_QUEUE_PREFIX")
    # Used to derive API-key hashes and calendar tokens; a placeholder is refused outside dev.
    # Secrets stay out of the settings' repr (repr=False), should anyone print them.
    secret_key: str = Field("dev-secret-change-me", validation_alias="OIA_SECRET_KEY", repr=False)
    api_keys: str = Field("", validation_alias="OIA_API_KEYS", repr=False)
    log_level: str = Field("INFO", validation_alias="OIA_LOG_LEVEL")
    # `oia serve` migrates its database before it listens; false where migrations run once before a
    # rollout instead (Kubernetes: a Job running `oia migrate`), so replicas never race to migrate.
    migrate_on_start: bool = Field(True, validation_alias="OIA_MIGRATE_ON_START")
    # Where spans go (OTLP over HTTP, e.g. an OpenTelemetry Collector's http://collector:4318); empty:
    # nowhere, while trace ids still reach the logs and travel with the events (shared/tracing.py).
    otlp_endpoint: str = Field("", validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT")

    # The city's identity provider (OpenID Connect): besides API keys, its JWT access tokens for
    # OIDC_AUDIENCE are accepted, the role and department read from these claims (a dotted path
    # reaches into an object: Keycloak's `realm_access.roles`). OIDC_ROLES maps the provider's
    # values to ours ("OIA-Coordinators=coordinator,…"); without it the values are our role names.
    # No issuer: API keys only.
    oidc_issuer: str = Field("", validation_alias="OIDC_ISSUER")
    oidc_audience: str = Field("", validation_alias="OIDC_AUDIENCE")
    oidc_role_claim: str = Field("roles", validation_alias="OIDC_ROLE_CLAIM")
    oidc_department_claim: str = Field("department", validation_alias="OIDC_DEPARTMENT_CLAIM")
    oidc_roles: str = Field("", validation_alias="OIDC_ROLES")

    # Consumer behaviour: attempts before the dead-letter queue, and the back-off between them.
    max_attempts: int = Field(5, ge=1)
    retry_delays_ms: list[Annotated[int, Field(gt=0)]] = Field([200, 1_000, 5_000, 30_000], min_length=1)
    prefetch: int = Field(256, ge=1)
    # While the database is away a consumer pauses with its messages; after this long it hands them back to
    # the queue and takes no more until the database answers, below RabbitMQ's consumer_timeout (30 min).
    consumer_hold_seconds: float = Field(300.0, gt=0, validation_alias="OIA_CONSUMER_HOLD_SECONDS")
    # Outbox relay: rows per publish batch, and the poll interval when nobody wakes it.
    relay_batch: int = Field(500, ge=1)
    relay_poll_seconds: float = 1.0
    # How often the runtime sets its gauges (outbox backlog, consumer lag, dead letters, …) besides
    # on every scrape, so an alert on one fires though nobody scrapes or opens an admin page.
    gauges_seconds: float = Field(15.0, gt=0, validation_alias="OIA_GAUGES_SECONDS")
    # On SIGTERM: how long the service may take to finish what it holds (handlers, sends in flight,
    # the relay's batch) after it stopped taking requests and messages; what is left then is cut off
    # and taken up again by another replica or the next start.
    shutdown_grace_seconds: float = Field(20.0, gt=0, validation_alias="OIA_SHUTDOWN_GRACE_SECONDS")
    # Retention (shared/retention.py): how often the job runs, and how long the platform's own rows
    # are kept. An inbox row only guards against the broker delivering a handled event again.
    retention_interval_seconds: float = Field(6 * 3600.0, gt=0)
    inbox_retention_days: int = Field(30, ge=1)
    audit_retention_days: int = Field(730, ge=1)
    # A person's export or erasure across the services (shared/subject_requests.py): the services that
    # must answer before it completes, how often the job collects answers besides when one arrives,
    # and how long a completed request is kept (an export's result holds the person's data).
    subject_services: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]] = Field(
        ["partners", "travel", "grants", "notifications"], min_length=1)
    subject_requests_interval_seconds: float = Field(60.0, gt=0)
    subject_request_retention_days: int = Field(30, ge=1)

    # The compiled offline gazetteer (shared/places.py), for services that resolve places; built
    # on first use when missing.
    gazetteer_path: Path | None = None

    partners_url: str = "http://127.0.0.1:8001"
    travel_url: str = "http://127.0.0.1:8002"
    grants_url: str = "http://127.0.0.1:8003"
    notifications_url: str = "http://127.0.0.1:8004"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings]
        if cls.service_name:
            # Field aliases (OIA_*) bypass env_prefix, so only plain field names get the override.
            sources.append(
                EnvSettingsSource(settings_cls, env_prefix=f"{cls.service_name.upper()}_")
            )
        sources += [env_settings, dotenv_settings, file_secret_settings]
        return tuple(sources)

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> ServiceSettings:
        if self.environment != "dev" and self.secret_key.strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError(
                "OIA_SECRET_KEY is a placeholder; set a real secret outside OIA_ENV=dev"
            )
        return self

    @model_validator(mode="after")
    def _audience_with_issuer(self) -> ServiceSettings:
        if self.oidc_issuer and not self.oidc_audience:
            raise ValueError("OIDC_ISSUER needs OIDC_AUDIENCE: the services accept only tokens issued for them")
        return self
