"""deploy/kubernetes renders, validates and wires the four services as deployed.

Each overlay is rendered by kustomize itself (kubectl's built-in one, or a `kustomize` binary), from a copy of
deploy/ whose secrets/*.env are made from the committed *.env.example, as the README tells an operator to.
Every core manifest is checked against the Kubernetes API's own schemas (kubernetes-validate, offline, strict:
unknown fields too) and the custom resources against their CRDs' schemas where a package ships them
(kubernetes-models: KEDA, Prometheus Operator, CloudNativePG). No package on npm or PyPI ships the RabbitMQ Cluster
Operator's schema (kubernetes-models' rabbitmq-cluster-operator is not published); the RabbitmqCluster is checked
by the assertions below only (UNVALIDATED).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from deploy.kubernetes import render_rules
from oia.catalog import SERVICES, spec_of
from oia.cli import GRACE_SECONDS
from shared import subject_requests
from shared.settings import ServiceSettings
from tests.support.compose import COMPOSE_FILE, ENV_EXAMPLE, load, read_env_file
from tests.support.node_tools import run_script

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
OVERLAYS = ("dev", "production")
PORTS = {"partners": 8001, "travel": 8002, "grants": 8003, "notifications": 8004}
# The oldest Kubernetes release the manifests are meant for, and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.30", kubernetes_validate.latest_version())
CORE_GROUPS = {"v1", "apps/v1", "batch/v1", "policy/v1", "autoscaling/v2"}
# Custom resources whose CRD schema a package in package.json ships (tests/support/k8s_models_validate.mjs).
MODELLED = {"ScaledObject", "TriggerAuthentication", "ServiceMonitor", "PrometheusRule", "Cluster", "Database",
            "ScheduledBackup"}
# Custom resources no PyPI or npm package ships a schema for: checked by this file's assertions only.
UNVALIDATED = {"RabbitmqCluster"}
PLACEHOLDER = "CHANGE-ME"


def _kustomize() -> list[str]:
    if found := shutil.which("kustomize"):
        return [found, "build"]
    if found := shutil.which("kubectl"):
        # kubectl before 1.21 carries kustomize 2, which knows neither `labels` nor targeted `patches`.
        version = json.loads(subprocess.run([found, "version", "--client", "-o", "json"], capture_output=True,
                                            text=True, check=True, timeout=60).stdout)
        assert int(version["kustomizeVersion"].lstrip("v").split(".")[0]) >= 5, f"kubectl's kustomize: {version}"
        return [found, "kustomize"]
    pytest.fail("neither kustomize nor kubectl (with its built-in kustomize) is on PATH: the overlays cannot be "
                "rendered")


def _render(tree: Path, overlay: str) -> list[dict[str, Any]]:
    """deploy/ copied into `tree`, each overlay's secrets/*.env made from its *.env.example (as the README tells
    an operator to), and the overlay rendered there."""
    if not (tree / "deploy").exists():
        shutil.copytree(DEPLOY, tree / "deploy", ignore=shutil.ignore_patterns("*.env"))
        for example in (tree / "deploy" / "kubernetes" / "overlays").glob("*/secrets/*.env.example"):
            shutil.copy(example, example.with_suffix(""))
    done = subprocess.run([*_kustomize(), str(tree / "deploy" / "kubernetes" / "overlays" / overlay)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"kustomize failed on {overlay}:\n{done.stderr}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    tree = tmp_path_factory.mktemp("kubernetes")
    return {overlay: _render(tree, overlay) for overlay in OVERLAYS}


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def docs(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> list[dict[str, Any]]:
    return rendered[overlay]


def of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = of_kind(docs, kind)
    assert name in found, f"no {kind} {name}; there are: {sorted(found)}"
    return found[name]


def generated(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """A generated ConfigMap or Secret by the name the kustomization gives it (kustomize adds a hash)."""
    found = [doc for doc in docs if doc["kind"] == kind and re.fullmatch(rf"{name}(-[a-z0-9]{{10}})?",
                                                                          doc["metadata"]["name"])]
    assert len(found) == 1, f"{kind} {name}: {[d['metadata']['name'] for d in found]}"
    return found[0]


def container(workload: dict[str, Any]) -> dict[str, Any]:
    [only] = workload["spec"]["template"]["spec"]["containers"]
    return dict(only)


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return dict(workload["spec"]["template"]["spec"])


def environment(docs: list[dict[str, Any]], workload: dict[str, Any]) -> dict[str, str | None]:
    """What the container's environment holds: each variable's value, None for one from a Secret."""
    by_name = {(doc["kind"], doc["metadata"]["name"]): doc for doc in docs}
    env: dict[str, str | None] = {}
    ctr = container(workload)
    for source in ctr.get("envFrom", []):
        if "configMapRef" in source:
            env |= by_name[("ConfigMap", source["configMapRef"]["name"])]["data"]
        else:
            env |= dict.fromkeys(by_name[("Secret", source["secretRef"]["name"])]["data"])
    for var in ctr.get("env", []):
        env[var["name"]] = var.get("value")
    return env


def secret_references(doc: dict[str, Any]) -> Iterator[tuple[str, str | None, bool]]:
    """(secret name, key or None, optional) for every Secret the manifest names."""
    if doc["kind"] in ("Deployment", "Job"):
        ctr = container(doc)
        for source in ctr.get("envFrom", []):
            if "secretRef" in source:
                yield source["secretRef"]["name"], None, bool(source["secretRef"].get("optional"))
        for var in ctr.get("env", []):
            if ref := var.get("valueFrom", {}).get("secretKeyRef"):
                yield ref["name"], ref["key"], bool(ref.get("optional"))
    elif doc["kind"] == "TriggerAuthentication":
        for ref in doc["spec"]["secretTargetRef"]:
            yield ref["name"], ref["key"], False
    elif doc["kind"] == "Cluster":
        for role in doc["spec"]["managed"]["roles"]:
            yield role["passwordSecret"]["name"], "password", False
        yield doc["spec"]["bootstrap"]["initdb"]["secret"]["name"], "password", False
        if store := doc["spec"].get("backup", {}).get("barmanObjectStore"):
            for ref in store["s3Credentials"].values():
                yield ref["name"], ref["key"], False


# --- rendering and schemas -----------------------------------------------------------------------------------


def test_every_overlay_renders_the_whole_system(docs: list[dict[str, Any]]) -> None:
    kinds = {doc["kind"] for doc in docs}
    assert {"Namespace", "Deployment", "Service", "PodDisruptionBudget", "Job", "ConfigMap", "Secret",
            "HorizontalPodAutoscaler", "ScaledObject", "TriggerAuthentication", "RabbitmqCluster", "Cluster",
            "Database"} <= kinds
    namespaces = of_kind(docs, "Namespace")
    assert len(namespaces) == 1
    [namespace] = namespaces
    assert {doc["metadata"].get("namespace") for doc in docs if doc["kind"] != "Namespace"} == {namespace}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_core_manifests_valid_against_the_kubernetes_schemas(docs: list[dict[str, Any]], version: str) -> None:
    core = [doc for doc in docs if doc["apiVersion"] in CORE_GROUPS]
    assert {doc["kind"] for doc in core} >= {"Deployment", "Service", "PodDisruptionBudget", "Job",
                                             "HorizontalPodAutoscaler", "ConfigMap", "Secret", "Namespace"}
    for doc in core:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{doc['kind']} {doc['metadata']['name']} ({version}): {exc.message} at "
                        f"{'/'.join(map(str, exc.path))}")


def test_the_schema_check_catches_a_wrong_field(rendered: dict[str, list[dict[str, Any]]]) -> None:
    # strict: a misspelt field is an error, as the API server's strict field validation makes it.
    deployment = one(rendered["production"], "Deployment", "travel")
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["revisionHistoryLimits"] = broken["spec"].pop("revisionHistoryLimit")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)


def test_custom_resources_valid_against_their_crd_schemas(docs: list[dict[str, Any]]) -> None:
    custom = [doc for doc in docs if doc["apiVersion"] not in CORE_GROUPS]
    assert {doc["kind"] for doc in custom} <= MODELLED | UNVALIDATED, "a new kind: validate it, or say why not"
    modelled = [doc for doc in custom if doc["kind"] in MODELLED]
    report = run_script("k8s_models_validate.mjs", stdin=json.dumps(modelled))
    assert [entry for entry in report if not entry["known"] or entry["error"]] == []
    assert {entry["kind"] for entry in report} == {doc["kind"] for doc in modelled}


def test_the_crd_check_catches_a_wrong_value(rendered: dict[str, list[dict[str, Any]]]) -> None:
    scaled = one(rendered["production"], "ScaledObject", "partners")
    broken = json.loads(json.dumps(scaled))
    broken["spec"]["minReplicaCount"] = "two"
    [entry] = run_script("k8s_models_validate.mjs", stdin=json.dumps([broken]))
    assert "minReplicaCount" in entry["error"]


@pytest.mark.parametrize(("kind", "name", "path", "wrong", "named"), [
    ("PrometheusRule", "diplomacity", ("spec", "groups", 1, "rules", 0, "for"), "a minute", "for"),
    ("Cluster", "diplomacity-postgres", ("spec", "instances"), "three", "instances"),
    ("Database", "diplomacity-travel", ("spec", "ensure"), "maybe", "ensure"),
    ("ScheduledBackup", "diplomacity-postgres-nightly", ("spec", "method"), "tape", "method"),
])
def test_the_crd_check_catches_a_wrong_value_in_the_rules_and_postgresql(
        rendered: dict[str, list[dict[str, Any]]], kind: str, name: str, path: tuple[str | int, ...], wrong: str,
        named: str) -> None:
    broken = json.loads(json.dumps(one(rendered["production"], kind, name)))
    parent = broken
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = wrong
    [entry] = run_script("k8s_models_validate.mjs", stdin=json.dumps([broken]))
    assert entry["known"] and named in (entry["error"] or ""), entry


def test_every_patch_targets_a_resource_of_the_base(rendered: dict[str, list[dict[str, Any]]]) -> None:
    # A patch whose target matches nothing is silently skipped by kustomize.
    for overlay in OVERLAYS:
        kustomization = yaml.safe_load((KUBERNETES / "overlays" / overlay / "kustomization.yaml").read_text())
        docs = rendered[overlay]
        for patch in kustomization.get("patches", []):
            target = patch["target"]
            matches = [doc for doc in docs if doc["kind"] == target["kind"]
                       and target.get("name", doc["metadata"]["name"]) == doc["metadata"]["name"]]
            assert matches, f"{overlay}: a patch targets {target}, which is not there"


# --- the services --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_runs_as_a_deployment_with_probes_on_its_own_paths(
        docs: list[dict[str, Any]], service: str) -> None:
    deployment = one(docs, "Deployment", service)
    ctr = container(deployment)
    assert ctr["args"] == ["serve", service]
    assert ctr["image"].split("/")[-1].startswith("diplomacity:")
    port = PORTS[service]
    assert ctr["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    assert environment(docs, deployment)["PORT"] == str(port)
    assert ctr["readinessProbe"]["httpGet"] == {"path": f"/{service}/ready", "port": "http"}
    assert ctr["livenessProbe"]["httpGet"] == {"path": f"/{service}/health", "port": "http"}
    assert ctr["startupProbe"]["httpGet"] == {"path": f"/{service}/health", "port": "http"}
    assert ctr["resources"]["requests"]["cpu"] and ctr["resources"]["limits"]["memory"]
    # The selector picks this service's pods only.
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": service}
    assert labels["app.kubernetes.io/name"] == service
    scrape = deployment["spec"]["template"]["metadata"]["annotations"]
    assert (scrape["prometheus.io/port"], scrape["prometheus.io/path"]) == (str(port), f"/{service}/metrics")

    svc = one(docs, "Service", service)
    assert svc["spec"]["selector"] == {"app.kubernetes.io/name": service}
    assert svc["spec"]["ports"] == [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}]
    # Where the other services find it (PARTNERS_URL, ...) is this Service.
    assert environment(docs, deployment)[f"{service.upper()}_URL"] == f"http://{service}:{port}"

    pdb = one(docs, "PodDisruptionBudget", service)
    assert pdb["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": service}
    assert pdb["spec"]["maxUnavailable"] == 1


@pytest.mark.parametrize("service", SERVICES)
def test_pods_run_locked_down(docs: list[dict[str, Any]], service: str) -> None:
    for workload in (one(docs, "Deployment", service), one(docs, "Job", f"migrate-{service}")):
        pod = pod_spec(workload)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001  # the Dockerfile's USER
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        ctx = container(workload)["securityContext"]
        assert ctx["readOnlyRootFilesystem"] is True
        assert ctx["allowPrivilegeEscalation"] is False
        assert ctx["capabilities"] == {"drop": ["ALL"]}
        # Temporary files have a writable place.
        assert {"name": "tmp", "mountPath": "/tmp"} in container(workload)["volumeMounts"]


@pytest.mark.parametrize("service", SERVICES)
def test_a_rolling_update_drains_before_it_stops(docs: list[dict[str, Any]], service: str) -> None:
    deployment = one(docs, "Deployment", service)
    command = container(deployment)["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    drain = int(command[1])
    assert drain >= 5  # endpoints and proxies stop sending first
    # Then SIGTERM, and the server's own grace for requests in flight, well inside the pod's.
    assert pod_spec(deployment)["terminationGracePeriodSeconds"] >= drain + GRACE_SECONDS + 15
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_run_as_a_job_and_the_replicas_never_migrate(docs: list[dict[str, Any]], service: str) -> None:
    job = one(docs, "Job", f"migrate-{service}")
    assert container(job)["args"] == ["migrate", service]
    assert container(job)["image"] == container(one(docs, "Deployment", service))["image"]
    assert pod_spec(job)["restartPolicy"] in ("OnFailure", "Never") and job["spec"]["backoffLimit"] >= 3
    # Labelled so the README's first step applies and waits for them alone.
    assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "migration"
    assert one(docs, "Deployment", service)["metadata"]["labels"]["app.kubernetes.io/component"] == "server"
    deployment_env = environment(docs, one(docs, "Deployment", service))
    assert deployment_env["OIA_MIGRATE_ON_START"] == "false"
    # The Job reaches the same database as the service.
    assert _database_ref(job) == _database_ref(one(docs, "Deployment", service))


def _database_ref(workload: dict[str, Any]) -> dict[str, Any]:
    [ref] = [var["valueFrom"]["secretKeyRef"] for var in container(workload)["env"] if var["name"] == "DATABASE_URL"]
    return dict(ref)


@pytest.mark.parametrize("service", SERVICES)
def test_every_variable_compose_gives_a_service_kubernetes_gives_it_too(
        docs: list[dict[str, Any]], service: str) -> None:
    compose_env = load(COMPOSE_FILE, {k: v or "x" for k, v in read_env_file(ENV_EXAMPLE).items()})
    wanted = set(compose_env["services"][service]["environment"])
    provided = environment(docs, one(docs, "Deployment", service))
    assert wanted - set(provided) == set()
    assert provided["OIA_ENV"] == "prod"
    # The secrets are Secrets, never plain values in the ConfigMap.
    for name in ("OIA_SECRET_KEY", "OIA_API_KEYS", "AMQP_URL", "DATABASE_URL"):
        assert provided[name] is None, f"{name} is not from a Secret"
    config = generated(docs, "ConfigMap", "diplomacity-config")["data"]
    assert not {"OIA_SECRET_KEY", "OIA_API_KEYS", "AMQP_URL", "DATABASE_URL", "PARTNERS_API_KEY",
                "SMTP_PASSWORD"} & set(config)


def test_every_secret_named_is_generated_with_its_keys(docs: list[dict[str, Any]]) -> None:
    secrets = of_kind(docs, "Secret")
    named = [ref for doc in docs for ref in secret_references(doc)]
    assert len(named) > 20
    for name, key, optional in named:
        assert name in secrets, f"{name} is named but no generator makes it"
        if key is not None and not optional:
            assert key in secrets[name]["data"], f"{name} has no {key}: add it to the overlay's example"
    # Every generated Secret is used by something.
    assert set(secrets) == {name for name, _, _ in named}


def test_no_secret_value_is_committed() -> None:
    # What git commits from deploy/kubernetes: its files less the ignored ones.
    tracked = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "deploy/kubernetes"],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert tracked, "deploy/kubernetes has no files git would commit"
    assert not [path for path in tracked if path.endswith(".env")], "a filled-in secrets file is committed"
    for path in tracked:
        if path.endswith(".yaml"):
            for doc in yaml.safe_load_all((ROOT / path).read_text()):
                assert not (doc and doc.get("kind") == "Secret"), f"{path} commits a Secret"
    examples = [ROOT / path for path in tracked if path.endswith(".env.example")]
    assert len(examples) >= 2 * 9
    for example in examples:
        for key, value in read_env_file(example).items():
            if key != "username":  # a role's name, not a secret
                assert PLACEHOLDER in value, f"{example.name}: {key} holds a value, not a placeholder"
    # What the operator makes from them stays out of git.
    for overlay in OVERLAYS:
        ignored = subprocess.run(["git", "check-ignore", f"deploy/kubernetes/overlays/{overlay}/secrets/common.env"],
                                 cwd=ROOT, capture_output=True, text=True)
        assert ignored.returncode == 0, f"{overlay}'s secrets/*.env is not ignored by git"


# --- autoscaling ---------------------------------------------------------------------------------------------


def _consumers() -> set[str]:
    """The services whose queue carries the domain's traffic. Every service also reads the platform's
    requests for a person's data (shared/subject_requests.py): a few a month, nothing to scale on."""
    return {name for name in SERVICES
            if set(spec_of(name).subscriptions.binding_keys) - set(subject_requests.EVENTS.types)}


def test_consumers_scale_on_their_queue_and_apis_on_cpu(docs: list[dict[str, Any]]) -> None:
    assert _consumers() == {"partners", "notifications"}
    prefix = generated(docs, "ConfigMap", "diplomacity-config")["data"]["OIA_QUEUE_PREFIX"]
    scaled = of_kind(docs, "ScaledObject")
    assert set(scaled) == _consumers()
    trigger_auth = of_kind(docs, "TriggerAuthentication")
    for service, obj in scaled.items():
        assert obj["spec"]["scaleTargetRef"]["name"] == service
        [trigger] = obj["spec"]["triggers"]
        assert trigger["type"] == "rabbitmq"
        assert trigger["metadata"]["queueName"] == f"{prefix}{service}"  # shared/runtime.py's name
        assert trigger["metadata"]["mode"] == "QueueLength" and int(trigger["metadata"]["value"]) > 0
        assert trigger["authenticationRef"]["name"] in trigger_auth
        assert obj["spec"]["minReplicaCount"] >= 1
    hpas = of_kind(docs, "HorizontalPodAutoscaler")
    assert set(hpas) == set(SERVICES) - _consumers()
    # The autoscaler alone sets the replica count: an apply never resets it.
    for deployment in of_kind(docs, "Deployment").values():
        assert "replicas" not in deployment["spec"]
    for service, hpa in hpas.items():
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": service}
        [metric] = hpa["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu" and metric["resource"]["target"]["type"] == "Utilization"
    # KEDA reads the broker with the services' own URL.
    [auth] = trigger_auth.values()
    [ref] = auth["spec"]["secretTargetRef"]
    assert (ref["parameter"], ref["key"]) == ("host", "AMQP_URL")


def test_production_keeps_two_replicas_of_everything(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["production"]
    for obj in of_kind(docs, "ScaledObject").values():
        assert obj["spec"]["minReplicaCount"] >= 2
    for hpa in of_kind(docs, "HorizontalPodAutoscaler").values():
        assert hpa["spec"]["minReplicas"] >= 2


# --- RabbitMQ and PostgreSQL ---------------------------------------------------------------------------------


def test_production_runs_a_three_node_rabbitmq_cluster_the_services_reach(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["production"]
    [(name, rabbit)] = of_kind(docs, "RabbitmqCluster").items()
    assert rabbit["apiVersion"] == "rabbitmq.com/v1beta1"
    assert rabbit["spec"]["replicas"] == 3
    assert "pause_minority" in rabbit["spec"]["rabbitmq"]["additionalConfig"]
    # A paused consumer gives its messages back before the broker would close its channel for holding them.
    [timeout_ms] = re.findall(r"^consumer_timeout = (\d+)$", rabbit["spec"]["rabbitmq"]["additionalConfig"], re.M)
    hold = ServiceSettings.model_fields["consumer_hold_seconds"].default
    assert hold * 1000 < int(timeout_ms) / 2
    # The operator's Service is the cluster's name: the example AMQP_URL points there.
    example = read_env_file(KUBERNETES / "overlays" / "production" / "secrets" / "amqp.env.example")
    assert f"@{name}:5672/" in example["AMQP_URL"]


def test_postgresql_has_a_database_and_role_per_service(docs: list[dict[str, Any]]) -> None:
    [(cluster_name, cluster)] = of_kind(docs, "Cluster").items()
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    roles = {role["name"]: role for role in cluster["spec"]["managed"]["roles"]}
    assert set(roles) == set(SERVICES)
    assert all(role["login"] and role["ensure"] == "present" for role in roles.values())
    databases = {db["spec"]["name"]: db for db in of_kind(docs, "Database").values()}
    assert set(databases) == set(SERVICES)
    for service, db in databases.items():
        assert db["spec"]["owner"] == service
        assert db["spec"]["cluster"]["name"] == cluster_name
        assert db["spec"]["databaseReclaimPolicy"] == "retain"
    # Each service's URL (the example) names its own role and database on the primary's Service.
    overlay = "production" if cluster["spec"]["instances"] == 3 else "dev"
    for service in SERVICES:
        url = read_env_file(KUBERNETES / "overlays" / overlay / "secrets" / f"{service}.env.example")["DATABASE_URL"]
        assert re.fullmatch(rf"postgresql\+asyncpg://{service}:{PLACEHOLDER}@{cluster_name}-rw:5432/{service}", url)


def test_production_postgresql_is_replicated_and_backed_up(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["production"]
    [(cluster_name, cluster)] = of_kind(docs, "Cluster").items()
    assert cluster["spec"]["instances"] == 3
    store = cluster["spec"]["backup"]["barmanObjectStore"]
    assert store["destinationPath"].startswith("s3://")
    assert cluster["spec"]["backup"]["retentionPolicy"]
    [backup] = of_kind(docs, "ScheduledBackup").values()
    assert backup["spec"]["cluster"]["name"] == cluster_name
    assert backup["spec"]["method"] == "barmanObjectStore"
    assert len(backup["spec"]["schedule"].split()) == 6  # CloudNativePG's schedule has seconds


# --- monitoring ----------------------------------------------------------------------------------------------


def test_production_scrapes_every_service_as_prometheus_yml_does(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["production"]
    monitors = of_kind(docs, "ServiceMonitor")
    assert set(monitors) == set(SERVICES)
    for service, monitor in monitors.items():
        assert monitor["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": service}
        [endpoint] = monitor["spec"]["endpoints"]
        assert (endpoint["port"], endpoint["path"], endpoint["honorLabels"]) == ("http", f"/{service}/metrics", True)
        # up{service=...}, which the alert rules select, needs the Service's label on the target.
        assert monitor["spec"]["targetLabels"] == ["service"]
        assert one(docs, "Service", service)["metadata"]["labels"]["service"] == service


def test_production_carries_the_repositorys_own_dashboards_and_rules(rendered: dict[str, list[dict[str, Any]]]) -> None:
    # The same files compose mounts, not copies of them.
    docs = rendered["production"]
    dashboards = one(docs, "ConfigMap", "diplomacity-grafana-dashboards")
    files = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
    assert files
    assert set(dashboards["data"]) == {path.name for path in files}
    for path in files:
        assert dashboards["data"][path.name] == path.read_text()
    assert dashboards["metadata"]["labels"]["grafana_dashboard"] == "1"
    # The rules as the Prometheus Operator reads them: the rules file's groups, as they are, in a PrometheusRule.
    rules = one(docs, "PrometheusRule", "diplomacity")
    assert rules["spec"]["groups"] == yaml.safe_load((DEPLOY / "prometheus" / "rules" / "diplomacity.yml").read_text())[
        "groups"]
    assert not list(KUBERNETES.rglob("*.json"))


def test_the_committed_prometheus_rule_is_what_the_rules_file_makes() -> None:
    """An edited rules file without `make kubernetes-rules` fails here, not in a cluster."""
    assert render_rules.TARGET.read_text() == render_rules.render(), "run make kubernetes-rules"
    assert render_rules.main(["--check"]) == 0


# --- the README's apply steps --------------------------------------------------------------------------------


def _component(doc: dict[str, Any]) -> str | None:
    return doc["metadata"].get("labels", {}).get("app.kubernetes.io/component")


def test_each_apply_step_holds_what_it_needs(docs: list[dict[str, Any]]) -> None:
    """1. `-l app.kubernetes.io/component=data`: the namespace, RabbitMQ, PostgreSQL and their Secrets (the
    broker's user is read from the operator for AMQP_URL); 2. `-l app.kubernetes.io/component!=server`: all
    but the Deployments, the migration Jobs among them, waited for; 3. everything."""
    first = [doc for doc in docs if _component(doc) == "data"]
    second = [doc for doc in docs if _component(doc) != "server"]
    assert {doc["kind"] for doc in first} >= {"Namespace", "RabbitmqCluster", "Cluster", "Database", "Secret"}
    assert {doc["kind"] for doc in docs if _component(doc) == "server"} == {"Deployment"}
    for step in (first, second):
        present = {(doc["kind"], doc["metadata"]["name"]) for doc in step}
        for doc in step:
            for name, _, _ in secret_references(doc):
                assert ("Secret", name) in present, f"{doc['kind']} {doc['metadata']['name']} needs {name} sooner"
    for job in of_kind(docs, "Job").values():
        assert job in second
        # The broker's URL is written only after the first step: a Job (immutable) never holds it.
        assert "diplomacity-amqp" not in {name.rsplit("-", 1)[0] for name, _, _ in secret_references(job)}
    for deployment in of_kind(docs, "Deployment").values():
        assert environment(docs, deployment)["AMQP_URL"] is None  # from diplomacity-amqp
