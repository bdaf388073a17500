"""The embedded default's demo data: a newcomer sees alerts without setting anything up."""

import asyncio
import email
import email.policy

import httpx

from oia.embedded import EmbeddedHost, prepare
from shared.testing import eventually


async def test_demo_data_brings_an_overlap_and_a_crossing_to_the_demo_inboxes(tmp_path):
    keys = await prepare(tmp_path)
    host = EmbeddedHost(tmp_path)
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
        await asyncio.sleep(0.5)
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
    await again.start()
    await again.stop()
    assert len(list((tmp_path / "mail").glob("*.eml"))) == sent
