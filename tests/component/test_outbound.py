"""shared/outbound.py: which destinations outbound requests may reach, in every spelling of an
address, after resolution; and that the guarded transport connects only to what it checked."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
import subprocess

import httpx
import pytest

from shared import outbound
from shared.logging import configure_logging
from shared.outbound import Allowed, Guard, Refused

PUBLIC = "93.184.215.14"


def fake_dns(table: dict[str, list[str]]):
    """A resolver answering from `table` (a name it does not know does not resolve)."""

    async def resolve(host: str, port: int) -> list:
        if host not in table:
            raise OSError(f"{host}: name or service not known")
        return [ipaddress.ip_address(a) for a in table[host]]
    return resolve


@pytest.mark.parametrize("url, why", [
    # the reviewer's seven
    ("https://10.0.0.1/hook", "a private address"),
    ("https://169.254.169.254/latest/meta-data/", "a cloud metadata service"),
    ("https://localhost/hook", "this machine or the local network only"),
    ("https://[::1]/hook", "a loopback address"),
    ("https://0.0.0.0/hook", "an unspecified"),
    ("https://2130706433/hook", "2130706433 stands for 127.0.0.1, which is a loopback address"),
    ("https://metadata.google.internal/computeMetadata/v1/", "a cloud metadata service"),
    # other spellings of loopback
    ("https://0x7f.1/", "stands for 127.0.0.1"),
    ("https://0x7f000001/", "stands for 127.0.0.1"),
    ("https://127.1/", "stands for 127.0.0.1"),
    ("https://127.0.0.1./", "a loopback address"),
    ("https://017700000001/", "stands for 127.0.0.1"),
    ("https://[::ffff:127.0.0.1]/", "stands for 127.0.0.1"),
    ("https://[::ffff:7f00:1]/", "stands for 127.0.0.1"),
    ("https://[0:0:0:0:0:ffff:a9fe:a9fe]/", "a cloud metadata service"),
    ("https://127。0。0。1/", "a loopback address"),  # ideographic full stops, normalised by IDNA
    ("https://localhost./", "this machine or the local network only"),
    ("https://hooks.localhost/", "this machine or the local network only"),
    ("https://LOCALHOST/", "this machine or the local network only"),
    # every other class
    ("https://172.16.5.4/", "a private address"),
    ("https://192.168.1.1/", "a private address"),
    ("https://100.64.0.1/", "carrier-grade NAT"),
    ("https://100.100.100.200/", "a cloud metadata service"),
    ("https://169.254.10.1/", "a link-local address"),
    ("https://[fe80::1]/", "a link-local address"),
    ("https://[fd00:ec2::254]/", "a cloud metadata service"),
    ("https://[fc00::1]/", "a private (unique local) address"),
    ("https://224.0.0.1/", "a multicast address"),
    ("https://[ff02::1]/", "a multicast address"),
    ("https://240.0.0.1/", "a reserved address"),
    ("https://255.255.255.255/", "a reserved address"),
    ("https://192.0.2.1/", "documentation"),
    ("https://198.18.0.1/", "benchmarking"),
    ("https://[::]/", "an unspecified address"),
    ("https://[::127.0.0.1]/", "IPv4-compatible"),
    ("https://[2001:db8::1]/", "documentation"),
    ("https://[64:ff9b::a00:1]/", "a translation of 10.0.0.1, a private address"),  # NAT64
    ("https://[2002:a00:1::]/", "a translation of 10.0.0.1, a private address"),  # 6to4
    # names that only mean something inside
    ("https://metadata.google.internal./", "a cloud metadata service"),
    ("https://METADATA.goog/", "a cloud metadata service"),
    ("https://metadata/", "a cloud metadata service"),
    ("https://printer.local/", "the local network only"),
    ("https://jenkins.corp.internal/", "the local network only"),
    ("https://intranet/", "a single-label name"),
    # not an address at all, or not a URL we send to
    ("https://256.1.1.1/", "not a valid URL"),
    ("https://1.2.3.4.5/", "no valid IPv4 address"),
    ("https://%31%32%37.0.0.1/", "no valid IPv4 address"),
    ("https://hooks.example.com@10.0.0.1/", "user name or password"),
    (f"http://{PUBLIC}/hook", "must be https"),
    ("ftp://example.org/x", "must be https"),
    ("file:///etc/passwd", "must be https"),
])
async def test_internal_destinations_are_refused_with_the_reason(url, why):
    with pytest.raises(Refused) as refused:
        await Guard(resolver=fake_dns({})).check_url(url)
    assert why in str(refused.value)


@pytest.mark.parametrize("answers, why", [
    (["10.1.2.3"], "hooks.example.com resolves to 10.1.2.3, which is a private address"),
    ([PUBLIC, "127.0.0.1"], "resolves to 127.0.0.1, which is a loopback address"),  # any one answer is enough
    (["2606:4700::1", "fd12::1"], "resolves to fd12::1"),
    (["::ffff:169.254.169.254"], "a cloud metadata service"),
])
async def test_a_name_is_refused_when_any_address_it_resolves_to_is_internal(answers, why):
    guard = Guard(resolver=fake_dns({"hooks.example.com": answers}))
    with pytest.raises(Refused) as refused:
        await guard.check_url("https://hooks.example.com/services/T0/B0/x")
    assert why in str(refused.value)


async def test_public_destinations_pass_and_say_where_they_lead():
    guard = Guard(resolver=fake_dns({"hooks.example.com": [PUBLIC, "2606:4700:4700::1111"]}))
    assert await guard.check_url("https://hooks.example.com/x") == [
        ipaddress.ip_address(PUBLIC), ipaddress.ip_address("2606:4700:4700::1111")]
    assert await guard.check_url("https://1.1.1.1:8443/x") == [ipaddress.ip_address("1.1.1.1")]
    # A name that does not resolve yet cannot be checked now: it is checked when a connection is made.
    assert await guard.check_url("https://not-yet.example.com/x") == []


async def test_an_allow_list_names_hosts_and_networks_but_never_a_metadata_service():
    allowed = Allowed.parse(" hooks.corp.internal., 10.20.0.0/16 ,192.168.7.7")
    guard = Guard(allowed, resolver=fake_dns({"hooks.corp.internal": ["10.99.0.1"],
                                              "rebind.example.com": ["169.254.169.254"]}))
    assert await guard.check_url("https://hooks.corp.internal/x") == [ipaddress.ip_address("10.99.0.1")]
    assert await guard.check_url("https://10.20.3.4/x") == [ipaddress.ip_address("10.20.3.4")]
    assert await guard.check_url("https://192.168.7.7/x") == [ipaddress.ip_address("192.168.7.7")]
    for url in ("https://10.21.0.1/x", "https://192.168.7.8/x", "https://other.corp.internal/x"):
        with pytest.raises(Refused, match="OUTBOUND_ALLOW"):
            await guard.check_url(url)
    metadata = Guard(Allowed.parse("169.254.0.0/16,rebind.example.com,metadata.google.internal"),
                     resolver=fake_dns({"rebind.example.com": ["169.254.169.254"]}))
    for url in ("https://169.254.169.254/", "https://rebind.example.com/", "https://metadata.google.internal/"):
        with pytest.raises(Refused, match="a cloud metadata service"):
            await metadata.check_url(url)
    assert await metadata.check_url("https://169.254.1.1/") == [ipaddress.ip_address("169.254.1.1")]


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "not a host", "http://x.example", "2130706433", "hooks.1234"])
def test_a_bad_allow_list_entry_is_refused_naming_it(entry):
    with pytest.raises(ValueError, match="neither a host name nor an address"):
        Allowed.parse(f"10.0.0.0/8,{entry}")


async def test_the_test_switch_allows_plain_http_to_loopback_and_nothing_more():
    guard = Guard(Allowed.parse("", http_loopback=True), resolver=fake_dns({"localhost": ["127.0.0.1", "::1"]}))
    assert await guard.check_url("http://127.0.0.1:8025/hook") == [ipaddress.ip_address("127.0.0.1")]
    assert await guard.check_url("http://localhost:8025/hook") == [ipaddress.ip_address("127.0.0.1"),
                                                                   ipaddress.ip_address("::1")]
    assert await guard.check_url("https://[::1]/hook") == [ipaddress.ip_address("::1")]
    for url, why in [("http://0.0.0.0:8025/", "unspecified"), ("http://10.0.0.1/", "a private address"),
                     (f"http://{PUBLIC}/", "must be https"), ("http://169.254.169.254/", "metadata")]:
        with pytest.raises(Refused, match=why):
            await guard.check_url(url)


# -- the transport: checked and pinned at every connection ----------------------------------------

class Listener:
    """A TCP server on loopback that counts every connection made to it, keeps each request's head,
    and answers 204."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.connections = 0
        self.requests: list[bytes] = []
        self.tls = tls

    async def __aenter__(self) -> Listener:
        self.server = await asyncio.start_server(self._on, "127.0.0.1", 0, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def _on(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.requests.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()


async def test_the_transport_refuses_a_name_that_now_resolves_inward_and_nothing_connects():
    dns = {"rebind.example.com": ["127.0.0.1"]}
    async with Listener() as receiver:
        async with Guard(resolver=fake_dns(dns)).client() as client:
            with pytest.raises(Refused, match="resolves to 127.0.0.1, which is a loopback address"):
                await client.post(f"http://rebind.example.com:{receiver.port}/hook", content=b"{}")
            with pytest.raises(Refused, match="stands for 127.0.0.1"):  # a URL never checked before
                await client.get(f"http://2130706433:{receiver.port}/")
        # The control: allowed, the very same request arrives — at the address the guard checked
        # (the name resolves nowhere else), still naming its host.
        async with Guard(Allowed.parse("127.0.0.1"), resolver=fake_dns(dns)).client() as client:
            response = await client.post(f"http://rebind.example.com:{receiver.port}/hook", content=b"{}")
    assert response.status_code == 204 and receiver.connections == 1
    [request] = receiver.requests
    assert request.startswith(b"POST /hook ") and f"Host: rebind.example.com:{receiver.port}".encode() in request


async def test_a_name_that_does_not_resolve_is_a_connection_error_not_a_refusal():
    async with Guard(resolver=fake_dns({})).client() as client:
        with pytest.raises(httpx.ConnectError, match="does not resolve"):
            await client.get("https://nowhere.example.com/")


async def test_the_transport_keeps_proxies_from_the_environment_out(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://10.0.0.1:3128")  # would resolve the host out of sight
    client = Guard().client()
    try:
        assert client._mounts == {} and isinstance(client._transport, outbound._GuardedTransport)
    finally:
        await client.aclose()


@pytest.fixture
def certificate(tmp_path) -> tuple[str, str]:
    """A self-signed certificate for rebind.example.com only (not for 127.0.0.1)."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", str(key),
                    "-out", str(cert), "-subj", "/CN=rebind.example.com",
                    "-addext", "subjectAltName=DNS:rebind.example.com"], check=True, capture_output=True)
    return str(cert), str(key)


async def test_a_pinned_https_connection_still_sends_and_verifies_the_host_name(certificate):
    cert, key = certificate
    names: list[str | None] = []
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    server_tls.sni_callback = lambda sock, name, context: names.append(name)
    trusting = ssl.create_default_context(cafile=cert)
    dns = {"rebind.example.com": ["127.0.0.1"], "other.example.com": ["127.0.0.1"]}
    async with Listener(tls=server_tls) as receiver:
        guard = Guard(Allowed.parse("127.0.0.1"), resolver=fake_dns(dns))
        async with guard.client(verify=trusting) as client:
            response = await client.post(f"https://rebind.example.com:{receiver.port}/hook", content=b"{}")
            assert response.status_code == 204
            # The same address under a name the certificate does not carry: the check is by name.
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await client.post(f"https://other.example.com:{receiver.port}/hook", content=b"{}")
    assert names[0] == "rebind.example.com" and "other.example.com" in names
    assert len(receiver.requests) == 1


async def test_a_sent_webhooks_url_stays_out_of_the_logs():
    configure_logging()  # the services' logging (it replaces the root's handlers: caplog would see nothing)
    seen: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = seen.append  # type: ignore[method-assign]
    root = logging.getLogger()
    root.addHandler(handler)
    level, root.level = root.level, logging.INFO
    try:
        secret = "https://hooks.example.com/services/T0/B0/very-secret-token"
        async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200))) as client:
            assert (await client.post(secret, content=b"{}")).status_code == 200
        logging.getLogger("shared.outbound.test").info("a line that does arrive")
    finally:
        root.removeHandler(handler)
        root.level = level
    messages = [r.getMessage() for r in seen]
    assert "a line that does arrive" in messages
    assert not [m for m in messages if "very-secret-token" in m]


def test_the_allow_list_is_read_from_the_environment_and_a_bad_one_stops_the_service(monkeypatch):
    from pydantic import ValidationError

    from services.grants.settings import GrantsSettings
    from services.notifications.settings import NotificationsSettings

    monkeypatch.setenv("OUTBOUND_ALLOW", "10.20.0.0/16")
    monkeypatch.setenv("NOTIFICATIONS_OUTBOUND_ALLOW", "hooks.intranet.example")
    assert GrantsSettings().outbound_guard().allowed.networks == (ipaddress.ip_network("10.20.0.0/16"),)
    assert NotificationsSettings().outbound_guard().allowed.hosts == {"hooks.intranet.example"}
    monkeypatch.setenv("OUTBOUND_ALLOW", "10.20.0.0/16,intranet hooks")
    with pytest.raises(ValidationError, match="'intranet hooks' is neither a host name"):
        GrantsSettings()
