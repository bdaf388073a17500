"""Write the alert rules as a Prometheus Operator `PrometheusRule` (components/monitoring/prometheus-rules.yaml).

deploy/prometheus/rules/diplomacity.yml stays the one source (Prometheus in docker-compose.yml loads it, promtool
tests it); the Operator reads rules only from a resource's spec, which kustomize cannot fill from a file, so the
spec is generated from it and committed. `python deploy/kubernetes/render_rules.py` (`make kubernetes-rules`)
rewrites it; `--check` exits 1 when the committed one has drifted (tests/component/test_kubernetes.py checks too).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[1]
RULES = DEPLOY / "prometheus" / "rules" / "diplomacity.yml"
TARGET = DEPLOY / "kubernetes" / "components" / "monitoring" / "prometheus-rules.yaml"
HEADER = """\
# Generated from deploy/prometheus/rules/diplomacity.yml by deploy/kubernetes/render_rules.py: edit that file,
# then run `make kubernetes-rules`. The Prometheus Operator loads it (its ruleSelector must match the labels).
"""


def prometheus_rule(rules: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "diplomacity", "labels": {"app.kubernetes.io/part-of": "diplomacity"}},
        "spec": {"groups": rules["groups"]},
    }


def render() -> str:
    resource = prometheus_rule(yaml.safe_load(RULES.read_text()))
    return HEADER + yaml.safe_dump(resource, sort_keys=False, allow_unicode=True, width=1000)


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        if TARGET.read_text() != render():
            print(f"{TARGET.relative_to(DEPLOY.parent)} is not what {RULES.relative_to(DEPLOY.parent)} makes: "
                  "run make kubernetes-rules", file=sys.stderr)
            return 1
        return 0
    if argv:
        print("usage: render_rules.py [--check]", file=sys.stderr)
        return 2
    TARGET.write_text(render())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
