"""The fault scenarios' lines (tests.support.faults) in the terminal summary, without -s."""

from tests.support.faults import summarise


def pytest_terminal_summary(terminalreporter) -> None:
    summarise(terminalreporter)
