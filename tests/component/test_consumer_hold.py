"""A consumer paused by a database outage holds its messages for at most its hold bound, then hands every
one back (the batch in hand and what waits behind it) and takes no more until the database answers: no
delivery stays with it long enough for RabbitMQ's consumer timeout to close its channel."""

from __future__ import annotations

from shared.bus.base import Batcher
from shared.envelope import Envelope, PoisonMessage
from shared.testing import eventually
from tests.support import probe


async def test_a_long_pause_hands_back_what_is_held_and_takes_deliveries_again_once_the_database_answers():
    away = True
    calls: list[str] = []
    offered: list[list[str]] = []
    given_back: list[str] = []
    settled: list[str] = []

    async def processor(envelopes: list[Envelope]) -> None:
        offered.append([e.data["n"] for e in envelopes])
        if away:
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")

    async def ok(messages: list[Envelope]) -> None:
        settled.extend(m.data["n"] for m in messages)

    async def failed(message: Envelope, exc: Exception) -> None:
        raise AssertionError(f"an outage counted as a failure: {exc!r}")

    async def pause_delivery() -> None:
        calls.append("pause")

    async def give_back(messages: list[Envelope]) -> None:
        calls.append("give back")
        given_back.extend(m.data["n"] for m in messages)

    async def resume_delivery() -> None:
        calls.append("resume")

    batcher = Batcher("q", processor, decode=lambda m: m, settle_ok=ok, settle_failed=failed,
                      pause_delivery=pause_delivery, give_back=give_back, resume_delivery=resume_delivery,
                      hold_seconds=0.3)
    try:
        batcher.put(Envelope(type=probe.EVENT, source="/alpha", data={"n": "first"}))
        await eventually(lambda: offered, timeout=5, message="the first offer")
        for n in ("second", "third"):  # delivered while the first is in hand
            batcher.put(Envelope(type=probe.EVENT, source="/alpha", data={"n": n}))

        await eventually(lambda: given_back, timeout=10, message="the held messages handed back")
        assert calls == ["pause", "give back"]  # deliveries stopped before the messages went back
        assert sorted(given_back) == ["first", "second", "third"] and batcher.waiting.empty()
        offers_before = len(offered)
        await eventually(lambda: len(offered) > offers_before, timeout=10, message="the pause goes on probing")
        assert calls == ["pause", "give back"] and settled == []

        away = False
        await eventually(lambda: calls[-1:] == ["resume"], timeout=10, message="deliveries taken again")
        assert settled == []  # the messages are the queue's again: their redeliveries are settled, not these
        assert calls == ["pause", "give back", "resume"]

        batcher.put(Envelope(type=probe.EVENT, source="/alpha", data={"n": "first"}))  # its redelivery
        await eventually(lambda: settled == ["first"], timeout=5, message="the redelivery handled and settled")
    finally:
        await batcher.close()


async def test_without_a_transport_to_take_them_back_the_messages_stay_held_through_the_pause():
    """The memory bus: nothing times a consumer out, so it keeps its messages and settles them after."""
    away = True
    offers = 0
    settled: list[str] = []

    async def processor(envelopes: list[Envelope]) -> None:
        nonlocal offers
        offers += 1
        if away:
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")

    async def ok(messages: list[Envelope]) -> None:
        settled.extend(m.data["n"] for m in messages)

    async def failed(message: Envelope, exc: Exception) -> None:
        raise AssertionError(f"an outage counted as a failure: {exc!r}")

    batcher = Batcher("q", processor, decode=lambda m: m, settle_ok=ok, settle_failed=failed, hold_seconds=0.1)
    try:
        batcher.put(Envelope(type=probe.EVENT, source="/alpha", data={"n": "only"}))
        await eventually(lambda: offers >= 4, timeout=10, message="offered again past the hold bound")
        away = False
        await eventually(lambda: settled == ["only"], timeout=10, message="settled once the database answers")
    finally:
        await batcher.close()


async def test_a_poison_message_settled_before_the_pause_is_not_given_back():
    """Given back is only what is unsettled: the poison message went to its dead letters already."""
    given_back: list[str] = []
    dead: list[str] = []

    def decode(message: Envelope) -> Envelope:
        if message.data["n"] == "poison":
            raise PoisonMessage("not an event")
        return message

    async def processor(envelopes: list[Envelope]) -> None:
        raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")

    async def ok(messages: list[Envelope]) -> None:
        raise AssertionError("nothing is handled while the database is away")

    async def failed(message: Envelope, exc: Exception) -> None:
        dead.append(message.data["n"])

    async def nothing() -> None:
        return None

    async def give_back(messages: list[Envelope]) -> None:
        given_back.extend(m.data["n"] for m in messages)

    batcher = Batcher("q", processor, decode=decode, settle_ok=ok, settle_failed=failed, pause_delivery=nothing,
                      give_back=give_back, resume_delivery=nothing, hold_seconds=0.3)
    try:
        for n in ("good", "poison", "also good"):  # one batch: all three are waiting before the worker runs
            batcher.put(Envelope(type=probe.EVENT, source="/alpha", data={"n": n}))
        await eventually(lambda: given_back, timeout=10, message="the held messages handed back")
        assert sorted(given_back) == ["also good", "good"] and dead == ["poison"]
    finally:
        await batcher.close()
