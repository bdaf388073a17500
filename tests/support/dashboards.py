"""The Grafana dashboards of deploy/grafana/dashboards as tests read them: every panel's PromQL, with
Grafana's variables filled in the way Grafana would for a short time range."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from prometheus_client.metrics import MetricWrapperBase

import shared.metrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
PROMETHEUS = ROOT / "deploy" / "prometheus"
DATASOURCE_UID = "prometheus"  # deploy/grafana/provisioning/datasources/prometheus.yml

# What Grafana puts in place of its built-in variables (a scrape interval of a few seconds, an hour shown).
BUILTINS = {"$__rate_interval": "15s", "$__interval": "15s", "$__range": "1h"}


class Query(NamedTuple):
    dashboard: str  # file name
    panel: str      # panel title
    expr: str       # as written
    promql: str     # with the variables filled in

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.panel}: {self.promql}"


def load(path: Path) -> dict[str, Any]:
    board: dict[str, Any] = json.loads(path.read_text())
    return board


def files() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside collapsed rows too; rows themselves are left out."""
    for panel in board.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def _variables(board: dict[str, Any]) -> dict[str, str]:
    # A template variable stands for its current value, or (a query variable shown as All) any value.
    found = {}
    for variable in board.get("templating", {}).get("list", []):
        current = variable.get("current", {}).get("value", ".*")
        value = ".*" if current in ("$__all", ["$__all"]) else "|".join(current) if isinstance(current, list) else current
        found[variable["name"]] = str(value)
    return found


def fill(expr: str, variables: dict[str, str]) -> str:
    for name, value in BUILTINS.items():
        expr = expr.replace(name, value)
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", lambda m: variables.get(m[1] or m[2], m[0]), expr)


def queries() -> Iterator[Query]:
    for path in files():
        board = load(path)
        variables = _variables(board)
        for panel in panels(board):
            for target in panel.get("targets", []):
                yield Query(path.name, panel["title"], target["expr"], fill(target["expr"], variables))


def contract_series() -> set[str]:
    """The series names shared/metrics.py exposes (a counter's _total, a histogram's _bucket/_sum/_count)."""
    names = set()
    for value in vars(shared.metrics).values():
        if isinstance(value, MetricWrapperBase):
            name, kind = value._name, value._type
            names |= {"counter": {f"{name}_total"}, "histogram": {f"{name}_bucket", f"{name}_sum", f"{name}_count"},
                      "gauge": {name}, "summary": {f"{name}_sum", f"{name}_count"}}.get(kind, {name})
    return names


def series_named(promql: str) -> set[str]:
    """The metric names a query selects (identifiers before a `{`, a `[` or standing alone), not functions,
    keywords or label names."""
    without_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', promql)
    without_matchers = re.sub(r"\{[^}]*\}", "{}", without_strings)
    without_groupings = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", without_matchers)
    names = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", without_groupings))
    keywords = {"and", "or", "unless", "bool", "offset", "inf", "nan", "Inf", "NaN"}
    return {n for n in names if n not in keywords and not re.fullmatch(r"\d+[smhdwy]?|e\d*", n)}
