"""deploy/prometheus as Prometheus itself reads it: `promtool check config`, `promtool check rules` and
`promtool test rules` (the unit tests in deploy/prometheus/tests, where each alert fires when it should
and stays silent when it should not). promtool is Debian's `prometheus` package (.ci/run installs it);
without it these tests fail, they do not skip."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.dashboards import PROMETHEUS, contract_series, series_named

ALERTS = ("ServiceDown", "OutboxBacklogGrowing", "OutboxStale", "ConsumerLagGrowing", "ConsumerPaused",
          "DeadLetters", "DeadDeliveries", "AlertLatencyHigh", "ScheduledJobLate")
RUNBOOK = "https://github.com/diplomacity/diplomacity/blob/main/docs/runbook.md#"
RULES = PROMETHEUS / "rules" / "diplomacity.yml"


def promtool(*args: str | Path) -> str:
    tool = shutil.which("promtool")
    assert tool, "promtool is not installed: apt-get install prometheus (as .ci/run does)"
    done = subprocess.run([tool, *map(str, args)], capture_output=True, text=True, timeout=60, cwd=PROMETHEUS)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"promtool {' '.join(map(str, args))} failed:\n{output}"
    return output


def rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def test_config_is_valid_and_loads_the_rules() -> None:
    output = promtool("check", "config", PROMETHEUS / "prometheus.yml")
    assert "SUCCESS: 1 rule files found" in output   # rules/*.yml matched the rules file
    assert f"{len(rules())} rules found" in output


def test_rules_are_valid() -> None:
    assert f"SUCCESS: {len(rules())} rules found" in promtool("check", "rules", RULES)


def test_rules_unit_tests_pass() -> None:
    output = promtool("test", "rules", PROMETHEUS / "tests" / "diplomacity_test.yml")
    assert "SUCCESS" in output


def test_unit_tests_cover_every_alert_firing_and_silent() -> None:
    tests = yaml.safe_load((PROMETHEUS / "tests" / "diplomacity_test.yml").read_text())["tests"]
    cases = [case for test in tests for case in test.get("alert_rule_test", [])]
    for alert in ALERTS:
        mine = [case for case in cases if case["alertname"] == alert]
        assert any(case["exp_alerts"] for case in mine), f"no test where {alert} fires"
        assert any(not case["exp_alerts"] for case in mine), f"no test where {alert} stays silent"


def test_alerts_are_the_issues_with_severity_summary_and_runbook() -> None:
    alerts = {rule["alert"]: rule for rule in rules() if "alert" in rule}
    assert sorted(alerts) == sorted(ALERTS)
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        annotations = rule["annotations"]
        for field in ("summary", "description"):
            assert "{{ $labels.service }}" in annotations[field], f"{name}: the {field} does not name the service"
        # docs/runbook.md has one section per alert, its anchor the lower-cased name.
        assert annotations["runbook_url"] == RUNBOOK + name.lower()


def test_rules_use_only_contract_metrics() -> None:
    known = contract_series() | {"up"} | {rule["record"] for rule in rules() if "record" in rule}
    unknown = {(rule.get("alert") or rule["record"], name) for rule in rules()
               for name in series_named(rule["expr"]) if name not in known}
    assert not unknown, f"rules name series no service exposes: {sorted(unknown)}"


def test_scheduled_job_late_is_the_issues_expression() -> None:
    [late] = [rule for rule in rules() if rule.get("alert") == "ScheduledJobLate"]
    assert late["expr"] == "time() - oia_job_last_success_timestamp_seconds > 2 * oia_job_interval_seconds"


@pytest.mark.parametrize(("old", "new"), [
    ("oia_outbox_backlog > 0 and", "oia_outbox_backlog > 0 an"),              # a PromQL syntax error
    ("severity: critical", "severity: [critical"),                            # not YAML
])
def test_promtool_rejects_a_broken_rules_file(tmp_path: Path, old: str, new: str) -> None:
    # Guards against a check that passes anything.
    broken = tmp_path / "broken.yml"
    text = RULES.read_text()
    assert old in text
    broken.write_text(text.replace(old, new, 1))
    with pytest.raises(AssertionError, match="failed"):
        promtool("check", "rules", broken)
