"""A scheduled job's run is measured: runs by outcome, duration, last run and last success, its
interval, and the alerts it said (shared/scheduled.py), against a stand-in runtime."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from prometheus_client import REGISTRY

from shared.scheduled import Periodic
from shared.testing import eventually

SERVICE = "unit-jobs"  # no real service's series are touched


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"service": SERVICE, **labels})


class Reminders(Periodic):
    name = "reminders"

    def __init__(self, runtime, said: list) -> None:
        super().__init__(runtime)
        self.said = said  # what each run says, or the exception it raises

    async def run(self, runtime) -> int:
        outcome = self.said.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def job(*said) -> Reminders:
    runtime = SimpleNamespace(name=SERVICE, spec=SimpleNamespace(name=SERVICE),
                              settings=SimpleNamespace(jobs_interval_seconds=600.0, shutdown_grace_seconds=5.0))
    return Reminders(runtime, list(said))


async def test_runs_are_counted_by_outcome_with_their_alerts_and_the_last_success_stays_on_a_failure():
    reminders = job(3, RuntimeError("database gone"), 0)
    labels = {"job_name": "reminders"}
    assert sample("oia_job_interval_seconds", **labels) == 600.0  # known before the first run
    ok_before = sample("oia_job_runs_total", **labels, outcome="ok") or 0
    failed_before = sample("oia_job_runs_total", **labels, outcome="failed") or 0
    alerts_before = sample("oia_job_alerts_total", **labels) or 0
    started = time.time()

    assert await reminders.run_once() is True
    succeeded = sample("oia_job_last_success_timestamp_seconds", **labels)
    assert succeeded is not None and succeeded >= started
    assert sample("oia_job_alerts_total", **labels) == alerts_before + 3

    assert await reminders.run_once() is False  # logged, counted, and the loop carries on
    assert sample("oia_job_runs_total", **labels, outcome="failed") == failed_before + 1
    assert sample("oia_job_last_success_timestamp_seconds", **labels) == succeeded
    last_run = sample("oia_job_last_run_timestamp_seconds", **labels)
    assert last_run is not None and last_run >= succeeded

    assert await reminders.run_once() is True
    assert sample("oia_job_runs_total", **labels, outcome="ok") == ok_before + 2
    assert sample("oia_job_alerts_total", **labels) == alerts_before + 3
    assert sample("oia_job_duration_seconds_count", **labels) >= 3


def test_settings_without_an_interval_are_refused():
    with pytest.raises(TypeError, match="jobs_interval_seconds"):
        Periodic(SimpleNamespace(name=SERVICE, settings=SimpleNamespace()))


async def test_a_job_failing_from_its_start_is_counted_from_the_start_so_it_can_be_late():
    class Failing(Reminders):
        name = "failing-from-the-start"

    failing = Failing(job().runtime, [RuntimeError("database gone")] * 100)
    labels = {"job_name": "failing-from-the-start"}
    before = time.time()
    failing.start()  # the loop's first run fails at once
    try:
        await eventually(lambda: (sample("oia_job_runs_total", **labels, outcome="failed") or 0) >= 1,
                         message="the first run")
        # ScheduledJobLate: time() - last success > 2 × interval; with no success yet, from the start.
        since = sample("oia_job_last_success_timestamp_seconds", **labels)
        assert since is not None and before <= since <= time.time()
    finally:
        await failing.stop()
