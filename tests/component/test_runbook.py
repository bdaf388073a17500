"""docs/runbook.md documents only what exists: a section per alert, endpoints the services serve, `oia`
commands the CLI has."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from typer.testing import CliRunner

from oia.catalog import SERVICES
from oia.cli import app

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = (ROOT / "docs" / "runbook.md").read_text()
ALERTS = ("ServiceDown", "OutboxBacklogGrowing", "OutboxStale", "ConsumerLagGrowing", "ConsumerPaused",
          "DeadLetters", "DeadDeliveries", "AlertLatencyHigh", "ScheduledJobLate")
PATH = re.compile(r"\$BASE(/[^\s`'\"]+)")


def anchors(markdown: str) -> set[str]:
    """The anchors GitHub makes of the headings: lower case, punctuation dropped, spaces as dashes."""
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
            for heading in re.findall(r"^#{2,4} (.+)$", markdown, flags=re.M)}


def test_every_alert_has_its_section_and_every_link_lands():
    found = anchors(RUNBOOK)
    assert {alert.lower() for alert in ALERTS} <= found
    for link in re.findall(r"\]\(#([\w-]+)\)", RUNBOOK):
        assert link in found, link


def test_the_alert_rules_point_at_sections_that_exist():
    rules = sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"))
    assert rules, "no alert rules in deploy/prometheus/rules"
    named = {}
    for path in rules:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    named[rule["alert"]] = rule["annotations"]["runbook_url"]
    assert set(ALERTS) <= set(named)
    for alert, url in named.items():
        assert url.endswith(f"docs/runbook.md#{alert.lower()}"), (alert, url)
        assert alert.lower() in anchors(RUNBOOK), alert


def documented_endpoints(markdown: str) -> set[tuple[str | None, str]]:
    """(method, path) of every `$BASE/…` the runbook names; the method where it says one (a curl's -X,
    GET for a curl without; "POST $BASE/…" in prose), None where it does not."""
    text = markdown.replace("\\\n", " ")  # a shell command continued on the next line is one command
    found: set[tuple[str | None, str]] = set()
    for line in text.splitlines():
        if "curl " in line:
            method = re.search(r"-X (\w+)", line)
            found |= {(method.group(1) if method else "GET", path) for path in PATH.findall(line)}
    found |= set(re.findall(r"\b(GET|POST|PATCH|PUT|DELETE)\s+\$BASE(/[^\s`'\"]+)", text))
    found |= {(None, path) for path in PATH.findall(text)}
    expanded = set()
    for method, path in found:
        path = path.split("?")[0].rstrip(".,;:")
        for service in SERVICES if "$SVC" in path else [None]:
            expanded.add((method, path.replace("$SVC", service) if service else path))
    return expanded


async def test_every_endpoint_the_runbook_names_is_served(host):
    served = []
    for service in SERVICES:
        for template, operations in host.apps[service].openapi()["paths"].items():
            pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")
            served.append((pattern, {method.upper() for method in operations}))
    endpoints = documented_endpoints(RUNBOOK)
    assert ("POST", "/notifications/deliveries/<delivery_id>/retry") in endpoints  # the parsing finds them
    assert ("POST", "/travel/admin/dead-letters/replay") in endpoints
    for method, path in endpoints:
        methods = [ops for pattern, ops in served if pattern.match(path)]
        assert methods, f"{path} is served by no service"
        assert method is None or any(method in ops for ops in methods), f"{method} {path} is not served"


def test_every_oia_command_the_runbook_names_exists():
    runner = CliRunner()
    groups = {"keys", "dlq"}
    commands = set()
    for code in re.findall(r"`([^`]+)`", RUNBOOK) + re.findall(r"```sh\n(.*?)```", RUNBOOK, flags=re.S):
        for first, second in re.findall(r"\boia ([a-z]+)(?: ([a-z]+))?", code):
            commands.add((first, second) if first in groups else (first,))
    assert {("status",), ("dlq", "list"), ("dlq", "replay"), ("keys", "create")} <= commands
    for command in commands:
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, (command, result.output)
