"""The board's live stream: an open page hears that an overlap came, from the person's desk feed,
as the notifications API shows it to that person."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from board.routes import live
from shared.testing import eventually
from tests.component.test_board import COORDINATOR, ECON, MAYOR, book, next_month, sign_in
from tests.support.embedded import auth


class OpenPage:
    """The request of a page that stays open until the test closes it."""

    def __init__(self) -> None:
        self.closed = False

    async def is_disconnected(self) -> bool:
        return self.closed


@pytest.mark.parametrize("who", [COORDINATOR, ECON])
async def test_an_open_page_hears_of_a_new_overlap_and_not_of_what_was_there(client, host, monkeypatch, who):
    monkeypatch.setattr(live, "POLL_SECONDS", 0.05)
    start = next_month()
    await book(client, host, ECON, "Earlier fair", "Köln", start - timedelta(days=20))  # news before the page

    async def routed() -> bool:  # the earlier booking is in the feeds (routing writes them all at once)
        feed = await client.get("/notifications/feed", params={"recipient": "OIA"}, headers=auth(host, *COORDINATOR))
        return feed.status_code == 200 and len(feed.json()) == 1
    await eventually(routed, message="the earlier booking routed")
    await sign_in(client, host, who)
    board = host.board.state.board
    session = board.sessions.find(client.cookies.get("oia_board"))
    looks = 0
    ask = board.services.get

    async def counted(*args, **kwargs):
        nonlocal looks
        looks += 1
        return await ask(*args, **kwargs)
    monkeypatch.setattr(board.services, "get", counted)
    page = OpenPage()
    events = live._events(page, board, session)
    first = asyncio.ensure_future(anext(events))
    # Two looks at the feed, the earlier booking in both: what was there when the page opened is not news.
    await eventually(lambda: looks >= 2, message="two looks at the feed")
    assert not first.done()
    monkeypatch.setattr(board.services, "get", ask)

    await book(client, host, ECON, "Trade fair", "Köln", start)
    await book(client, host, MAYOR, "Partner city visit", "Düsseldorf", start)
    heard = [await asyncio.wait_for(first, timeout=30)]
    while not heard[-1].startswith("id:") or "event: overlap" not in heard[-1]:
        heard.append(await asyncio.wait_for(anext(events), timeout=30))
    assert "data: travel.overlap.detected.v1" in heard[-1]
    assert all("Earlier fair" not in event for event in heard)
    page.closed = True
    await events.aclose()


async def test_a_reader_has_no_desk_to_follow(client, host, monkeypatch):
    monkeypatch.setattr(live, "POLL_SECONDS", 0.01)
    await sign_in(client, host, ("reader", None))
    board = host.board.state.board
    session = board.sessions.find(client.cookies.get("oia_board"))
    assert live.desk_of(session) is None
    page = OpenPage()
    events = live._events(page, board, session)
    monkeypatch.setattr(live, "KEEP_ALIVE_SECONDS", 0.02)
    assert await asyncio.wait_for(anext(events), timeout=10) == ": keep-alive\n\n"  # kept open, told nothing
    page.closed = True
    await events.aclose()
