"""Outbound HTTP that cannot be turned inward: requests to URLs that users give us (webhooks, the
portal fetch) reach only globally routable addresses, unless an allow-list names the host or network.

Two checks, one rule. `await guard.check_url(url)` at registration refuses a URL whose host is, or
resolves to, an internal address (loopback, private, link-local, CGNAT, multicast, reserved,
unspecified, a cloud metadata service) — ANY internal address among the answers is enough. And every
connection the guarded transport (`guard.client()`) makes is checked again where it is made: it
resolves the host itself, checks every answer, and connects to an address it has just checked, with
the URL's host name left as it is for the Host header, TLS SNI and the certificate check. So a name
that resolved to a public address at registration and to 127.0.0.1 at send time (DNS rebinding) is
refused, with no window between the check and the connection.

A refusal raises `Refused` with the reason; a name that does not resolve is not a refusal here (at
registration it cannot be checked yet; a connection to it fails as any connection error does)."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import time
import typing
from dataclasses import dataclass, field

import httpcore
import httpx
from pydantic import BaseModel, field_validator

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = typing.Callable[[str, int], typing.Awaitable[list[IPAddress]]]

RESOLVE_SECONDS = 5.0  # a registration waits no longer for DNS
METADATA = "a cloud metadata service"

# Cloud metadata services hand out credentials: refused even when an allow-list covers them.
METADATA_NAMES = frozenset({"metadata.google.internal", "metadata.goog", "metadata", "instance-data",
                            "instance-data.ec2.internal", "metadata.tencentyun.com", "metadata.azure.internal",
                            "metadata.platformequinix.com"})
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",  # AWS, GCP, Azure, OpenStack, Oracle, DigitalOcean …
    "169.254.170.2",  # AWS ECS task credentials
    "169.254.169.123",  # AWS time sync, same link
    "fd00:ec2::254",  # AWS over IPv6
    "100.100.100.200",  # Alibaba Cloud
    "192.0.0.192",  # Oracle Cloud (legacy)
))

# Special-purpose ranges (IANA registries), most specific first so the reason is the precise one.
# `ipaddress`'s own is_global misses multicast and some of these, so the list is explicit.
_INTERNAL: list[tuple[IPNetwork, str]] = [(ipaddress.ip_network(n), why) for n, why in [
    ("0.0.0.0/8", "an unspecified ('this network') address"),
    ("127.0.0.0/8", "a loopback address"),
    ("10.0.0.0/8", "a private address"),
    ("172.16.0.0/12", "a private address"),
    ("192.168.0.0/16", "a private address"),
    ("100.64.0.0/10", "a shared (carrier-grade NAT) address"),
    ("169.254.0.0/16", "a link-local address"),
    ("192.0.0.0/24", "a reserved (IETF protocol) address"),
    ("192.0.2.0/24", "a reserved (documentation) address"),
    ("198.51.100.0/24", "a reserved (documentation) address"),
    ("203.0.113.0/24", "a reserved (documentation) address"),
    ("192.88.99.0/24", "a reserved (6to4 relay) address"),
    ("198.18.0.0/15", "a reserved (benchmarking) address"),
    ("224.0.0.0/4", "a multicast address"),
    ("240.0.0.0/4", "a reserved address"),
    ("::/128", "an unspecified address"),
    ("::1/128", "a loopback address"),
    ("::/96", "a reserved (IPv4-compatible) address"),
    ("64:ff9b:1::/48", "a reserved (local NAT64) address"),
    ("100::/64", "a reserved (discard) address"),
    ("2001::/23", "a reserved (IETF protocol) address"),
    ("2001:db8::/32", "a reserved (documentation) address"),
    ("3fff::/20", "a reserved (documentation) address"),
    ("fc00::/7", "a private (unique local) address"),
    ("fe80::/10", "a link-local address"),
    ("fec0::/10", "a reserved (site-local) address"),
    ("ff00::/8", "a multicast address"),
]]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Names that only ever mean something inside a network (RFC 6761, 6762, 8375; ICANN's .internal).
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa", ".localdomain")
_LABEL = r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")
_NUMBER = re.compile(r"^(0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*)$")


class Refused(Exception):
    """The destination is not one outbound requests may go to; the message says why."""


@dataclass(frozen=True)
class Allowed:
    """Exceptions to the rule: host names (any address they resolve to) and networks; and, for
    tests, plain http to loopback."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()
    http_loopback: bool = False

    @classmethod
    def parse(cls, setting: str, *, http_loopback: bool = False) -> Allowed:
        """`setting` is comma-separated host names and addresses or CIDR networks
        (`hooks.intranet.example,10.20.0.0/16`); a bad entry is a ValueError naming it."""
        hosts, networks = set(), []
        for entry in (e.strip() for e in setting.split(",")):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            name = entry.lower().rstrip(".")
            try:
                numeric = literal_address(name) is not None
            except Refused:
                numeric = True
            if numeric or not _HOST_NAME.match(name):
                raise ValueError(f"{entry!r} is neither a host name nor an address or network (CIDR)")
            hosts.add(name)
        if http_loopback:  # the test switch: stand-in receivers on this machine
            hosts.add("localhost")
            networks += [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]
        return cls(frozenset(hosts), tuple(networks), http_loopback)


def literal_address(host: str) -> IPAddress | None:
    """The address a host written as a number stands for, in every form resolvers accept
    (`127.0.0.1`, `2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`, `[::ffff:127.0.0.1]`); None for a name.
    A number that is no valid address is refused rather than handed to a resolver to guess at."""
    text = host.strip("[]").rstrip(".")
    try:
        return unmapped(ipaddress.ip_address(text.split("%", 1)[0]))  # an IPv6 zone (%eth0) is no part of it
    except ValueError:
        pass
    parts = text.split(".")
    if not parts[-1] or not _NUMBER.match(parts[-1]):
        return None  # a name: its last label is not a number
    if len(parts) > 4 or not all(_NUMBER.match(p) for p in parts):
        raise Refused(f"{host} looks like a number but is no valid IPv4 address")
    numbers = [int(p[2:] or "0", 16) if p[:2].lower() == "0x" else int(p, 8) if p.startswith("0") else int(p)
               for p in parts]
    *head, last = numbers  # inet_aton: the last part fills the bytes the others leave
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        raise Refused(f"{host} looks like a number but is no valid IPv4 address")
    value = last
    for i, n in enumerate(head):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def unmapped(address: IPAddress) -> IPAddress:
    """An IPv4 address carried inside IPv6 (::ffff:a.b.c.d) is that IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def internal(address: IPAddress) -> str | None:
    """Why this address is not globally routable, or None when it is."""
    address = unmapped(address)
    if address in METADATA_ADDRESSES:
        return METADATA
    for network, why in _INTERNAL:
        if address in network:
            return why
    if isinstance(address, ipaddress.IPv6Address):
        # IPv4 inside IPv6 translation prefixes reaches that IPv4 address.
        carried = address.sixtofour or (ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
                                        if address in _NAT64 else None)
        if carried is not None and (carried_why := internal(carried)):
            return f"a translation of {carried}, {carried_why}"
    if not address.is_global:
        return "not a globally routable address"
    return None


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the system resolver gives for the host, without blocking the event loop."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos))


@dataclass
class Guard:
    """Where outbound requests may go: `check_url` for a URL given to us, `client()` to send."""

    allowed: Allowed = field(default_factory=Allowed)
    resolver: Resolver | None = None  # None: `resolve` (looked up when used, so tests can replace it)
    allow_setting: str = "OUTBOUND_ALLOW"  # named in refusals: where an operator makes an exception

    async def check_url(self, url: str) -> list[IPAddress]:
        """Refuse (`Refused`) a URL outbound requests may not go to: not https (plain http only to
        loopback, with the test switch), credentials in it, or a host that is or resolves to an
        internal address. Returns the addresses checked (none when the name does not resolve yet:
        it is checked again when a connection is made)."""
        try:
            parts = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise Refused(f"not a valid URL: {exc}") from None
        if parts.scheme != "https" and not (parts.scheme == "http" and self.allowed.http_loopback):
            raise Refused("the URL must be https://…")
        if parts.userinfo:
            raise Refused("the URL may not carry a user name or password (user@host)")
        if not parts.host:
            raise Refused("the URL has no host")
        try:
            addresses = await self.addresses(parts.host, parts.port or (443 if parts.scheme == "https" else 80),
                                             timeout=RESOLVE_SECONDS)
        except (TimeoutError, OSError):
            addresses = []  # cannot be checked now; the connection is checked when it is made
        if parts.scheme == "http" and not (self.allowed.http_loopback and addresses
                                           and all(unmapped(a).is_loopback for a in addresses)):
            raise Refused("the URL must be https://…")
        return addresses

    async def addresses(self, host: str, port: int, timeout: float | None = None) -> list[IPAddress]:
        """The checked addresses of `host`: `Refused` when it, or any address it resolves to, is
        internal and not allowed; OSError / TimeoutError when it does not resolve."""
        name = host.strip("[]").lower().rstrip(".")
        if name in METADATA_NAMES:
            raise Refused(f"{name} is {METADATA}")
        literal = literal_address(name)
        if literal is not None:
            self._check(name, literal, "stands for")
            return [literal]
        if not _HOST_NAME.match(name):
            raise Refused(f"{host!r} is not a valid host name")
        if name not in self.allowed.hosts:
            if name == "localhost" or name.endswith(_LOCAL_SUFFIXES):
                raise Refused(f"{name} is a name for this machine or the local network only "
                              f"(setting {self.allow_setting} lists exceptions)")
            if "." not in name:
                raise Refused(f"{name} is a single-label name, looked up in the local network's domains "
                              f"(setting {self.allow_setting} lists exceptions)")
        found = await asyncio.wait_for((self.resolver or resolve)(name, port), timeout)
        if not found:
            raise OSError(f"{name} resolves to no address")
        for address in found:  # one internal answer is enough to refuse: any of them may be used
            self._check(name, address)
        return [unmapped(a) for a in found]

    def _check(self, name: str, address: IPAddress, verb: str = "resolves to") -> None:
        why = internal(address)
        if why is None:
            return
        if METADATA not in why and (
                name in self.allowed.hosts or any(unmapped(address) in n for n in self.allowed.networks)):
            return
        shown = name if name == str(address) else f"{name} {verb} {address}, which"
        raise Refused(f"{shown} is {why}; outbound requests go only to public addresses"
                      + ("" if METADATA in why else
                         f" (setting {self.allow_setting} lists exceptions)"))

    def transport(self, **options: typing.Any) -> httpx.AsyncHTTPTransport:
        """An httpx transport whose every connection goes through this guard (see the module doc)."""
        return _GuardedTransport(self, **options)

    def client(self, *, verify: typing.Any = True, **options: typing.Any) -> httpx.AsyncClient:
        """An httpx client on the guarded transport. No proxies from the environment: a proxy would
        resolve the host itself, out of the guard's sight."""
        return httpx.AsyncClient(transport=self.transport(verify=verify), trust_env=False, **options)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, guard: Guard, **options: typing.Any) -> None:
        super().__init__(trust_env=False, **options)
        # httpx has no public hook for the network layer; httpcore's pool has one. Everything
        # else (TLS verification, limits) stays httpx's own. An httpx that changes this fails here,
        # loudly, rather than sending unguarded.
        if not isinstance(getattr(self._pool, "_network_backend", None), httpcore.AsyncNetworkBackend):
            raise RuntimeError("this httpx/httpcore version has no network backend to guard")
        self._pool._network_backend = _CheckedNetwork(guard)


class _CheckedNetwork(httpcore.AsyncNetworkBackend):
    """Resolves and checks the host itself, then connects to one of the addresses it checked."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard
        self.network = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            addresses = await self.guard.addresses(host, port, timeout=timeout)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} took too long") from None
        except OSError as exc:
            raise httpcore.ConnectError(f"{host} does not resolve: {exc}") from exc
        failure: Exception | None = None
        for address in addresses:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                return await self.network.connect_tcp(str(address), port, timeout=left,
                                                      local_address=local_address, socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc  # the next address may answer
        assert failure is not None
        raise failure

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
                                  ) -> httpcore.AsyncNetworkStream:
        raise Refused("outbound requests do not go to local sockets")

    async def sleep(self, seconds: float) -> None:
        await self.network.sleep(seconds)


class OutboundSettings(BaseModel):
    """Settings of a service that sends requests to URLs its users give it."""

    # The exceptions to "public addresses only", e.g. an on-premises receiver:
    # "hooks.intranet.example,10.20.0.0/16" (cloud metadata addresses stay refused).
    outbound_allow: str = ""
    # Tests: plain http to stand-in receivers on loopback (and loopback itself) is allowed.
    allow_http_loopback: bool = False

    @field_validator("outbound_allow")
    @classmethod
    def _readable_allow_list(cls, value: str) -> str:
        Allowed.parse(value)  # a bad entry stops the service at start, naming the entry
        return value

    def outbound_guard(self) -> Guard:
        return Guard(Allowed.parse(self.outbound_allow, http_loopback=self.allow_http_loopback))
