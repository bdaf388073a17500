"""`oia status` from canned answers: what it reads from /ready and /metrics, and the screen it draws."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from rich.console import Console
from typer.testing import CliRunner

from oia.cli import app
from oia.status import Job, ServiceStatus, collect, exit_code, read_metrics, render, service_urls, summarize

NOW = 1_780_000_000.0  # a fixed "now" for the screen's "… ago"

# The metric contract's series as a notifications build that has them exposes them, with another
# service's series mixed in (`oia dev` may serve every service's series on each /metrics).
NOTIFICATIONS_METRICS = f"""\
# HELP oia_http_requests_total HTTP requests
# TYPE oia_http_requests_total counter
oia_http_requests_total{{method="GET",route="/notifications/feed",service="notifications",status="200"}} 380.0
oia_http_requests_total{{method="POST",route="/notifications/recipients",service="notifications",status="201"}} 15.0
oia_http_requests_total{{method="GET",route="/notifications/feed",service="notifications",status="500"}} 5.0
oia_http_requests_total{{method="GET",route="/travel/trips",service="travel",status="500"}} 99.0
# HELP oia_outbox_backlog Outbox rows not yet published
# TYPE oia_outbox_backlog gauge
oia_outbox_backlog{{service="notifications"}} 12.0
oia_outbox_backlog{{service="travel"}} 7777.0
# HELP oia_outbox_oldest_pending_age_seconds Age of the oldest unpublished outbox row
# TYPE oia_outbox_oldest_pending_age_seconds gauge
oia_outbox_oldest_pending_age_seconds{{service="notifications"}} 95.0
# HELP oia_consumer_lag Messages waiting in the service's queue
# TYPE oia_consumer_lag gauge
oia_consumer_lag{{service="notifications"}} 41.0
# HELP oia_dead_letters Messages in the service's dead-letter queue
# TYPE oia_dead_letters gauge
oia_dead_letters{{service="notifications"}} 2.0
# HELP oia_deliveries Delivery rows by status
# TYPE oia_deliveries gauge
oia_deliveries{{channel="email",service="notifications",status="sent"}} 310.0
oia_deliveries{{channel="email",service="notifications",status="dead"}} 1.0
oia_deliveries{{channel="slack",service="notifications",status="dead"}} 3.0
oia_deliveries{{channel="slack",service="notifications",status="pending"}} 4.0
# HELP oia_job_last_run_timestamp_seconds Unix time the job last finished a run
# TYPE oia_job_last_run_timestamp_seconds gauge
oia_job_last_run_timestamp_seconds{{job_name="digests",service="notifications"}} {NOW - 180}
oia_job_last_run_timestamp_seconds{{job_name="purge",service="notifications"}} {NOW - 600}
oia_job_last_run_timestamp_seconds{{job_name="weekly",service="notifications"}} {NOW - 5 * 3600}
oia_job_last_run_timestamp_seconds{{job_name="fresh",service="notifications"}} 0.0
# HELP oia_job_last_success_timestamp_seconds Unix time the job last ran without failing
# TYPE oia_job_last_success_timestamp_seconds gauge
oia_job_last_success_timestamp_seconds{{job_name="digests",service="notifications"}} {NOW - 180}
oia_job_last_success_timestamp_seconds{{job_name="purge",service="notifications"}} {NOW - 7200}
oia_job_last_success_timestamp_seconds{{job_name="weekly",service="notifications"}} {NOW - 5 * 3600}
# HELP oia_job_interval_seconds The job's configured interval
# TYPE oia_job_interval_seconds gauge
oia_job_interval_seconds{{job_name="digests",service="notifications"}} 300.0
oia_job_interval_seconds{{job_name="purge",service="notifications"}} 300.0
oia_job_interval_seconds{{job_name="weekly",service="notifications"}} 3600.0
oia_job_interval_seconds{{job_name="fresh",service="notifications"}} 3600.0
"""

# An older build: request counters only, none of the contract's gauges.
OLDER_BUILD_METRICS = """\
# HELP oia_http_requests_total HTTP requests
# TYPE oia_http_requests_total counter
oia_http_requests_total{method="GET",route="/grants/calls",service="grants",status="200"} 8.0
# HELP process_open_fds Number of open file descriptors.
# TYPE process_open_fds gauge
process_open_fds 12.0
"""

READY = {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


def response(status: int, *, json: object = None, text: str | None = None) -> httpx.Response:
    request = httpx.Request("GET", "http://status.test/")
    if text is not None:
        return httpx.Response(status, text=text, request=request)
    return httpx.Response(status, json=json, request=request)


def screen(statuses: list[ServiceStatus]) -> str:
    console = Console(record=True, width=80, color_system=None)  # it fits a plain terminal
    console.print(render(statuses, NOW))
    return console.export_text()


def row(text: str, *first: str) -> list[str]:
    """The cells of the screen's first row that starts with `first` (cells stand two spaces apart)."""
    for line in text.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if cells[:len(first)] == list(first):
            return cells
    raise AssertionError(f"no row {first} in:\n{text}")


def test_reads_the_contracts_series_of_its_own_service_only():
    numbers = read_metrics("notifications", NOTIFICATIONS_METRICS)
    assert numbers["queue_depth"] == 41
    assert numbers["outbox_backlog"] == 12  # not travel's 7777
    assert numbers["outbox_oldest_age"] == 95
    assert numbers["dead_letters"] == 2
    assert numbers["dead_deliveries"] == 4  # dead ones of every channel, not sent or pending
    assert (numbers["http_requests"], numbers["http_server_errors"]) == (400, 5)  # not travel's 500s
    assert numbers["jobs"] == (
        Job("digests", NOW - 180, NOW - 180, 300.0),
        Job("fresh", None, None, 3600.0),  # a gauge at 0 has never been set by a run
        Job("purge", NOW - 600, NOW - 7200, 300.0),
        Job("weekly", NOW - 5 * 3600, NOW - 5 * 3600, 3600.0),
    )


def test_a_series_an_older_build_lacks_is_none_not_zero():
    numbers = read_metrics("grants", OLDER_BUILD_METRICS)
    assert numbers["http_requests"] == 8 and numbers["http_server_errors"] == 0
    assert [numbers[k] for k in ("queue_depth", "outbox_backlog", "outbox_oldest_age", "dead_letters",
                                 "dead_deliveries")] == [None] * 5
    assert numbers["jobs"] == ()


def test_the_screen_shows_every_number_and_marks_what_is_wrong():
    status = summarize("notifications", "http://127.0.0.1:8004", response(200, json=READY),
                       response(200, text=NOTIFICATIONS_METRICS))
    text = screen([status])
    assert "Diplomacity at 2026-05-28 20:26:40 UTC: all 1 services ready" in text
    # queue, outbox, oldest outbox row, dead letters, dead deliveries, HTTP requests, 5xx
    assert row(text, "notifications", "ready") == ["notifications", "ready", "41", "12", "1 min", "2", "4", "400",
                                                   "5 (1.2%)"]
    # job, state, last run, last ok, interval
    assert row(text, "notifications", "digests") == ["notifications", "digests", "ok", "3 min ago", "3 min ago",
                                                     "5 min"]
    assert row(text, "notifications", "purge") == ["notifications", "purge", "FAILED", "10 min ago", "2 h ago",
                                                   "5 min"]
    # more than two intervals since it last ran without failing
    assert row(text, "notifications", "weekly") == ["notifications", "weekly", "LATE", "5 h ago", "5 h ago", "1 h"]
    assert row(text, "notifications", "fresh") == ["notifications", "fresh", "not run yet", "—", "—", "1 h"]
    assert max(len(line) for line in text.splitlines()) <= 80


def test_missing_series_show_as_a_dash():
    status = summarize("grants", "http://127.0.0.1:8003", response(200, json=READY),
                       response(200, text=OLDER_BUILD_METRICS))
    text = screen([status])
    assert row(text, "grants") == ["grants", "ready", "—", "—", "—", "—", "—", "8", "0 (0.0%)"]
    assert "digests" not in text and "job" not in text  # no jobs table when no job is exported


def test_a_service_that_does_not_answer_is_down_and_the_exit_code_says_so():
    down = summarize("travel", "http://127.0.0.1:9", httpx.ConnectError("[Errno 111] Connection refused"),
                     httpx.ConnectError("[Errno 111] Connection refused"))
    ready = summarize("partners", "http://127.0.0.1:8001", response(200, json=READY),
                      response(200, text=OLDER_BUILD_METRICS))
    assert down.down == "connection refused" and not down.ready
    text = screen([ready, down])
    assert "1 of 2 not ready (travel)" in text
    assert row(text, "travel") == ["travel", "DOWN", *["—"] * 7]
    assert "travel down: connection refused (http://127.0.0.1:9)" in text
    assert exit_code([ready, down]) == 1
    assert exit_code([ready]) == 0


@pytest.mark.parametrize("ready,metrics,state,why", [
    (response(503, json={"status": "unavailable", "checks": {"database": "ok", "broker": "unreachable"}}),
     response(200, text=""), "NOT READY", "grants not ready: broker: unreachable"),
    (response(404, json={"detail": "Not Found"}), response(404, text="no"), "DOWN",
     "grants down: /ready answered HTTP 404"),
    (response(200, text="<html>a proxy's page</html>"), response(200, text=""), "DOWN",
     "grants down: /ready answered HTTP 200 without its checks"),
    (httpx.ReadTimeout("timed out"), httpx.ReadTimeout("timed out"), "DOWN", "grants down: timed out"),
])
def test_unready_and_odd_answers_are_shown_not_raised(ready, metrics, state, why):
    status = summarize("grants", "http://grants:8003", ready, metrics)
    text = screen([status])
    assert row(text, "grants")[1] == state
    assert f"{why} (http://grants:8003)" in text
    assert exit_code([status]) == 1


@pytest.mark.parametrize("metrics,why", [
    (response(500, text="oops"), "/metrics answered HTTP 500"),
    (response(200, text="<html>a proxy's page</html>"), "/metrics unreadable: invalid metric name"),
    (httpx.ReadTimeout("timed out"), "timed out"),
])
def test_a_ready_service_whose_metrics_fail_stays_ready_and_says_why(metrics, why):
    status = summarize("grants", "http://grants:8003", response(200, json=READY), metrics)
    text = screen([status])
    assert status.ready and exit_code([status]) == 0
    assert row(text, "grants") == ["grants", "ready", *["—"] * 7]
    assert f"grants: metrics unavailable ({why}" in text


def test_collect_asks_each_service_under_its_own_url_at_once():
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        if request.url.host == "travel.internal":
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        if request.url.path.endswith("/ready"):
            return httpx.Response(200, json=READY)
        return httpx.Response(200, text=NOTIFICATIONS_METRICS)

    urls = {"travel": "http://travel.internal:8002", "notifications": "http://notifications.internal:8004"}
    statuses = asyncio.run(collect(urls, transport=httpx.MockTransport(answer)))
    assert sorted(asked) == ["http://notifications.internal:8004/notifications/metrics",
                             "http://notifications.internal:8004/notifications/ready",
                             "http://travel.internal:8002/travel/metrics", "http://travel.internal:8002/travel/ready"]
    travel, notifications = statuses
    assert travel.down == "connection refused"
    assert notifications.ready and notifications.dead_deliveries == 4


def test_urls_default_to_oia_dev_then_follow_the_services_settings_then_the_options():
    assert service_urls({}) == dict.fromkeys(("partners", "travel", "grants", "notifications"), "http://127.0.0.1:8000")
    assert service_urls({"OIA_PORT": "8123"})["grants"] == "http://127.0.0.1:8123"
    # Some set, as the services are configured: the others are the services' own defaults.
    assert service_urls({"PARTNERS_URL": "http://partners:8001/", "notifications_url": "http://n:8004"}) == {
        "partners": "http://partners:8001", "travel": "http://127.0.0.1:8002",
        "grants": "http://127.0.0.1:8003", "notifications": "http://n:8004"}
    # A named --url wins over one for all, whatever the order.
    assert service_urls({}, ["travel=http://127.0.0.1:9", "http://oia.city.example"]) == {
        "partners": "http://oia.city.example", "travel": "http://127.0.0.1:9",
        "grants": "http://oia.city.example", "notifications": "http://oia.city.example"}
    with pytest.raises(ValueError, match="unknown service 'board'"):
        service_urls({}, ["board=http://127.0.0.1:8005"])


@pytest.mark.parametrize("args,message", [
    (["--url", "board=http://127.0.0.1:8005"], "unknown service 'board'"),
    (["3"], "SECONDS goes with --watch"),
    (["--watch", "0"], "SECONDS goes with --watch, and is more than 0"),
])
def test_the_command_refuses_what_it_cannot_ask(args, message):
    result = CliRunner().invoke(app, ["status", *args])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())  # the error box wraps lines
