"""Every answer is one the OpenAPI document declares, and no input makes a service answer 5xx:
schemathesis drives all four documents of the embedded host through its examples, coverage and
fuzzing phases, once with an admin key and once with a department key, and checks each answer's
status, media type, headers and body against the document.

Deterministic (derandomized, fixed seed) and bounded, so a run takes minutes and a failure repeats.
Every case goes to the same host, so what one case stores is read by later ones: a stored value that
breaks a read shows up here too. `make test-fuzz` runs tests/fuzz (this and the PostgreSQL run).
(schemathesis' own pytest plugin cannot load a schema from a fixture under this pytest, so the test
drives its engine, as the `schemathesis run` command does.)"""

from __future__ import annotations

import asyncio
import os
from contextlib import contextmanager

import pytest
import schemathesis
from schemathesis.engine import events
from schemathesis.python import asgi

from oia.embedded import EmbeddedHost, prepare
from tests.support.policy_cases import KEYS, POLICY_KEYS

SERVICES = ("partners", "travel", "grants", "notifications")
ROLES = ("admin", "department")
# The fuzzing phase's budget per operation (the examples and coverage phases are bounded by the
# documents themselves): about three minutes in all on a loaded two-core machine.
FUZZ_EXAMPLES = int(os.environ.get("OIA_FUZZ_EXAMPLES", "8"))
SEED = int(os.environ.get("OIA_FUZZ_SEED", "20261130"))  # another seed: another deterministic hunt
STREAMS = ["/notifications/feed/stream"]


@contextmanager
def demo_host(data_dir, env: pytest.MonkeyPatch):
    """The embedded host with the demo data and the policy keys; stopped when the block ends."""
    env.setenv("OIA_API_KEYS", ",".join(POLICY_KEYS))
    # No portal host to fetch from: a generated ?url= must never reach the network (it would get a 502,
    # the portal being unreachable, and traffic leave the machine). tests/component covers the fetch itself.
    env.setenv("GRANTS_PORTAL_HOSTS", "[]")
    asyncio.run(prepare(data_dir, with_demo_data=True))
    try:
        yield EmbeddedHost(data_dir)
    finally:
        # schemathesis started the host (its ASGI lifespan) on its own event loop at the first request.
        asgi.shutdown_lifespans()


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    with pytest.MonkeyPatch.context() as env, demo_host(tmp_path_factory.mktemp("fuzz"), env) as embedded:
        yield embedded


# schemathesis' verdicts on every answer: no input makes a service answer 5xx, and each answer has a status,
# media type, headers and body its document declares. Not `negative_data_rejection`: pydantic's lax mode takes
# "1" for 1, false for 0 and 0 for 1970-01-01, more than the documents' types say a client may send.
CHECKS = ["not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance", "response_headers_conformance"]


def failures(host, service: str, role: str, examples: int = FUZZ_EXAMPLES) -> list[str]:
    """Every failed check of the run, and every request the engine could not complete, described."""
    # Not the live feed: an accepted request to it never ends (a stream), and the in-process client
    # waits for a response's end. tests/component/test_notifications_feed_stream.py reads it over a socket.
    schema = schemathesis.openapi.from_asgi(f"/{service}/openapi.json", host).exclude(path=STREAMS)
    config = schema.config
    config.update(headers={"Authorization": f"Bearer {KEYS[role]}"}, continue_on_failure=True, workers=1)
    config.phases.update(phases=["examples", "coverage", "fuzzing"])
    # Deterministic: no examples database or response cache carried from one run to the next.
    config.generation.update(max_examples=examples, deterministic=True, database="none")
    config.cache.enabled = False
    config.checks.update(included_check_names=CHECKS)
    config.seed = SEED
    found: dict[str, str] = {}
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            for case_id, checks in recorder.checks.items():
                interaction = recorder.interactions.get(case_id)
                for check in checks:
                    if check.failure_info is None:
                        continue
                    failure = check.failure_info.failure
                    request = interaction.request if interaction else None
                    response = interaction.response if interaction else None
                    where = f"{request.method} {request.uri.split('?')[0]}" if request else case_id
                    status = response.status_code if response is not None else "no answer"
                    key = f"{check.name}: {where} → {status}: {failure.title}"
                    found.setdefault(key, f"{key}\n    {failure.message[:400]}\n"
                                          f"    request: {request.uri if request else ''} {(request.body or b'')[:300]!r}\n"
                                          f"    answer: {response.content[:300] if response is not None else b''!r}")
        elif isinstance(event, (events.NonFatalError, events.FatalError)):
            found.setdefault(repr(event), f"{type(event).__name__}: {getattr(event, 'info', event)}")
    return list(found.values())


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("service", SERVICES)
def test_every_answer_is_what_the_document_declares(host, service, role):
    found = failures(host, service, role)
    assert not found, (f"{len(found)} checks failed on {service} with a {role} key:\n" + "\n".join(found))
