"""Both runtime shapes, end to end: a trip booked over HTTP shows up in the notifications feed over HTTP."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from shared.testing import AMQP_URL, asyncpg_url, create_database, drop_database, require_rabbitmq, unique_name
from tests.conftest import delete_amqp_objects
from tests.support.processes import free_port

pytestmark = pytest.mark.e2e

TRIP = {"title": "Partner-city visit", "legs": [{"city": "Katowice", "country": "PL",
                                                 "start_date": "2027-06-02", "end_date": "2027-06-04"}]}


def wait_for_feed(url: str, key: str, title: str, timeout: float = 15.0) -> list[dict]:
    """The coordinators' feed items with `title`, once there are any."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = httpx.get(url, params={"recipient": "OIA"}, headers={"Authorization": f"Bearer {key}"}).json()
        if matching := [i for i in items if i["title"] == title]:
            return matching
        time.sleep(0.05)
    raise AssertionError(f"no feed item {title!r} arrived")


def test_embedded_default_serves_all_four_services_and_carries_an_event(start, tmp_path):
    port = free_port()
    dev = start(["dev"], {"OIA_PORT": str(port), "OIA_DATA_DIR": str(tmp_path / "data")})
    base = f"http://127.0.0.1:{port}"
    for service in ("partners", "travel", "grants", "notifications"):
        dev.wait_healthy(f"{base}/{service}/health")
        assert httpx.get(f"{base}/{service}/docs").status_code == 200
    keys = {(k["role"], k["department"]): k["key"] for k in json.loads((tmp_path / "data" / "demo-keys.json").read_text())}
    for department in ("MAYOR", "ECON", "CULT", "ENV"):  # every department the demo has trips and desks of
        assert keys[("department", department)] in dev.log.read_text(), "the demo keys are printed"

    booked = httpx.post(f"{base}/travel/trips", json=TRIP, headers={"Authorization": f"Bearer {keys[('department', 'MAYOR')]}"})
    assert booked.status_code == 201, booked.text

    [item] = wait_for_feed(f"{base}/notifications/feed", keys[("coordinator", "OIA")],
                           "MAYOR is planning a trip: Partner-city visit")
    assert "Katowice (PL)" in item["body"]
    # The demo's alerts are sent by the delivery worker in its own time: poll for the first file.
    deadline = time.monotonic() + 30
    while not list((tmp_path / "data" / "mail").glob("*.eml")):
        assert time.monotonic() < deadline, "the demo data's alerts went to .eml files"
        time.sleep(0.05)
    assert (tmp_path / "data" / "travel.db").exists() and (tmp_path / "data" / "notifications.db").exists()


def test_production_shape_two_processes_over_postgres_and_rabbitmq(start):
    asyncio.run(require_rabbitmq())
    databases = [asyncio.run(create_database(f"oia_e2e_{s}")) for s in ("travel", "notifications")]
    exchange, prefix = unique_name("e2e.events"), unique_name("e2e") + "."
    processes = []
    try:
        common = {"AMQP_URL": AMQP_URL, "OIA_EXCHANGE": exchange, "OIA_QUEUE_PREFIX": prefix, "OIA_ENV": "test",
                  "OIA_SECRET_KEY": "e2e-secret-not-a-placeholder",
                  "OIA_API_KEYS": "e2e-econ:department:ECON,e2e-oia:coordinator:OIA"}
        travel_port, notifications_port = free_port(), free_port()
        notifications = start(["serve", "notifications"], {**common, "DATABASE_URL": asyncpg_url(databases[1]),
                                                           "PORT": str(notifications_port)})
        travel = start(["serve", "travel"], {**common, "TRAVEL_DATABASE_URL": asyncpg_url(databases[0]),
                                             "TRAVEL_PORT": str(travel_port)})
        processes += [notifications, travel]
        notifications.wait_healthy(f"http://127.0.0.1:{notifications_port}/notifications/ready")
        travel.wait_healthy(f"http://127.0.0.1:{travel_port}/travel/ready")

        booked = httpx.post(f"http://127.0.0.1:{travel_port}/travel/trips", json=TRIP,
                            headers={"Authorization": "Bearer e2e-econ"})
        assert booked.status_code == 201, booked.text

        [item] = wait_for_feed(f"http://127.0.0.1:{notifications_port}/notifications/feed", "e2e-oia",
                               "ECON is planning a trip: Partner-city visit")
        assert "Katowice (PL)" in item["body"]
    finally:
        for process in processes:
            process.stop()
        asyncio.run(delete_amqp_objects(exchange, prefix))
        for name in databases:
            asyncio.run(drop_database(name))
