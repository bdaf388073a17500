import pytest
from pydantic import ValidationError

from services.notifications.settings import NotificationsSettings
from services.travel.settings import TravelSettings


def test_service_prefixed_variable_overrides_the_plain_one(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://db/shared")
    monkeypatch.setenv("TRAVEL_DATABASE_URL", "postgresql+asyncpg://db/travel")
    monkeypatch.setenv("PORT", "9000")
    assert TravelSettings().database_url == "postgresql+asyncpg://db/travel"
    assert NotificationsSettings().database_url == "postgresql+asyncpg://db/shared"
    assert TravelSettings().port == 9000


def test_default_ports_follow_the_stable_surface(monkeypatch):
    monkeypatch.delenv("PORT", raising=False)
    assert TravelSettings().port == 8002
    assert NotificationsSettings().port == 8004


@pytest.mark.parametrize("secret", ["changethis", "dev-secret-change-me", ""])
def test_placeholder_secret_is_refused_outside_dev(monkeypatch, secret):
    monkeypatch.setenv("OIA_ENV", "prod")
    monkeypatch.setenv("OIA_SECRET_KEY", secret)
    with pytest.raises(ValidationError, match="OIA_SECRET_KEY"):
        TravelSettings()


def test_placeholder_secret_is_fine_in_dev_and_a_real_one_in_prod(monkeypatch):
    monkeypatch.setenv("OIA_ENV", "dev")
    monkeypatch.delenv("OIA_SECRET_KEY", raising=False)
    assert TravelSettings().secret_key
    monkeypatch.setenv("OIA_ENV", "prod")
    monkeypatch.setenv("OIA_SECRET_KEY", "s3cr3t-from-the-vault-7f1c")
    assert TravelSettings().environment == "prod"
