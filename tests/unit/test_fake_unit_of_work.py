"""The unit tier's unit of work keeps the outbox's promise: a commit's events are heard, a
rollback's never are."""

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlmodel import select

from shared.bus.memory import MemoryBus
from shared.envelope import Envelope
from shared.testing import eventually
from tests.support.fakes import fake_database
from tests.support.probe import EVENT, BetaTable, Effect, ThingHappenedV1


def thing(name: str) -> ThingHappenedV1:
    return ThingHappenedV1(name=name, on=date(2027, 1, 1), at=datetime(2027, 1, 1, tzinfo=UTC), amount=Decimal(1),
                           tags=[], where={"lat": 0, "lon": 0})


async def test_a_commit_publishes_its_events_and_a_rollback_does_not():
    bus = MemoryBus()
    await bus.connect()
    heard: list[Envelope] = []

    async def listen(envelopes: list[Envelope]) -> list[bool]:
        heard.extend(envelopes)
        return [True] * len(envelopes)

    await bus.subscribe("listener", ["#"], listen)
    async with fake_database(BetaTable.metadata, "alpha", bus) as db:
        async with db.uow() as uow:
            uow.session.add(Effect(event_id="e1", name="kept"))
            uow.publish(thing("kept"))
            await uow.write_events()  # written early, as a long import does: still held until commit
            await uow.commit()
        async with db.uow() as uow:
            uow.session.add(Effect(event_id="e2", name="dropped"))
            uow.publish(thing("dropped"))
            await uow.write_events()
            # leaving without commit rolls back

        async with db.uow() as uow:
            names = sorted(e.name for e in (await uow.session.exec(select(Effect))).all())
        assert names == ["kept"]
        assert [e["name"] for e in db.events(EVENT)] == ["kept"]
        assert db.commits == 1
        # The memory bus hands over on its own task, in order: the rolled-back event, had it been
        # published, would have been put on the bus before this marker and heard before it.
        marker = Envelope(type="test.marker.v1", source="/tests", data={})
        await bus.publish([marker])
        await eventually(lambda: marker in heard, message="the marker")
        assert [e.data["name"] for e in heard if e is not marker] == ["kept"]
    await bus.close()

