"""The fuzz run and its conformance checks on PostgreSQL, where text and numbers fail differently from
SQLite (NUL in text, a VARCHAR's length, 32-bit integers). Admin key only and a smaller fuzzing budget:
the SQLite run covers the department key; here what matters is what the database refuses."""

from __future__ import annotations

import asyncio

import pytest

from tests.fuzz.test_schemathesis import SERVICES, demo_host, failures
from tests.support.postgres_host import create_databases, drop_databases, use_databases

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pg_host(tmp_path_factory):
    names = asyncio.run(create_databases())
    try:
        with pytest.MonkeyPatch.context() as env:
            use_databases(env, names)
            with demo_host(tmp_path_factory.mktemp("fuzz-postgres"), env) as embedded:
                yield embedded
    finally:
        asyncio.run(drop_databases(names))


@pytest.mark.parametrize("service", SERVICES)
def test_every_answer_is_what_the_document_declares_on_postgres(pg_host, service):
    assert "postgresql" in str(pg_host.runtimes[service].engine.url)
    found = failures(pg_host, service, "admin", examples=3)
    assert not found, f"{len(found)} checks failed on {service} on PostgreSQL:\n" + "\n".join(found)
