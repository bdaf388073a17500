"""The board's settings (`BOARD_` prefix): where the services are, and how its sessions behave."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class BoardSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BOARD_", extra="ignore")

    # Each service's base URL (its routes are under /<service>/ there). `oia dev` calls them in-process.
    partners_url: str = "http://127.0.0.1:8001"
    travel_url: str = "http://127.0.0.1:8002"
    grants_url: str = "http://127.0.0.1:8003"
    notifications_url: str = "http://127.0.0.1:8004"
    timeout_seconds: float = Field(10.0, gt=0, le=120)
    # A session ends after this long without a request (it is kept in this process only).
    session_idle_minutes: int = Field(480, ge=5, le=7 * 24 * 60)
    # Cookies marked Secure: always (behind a TLS proxy), or when the request itself came over https.
    secure_cookies: bool = False
    default_language: str = Field("en", pattern="^(en|de)$")
    # The office's time zone: the times the board shows (a trip's history) are its local times.
    timezone: str = "Europe/Berlin"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ValueError, ZoneInfoNotFoundError) as exc:
            raise ValueError(f"not a time zone of the IANA database: {value!r}") from exc
        return value

    # Signing in at the city's identity provider (OpenID Connect, code flow with PKCE); without an
    # issuer, only API keys sign in. The provider must issue access tokens the services accept
    # (their OIDC_AUDIENCE): OIDC_SCOPES asks for them (Entra ID: `api://<app>/.default`).
    # The redirect URI registered at the provider is <board>/board/oidc/callback, taken from the
    # request unless set (behind a proxy that rewrites the host).
    oidc_issuer: str = ""
    oidc_name: str = "the city's sign-in"
    oidc_client_id: str = "board"
    oidc_client_secret: str = Field("", repr=False)
    oidc_scopes: str = "openid profile email"
    oidc_redirect_uri: str = ""

    def base_url(self, service: str) -> str:
        url: str = getattr(self, f"{service}_url")
        return url.rstrip("/")
