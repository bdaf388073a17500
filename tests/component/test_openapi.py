"""The four OpenAPI documents as Redocly's linter reads them, and the pages that show them with no internet.
(schemathesis checks the documents against the services' answers: tests/fuzz/test_schemathesis.py.)"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from oia.catalog import SERVICES
from oia.embedded import EmbeddedHost
from tests.support.embedded import auth

ROOT = Path(__file__).resolve().parents[2]
REDOCLY = ROOT / "node_modules" / ".bin" / "redocly"


def test_redocly_finds_no_error_in_any_document(tmp_path):
    if not REDOCLY.exists():
        pytest.fail(f"{REDOCLY.relative_to(ROOT)} is missing: run `make checkers`")
    host = EmbeddedHost(tmp_path / "data")  # its apps build their documents without starting
    documents = []
    for service in SERVICES:
        documents.append(tmp_path / f"{service}.json")
        documents[-1].write_text(json.dumps(host.apps[service].openapi()))
    linted = subprocess.run([str(REDOCLY), "lint", "--config", str(ROOT / "redocly.yaml"), "--format=json",
                             *map(str, documents)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    found = reports(linted.stdout)
    assert len(found) == len(SERVICES), linted.stdout + linted.stderr
    errors = [f"{p['location'][0]['source']['ref']} {p['location'][0]['pointer']}: {p['ruleId']}: {p['message']}"
              for report in found for p in report["problems"] if p["severity"] == "error"]
    assert not errors and linted.returncode == 0, "\n".join(errors) or linted.stderr


def reports(output: str) -> list[dict]:
    """Redocly's JSON format: one report per document, one after the other."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while output[at:].strip():
        report, at = decoder.raw_decode(output, at + len(output[at:]) - len(output[at:].lstrip()))
        found.append(report)
    return found


ASSET = re.compile(r"""(?:src|href|spec-url)="([^"]+)"|url: '([^']+)'""")


@pytest.mark.parametrize("page", ["docs", "redoc"])
@pytest.mark.parametrize("service", SERVICES)
async def test_docs_pages_load_everything_from_the_service_itself(client, service, page):
    html = await client.get(f"/{service}/{page}")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert not re.search(r"(?:https?:)?//[\w.-]", html.text), "the page names another host"
    assets = [a or b for a, b in ASSET.findall(html.text)]
    assert f"/{service}/openapi.json" in assets
    assert any(a.endswith(".js") for a in assets)
    for asset in assets:
        fetched = await client.get(asset)
        assert fetched.status_code == 200 and fetched.content, asset


async def test_swagger_authorize_sends_the_key_the_way_the_document_declares(client, host):
    document = (await client.get("/travel/openapi.json")).json()
    scheme = document["components"]["securitySchemes"]["apiKey"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    operation = document["paths"]["/travel/trips"]["get"]
    assert operation["security"] == [{"apiKey": []}]
    # What Swagger UI sends for an http bearer scheme: the key after "Bearer ".
    assert (await client.get("/travel/trips", headers=auth(host, "admin"))).status_code == 200
    refused = await client.get("/travel/trips")
    assert refused.status_code == 401 and refused.headers["content-type"] == "application/problem+json"
    assert "401" in operation["responses"] and "application/problem+json" in operation["responses"]["401"]["content"]


async def test_every_error_is_documented_as_a_problem_naming_its_fields(client):
    for service in SERVICES:
        document = (await client.get(f"/{service}/openapi.json")).json()
        assert "HTTPValidationError" not in json.dumps(document)
        problem = document["components"]["schemas"]["Problem"]
        assert problem["properties"]["errors"]["items"] == {"$ref": "#/components/schemas/FieldProblem"}
        assert "field" in document["components"]["schemas"]["FieldProblem"]["required"]
        for path, item in document["paths"].items():
            for operation in item.values():
                errors = {s: r for s, r in operation["responses"].items() if s[0] in "45"}
                if path != f"/{service}/ready":  # its 503 is the readiness report itself
                    assert all(list(r["content"]) == ["application/problem+json"] for r in errors.values()), path
                if operation["security"]:
                    assert {"401", "403", "429"} <= set(errors), path


PUBLIC = ("health", "ready", "metrics", "asyncapi.json", "calendar/{token}.ics")  # the feed's secret is in its URL


async def test_only_probes_and_calendar_feeds_need_no_key(client):
    for service in SERVICES:
        document = (await client.get(f"/{service}/openapi.json")).json()
        public = {path for path, item in document["paths"].items() for op in item.values() if not op["security"]}
        assert public == {f"/{service}/{p}" for p in PUBLIC} & set(document["paths"])


def example(document: dict, path: str) -> dict:
    examples = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["examples"]
    return next(iter(examples.values()))["value"]


async def test_the_main_operations_examples_are_taken_as_they_stand(client, host):
    admin = auth(host, "admin")
    documents = {service: (await client.get(f"/{service}/openapi.json")).json() for service in SERVICES}
    made = {}
    for service, path in [("travel", "/travel/trips"), ("partners", "/partners/partnerships"),
                          ("grants", "/grants/calls"), ("notifications", "/notifications/recipients")]:
        answer = await client.post(path, json=example(documents[service], path), headers=admin)
        assert answer.status_code == 201, f"{path}: {answer.text}"
        made[path] = answer.json()
    # An application's example names a call by id: the one the call's example just recorded.
    application = {**example(documents["grants"], "/grants/applications"), "call_id": made["/grants/calls"]["id"]}
    answer = await client.post("/grants/applications", json=application, headers=admin)
    assert answer.status_code == 201, answer.text
    assert (await client.get(f"/travel/trips/{made['/travel/trips']['id']}", headers=admin)).json()["legs"][0][
        "place_name"] == "Chongqing"
    assert made["/notifications/recipients"]["quiet_start"] == "22:00:00"
