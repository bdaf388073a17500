"""The embedded default's demo data: a newcomer sees alerts without setting anything up."""

import email
import email.policy
from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy import and_, func, or_, select

from oia.embedded import EmbeddedHost, prepare
from services.notifications.models import Delivery
from shared.scheduled import Periodic
from shared.testing import eventually
from shared.uow import utcnow
from tests.support.settle import settled

DELIVERY = Delivery.__table__


def nothing_else_under_way(host: EmbeddedHost) -> Callable[[], Awaitable[bool]]:
    """Besides outboxes and queues (tests.support.settle): each scheduler's first run, at start, has
    finished, and notifications has no delivery due and unsent. Call before `host.start()`."""
    finished: set[str] = set()
    schedulers = 0
    for runtime in host.runtimes.values():
        for worker in runtime.workers:
            if isinstance(worker, Periodic):
                schedulers += 1
                worker.run = _noting_when_done(worker.run, f"{runtime.name}:{type(worker).__name__}", finished)

    async def idle() -> bool:
        if len(finished) < schedulers:
            return False
        now = utcnow()
        async with host.runtimes["notifications"].engine.connect() as conn:
            unsent = await conn.scalar(select(func.count()).select_from(DELIVERY).where(or_(
                DELIVERY.c.status.in_(("sending", "sending-digest")),
                and_(DELIVERY.c.status.in_(("pending", "digest")), DELIVERY.c.due_at <= now))))
        return unsent == 0

    return idle


def _noting_when_done(run, name: str, finished: set[str]):
    async def run_and_note(runtime) -> None:
        await run(runtime)
        finished.add(name)

    return run_and_note


async def test_demo_data_brings_an_overlap_and_a_crossing_to_the_demo_inboxes(tmp_path):
    keys = await prepare(tmp_path)
    host = EmbeddedHost(tmp_path)
    idle = nothing_else_under_way(host)
    await host.start()
    try:
        mail = tmp_path / "mail"

        def subjects() -> list[str]:
            return sorted(email.message_from_bytes(p.read_bytes(), policy=email.policy.default)["Subject"]
                          for p in mail.glob("*.eml"))

        # The overlap (ECON, MAYOR, OIA) and the crossing (CULT, MAYOR, OIA); the partners' jobs add
        # whatever jubilees of the paper's partnerships fall within a year of today.
        def overlap_and_crossing() -> tuple[int, int]:
            return (sum(s.startswith(("Overlap:", "Überschneidung:")) and ("Köln" in s or "Düsseldorf" in s)
                        for s in subjects()),
                    sum(s.startswith(("Crossing:", "Überkreuzung:")) and "Katowice" in s for s in subjects()))

        try:
            await eventually(lambda: overlap_and_crossing() == (3, 3), timeout=20, message="the demo alerts")
        except AssertionError as exc:  # say what did arrive: this once failed and never again
            raise AssertionError(f"{exc}; counted {overlap_and_crossing()} in {subjects()}") from exc
        # The application closing soonest: its owner hears of the call's deadline and the internal one.
        await eventually(lambda: sum("Climate-neutral neighbourhoods network" in s for s in subjects()) == 2,
                         timeout=20, message="the demo's deadline reminders")
        # Counted once the first start has nothing left to send, so the second start is not blamed for it.
        await settled(*host.runtimes.values(), idle=idle, timeout=30)
        sent = len(subjects())
        admin = next(k["key"] for k in keys if k["role"] == "admin")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=host), base_url="http://oia") as client:
            skipped = (await client.get("/notifications/deliveries", params={"status": "skipped"},
                                        headers={"Authorization": f"Bearer {admin}"})).json()
            assert skipped and all("no slack URL" in d["last_error"] for d in skipped)
            trips = (await client.get("/travel/trips", headers={"Authorization": f"Bearer {admin}"})).json()
            assert len(trips) == 4
            # The paper's registers: 75 rows, Köln–Treptow picked by its GeoNames id; the country
            # errors corrected in the shipped file (Budapest in HU, not RO).
            partnerships = (await client.get("/partners/partnerships", params={"limit": 1000},
                                             headers={"Authorization": f"Bearer {admin}"})).json()
            assert len(partnerships) == 75
            treptow = next(p for p in partnerships if p["partner_city"] == "Treptow")
            assert (treptow["home_city"], treptow["partner_place_id"]) == ("Köln", 7290255)
            assert {p["home_city"] for p in partnerships} >= {"Frankfurt am Main", "Köln", "Birmingham"}
            budapest = next(p for p in partnerships if p["partner_city"] == "Budapest")
            assert budapest["partner_country"] == "HU"
            # The portal sample's five usable calls and a demo call closing in ten days; two applications.
            calls = (await client.get("/grants/calls", headers={"Authorization": f"Bearer {admin}"})).json()
            assert len(calls) == 6
            applications = (await client.get("/grants/applications", headers={"Authorization": f"Bearer {admin}"})).json()
            assert {a["title"] for a in applications} == {"Twinning for European remembrance",
                                                          "Climate-neutral neighbourhoods network"}
            profile = await client.get("/grants/boilerplate", params={"lang": "de"},
                                       headers={"Authorization": f"Bearer {admin}"})
            assert profile.status_code == 200 and "Büro für Internationale Angelegenheiten" in profile.text
            assert "Kraków (Polen), seit 1991" in profile.text  # the paper's partnerships, asked of partners
    finally:
        await host.stop()

    # A second start adds nothing: the demo is written once.
    await prepare(tmp_path)
    again = EmbeddedHost(tmp_path)
    idle = nothing_else_under_way(again)
    await again.start()
    try:
        # Had it written the demo again, its alerts would be out before the second start settles.
        await settled(*again.runtimes.values(), idle=idle, timeout=30)
    finally:
        await again.stop()
    assert len(list((tmp_path / "mail").glob("*.eml"))) == sent
