"""End-to-end tests share the process fixtures of tests/conftest.py; the short fault scenarios' lines
(tests.support.faults) go with their tests' reports, to the terminal summary."""

from tests.support.faults import fault_lines  # noqa: F401  (autouse)
