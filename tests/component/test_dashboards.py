"""deploy/grafana as Grafana would provision it (Grafana itself is not packaged for Debian, so the JSON
is checked here and its queries are run against a real Prometheus in tests/e2e/test_dashboards.py):
each dashboard loads with a unique uid, a title and panels laid out on Grafana's 24-column grid; every
panel says what it shows (a description, a unit) and queries the provisioned Prometheus source; every
query parses (promtool) and names only series the services expose."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.dashboards import (
    DATASOURCE_UID,
    ROOT,
    contract_series,
    files,
    load,
    panels,
    queries,
    series_named,
)

PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"
EXPECTED = {"overview.json", "partners.json", "travel.json", "grants.json", "notifications.json"}


def test_the_dashboards_are_there() -> None:
    assert {path.name for path in files()} == EXPECTED


def test_uids_and_titles_are_unique() -> None:
    boards = [load(path) for path in files()]
    for board in boards:
        assert board["uid"] and board["title"] and board["panels"], board.get("uid")
        assert len(board["uid"]) <= 40  # Grafana's limit
    assert len({board["uid"] for board in boards}) == len(boards)
    assert len({board["title"] for board in boards}) == len(boards)


@pytest.mark.parametrize("path", files(), ids=lambda path: path.name)
def test_panels_are_described_and_use_the_provisioned_source(path: Path) -> None:
    board = load(path)
    ids = [panel["id"] for panel in board["panels"]] + [p["id"] for row in board["panels"] for p in row.get("panels", [])]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for panel in panels(board):
        where = f"{path.name} / {panel['title']}"
        assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}, where
        assert panel.get("description"), f"{where}: no description"
        assert panel["fieldConfig"]["defaults"].get("unit"), f"{where}: no unit"
        targets = panel["targets"]
        assert targets, f"{where}: no query"
        assert len({t["refId"] for t in targets}) == len(targets), f"{where}: duplicate refIds"
        for target in targets:
            assert target["expr"].strip(), where
            assert target.get("datasource", panel["datasource"])["uid"] == DATASOURCE_UID, where


@pytest.mark.parametrize("path", files(), ids=lambda path: path.name)
def test_panels_fit_the_grid_without_overlapping(path: Path) -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in load(path)["panels"]:
        grid = panel["gridPos"]
        assert grid["w"] > 0 and grid["h"] > 0 and 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in taken, f"{panel['title']} overlaps {taken[(x, y)]}"
                taken[(x, y)] = panel["title"]


def test_queries_name_only_series_the_services_expose() -> None:
    known = contract_series() | {"up"}   # up: Prometheus's own, per scraped target
    unknown = [f"{query} names {sorted(series_named(query.promql) - known)}"
               for query in queries() if series_named(query.promql) - known]
    assert not unknown, "queries of series no service exposes:\n" + "\n".join(unknown)


def test_queries_parse(tmp_path: Path) -> None:
    # promtool parses every expression of a rules file: each query, as a recording rule.
    all_queries = list(queries())
    rules = {"groups": [{"name": "dashboards", "rules": [
        {"record": f"dashboard:query_{i}", "expr": query.promql} for i, query in enumerate(all_queries)]}]}
    (tmp_path / "queries.yml").write_text(yaml.safe_dump(rules))
    tool = shutil.which("promtool")
    assert tool, "promtool is not installed: apt-get install prometheus (as .ci/run does)"
    done = subprocess.run([tool, "check", "rules", str(tmp_path / "queries.yml")], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(all_queries)} rules found" in done.stdout


def test_the_dashboards_cover_the_services_and_the_flow() -> None:
    by_board: dict[str, list[str]] = {}
    for query in queries():
        by_board.setdefault(query.dashboard, []).append(query.promql)
    for service in ("partners", "travel", "grants", "notifications"):
        assert any(f'service="{service}"' in promql for promql in by_board[f"{service}.json"])
        assert all('service="' not in promql or f'service="{service}"' in promql
                   for promql in by_board[f"{service}.json"]), f"{service}.json queries another service"
    overview = " ".join(by_board["overview.json"])
    for series in ("up", "oia_events_published_total", "oia_outbox_backlog", "oia_consumer_lag",
                   "oia_dead_letters", "oia_consumer_paused", "oia_deliveries", "oia_alert_latency_seconds_bucket"):
        assert series in overview, f"the overview does not show {series}"


def _provisioned(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def test_provisioning_names_the_sources_the_dashboards_use() -> None:
    sources = _provisioned(PROVISIONING / "datasources" / "prometheus.yml")
    assert sources["apiVersion"] == 1
    by_uid = {source["uid"]: source for source in sources["datasources"]}
    assert by_uid[DATASOURCE_UID]["type"] == "prometheus" and by_uid[DATASOURCE_UID]["isDefault"] is True
    assert by_uid["jaeger"]["type"] == "jaeger"
    [provider] = _provisioned(PROVISIONING / "dashboards" / "diplomacity.yml")["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]
