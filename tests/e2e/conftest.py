"""End-to-end tests share the process fixtures of tests/conftest.py; the short fault scenarios' lines
(tests.support.faults) go with their tests' reports, to the terminal summary."""

import pytest

from tests.support.faults import REPORTED, attach


@pytest.fixture(autouse=True)
def fault_lines(request):
    since = len(REPORTED)
    yield
    attach(request.node, since)
