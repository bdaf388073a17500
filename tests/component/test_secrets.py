"""No secret leaks: webhook URLs are masked for every role, log records are redacted whoever writes
them, keys are named by id and label — and a full run with recognisable secrets planted shows none
of them in any response, log line, mail or webhook body."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import traceback
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
import pytest
import uvicorn
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from oia.catalog import SERVICES, spec_of
from oia.cli import app as cli
from oia.embedded import EmbeddedHost, prepare
from services.notifications.channels import Outcome, masked
from shared.auth import list_keys, new_key, store_key
from shared.db import make_engine
from shared.logging import configure_logging, get_logger, json_formatter
from shared.migrations import upgrade
from shared.redaction import mask_url, redact
from shared.testing import eventually
from tests.support.processes import free_port
from tests.support.standins import SmtpStandIn, WebhookStandIn

# -- masks ------------------------------------------------------------------------------------------

WEBHOOKS = {
    "slack": ("https://hooks.slack.com/services/T0TEAM1234/B0BOT5678/xoxbTokenAbCdEf123456",
              "https://hooks.slack.com", ["T0TEAM1234", "B0BOT5678", "xoxbTokenAbCdEf123456", "3456"]),
    "teams": ("https://prod-07.westeurope.logic.azure.com:443/workflows/0a1b2c3d/triggers/manual/paths/invoke"
              "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=TeamsSigQwErTy987",
              "https://prod-07.westeurope.logic.azure.com:443", ["0a1b2c3d", "TeamsSigQwErTy987", "y987", "sig="]),
    "userinfo": ("https://relay:hunter2pass@hooks.city.example/notify?token=QueryTok42",
                 "https://hooks.city.example", ["relay", "hunter2pass", "QueryTok42", "notify"]),
    "fragment": ("https://hooks.city.example/x#FragmentSecret9", "https://hooks.city.example", ["FragmentSecret9"]),
    "ipv6": ("http://[::1]:8443/hook/PathTok77", "http://[::1]:8443", ["PathTok77"]),
}


@pytest.mark.parametrize("url,where,secrets", WEBHOOKS.values(), ids=WEBHOOKS.keys())
def test_a_masked_webhook_url_shows_scheme_and_host_and_no_part_of_its_secrets(url, where, secrets):
    shown = masked(url)
    assert shown.startswith(where + "/…[")
    for secret in secrets:
        assert secret not in shown
    other = masked(url + "2")
    assert other.startswith(where + "/…[") and other != shown  # two URLs on one host are told apart


def test_email_addresses_are_shown_and_odd_urls_hide_everything():
    assert masked("anna@city.example") == "anna@city.example" and masked(None) is None
    assert "abc" not in mask_url("https://h.example:notaport/abc")  # unparseable: nothing of it shown
    assert mask_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000"  # nothing there to hide


def test_redact_cuts_urls_calendar_tokens_and_keys_out_of_text():
    line = ('127.0.0.1:5 - "GET /travel/calendar/AbC-d_E9.ics HTTP/1.1" 200 posted to '
            'https://u:pw9@hooks.slack.com/services/T1/B1/tok9 with Bearer oia_SeCrEtKeY123 and '
            'amqp://guest:guestpass@rabbit:5672/vhost')
    shown = redact(line)
    for secret in ("AbC-d_E9", "pw9", "tok9", "T1/B1", "SeCrEtKeY123", "guestpass"):
        assert secret not in shown
    assert '"GET /travel/calendar/… HTTP/1.1" 200' in shown and "https://hooks.slack.com/…[" in shown
    assert redact("/travel/calendar/tokens/42") == "/travel/calendar/tokens/42"  # a token's id is no secret
    assert redact("Authorization: Bearer s3cr3tT0ken") == "Authorization: Bearer …"
    hint = "missing API key: send 'Authorization: Bearer <api key>'"
    assert redact(hint) == hint  # what 401s say stays readable


def test_a_receivers_error_page_quoting_its_url_is_redacted_in_the_delivery_log():
    failed = Outcome.failed("HTTP 404: no hook at https://hooks.slack.com/services/T1/B1/LeakedTok55")
    assert "LeakedTok55" not in failed.error and "HTTP 404" in failed.error


def test_log_records_are_redacted_whichever_handler_writes_them():
    configure_logging()
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage() + self.format(record))

    keep = Keep()
    keep.setFormatter(logging.Formatter("%(message)s"))
    # The handler sits on each logger itself: whether a logger propagates to the root (uvicorn's own set-up,
    # run by an earlier test, stops its access log from doing so) is not what this test is about.
    loggers = [logging.getLogger(name) for name in ("httpx", "uvicorn.access", "shared.test")]
    saved = [(lg.level, lg.disabled, lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.INFO)
        lg.disabled, lg.propagate = False, False
        lg.addHandler(keep)
    try:
        logging.getLogger("httpx").warning('HTTP Request: POST %s "%s"',
                                           "https://hooks.slack.com/services/T1/B1/HttpxTok1", "200 OK")
        logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:9", "GET",
                                                 "/travel/calendar/AccessTok2.ics", "1.1", 200)
        get_logger("shared.test").info("sent", url="https://u:StructPass3@hooks.example/x")
    finally:
        for lg, (level, disabled, propagate) in zip(loggers, saved, strict=True):
            lg.removeHandler(keep)
            lg.setLevel(level)
            lg.disabled, lg.propagate = disabled, propagate
    assert len(seen) == 3
    assert not [s for s in seen if "HttpxTok1" in s or "AccessTok2" in s or "StructPass3" in s]
    assert 'POST https://hooks.slack.com/…[' in seen[0] and '"GET /travel/calendar/… HTTP/1.1" 200' in seen[1]
    # uvicorn's own access formatter reads the arguments: they stay a tuple of the same shape.


async def test_keys_are_named_by_a_stable_id_and_a_label_never_by_their_characters(tmp_path):
    from shared.auth import KeyRing

    url, spec = f"sqlite+aiosqlite:///{tmp_path / 'travel'}.db", spec_of("travel")
    await upgrade("travel", spec.migrations_dir, spec.metadata, url)
    engine = make_engine(url)
    try:
        stored = new_key()
        stored_id = await store_key(engine, "s3cret", stored, "department", "ECON", "ECON system")
        env_key = "oia_EnvProvisioned1234567890"
        one, other = (KeyRing(engine, "s3cret", f"{env_key}:admin") for _ in range(2))
        from_env, from_table = await one.resolve(env_key), await one.resolve(stored)
        assert (await other.resolve(env_key)).key_id == from_env.key_id  # stable: derived, not drawn
        assert from_table.key_id == stored_id and stored_id.startswith("key_")
        assert from_table.who == "department ECON (ECON system)" and from_env.who == "admin (OIA_API_KEYS)"
        for key, principal in ((stored, from_table), (env_key, from_env)):
            assert not any(key[i:i + 6] in repr(principal) for i in range(len(key) - 5))  # no piece of it
        assert [k["id"] for k in await list_keys(engine)] == [stored_id]
    finally:
        await engine.dispose()


def test_printed_settings_channels_and_targets_carry_no_secrets(monkeypatch):
    from services.notifications.channels import Target
    from services.notifications.models import Channel

    monkeypatch.setenv("OIA_SECRET_KEY", "ReprSecret61")
    monkeypatch.setenv("OIA_API_KEYS", "oia_ReprEnvKey62:admin")
    monkeypatch.setenv("SMTP_PASSWORD", "ReprSmtp63")
    monkeypatch.setenv("PARTNERS_API_KEY", "ReprPartners64")
    printed = " ".join(repr(spec_of(name).settings_cls()) for name in SERVICES)
    printed += repr(Channel(recipient_id="ECON", kind="webhook", address="https://h.example/ReprHook65",
                            signing_secret="ReprSigning66", created_at=datetime.now(UTC)))
    printed += repr(Target("webhook", "https://h.example/ReprHook65", "ReprSigning66", "d-1", "e-1", "t"))
    assert "smtp_port" in printed and "kind='webhook'" in printed and "delivery_id='d-1'" in printed
    for secret in ("ReprSecret61", "ReprEnvKey62", "ReprSmtp63", "ReprPartners64", "ReprHook65", "ReprSigning66"):
        assert secret not in printed


def test_a_settings_error_does_not_quote_the_environment(monkeypatch):
    monkeypatch.setenv("OIA_ENV", "prod")  # refuses the placeholder OIA_SECRET_KEY
    monkeypatch.setenv("OIA_API_KEYS", "oia_EnvKeyInAnError31:admin")
    monkeypatch.setenv("SMTP_PASSWORD", "SmtpPassInAnError42")
    with pytest.raises(ValueError) as refused:
        spec_of("notifications").settings_cls()
    assert "OIA_SECRET_KEY is a placeholder" in str(refused.value)
    assert "EnvKeyInAnError31" not in str(refused.value) and "SmtpPassInAnError42" not in str(refused.value)


async def test_a_database_error_does_not_quote_the_values_it_was_given(tmp_path):
    from shared.db import make_engine

    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE channel (address TEXT NOT NULL UNIQUE)"))
            await conn.execute(text("INSERT INTO channel VALUES (:a)"), {"a": "https://hooks.example/DbTok53"})
            with pytest.raises(Exception) as failed:
                await conn.execute(text("INSERT INTO channel VALUES (:a)"), {"a": "https://hooks.example/DbTok53"})
    finally:
        await engine.dispose()
    assert "UNIQUE" in str(failed.value) and "DbTok53" not in str(failed.value)


# -- a full run -----------------------------------------------------------------------------------

ADMIN_KEY = "oia_PlantedAdminKeyZx81Qw72Er63Ty54"  # provisioned from the environment
SECRET_KEY = "planted-deployment-secret-Ui45Op36"
SMTP_LOGIN = ("alerts-relay", "planted-smtp-password-As27Df18")
SIGNING_SECRET = "planted-signing-secret-Gh09Jk90"
SLACK_PATH = "/services/T0PLANTEDTEAM/B0PLANTEDBOT/plantedSlackTokenLz11"
TEAMS_PATH = "/workflows/plantedWorkflow42/triggers/manual/paths/invoke"
TEAMS_QUERY = "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=plantedTeamsSigXc22"
HOOK_USER, HOOK_PASSWORD = "hookuser", "plantedHookPassVb33"
HOOK_PATH, HOOK_QUERY = "/hooks/plantedHookPathNm44", "?token=plantedHookQueryQa55"
STATIC_SECRETS = [
    ADMIN_KEY, ADMIN_KEY[4:16], SECRET_KEY, SMTP_LOGIN[1], SIGNING_SECRET,
    "T0PLANTEDTEAM", "B0PLANTEDBOT", "plantedSlackTokenLz11", "plantedWorkflow42", "plantedTeamsSigXc22",
    HOOK_PASSWORD, "plantedHookPathNm44", "plantedHookQueryQa55",
    base64.b64encode(f"{HOOK_USER}:{HOOK_PASSWORD}".encode()).decode(),
    "plantedWrongKeyWs66", "plantedGuessTokenEd77", "plantedRemotePassRf88", "plantedRemoteTokenTg99",
]


OUR_PATHS = tuple(f"/{name}/" for name in SERVICES) + ("/board/",)


class Seen:
    """Everything a run let out: response bodies and headers, every log line (as our JSON handler
    renders it and as any other handler would), the CLI's output, mails and webhook bodies."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.records: list[logging.LogRecord] = []
        self.receivers_access = 0

    async def response(self, response: httpx.Response) -> None:
        await response.aread()
        if response.request.method == "POST" and response.request.url.path.endswith("/calendar/tokens"):
            return  # a new feed's secret address is handed out once, by design (like a new key)
        self.texts.append(f"{response.status_code} {dict(response.headers)} {response.text}")

    def leaks(self, secrets: list[str]) -> list[tuple[str, str]]:
        return [(secret, t[:300]) for t in self.texts for secret in secrets if secret in t]


class Capture(logging.Handler):
    """A root handler like anyone might add: plain `%(message)s` with tracebacks, and our JSON."""

    def __init__(self, seen: Seen) -> None:
        super().__init__(logging.DEBUG)
        self.seen, self.json = seen, json_formatter()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "uvicorn.access" and not str(record.args[2]).startswith(OUR_PATHS):
            # The stand-ins for Slack, Teams and the webhook run uvicorn too (its access logger is
            # one per process): what they log is the receiver's business. Counted, not kept.
            self.seen.receivers_access += 1
            return
        plain = record.getMessage()
        if record.exc_info:
            plain += "".join(traceback.format_exception(*record.exc_info))
        self.seen.records.append(record)
        self.seen.texts += [plain, self.json.format(record)]


@pytest.fixture
async def planted(tmp_path, monkeypatch):
    """The embedded host as `oia dev` runs it (under uvicorn, our logging), secrets planted."""
    smtp_port = free_port()
    for name, value in {"OIA_SECRET_KEY": SECRET_KEY, "OIA_API_KEYS": f"{ADMIN_KEY}:admin",
                        "ALLOW_HTTP_LOOPBACK": "true", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port),
                        "SMTP_USERNAME": SMTP_LOGIN[0], "SMTP_PASSWORD": SMTP_LOGIN[1], "SMTP_STARTTLS": "false",
                        "RETRY_BASE_SECONDS": "0.05", "SLACK_RATE_PER_SECOND": "100"}.items():
        monkeypatch.setenv(name, value)
    for name in SERVICES:  # for `oia keys list`
        monkeypatch.setenv(f"{name.upper()}_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / name}.db")
    seen = Seen()
    configure_logging()  # as `oia dev` does first
    with SmtpStandIn(port=smtp_port, login=SMTP_LOGIN) as smtp:
        async with WebhookStandIn() as hooks, oia_dev_logging(Capture(seen)):
            demo_keys = await prepare(tmp_path, with_demo_data=False)
            host = EmbeddedHost(tmp_path)
            port = free_port()
            server = uvicorn.Server(uvicorn.Config(host, host="127.0.0.1", port=port, log_config=None,
                                                   lifespan="on"))
            task = asyncio.create_task(server.serve())
            try:
                await eventually(lambda: server.started or task.done(), timeout=30, message="the host started")
                if task.done():
                    task.result()  # raises what stopped it
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30,
                                             event_hooks={"response": [seen.response]}) as client:
                    yield {"host": host, "client": client, "seen": seen, "smtp": smtp, "hooks": hooks,
                           "keys": [k["key"] for k in demo_keys], "demo": demo_keys}
            finally:
                server.should_exit = True
                await task


@asynccontextmanager
async def oia_dev_logging(capture: logging.Handler):
    """Loggers as in `oia dev` (uvicorn's propagate to our root handler; the stand-ins' uvicorn
    configured them its own way), the HTTP client as talkative as it gets, `capture` on the root."""
    loggers = {name: logging.getLogger(name) for name in ("uvicorn", "uvicorn.error", "uvicorn.access",
                                                          "httpx", "httpcore")}
    before = {name: (lg.level, lg.propagate, lg.handlers[:]) for name, lg in loggers.items()}
    for name, lg in loggers.items():
        lg.setLevel(logging.DEBUG if name.startswith("http") else logging.NOTSET)
        lg.propagate, lg.handlers[:] = True, []
    root, root_level = logging.getLogger(), logging.getLogger().level
    root.setLevel(logging.DEBUG)  # as OIA_LOG_LEVEL=DEBUG
    root.addHandler(capture)
    try:
        yield
    finally:
        root.setLevel(root_level)
        root.removeHandler(capture)
        for name, (level, propagate, handlers) in before.items():
            loggers[name].setLevel(level)
            loggers[name].propagate, loggers[name].handlers[:] = propagate, handlers


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # the SMTP stand-in, on loopback
async def test_a_full_run_lets_out_none_of_the_planted_secrets(planted):
    client, hooks, smtp, seen = planted["client"], planted["hooks"], planted["smtp"], planted["seen"]
    keys = {(k["role"], k["department"]): k["key"] for k in planted["demo"]}
    econ, mayor, coordinator = keys[("department", "ECON")], keys[("department", "MAYOR")], keys[("coordinator", "OIA")]
    labelled = new_key()  # made the way `oia keys create --label` makes one
    for runtime in planted["host"].runtimes.values():
        await store_key(runtime.engine, runtime.settings.secret_key, labelled, "admin", None, "secrets test")
    admin = bearer(ADMIN_KEY)
    slack = hooks.url(SLACK_PATH)
    teams = hooks.url(TEAMS_PATH) + TEAMS_QUERY
    hook = hooks.url(HOOK_PATH) + HOOK_QUERY

    # Recipients with secret channels.
    for body in [
        {"id": "ECON", "kind": "department", "name": "Economic Development", "department": "ECON",
         "channels": [{"kind": "email", "address": "econ@city.example"}, {"kind": "slack", "address": slack}]},
        {"id": "MAYOR", "kind": "department", "name": "Mayor's office", "department": "MAYOR",
         "channels": [{"kind": "teams", "address": teams}]},
        {"id": "OIA", "kind": "coordinators", "name": "OIA coordinators",
         "channels": [{"kind": "webhook", "address": hook, "signing_secret": SIGNING_SECRET}]},
    ]:
        response = await client.post("/notifications/recipients", json=body, headers=admin)
        assert response.status_code == 201, response.text

    # Refused channels (user info is refused outright): the refusal names the field, never the secrets.
    for address in [hook.replace("://", f"://{HOOK_USER}:{HOOK_PASSWORD}@"),
                    "ftp://ftpuser:plantedRemotePassRf88@files.example/x",
                    "http://user:plantedRemotePassRf88@remote.example/hook?token=plantedRemoteTokenTg99"]:
        refused = await client.post("/notifications/recipients", headers=admin, json={
            "id": "CULT", "kind": "department", "name": "Culture", "department": "CULT",
            "channels": [{"kind": "webhook", "address": address}]})
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "channels[0].address"

    # Two departments' trips overlap: alerts go to Slack, Teams, the signed webhook and by mail.
    for key, title in [(econ, "Trade fair delegation"), (mayor, "Partner-city visit")]:
        booked = await client.post("/travel/trips", headers=bearer(key), json={
            "title": title, "purpose": "other",
            "legs": [{"city": "Köln", "country": "DE", "start_date": "2027-05-10", "end_date": "2027-05-14"}]})
        assert booked.status_code == 201, booked.text
    await eventually(lambda: hooks.accepted(SLACK_PATH) and hooks.accepted(TEAMS_PATH) and hooks.accepted(HOOK_PATH)
                     and smtp.to("econ@"), timeout=30, message="the overlap alert on every channel")
    assert hooks.accepted(HOOK_PATH)[0].headers["x-diplomacity-signature"].startswith("sha256=")

    # A stage change by the labelled key reaches the application's owner by mail, naming who.
    call = await client.post("/grants/calls", headers=bearer(coordinator), json={
        "identifier": "CERV-2027-TT", "programme": "cerv", "title": "Town-Twinning", "opens_at": "2027-01-10",
        "deadlines": ["2027-03-31"], "budget": 4_000_000, "grant_max": 30_000})
    assert call.status_code == 201, call.text
    application = await client.post("/grants/applications", headers=bearer(econ), json={
        "call_id": call.json()["id"], "title": "Twinning for climate", "requested_amount": 25_000,
        "owner": {"name": "Jana Weber", "email": "jana.weber@city.example"}})
    assert application.status_code == 201, application.text
    moved = await client.post(f"/grants/applications/{application.json()['id']}/stage",
                              headers=bearer(labelled), json={"stage": "preparing"})
    assert moved.status_code == 200, moved.text
    stages = await client.get(f"/grants/applications/{application.json()['id']}/stages", headers=admin)
    assert stages.json()[-1]["changed_by"] == "admin (secrets test)"
    await eventually(lambda: smtp.to("jana.weber@"), timeout=30, message="the stage change mail")

    # Calendar feeds: made, read, guessed at, revoked.
    feeds = []
    for service in ("travel", "grants"):
        made = await client.post(f"/{service}/calendar/tokens", json={"label": "ECON team"}, headers=bearer(econ))
        assert made.status_code == 201, made.text
        feeds.append(made.json())
        assert (await client.get(made.json()["url"])).status_code == 200
    travel_token = feeds[0]["url"].rsplit("/travel/calendar/", 1)[1].removesuffix(".ics")
    for path in ["/travel/calendar/plantedGuessTokenEd77.ics", "/travel/calendar/plantedGuessTokenEd77",
                 f"/grants/calendar/{travel_token}.ics", f"/travel/calendar/{travel_token}.ics/x"]:
        missing = await client.get(path)
        assert missing.status_code in (404, 405), missing.text
    assert (await client.delete(f"/travel/calendar/tokens/{feeds[0]['id']}", headers=bearer(econ))).status_code == 204
    gone = await client.get(feeds[0]["url"])
    assert gone.status_code == 404 and gone.json()["instance"] == "/travel/calendar/…"

    # Everything read as every role, and a key nobody issued.
    everyone = [ADMIN_KEY, labelled, *planted["keys"]]
    for key in everyone:
        for path in ["/notifications/recipients", "/notifications/deliveries", "/notifications/recipients/ECON",
                     "/notifications/recipients/MAYOR", "/notifications/recipients/OIA", "/travel/calendar/tokens",
                     "/grants/calendar/tokens", "/notifications/feed?recipient=ECON"]:
            await client.get(path, headers=bearer(key))
    listed = (await client.get("/notifications/recipients", headers=admin)).json()
    shown = {c["kind"]: c["address"] for r in listed if r["id"] == "ECON" for c in r["channels"]}
    assert shown == {"email": "econ@city.example", "slack": shown["slack"]}
    assert shown["slack"].startswith(f"http://127.0.0.1:{hooks.port}/…[")
    for delivery in (await client.get("/notifications/deliveries", headers=admin)).json():
        await client.get(f"/notifications/deliveries/{delivery['id']}", headers=admin)
    unknown = await client.get("/travel/trips", headers=bearer("oia_plantedWrongKeyWs66"))
    assert unknown.status_code == 401
    for service in SERVICES:
        await client.get(f"/{service}/metrics")

    # Keys as the API and the command line list them.
    for runtime in planted["host"].runtimes.values():
        seen.texts.append(repr(await list_keys(runtime.engine)))
    listing = await asyncio.to_thread(CliRunner().invoke, cli, ["keys", "list", "--service", "grants"])
    assert listing.exit_code == 0 and "secrets test" in listing.output
    seen.texts.append(listing.output)

    # What reached the recipients.
    seen.texts += [str(m) for m in smtp.messages]
    seen.texts += [r.body.decode() for path in (SLACK_PATH, TEAMS_PATH, HOOK_PATH) for r in hooks.accepted(path)]

    secrets = STATIC_SECRETS + [labelled, *planted["keys"]] + [k[4:16] for k in [labelled, *planted["keys"]]]
    secrets += [f["url"].rsplit("/", 1)[1].removesuffix(".ics") for f in feeds]
    secrets += [f["url"].rsplit("/", 1)[1][:12] for f in feeds]
    assert seen.leaks(secrets) == []

    # The capture saw what it had to: access lines (a feed's among them) and the HTTP client at work.
    access = [r.getMessage() for r in seen.records if r.name == "uvicorn.access"]
    assert any('"GET /travel/calendar/… HTTP/1.1" 200' in line for line in access), access[:5]
    assert any(r.name.startswith("httpcore") for r in seen.records)
    assert seen.receivers_access == sum(len(posts) for posts in hooks.attempts.values())  # set aside: only those
    assert any("delivery attempt" in t for t in seen.texts)


# -- recorded key prefixes go with the upgrade -------------------------------------------------------

async def test_upgrading_replaces_recorded_key_prefixes_with_key_ids(tmp_path):
    await upgrade_scrubs_key_prefixes(f"sqlite+aiosqlite:///{tmp_path / 'grants'}.db")


async def upgrade_scrubs_key_prefixes(url: str) -> None:
    """Grants before key ids, with prefixes recorded in a calendar token and a stage change; then
    the upgrade. (Also run on PostgreSQL: tests/integration/test_migrations_postgres.py.)"""
    spec = spec_of("grants")
    await upgrade("grants", spec.migrations_dir, spec.metadata, url, revision="404dfd44ab91")  # before ids
    engine = create_async_engine(url)  # without SQLite's foreign keys: a stage change of no application
    try:
        async with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                await conn.execute(text("SET session_replication_role = replica"))  # no foreign keys either
            await conn.execute(text("INSERT INTO api_key (key_hash, prefix, role, label, created_at) VALUES "
                                    "(:h, 'oia_AbCdEfGh', 'admin', 'ops', '2026-11-01 00:00:00')"), {"h": "9f" * 32})
            await conn.execute(text(
                "INSERT INTO calendartoken (id, token_hash, created_by, created_at) VALUES "
                "('t1', 'h1', 'oia_AbCdEfGh', '2026-11-01 00:00:00'), ('t2', 'h2', 'envkeyPrefix', '2026-11-01')"))
            await conn.execute(text(
                "INSERT INTO stagechange (application_id, from_stage, to_stage, changed_by, changed_at) VALUES "
                "('a1', 'idea', 'preparing', 'admin oia_AbCdEfGh', '2026-11-01'), "
                "('a1', 'preparing', 'drafting', 'department ECON', '2026-11-02')"))
        await upgrade("grants", spec.migrations_dir, spec.metadata, url)
        async with engine.connect() as conn:
            tokens = dict((await conn.execute(text("SELECT id, created_by FROM calendartoken"))).all())
            changes = [r[0] for r in (await conn.execute(text("SELECT changed_by FROM stagechange ORDER BY id")))]
            stored = (await conn.execute(text("SELECT * FROM api_key"))).mappings().one()
    finally:
        await engine.dispose()
    assert tokens == {"t1": "key_" + "9f" * 6, "t2": "OIA_API_KEYS"}
    assert changes == ["admin (ops)", "department ECON"]  # as a change made now names its key: by label
    assert stored["key_id"] == "key_9f9f9f9f9f9f" and "prefix" not in stored


async def test_upgrading_notifications_renames_keys_in_heard_stage_changes(tmp_path):
    await upgrade_scrubs_heard_key_prefixes(f"sqlite+aiosqlite:///{tmp_path / 'notifications'}.db")


async def upgrade_scrubs_heard_key_prefixes(url: str) -> None:
    """Notifications before key ids, with a stage change heard from grants naming a key by its
    first characters, in the notice and in a feed item; then the upgrade."""
    spec = spec_of("notifications")
    await upgrade("notifications", spec.migrations_dir, spec.metadata, url, revision="1937d201b4c6")
    engine = create_async_engine(url)
    heard = {"application_id": "a1", "to_stage": "preparing", "changed_by": "admin oia_AbCdEfGh"}
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO api_key (key_hash, prefix, role, label, created_at) VALUES "
                                    "(:h, 'oia_AbCdEfGh', 'admin', NULL, '2026-11-01 00:00:00')"), {"h": "9f" * 32})
            await conn.execute(text(
                "INSERT INTO notice (event_id, event_type, critical, data, occurred_at, received_at) VALUES "
                "(:e, 'grants.application.stage_changed.v1', false, :d, '2026-11-01', '2026-11-01'), "
                "('e-2', 'grants.application.stage_changed.v1', false, :d2, '2026-11-01', '2026-11-01')"),
                {"e": "e-1", "d": json.dumps(heard), "d2": json.dumps({**heard, "changed_by": "department ECON"})})
            await conn.execute(text(
                "INSERT INTO feeditem (id, recipient, event_id, event_type, title, body, critical, created_at) "
                "VALUES ('f1', 'OIA', 'e-1', 'grants.application.stage_changed.v1', 'Preparing', "
                "'Changed by: admin oia_AbCdEfGh', false, '2026-11-01')"))
        await upgrade("notifications", spec.migrations_dir, spec.metadata, url)
        async with engine.connect() as conn:
            data = {e: json.loads(d) if isinstance(d, str) else d
                    for e, d in (await conn.execute(text("SELECT event_id, data FROM notice"))).all()}
            body = (await conn.execute(text("SELECT body FROM feeditem"))).scalar_one()
    finally:
        await engine.dispose()
    assert data["e-1"] == {**heard, "changed_by": "admin (key_9f9f9f9f9f9f)"}  # no label: its id
    assert data["e-2"]["changed_by"] == "department ECON"
    assert body == "Changed by: admin (key_9f9f9f9f9f9f)"
