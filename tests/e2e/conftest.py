"""End-to-end tests share the process fixtures of tests/conftest.py; the short fault scenarios' lines
(tests.support.faults) go into the terminal summary, without -s."""

from tests.support.faults import summarise


def pytest_terminal_summary(terminalreporter) -> None:
    summarise(terminalreporter)
