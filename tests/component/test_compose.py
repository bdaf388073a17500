"""docker-compose.yml is valid Compose and wires the four services as deployed.

No Docker engine is needed: deploy/validate-compose.sh checks the file against the Compose
schema with Debian's docker-compose (installing it if missing) and can print the normalised
config as JSON, which the assertions below read.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
VALIDATE = ROOT / "deploy" / "validate-compose.sh"
# The first run may install the validator with apt-get.
TIMEOUT = 600

PORTS = {"partners": 8001, "travel": 8002, "grants": 8003, "notifications": 8004}
SECRETS = ("OIA_SECRET_KEY", "OIA_API_KEYS", "POSTGRES_PASSWORD", "RABBITMQ_PASSWORD",
           *(f"{name.upper()}_DB_PASSWORD" for name in PORTS))


def _validate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(VALIDATE), *args], capture_output=True, text=True,
                          timeout=TIMEOUT, env=env)


@pytest.fixture(scope="module")
def config() -> dict:
    result = _validate("--json")
    assert result.returncode == 0, f"docker-compose.yml is invalid:\n{result.stderr}"
    return json.loads(result.stdout)


def test_file_is_valid(config: dict) -> None:
    assert set(PORTS) | {"postgres", "rabbitmq", "mailpit"} <= set(config["services"])


def test_no_obsolete_version_key() -> None:
    assert not re.search(r"(?m)^version\s*:", COMPOSE_FILE.read_text())


@pytest.mark.parametrize("mutation", [
    ("    healthcheck:", "    healthchek:"),                               # unknown key
    ("condition: service_healthy", "condition: when_ready"),               # bad enum value
    ('command: ["serve", "travel"]', "command: {serve: travel}"),          # wrong type
    ("services:", "services: ["),                                          # not YAML
])
def test_validator_rejects_a_broken_file(tmp_path: Path, mutation: tuple[str, str]) -> None:
    # Guards against a validator that passes anything (and so against a vacuous test above).
    old, new = mutation
    text = COMPOSE_FILE.read_text()
    assert old in text
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace(old, new))
    assert _validate(str(broken)).returncode != 0


def test_missing_secret_is_refused(config: dict, tmp_path: Path) -> None:
    # Run the validator directly, with neither the script's stand-ins nor a .env: the ${VAR:?}
    # guards must stop compose rather than start prod with empty secrets.
    env = {k: v for k, v in os.environ.items() if k not in SECRETS}
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = subprocess.run(
        ["/usr/bin/docker-compose", "--env-file", str(empty), "-f", str(COMPOSE_FILE), "config", "-q"],
        capture_output=True, text=True, timeout=TIMEOUT, env=env,
    )
    assert result.returncode != 0
    assert "OIA_SECRET_KEY" in result.stderr or "PASSWORD" in result.stderr


@pytest.mark.parametrize("name", PORTS)
def test_service_runs_its_own_command_and_port(config: dict, name: str) -> None:
    svc = config["services"][name]
    port = PORTS[name]
    assert svc["command"] == ["serve", name]
    assert "build" in svc and svc["restart"] == "unless-stopped"
    assert svc["environment"]["PORT"] == str(port)
    assert {"published": port, "target": port} in [
        {k: p[k] for k in ("published", "target")} for p in svc["ports"]
    ]


@pytest.mark.parametrize("name", PORTS)
def test_service_has_its_own_database(config: dict, name: str) -> None:
    url = urlsplit(config["services"][name]["environment"]["DATABASE_URL"])
    assert url.scheme == "postgresql+asyncpg"
    assert (url.hostname, url.port) == ("postgres", 5432)
    assert url.path == f"/{name}"
    assert url.username == name        # its own role, created by deploy/postgres/init-databases.sh


def test_databases_are_distinct(config: dict) -> None:
    urls = {config["services"][name]["environment"]["DATABASE_URL"] for name in PORTS}
    assert len(urls) == len(PORTS)


@pytest.mark.parametrize("name", PORTS)
def test_service_waits_for_healthy_postgres_and_rabbitmq(config: dict, name: str) -> None:
    depends = config["services"][name]["depends_on"]
    for dep in ("postgres", "rabbitmq"):
        assert depends[dep]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", PORTS)
def test_service_healthcheck_probes_readiness(config: dict, name: str) -> None:
    test = config["services"][name]["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1] == "python"
    assert f"http://127.0.0.1:{PORTS[name]}/{name}/ready" in " ".join(test)


@pytest.mark.parametrize("name", PORTS)
def test_service_environment(config: dict, name: str) -> None:
    env = config["services"][name]["environment"]
    assert env["OIA_ENV"] == "prod"
    assert env["OIA_SECRET_KEY"] and env["OIA_API_KEYS"]
    assert urlsplit(env["AMQP_URL"]).hostname == "rabbitmq"
    assert (env["SMTP_HOST"], env["SMTP_PORT"]) == ("mailpit", "1025")
    for other, port in PORTS.items():
        assert env[f"{other.upper()}_URL"] == f"http://{other}:{port}"


def test_infrastructure(config: dict) -> None:
    services = config["services"]
    assert services["postgres"]["image"].startswith("postgres:16")
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert services["rabbitmq"]["image"].startswith("rabbitmq:3.13-management")
    assert services["rabbitmq"]["healthcheck"]["test"] == ["CMD", "rabbitmq-diagnostics", "-q", "ping"]
    assert {5672, 15672} <= {p["published"] for p in services["rabbitmq"]["ports"]}
    assert {1025, 8025} <= {p["published"] for p in services["mailpit"]["ports"]}


def test_postgres_init_script_is_mounted(config: dict) -> None:
    # docker-compose 1.x prints volumes in the short form, source:target[:mode].
    mounts = {target: source for source, target, *_ in
              (v.split(":") for v in config["services"]["postgres"]["volumes"])}
    assert "/var/lib/postgresql/data" in mounts
    script = mounts.get("/docker-entrypoint-initdb.d/10-init-databases.sh")
    assert script and Path(script).is_file()
    text = Path(script).read_text()
    for name in PORTS:
        assert f"{name.upper()}_DB_PASSWORD" in config["services"]["postgres"]["environment"]
        assert name in text
