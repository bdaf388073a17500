"""docker-compose.yml is valid Compose and wires the four services as deployed.

No Docker engine is needed: tests/support/compose.py does what `docker compose config` does (interpolate
from the .env, validate against the Compose Specification's own JSON schema, check that what services name
exists), and the assertions below read the result.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml
from check_jsonschema.builtin_schemas import get_builtin_schema

from tests.support.compose import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    ComposeError,
    interpolate,
    load,
    port_bindings,
    read_env_file,
)

ROOT = COMPOSE_FILE.parent
PORTS = {"partners": 8001, "travel": 8002, "grants": 8003, "notifications": 8004}
INFRASTRUCTURE = ("postgres", "rabbitmq", "mailpit")
OBSERVABILITY = ("prometheus", "grafana", "jaeger")


def _example_env(**overrides: str) -> dict[str, str]:
    # deploy/.env.example with a stand-in for each value it leaves for the operator to fill in.
    env = {key: value or f"validate-only-{key.lower()}" for key, value in read_env_file(ENV_EXAMPLE).items()}
    return env | overrides


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return load(COMPOSE_FILE, _example_env())


def test_schema_is_the_compose_specification() -> None:
    # The compose-spec project's schema, checked by a validator for the draft it declares.
    schema = get_builtin_schema("vendor.compose-spec")
    assert schema["title"] == "Compose Specification"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert jsonschema.validators.validator_for(schema) is jsonschema.Draft202012Validator


def test_file_is_valid(config: dict[str, Any]) -> None:
    assert set(config["services"]) == set(PORTS) | set(INFRASTRUCTURE) | set(OBSERVABILITY)
    assert config["name"] == "diplomacity"


def test_no_obsolete_version_key() -> None:
    assert not re.search(r"(?m)^version\s*:", COMPOSE_FILE.read_text())


@pytest.mark.parametrize(("old", "new", "error"), [
    ("    healthcheck:", "    healthchek:", "'healthchek' was unexpected"),                      # unknown key
    ("condition: service_healthy", "condition: when_ready", "'when_ready' is not one of"),       # bad enum value
    ('command: ["serve", "travel"]', "command: {serve: travel}", "services/travel/command"),     # wrong type
    ("services:", "services: [", "is not YAML"),                                                 # not YAML
    ("      partners:\n        condition", "      partner:\n        condition",
     "depends on undefined service 'partner'"),
    ("interval: 15s", "interval: 15 seconds", "'15 seconds' is not a duration"),
    ('test: ["CMD", "/mailpit"', 'test: ["RUN", "/mailpit"', "must start with"),                 # healthcheck form
    ("  postgres-data:\n", "  postgres-state:\n", "undefined volume 'postgres-data'"),
    ("${OIA_BIND:-127.0.0.1}:8001", "${OIA_BIND:-127.0.0.1:8001", "invalid interpolation format"),
])
def test_validator_rejects_a_broken_file(tmp_path: Path, old: str, new: str, error: str) -> None:
    # Guards against a validator that passes anything (and so against a vacuous test above).
    text = COMPOSE_FILE.read_text()
    assert old in text
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace(old, new, 1))
    with pytest.raises(ComposeError, match=re.escape(error)):
        load(broken, _example_env())


@pytest.mark.parametrize(("template", "expected"), [
    ("${EMPTY:-d}", "d"), ("${EMPTY-d}", ""), ("${UNSET-d}", "d"), ("${SET:-d}", "x"),   # defaults
    ("${SET:+r}", "r"), ("${EMPTY:+r}", ""), ("${EMPTY+r}", "r"), ("${UNSET+r}", ""),     # replacements
    ("$SET/b", "x/b"), ("$$SET", "$SET"), ("${UNSET:-${SET}}", "x"), ("${UNSET}", ""), ("${EMPTY?m}", ""),
])
def test_interpolation_follows_compose(template: str, expected: str) -> None:
    assert interpolate(template, {"SET": "x", "EMPTY": ""}) == expected


def test_missing_secret_is_refused() -> None:
    # The example as shipped leaves the secrets empty: the ${VAR:?} guards must stop compose rather
    # than start prod with empty secrets.
    with pytest.raises(ComposeError, match=r"required variable \w+ is missing a value"):
        load(COMPOSE_FILE, read_env_file(ENV_EXAMPLE))


def test_every_image_is_pinned_to_a_version(config: dict[str, Any]) -> None:
    for name, service in config["services"].items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest" and (re.search(r"\d", tag) or tag == "dev"), f"{name}: {image} is not a version"
    assert load(COMPOSE_FILE, {k: v for k, v in _example_env().items() if k != "OIA_IMAGE_TAG"}) \
        ["services"]["travel"]["image"] == "diplomacity:dev"   # the default, without .env, is no `latest` either


def test_one_image_built_once(config: dict[str, Any]) -> None:
    services = config["services"]
    builders = [name for name, service in services.items() if "build" in service]
    assert builders == ["partners"]
    assert {services[name]["image"] for name in PORTS} == {services["partners"]["image"]}


def test_every_service_has_a_healthcheck(config: dict[str, Any]) -> None:
    for name, service in config["services"].items():
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no healthcheck"
    assert config["services"]["mailpit"]["healthcheck"]["test"] == ["CMD", "/mailpit", "readyz"]


@pytest.mark.parametrize("env", [
    _example_env(),
    {k: v for k, v in _example_env().items() if k != "OIA_BIND"},           # no .env setting at all
], ids=["env-example", "default"])
def test_no_port_is_published_on_every_interface(env: dict[str, str]) -> None:
    bindings = {name: list(port_bindings(service)) for name, service in load(COMPOSE_FILE, env)["services"].items()}
    assert {binding.host_ip for ports in bindings.values() for binding in ports} == {"127.0.0.1"}
    assert {(b.published, b.target) for b in bindings["rabbitmq"]} == {("5672", "5672"), ("15672", "15672")}
    assert {(b.published, b.target) for b in bindings["mailpit"]} == {("1025", "1025"), ("8025", "8025")}
    assert {(b.published, b.target) for b in bindings["prometheus"]} == {("9090", "9090")}
    assert {(b.published, b.target) for b in bindings["grafana"]} == {("3000", "3000")}
    assert {(b.published, b.target) for b in bindings["jaeger"]} == {("16686", "16686")}  # OTLP: network only
    assert bindings["postgres"] == []


def test_bind_address_follows_the_variable() -> None:
    services = load(COMPOSE_FILE, _example_env(OIA_BIND="0.0.0.0"))["services"]
    assert {b.host_ip for service in services.values() for b in port_bindings(service)} == {"0.0.0.0"}


@pytest.mark.parametrize("name", PORTS)
def test_service_runs_its_own_command_and_port(config: dict[str, Any], name: str) -> None:
    svc = config["services"][name]
    port = str(PORTS[name])
    assert svc["command"] == ["serve", name]
    assert svc["restart"] == "unless-stopped"
    assert svc["environment"]["PORT"] == port
    assert [(b.published, b.target) for b in port_bindings(svc)] == [(port, port)]


@pytest.mark.parametrize("name", PORTS)
def test_service_has_its_own_database(config: dict[str, Any], name: str) -> None:
    url = urlsplit(config["services"][name]["environment"]["DATABASE_URL"])
    assert url.scheme == "postgresql+asyncpg"
    assert (url.hostname, url.port) == ("postgres", 5432)
    assert url.path == f"/{name}"
    assert url.username == name        # its own role, created by deploy/postgres/init-databases.sh


def test_databases_are_distinct(config: dict[str, Any]) -> None:
    urls = {config["services"][name]["environment"]["DATABASE_URL"] for name in PORTS}
    assert len(urls) == len(PORTS)


@pytest.mark.parametrize(("name", "also"), [
    ("partners", set()),
    ("travel", set()),
    ("grants", {"partners"}),          # asks partners over HTTP
    ("notifications", {"mailpit"}),    # sends mail through it
])
def test_service_starts_after_what_it_needs_is_healthy(config: dict[str, Any], name: str, also: set[str]) -> None:
    depends = config["services"][name]["depends_on"]
    assert set(depends) == {"postgres", "rabbitmq"} | also
    for dependency, condition in depends.items():
        assert condition["condition"] == "service_healthy", f"{name} starts before {dependency} is healthy"
        assert "healthcheck" in config["services"][dependency]   # else compose could never call it healthy


@pytest.mark.parametrize("name", PORTS)
def test_service_healthcheck_probes_readiness(config: dict[str, Any], name: str) -> None:
    test = config["services"][name]["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1] == "python"
    assert f"http://127.0.0.1:{PORTS[name]}/{name}/ready" in " ".join(test)


@pytest.mark.parametrize("name", PORTS)
def test_service_environment(config: dict[str, Any], name: str) -> None:
    env = config["services"][name]["environment"]
    assert env["OIA_ENV"] == "prod"
    assert env["OIA_SECRET_KEY"] and env["OIA_API_KEYS"]
    assert urlsplit(env["AMQP_URL"]).hostname == "rabbitmq"
    assert (env["SMTP_HOST"], env["SMTP_PORT"]) == ("mailpit", "1025")
    for other, port in PORTS.items():
        assert env[f"{other.upper()}_URL"] == f"http://{other}:{port}"


def test_infrastructure(config: dict[str, Any]) -> None:
    services = config["services"]
    assert services["postgres"]["image"].startswith("postgres:16.")
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert services["rabbitmq"]["image"].startswith("rabbitmq:3.13.")
    assert services["rabbitmq"]["image"].endswith("-management")
    assert services["rabbitmq"]["healthcheck"]["test"] == ["CMD", "rabbitmq-diagnostics", "-q", "ping"]


def test_postgres_init_script_is_mounted(config: dict[str, Any]) -> None:
    mounts = {target: source for source, target, *_ in
              (v.split(":") for v in config["services"]["postgres"]["volumes"])}
    assert mounts["/var/lib/postgresql/data"] in config["volumes"]
    script = ROOT / mounts["/docker-entrypoint-initdb.d/10-init-databases.sh"]
    assert script.is_file()
    text = script.read_text()
    for name in PORTS:
        assert f"{name.upper()}_DB_PASSWORD" in config["services"]["postgres"]["environment"]
        assert name in text


def _bind_mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> the repository file or folder mounted there (short syntax, relative sources)."""
    mounts = {}
    for volume in service.get("volumes") or ():
        source, target, *_ = volume.split(":")
        if source.startswith("./"):
            mounts[target] = ROOT / source
    return mounts


@pytest.mark.parametrize("name", OBSERVABILITY)
def test_observability_mounts_exist_in_the_repository(config: dict[str, Any], name: str) -> None:
    mounts = _bind_mounts(config["services"][name])
    for target, source in mounts.items():
        assert source.exists(), f"{name} mounts {source}, which is not in the repository, at {target}"
        assert source.resolve().is_relative_to(ROOT / "deploy"), f"{name} mounts {source} from outside deploy/"
    for volume in config["services"][name].get("volumes") or ():
        assert volume.endswith(":ro") or not volume.startswith("./"), f"{name}: {volume} is writable"


def test_prometheus_loads_the_repository_config_and_rules(config: dict[str, Any]) -> None:
    prometheus = config["services"]["prometheus"]
    mounts = _bind_mounts(prometheus)
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    config_file = mounts["/etc/prometheus/prometheus.yml"]
    assert config_file == ROOT / "deploy" / "prometheus" / "prometheus.yml"
    # rule_files are relative to the config file: they must land on what the rules folder is mounted as.
    rules_dir = mounts["/etc/prometheus/rules"]
    patterns = yaml.safe_load(config_file.read_text())["rule_files"]
    found = {path for pattern in patterns for path in config_file.parent.glob(pattern)}
    assert found and {path.parent for path in found} == {rules_dir}
    assert any(volume.endswith(":/prometheus") for volume in prometheus["volumes"])   # samples kept in a volume


def test_prometheus_scrapes_each_service_at_its_port_and_path(config: dict[str, Any]) -> None:
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())["scrape_configs"]
    jobs = {job["job_name"]: job for job in scrape}
    assert set(jobs) == set(PORTS)
    for name, port in PORTS.items():
        job = jobs[name]
        [static] = job["static_configs"]
        assert static["targets"] == [f"{name}:{port}"]
        assert config["services"][name]["environment"]["PORT"] == str(port)   # the port it listens on
        assert job["metrics_path"] == f"/{name}/metrics"
        assert static["labels"] == {"service": name}
        # The contract's `job` and `service` labels stay as the services say them.
        assert job["honor_labels"] is True


def test_grafana_is_provisioned_from_the_repository(config: dict[str, Any]) -> None:
    grafana = config["services"]["grafana"]
    mounts = _bind_mounts(grafana)
    provisioning = mounts["/etc/grafana/provisioning"]
    [provider] = yaml.safe_load((provisioning / "dashboards" / "diplomacity.yml").read_text())["providers"]
    dashboards = mounts[provider["options"]["path"]]                       # where the provider looks
    assert {p.name for p in dashboards.glob("*.json")} >= {"overview.json", "partners.json", "travel.json",
                                                           "grants.json", "notifications.json"}
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (dashboards / Path(home).relative_to(provider["options"]["path"])).is_file()
    sources = {s["uid"]: s for s in yaml.safe_load(
        (provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]}
    assert sources["prometheus"]["url"] == "http://prometheus:9090"
    assert sources["jaeger"]["url"] == "http://jaeger:16686"
    assert grafana["depends_on"]["prometheus"]["condition"] == "service_healthy"


def test_grafana_admin_password_comes_from_env() -> None:
    env = {k: v for k, v in _example_env().items() if k != "GRAFANA_ADMIN_PASSWORD"}
    with pytest.raises(ComposeError, match="required variable GRAFANA_ADMIN_PASSWORD"):
        load(COMPOSE_FILE, env)
    grafana = load(COMPOSE_FILE, _example_env(GRAFANA_ADMIN_PASSWORD="s3cret"))["services"]["grafana"]
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == "s3cret"
    assert grafana["environment"]["GF_AUTH_ANONYMOUS_ENABLED"] == "false"   # the example's choice


@pytest.mark.parametrize("name", PORTS)
def test_services_send_traces_to_jaeger(config: dict[str, Any], name: str) -> None:
    endpoint = urlsplit(config["services"][name]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"])
    assert (endpoint.scheme, endpoint.hostname, endpoint.port) == ("http", "jaeger", 4318)   # OTLP/HTTP
    assert config["services"]["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"
