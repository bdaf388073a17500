"""The dashboards and alert rules against the real thing: the four services as `oia serve` processes on
PostgreSQL and RabbitMQ, Debian's Prometheus scraping them every second with deploy/prometheus's jobs and
the same rule files. A booking flow runs (two departments' overlapping trips, alerts by email and Slack, an EU application,
one Slack channel refusing until its delivery is dead, the scheduled jobs, a poison message); then every
panel's query of every dashboard in deploy/grafana/dashboards is evaluated through Prometheus' HTTP API
and must return data. A query naming a series no service exposes returns nothing, and fails here."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
import yaml

from shared.testing import AMQP_URL, eventually
from tests.support.dashboards import PROMETHEUS, Query, queries
from tests.support.deployment import RECIPIENTS, Deployment, deployment, set_up_desks
from tests.support.processes import free_port
from tests.support.standins import SmtpStandIn, WebhookStandIn

pytestmark = pytest.mark.e2e

REFUSING = "slack/OIA"  # the coordinators' Slack channel answers 500 to every post: its delivery dies


def prometheus_config(ports: Mapping[str, int]) -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml with its targets on this machine's ports, scraped every second,
    the same rule files."""
    config: dict[str, Any] = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(PROMETHEUS / pattern) for pattern in config["rule_files"]]
    for job in config["scrape_configs"]:
        [static] = job["static_configs"]
        service = static["labels"]["service"]
        static["targets"] = [f"127.0.0.1:{ports[service]}"]
    return config


@asynccontextmanager
async def prometheus(tmp_path: Path, ports: Mapping[str, int]) -> AsyncIterator[httpx.AsyncClient]:
    binary = shutil.which("prometheus")
    assert binary, "prometheus is not installed: apt-get install prometheus (as .ci/run does)"
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus_config(ports)))
    address = f"127.0.0.1:{free_port()}"
    log = tmp_path / "prometheus.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                    f"--web.listen-address={address}"], stdout=out, stderr=subprocess.STDOUT)
    try:
        async with httpx.AsyncClient(base_url=f"http://{address}", timeout=10) as client:
            async def ready() -> bool:
                assert process.poll() is None, f"prometheus exited:\n{log.read_text()[-3000:]}"
                try:
                    return (await client.get("/-/ready")).status_code == 200
                except httpx.TransportError:
                    return False
            await eventually(ready, timeout=30, interval=0.2, message="prometheus ready")
            yield client
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def query(client: httpx.AsyncClient, promql: str) -> dict[str, Any]:
    answer: dict[str, Any] = (await client.get("/api/v1/query", params={"query": promql})).json()
    return answer


async def unanswered(client: httpx.AsyncClient) -> list[str]:
    """Each panel query that fails to parse or returns no series, said with its dashboard and panel."""
    failed = []
    for q in queries():
        answer = await query(client, q.promql)
        if answer["status"] != "success":
            failed.append(f"{q} -> {answer.get('errorType')}: {answer.get('error')}")
        elif not answer["data"]["result"]:
            failed.append(f"{q} -> no data")
    return failed


async def book_overlapping_trips(d: Deployment, slack: WebhookStandIn) -> None:
    await set_up_desks(d, slack.url)
    start_day = date.today() + timedelta(days=120)
    for who, title, city in [("ECON", "Trade fair", "Köln"), ("MAYOR", "Partner city visit", "Düsseldorf")]:
        async with d.client("travel", who) as travel:
            response = await travel.post("/trips", json={
                "title": title, "travellers": [{"name": f"{who} lead", "email": f"{who.lower()}@x.example"}],
                "legs": [{"city": city, "country": "DE", "start_date": start_day.isoformat(),
                          "end_date": (start_day + timedelta(days=2)).isoformat()}]})
            assert response.status_code == 201, response.text


async def apply_for_a_call(d: Deployment) -> None:
    """An EU application a week from its call's deadline (31 March 2027, 17:00 Brussels): the reminders
    job run below says so (grants' one event here; the call is on none of the city's themes)."""
    async with d.client("grants", "OIA") as grants:
        call = await grants.post("/calls", json={
            "identifier": "LIFE-2027-SAP-NAT", "programme": "life", "title": "Nature and biodiversity",
            "deadlines": ["2027-03-31"], "grant_max": 2_000_000})
        assert call.status_code == 201, call.text
    async with d.client("grants", "ECON") as grants:
        application = await grants.post("/applications", json={
            "call_id": call.json()["id"], "title": "Green trade corridors", "requested_amount": 25_000,
            "owner": {"name": "Clara Neumann", "email": "clara.neumann@city.example"}, "internal_buffer_days": 0,
            "consortium": [{"name": "City of Lyon", "city": "Lyon", "country": "FR", "role": "partner"}]})
        assert application.status_code == 201, application.text


async def run_jobs(d: Deployment) -> None:
    for service, now in [("partners", "2032-06-14T06:00:00Z"), ("grants", "2027-03-24T16:05:00Z")]:
        async with d.client(service, "admin") as client:
            response = await client.post("/jobs/run", json={"now": now})
            assert response.status_code == 200, response.text


async def publish_poison(d: Deployment) -> None:
    """A message that is no event (the body is not a CloudEvent) on a key partners and notifications
    listen to: each dead-letters it at once."""
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(d.exchange)
        await exchange.publish(aio_pika.Message(b"\x00 not an event", type="travel.trip.booked.v1",
                                                delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                               routing_key="travel.trip.booked.v1")


async def test_every_dashboard_panel_returns_data_from_a_real_prometheus(start, tmp_path):
    all_queries: list[Query] = list(queries())
    assert len(all_queries) > 40  # the five dashboards' panels
    async with WebhookStandIn() as slack:
        slack.script(REFUSING, fail_first=1_000_000)
        with SmtpStandIn() as smtp:
            env = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port), "SMTP_STARTTLS": "false",
                   "RETRY_BASE_SECONDS": "0.05", "SLACK_RATE_PER_SECOND": "100", "OIA_GAUGES_SECONDS": "1",
                   # The refusing channel dead within seconds (its retry budget), and its failures no
                   # reason to hold back the other channels on the same stand-in (one host).
                   "DELIVERY_RETRY_BUDGET_SECONDS": "2", "BREAKER_FAILURES": "1000"}
            async with deployment(start, env=env) as d, prometheus(tmp_path, d.ports) as prom:
                await book_overlapping_trips(d, slack)
                await apply_for_a_call(d)
                await run_jobs(d)
                await publish_poison(d)

                # The flow's effects, in the services: each department and the coordinators mailed,
                # the departments' Slack channels posted to, the refusing channel's delivery dead.
                await eventually(lambda: all(smtp.to(address) for address in RECIPIENTS.values())
                                 and slack.accepted("slack/ECON") and slack.accepted("slack/MAYOR"),
                                 timeout=30, message="the overlap alerts delivered")
                async with d.client("notifications", "admin") as notifications:
                    async def dead() -> bool:
                        found = (await notifications.get("/deliveries", params={"limit": 500})).json()
                        return any(x["status"] == "dead" and x["recipient_id"] == "OIA" for x in found)
                    await eventually(dead, timeout=30, interval=0.2, message="the refusing channel's delivery dead")
                assert len(slack.attempts["/" + REFUSING]) >= 2 and not slack.accepted(REFUSING)

                # ... and in Prometheus, once it has scraped them: the alerts say so too.
                async def alerting() -> set[tuple[str, str]]:
                    alerts = (await prom.get("/api/v1/alerts")).json()["data"]["alerts"]
                    return {(a["labels"]["alertname"], a["labels"].get("service", "")) for a in alerts
                            if a["state"] == "firing"}
                # The rules, on the real series: the dead delivery and the poison message alert at once.
                expected = {("DeadDeliveries", "notifications"), ("DeadLetters", "notifications"),
                            ("DeadLetters", "partners")}

                async def fired() -> bool:
                    return expected <= await alerting()
                await eventually(fired, timeout=30, interval=0.5, message="DeadDeliveries and DeadLetters firing")
                firing = await alerting()
                assert not {name for name, _ in firing} & {"ServiceDown", "ScheduledJobLate", "OutboxStale"}, firing

                # Every panel: polled, since a series shows only after its first scrapes.
                failed: list[str] = []

                async def answered() -> bool:
                    failed[:] = await unanswered(prom)
                    return not failed
                try:
                    await eventually(answered, timeout=30, interval=1, message="every panel's query answered")
                except AssertionError as timed_out:
                    raise AssertionError(f"{len(failed)} of {len(all_queries)} panel queries failed "
                                         "(dashboard / panel: query):\n" + "\n".join(failed)) from timed_out

                # The check is not vacuous: a misspelt series answers nothing, a broken query an error.
                assert (await query(prom, 'sum(oia_outbox_backlogs{service="travel"})'))["data"]["result"] == []
                assert (await query(prom, "sum by (service (oia_outbox_backlog)"))["status"] == "error"

                groups = (await prom.get("/api/v1/rules")).json()["data"]["groups"]
                assert {g["name"] for g in groups} == {"diplomacity-recording", "diplomacity-alerts"}
                unhealthy = [(r["name"], r["health"], r.get("lastError")) for g in groups for r in g["rules"]
                             if r["health"] != "ok"]
                assert not unhealthy, unhealthy
                assert sum(len(g["rules"]) for g in groups) == 10
