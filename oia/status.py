"""`oia status`: the deployment on one screen, read from each service's `/ready` and `/metrics`.

Collecting (HTTP, concurrent, with time-outs) is kept apart from reading (`summarize`, pure) and from
drawing (`render`, pure), so the screen can be tested from canned text.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypedDict

import httpx
from prometheus_client.parser import text_string_to_metric_families
from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from oia.catalog import SERVICES
from shared.settings import ServiceSettings

# The embedded default (`oia dev`): every service on one port.
EMBEDDED_HOST = "127.0.0.1"
EMBEDDED_PORT = 8000
# Where the services find each other (ServiceSettings.<svc>_url, read from <SVC>_URL), so the screen
# asks where they would call.
URL_VARIABLES = {name: f"{name.upper()}_URL" for name in SERVICES}
PRODUCTION_DEFAULTS: dict[str, str] = {name: ServiceSettings.model_fields[f"{name}_url"].default
                                       for name in SERVICES}
# An outbox row older than this is stale (the OutboxStale alert's threshold).
STALE_OUTBOX_SECONDS = 60.0


def service_urls(environ: Mapping[str, str], overrides: Sequence[str] = ()) -> dict[str, str]:
    """Each service's base URL. With none of PARTNERS_URL … NOTIFICATIONS_URL set, `oia dev` on
    OIA_PORT; with some set, the others are the services' own defaults (127.0.0.1:800N), as the
    services themselves would call them. `--url URL` then sets all four, `--url SERVICE=URL` one."""
    env = {key.upper(): value for key, value in environ.items()}  # pydantic-settings reads them case-blind
    configured = {name: env[var] for name, var in URL_VARIABLES.items() if env.get(var)}
    if configured:
        urls = {**PRODUCTION_DEFAULTS, **configured}
    else:
        port = env.get("OIA_PORT") or str(EMBEDDED_PORT)
        urls = dict.fromkeys(SERVICES, f"http://{EMBEDDED_HOST}:{port}")
    named = []
    for override in overrides:
        name, sep, url = override.partition("=")
        if sep and "://" not in name:
            if name not in SERVICES:
                raise ValueError(f"unknown service {name!r} in --url {override!r}; one of: {', '.join(SERVICES)}")
            named.append((name, url))
        else:
            urls = dict.fromkeys(SERVICES, override)
    urls.update(named)  # a named service wins over a URL for all, whatever the order
    return {name: url.rstrip("/") for name, url in urls.items()}


@dataclass(frozen=True)
class Job:
    """One scheduled job, as its service's metrics tell it (unix times; None when not exported)."""

    name: str
    last_run: float | None = None
    last_success: float | None = None
    interval: float | None = None

    @property
    def failed(self) -> bool:
        """Its last run failed: it finished after its last success (or never succeeded)."""
        return self.last_run is not None and (self.last_success is None or self.last_success < self.last_run)

    def late(self, now: float) -> bool:
        """No successful run in two intervals (the ScheduledJobLate alert's rule)."""
        return (self.last_success is not None and self.interval is not None
                and now - self.last_success > 2 * self.interval)


@dataclass(frozen=True)
class ServiceStatus:
    """What one service said. A number is None when the service does not export it (an older build,
    or a series that does not apply to it): the screen shows "—"."""

    name: str
    url: str
    down: str | None = None  # why it did not answer; None when it did
    checks: Mapping[str, str] = field(default_factory=dict)
    metrics_error: str | None = None
    queue_depth: float | None = None
    outbox_backlog: float | None = None
    outbox_oldest_age: float | None = None
    dead_letters: float | None = None
    dead_deliveries: float | None = None
    http_requests: float | None = None
    http_server_errors: float | None = None
    jobs: tuple[Job, ...] = ()

    @property
    def ready(self) -> bool:
        return self.down is None and bool(self.checks) and all(v == "ok" for v in self.checks.values())


def exit_code(statuses: Iterable[ServiceStatus]) -> int:
    """0 when every service answered and is ready, 1 otherwise (for scripts)."""
    return 0 if all(s.ready for s in statuses) else 1


class Numbers(TypedDict):
    """The numbers of a ServiceStatus, as read from /metrics."""

    queue_depth: float | None
    outbox_backlog: float | None
    outbox_oldest_age: float | None
    dead_letters: float | None
    dead_deliveries: float | None
    http_requests: float | None
    http_server_errors: float | None
    jobs: tuple[Job, ...]


def read_metrics(service: str, text: str) -> Numbers:
    """The numbers the screen shows, from one service's exposition text; only series labelled with
    this service count (`oia dev` may expose all four services' series on every /metrics)."""
    samples = [s for family in text_string_to_metric_families(text) for s in family.samples
               if s.labels.get("service") == service]
    by_name: dict[str, list[tuple[dict[str, str], float]]] = {}
    for sample in samples:
        by_name.setdefault(sample.name, []).append((sample.labels, sample.value))

    def total(name: str, keep: Callable[[dict[str, str]], bool] = lambda _: True) -> float | None:
        found = by_name.get(name)
        return None if found is None else sum(value for labels, value in found if keep(labels))

    jobs: dict[str, dict[str, float]] = {}
    for field_name, metric in (("last_run", "oia_job_last_run_timestamp_seconds"),
                               ("last_success", "oia_job_last_success_timestamp_seconds"),
                               ("interval", "oia_job_interval_seconds")):
        for labels, value in by_name.get(metric, []):
            if "job_name" in labels:
                # A gauge not yet set by a run reads 0: never ran, not "run in 1970".
                if field_name == "interval" or value > 0:
                    jobs.setdefault(labels["job_name"], {})[field_name] = value
                else:
                    jobs.setdefault(labels["job_name"], {})
    return Numbers(
        queue_depth=total("oia_consumer_lag"),
        outbox_backlog=total("oia_outbox_backlog"),
        outbox_oldest_age=total("oia_outbox_oldest_pending_age_seconds"),
        dead_letters=total("oia_dead_letters"),
        dead_deliveries=total("oia_deliveries", lambda labels: labels.get("status") == "dead"),
        http_requests=total("oia_http_requests_total"),
        http_server_errors=total("oia_http_requests_total", lambda labels: labels.get("status", "").startswith("5")),
        jobs=tuple(Job(name, **values) for name, values in sorted(jobs.items())),
    )


def summarize(service: str, url: str, ready: httpx.Response | Exception,
              metrics: httpx.Response | Exception) -> ServiceStatus:
    """One service's status from its answers (or the errors instead of them)."""
    if isinstance(ready, Exception):
        return ServiceStatus(service, url, down=_why(ready))
    checks: dict[str, str] = {}
    if ready.status_code in (200, 503):  # /ready answers 503 with its checks when a dependency is out
        try:
            body = ready.json()
            checks = {str(k): str(v) for k, v in body["checks"].items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            return ServiceStatus(service, url, down=f"/ready answered HTTP {ready.status_code} without its checks")
    else:
        return ServiceStatus(service, url, down=f"/ready answered HTTP {ready.status_code}")
    if isinstance(metrics, Exception):
        return ServiceStatus(service, url, checks=checks, metrics_error=_why(metrics))
    if metrics.status_code != 200:
        return ServiceStatus(service, url, checks=checks, metrics_error=f"/metrics answered HTTP {metrics.status_code}")
    try:
        numbers = read_metrics(service, metrics.text)
    except ValueError as exc:  # not the exposition format: say so on the screen, keep the rest
        return ServiceStatus(service, url, checks=checks, metrics_error=f"/metrics unreadable: {exc}")
    return ServiceStatus(service, url, checks=checks, **numbers)


def _why(exc: Exception) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        cause: BaseException | None = exc
        while cause is not None:  # httpx wraps the socket's error: "All connection attempts failed"
            if isinstance(cause, ConnectionRefusedError) or "refused" in str(cause).lower():
                return "connection refused"
            cause = cause.__cause__ or cause.__context__
        return f"cannot connect: {exc}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def collect(urls: Mapping[str, str], timeout: float = 5.0,
                  transport: httpx.AsyncBaseTransport | None = None) -> list[ServiceStatus]:
    """Ask every service for /ready and /metrics, all at once."""
    async with httpx.AsyncClient(timeout=timeout, transport=transport) as client:

        async def get(url: str) -> httpx.Response | Exception:
            try:
                return await client.get(url)
            except httpx.HTTPError as exc:  # shown on the screen as why the service is down
                return exc

        async def one(name: str) -> ServiceStatus:
            base = f"{urls[name]}/{name}"
            ready, metrics = await asyncio.gather(get(f"{base}/ready"), get(f"{base}/metrics"))
            return summarize(name, urls[name], ready, metrics)

        return list(await asyncio.gather(*(one(name) for name in urls)))


# -- drawing ----------------------------------------------------------------------------------------

MISSING = "—"


def ago(seconds: float) -> str:
    return "just now" if seconds < 1 else f"{duration(seconds)} ago"


def duration(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h".replace(".0 h", " h")
    return f"{seconds / 86400:.1f} d".replace(".0 d", " d")


def _count(value: float | None, bad_above: float | None = None) -> Text:
    if value is None or math.isnan(value):
        return Text(MISSING, style="dim")
    return Text(f"{value:,.0f}", style="bold red" if bad_above is not None and value > bad_above else "")


def _state(s: ServiceStatus) -> Text:
    if s.down is not None:
        return Text("DOWN", style="bold red")
    if not s.ready:
        return Text("NOT READY", style="bold red")
    return Text("ready", style="green")


def _why_not(s: ServiceStatus) -> str:
    if s.down is not None:
        return s.down
    return ", ".join(f"{k}: {v}" for k, v in s.checks.items() if v != "ok") or "no checks reported"


def _oldest(s: ServiceStatus) -> Text:
    if s.outbox_oldest_age is None:
        return Text(MISSING, style="dim")
    return Text(duration(s.outbox_oldest_age),
                style="bold red" if s.outbox_oldest_age > STALE_OUTBOX_SECONDS else "")


def _server_errors(s: ServiceStatus) -> Text:
    if s.http_requests is None:
        return Text(MISSING, style="dim")
    errors = s.http_server_errors or 0.0
    share = errors / s.http_requests if s.http_requests else 0.0
    return Text(f"{errors:,.0f} ({share:.1%})", style="bold red" if errors else "")


def _job_state(job: Job, now: float) -> Text:
    if job.last_run is None:
        return Text("not run yet", style="dim")
    if job.failed:
        return Text("FAILED", style="bold red")
    if job.late(now):
        return Text("LATE", style="bold yellow")
    return Text("ok", style="green")


def _when(now: float, at: float | None) -> Text:
    return Text(MISSING, style="dim") if at is None else Text(ago(now - at))


def render(statuses: Sequence[ServiceStatus], now: float) -> RenderableType:
    """The screen: a line saying when and whether all is well, a row per service, a row per scheduled
    job, and why what is not ready is not."""
    services = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    services.add_column("service", no_wrap=True)
    services.add_column("state", no_wrap=True)
    # Short headings: the screen fits 80 columns. DLQ: the dead-letter queue's messages.
    for number in ("queue", "outbox", "oldest", "DLQ", "dead\ndeliv.", "HTTP\nreqs", "HTTP\n5xx"):
        services.add_column(number, justify="right", no_wrap=True)
    for s in statuses:
        services.add_row(Text(s.name, style="bold"), _state(s), _count(s.queue_depth), _count(s.outbox_backlog),
                         _oldest(s), _count(s.dead_letters, bad_above=0), _count(s.dead_deliveries, bad_above=0),
                         _count(s.http_requests), _server_errors(s))
    jobs = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for column in ("service", "job", "state", "last run", "last ok", "every"):
        jobs.add_column(column, no_wrap=True)
    for s in statuses:
        for job in s.jobs:
            jobs.add_row(s.name, job.name, _job_state(job, now), _when(now, job.last_run),
                         _when(now, job.last_success),
                         Text(MISSING, style="dim") if job.interval is None else Text(duration(job.interval)))

    not_ready = [s for s in statuses if not s.ready]
    headline = Text(f"Diplomacity at {datetime.fromtimestamp(now, UTC):%Y-%m-%d %H:%M:%S} UTC: ")
    if not_ready:
        headline.append(f"{len(not_ready)} of {len(statuses)} not ready ({', '.join(s.name for s in not_ready)})",
                        style="bold red")
    else:
        headline.append(f"all {len(statuses)} services ready", style="bold green")
    notes = [Text(f"{s.name} {_state(s).plain.lower()}: {_why_not(s)} ({s.url})", style="red") for s in not_ready]
    notes += [Text(f"{s.name}: metrics unavailable ({s.metrics_error})", style="yellow")
              for s in statuses if s.metrics_error]
    parts: list[RenderableType] = [headline, services]
    if jobs.row_count:
        parts.append(jobs)
    parts += notes
    urls = {s.url for s in statuses}
    asked = (f"{urls.pop()} (every service)" if len(urls) == 1
             else ", ".join(f"{s.name} {s.url}" for s in statuses))
    parts.append(Text(f"asked: {asked}", style="dim"))
    return Group(*parts)
