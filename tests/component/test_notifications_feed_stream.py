"""The live feed (server-sent events) from the embedded host served by uvicorn on a port: httpx's
in-process transport would wait for a response's end, which a stream never reaches."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import date, timedelta

import httpx
import pytest
import uvicorn
from sqlalchemy import select
from sqlmodel import col

from services.notifications import api
from services.notifications.models import FeedItem
from shared.testing import eventually
from tests.component.test_notifications_api import COORDINATOR, ECON, READER, add, book_overlap, recipient
from tests.support.embedded import auth
from tests.support.processes import free_port

DEADLINE = 30  # seconds: generous, the machine is shared


@pytest.fixture
async def served(host) -> AsyncIterator[tuple[str, uvicorn.Server]]:
    server = uvicorn.Server(uvicorn.Config(host, host="127.0.0.1", port=free_port(), log_level="warning",
                                           lifespan="off", timeout_graceful_shutdown=1))
    task = asyncio.create_task(server.serve())

    def started() -> bool:
        if task.done():
            task.result()  # raises what stopped it
        return server.started
    await eventually(started, timeout=DEADLINE, message="the server listening")
    try:
        yield f"http://127.0.0.1:{server.config.port}", server
    finally:
        server.should_exit = True
        await task


class Stream:
    """One open event stream, read event by event; comments are kept aside."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.aiter_lines()
        self.comments: list[str] = []

    async def next(self, kind: str = "event") -> dict[str, str]:
        """The next event (or, with kind="comment", the next comment), within DEADLINE."""
        event: dict[str, str] = {}
        async with asyncio.timeout(DEADLINE):
            async for line in self.lines:
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                    if kind == "comment":
                        return {"comment": self.comments[-1]}
                elif line:
                    name, _, value = line.partition(": ")
                    event[name] = value
                elif event and kind == "event":
                    return event
        raise AssertionError("the stream ended")


@contextlib.asynccontextmanager
async def follow(client: httpx.AsyncClient, host, who, recipient_id: str, **headers) -> AsyncIterator[Stream]:
    async with client.stream("GET", "/notifications/feed/stream", params={"recipient": recipient_id},
                             headers={**auth(host, *who), **headers}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        yield Stream(response)


@pytest.fixture
async def http(served) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served[0], timeout=DEADLINE) as c:
        yield c


async def feed_of(client, host, recipient_id: str, size: int) -> list[dict]:
    """The recipient's feed, newest first, once it holds `size` items."""
    async def read() -> list[dict]:
        response = await client.get("/notifications/feed", params={"recipient": recipient_id},
                                    headers=auth(host, *COORDINATOR))
        assert response.status_code == 200, response.text
        return response.json()

    async def holds() -> bool:
        return len(await read()) >= size
    await eventually(holds, timeout=DEADLINE, message=f"{size} items in {recipient_id}'s feed")
    return await read()


def later(days: int) -> date:
    return date.today() + timedelta(days=days)


async def test_a_new_overlap_arrives_as_an_event_and_nothing_old_does(http, host):
    await add(http, host, recipient("ECON"))
    await book_overlap(http, host, start=later(90))
    [old] = await feed_of(http, host, "ECON", 1)

    async with follow(http, host, ECON, "ECON") as stream:
        await book_overlap(http, host, start=later(200))
        event = await stream.next()
    [new, _] = await feed_of(http, host, "ECON", 2)
    assert (event["id"], event["event"]) == (new["id"], "feed")
    assert json.loads(event["data"]) == new and new["event_type"] == "travel.overlap.detected.v1"

    # Reconnecting after the old item: the new one, and nothing before it.
    async with follow(http, host, ECON, "ECON", **{"Last-Event-ID": old["id"]}) as stream:
        assert (await stream.next())["id"] == new["id"]


async def test_a_department_may_not_follow_anothers_feed(http, host):
    response = await http.get("/notifications/feed/stream", params={"recipient": "MAYOR"}, headers=auth(host, *ECON))
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


async def test_items_about_a_restricted_trip_reach_only_who_may_see_them(http, host):
    await add(http, host, {"id": "OIA", "kind": "coordinators", "name": "OIA",
                           "channels": [{"kind": "email", "address": "oia@city.example"}]})
    async with follow(http, host, READER, "OIA") as reader, follow(http, host, COORDINATOR, "OIA") as coordinator:
        await book_overlap(http, host, start=later(90), econ_visibility="restricted")
        await book_overlap(http, host, start=later(200))
        # The coordinators' feed: four bookings and two overlaps, one booking and one overlap restricted.
        everything = [(await coordinator.next())["id"] for _ in range(6)]
        async with host.runtimes["notifications"].engine.connect() as conn:
            restricted = set((await conn.execute(select(FeedItem.id).where(
                FeedItem.recipient == "OIA", col(FeedItem.restricted).is_(True)))).scalars().all())
        assert len(restricted) == 2 and restricted < set(everything)
        seen = [(await reader.next())["id"] for _ in range(4)]
        assert sorted(seen) == sorted(set(everything) - restricted)

        # One more item: the reader's next event is it, so nothing restricted was waiting before it.
        later_trip = {"title": "Later", "legs": [{"city": "Oslo", "country": "NO", "start_date": later(300).isoformat(),
                                                  "end_date": later(301).isoformat()}]}
        assert (await http.post("/travel/trips", json=later_trip, headers=auth(host, *ECON))).status_code == 201
        assert (await reader.next())["id"] == (await coordinator.next())["id"]


async def test_a_quiet_stream_sends_a_heartbeat(http, host, monkeypatch):
    monkeypatch.setattr(api, "HEARTBEAT_SECONDS", 0.2)
    async with follow(http, host, ECON, "ECON") as stream:
        assert await stream.next("comment") == {"comment": "keep-alive"}


async def test_a_stopping_server_ends_the_stream(http, host, served):
    _, server = served
    async with follow(http, host, ECON, "ECON") as stream:
        server.should_exit = True
        with pytest.raises((httpx.RemoteProtocolError, AssertionError)):  # cut, or ended
            async with asyncio.timeout(DEADLINE):
                await stream.next()
