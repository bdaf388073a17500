"""The embedded default's demo data: a newcomer sees alerts without setting anything up."""

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

        # The overlap (ECON, MAYOR, OIA) and the crossing (CULT, MAYOR, OIA): six mails.
        await eventually(lambda: len(subjects()) == 6, timeout=20, message="six demo mails")
        assert sum("Köln" in s or "Düsseldorf" in s for s in subjects()) == 3
        assert sum("Katowice" in s for s in subjects()) == 3
        admin = next(k["key"] for k in keys if k["role"] == "admin")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=host), base_url="http://oia") as client:
            skipped = (await client.get("/notifications/deliveries", params={"status": "skipped"},
                                        headers={"Authorization": f"Bearer {admin}"})).json()
            assert skipped and all("no slack URL" in d["last_error"] for d in skipped)
            trips = (await client.get("/travel/trips", headers={"Authorization": f"Bearer {admin}"})).json()
            assert len(trips) == 4
    finally:
        await host.stop()

    # A second start adds nothing: the demo is written once.
    await prepare(tmp_path)
    again = EmbeddedHost(tmp_path)
    await again.start()
    await again.stop()
    assert len(list((tmp_path / "mail").glob("*.eml"))) == 6
