"""The AsyncAPI documents, checked by the official parser (`@asyncapi/parser`, run by
tests/support/asyncapi_validate.mjs): valid, and complete by what the parsed document says."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from oia.catalog import SERVICES, spec_of, system_asyncapi
from oia.cli import app
from shared.asyncapi import service_asyncapi

ROOT = Path(__file__).parents[2]
VALIDATE = ROOT / "tests" / "support" / "asyncapi_validate.mjs"
EXCHANGE = "oia.events"
DOCUMENTS = (*SERVICES, "system")


def document(name: str) -> dict[str, Any]:
    return system_asyncapi(EXCHANGE) if name == "system" else service_asyncapi(spec_of(name), EXCHANGE)


@pytest.fixture(scope="module")
def parsed(tmp_path_factory) -> dict[str, dict[str, Any]]:
    """What the parser says of each document: one node process for all five."""
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "@asyncapi" / "parser").is_dir():
        pytest.fail("node or @asyncapi/parser is missing: run `make checkers`")
    folder = tmp_path_factory.mktemp("asyncapi")
    files = {name: folder / f"{name}.json" for name in DOCUMENTS}
    for name, path in files.items():
        path.write_text(json.dumps(document(name)))
    run = subprocess.run([node, str(VALIDATE), *map(str, files.values())], cwd=ROOT, capture_output=True,
                         text=True, timeout=180, check=False)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    return {name: report[str(path)] for name, path in files.items()}


@pytest.mark.parametrize("name", DOCUMENTS)
def test_the_parser_finds_no_error_or_warning(parsed, name):
    diagnostics = parsed[name]["diagnostics"]
    serious = [d for d in diagnostics if d["severity"] in ("error", "warning")]
    assert not serious, "\n".join(f"{d['severity']} {d['code']} at {d['path']}: {d['message']}" for d in diagnostics)


def operations(report: dict[str, Any], action: str) -> set[str]:
    """The event types the parsed document has an operation of this action for, checked to carry that type."""
    found = set()
    for operation in report["operations"]:
        if operation["action"] == action:
            assert operation["messages"] == operation["addresses"], operation  # the channel's message is its type
            found.update(operation["addresses"])
    return found


@pytest.mark.parametrize("name", SERVICES)
def test_a_service_document_sends_what_it_publishes_and_receives_what_it_subscribes_to(parsed, name):
    spec, report = spec_of(name), parsed[name]
    published, subscribed = set(spec.publishes.types), set(spec.subscriptions.binding_keys)
    assert set(report["messages"]) == published | subscribed
    assert operations(report, "send") == published
    assert operations(report, "receive") == subscribed


def test_the_system_document_has_every_service_s_events_and_operations(parsed):
    report = parsed["system"]
    specs = [spec_of(name) for name in SERVICES]
    published = {t for spec in specs for t in spec.publishes.types}
    subscribed = {t for spec in specs for t in spec.subscriptions.binding_keys}
    assert set(report["messages"]) == published | subscribed
    assert operations(report, "send") == published
    assert operations(report, "receive") == subscribed
    assert len(report["operations"]) == sum(len(s.publishes.types) + len(s.subscriptions.binding_keys) for s in specs)


async def test_the_checked_documents_are_the_ones_served(client, host):
    exchange = host.runtimes["travel"].settings.exchange
    for name in SERVICES:
        served = (await client.get(f"/{name}/asyncapi.json")).json()
        assert served == json.loads(json.dumps(service_asyncapi(spec_of(name), exchange)))
    assert (await client.get("/asyncapi.json")).json() == json.loads(json.dumps(system_asyncapi(exchange)))
    printed = CliRunner().invoke(app, ["asyncapi"])
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.output) == json.loads(json.dumps(system_asyncapi(exchange)))
