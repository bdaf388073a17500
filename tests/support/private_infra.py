"""A PostgreSQL and RabbitMQ of a test's own, on this machine, that it may stop, kill and start at will.

The machine's PostgreSQL (5432) and RabbitMQ (rabbit@localhost, 5672) are shared with other work and are
never touched: a fault scenario gets its own servers instead, in a temporary directory that goes with them.

    async with PrivatePostgres() as pg, RabbitCluster(3) as cluster:
        url = await pg.create_database("oia_travel")     # postgresql+asyncpg://…
        await pg.restart()
        node = await cluster.leader_of("e2e_…notifications")
        await cluster.stop_node(node); …; await cluster.start_node(node)

PostgreSQL 15 (Debian's binaries) runs as the `postgres` OS user: initdb and pg_ctl refuse root.
RabbitMQ (Debian's 3.10) runs from /usr/lib/rabbitmq/bin directly, as us, with HOME, node name, ports,
data and logs of its own; /usr/sbin/rabbitmq-server would switch to the machine's rabbitmq user and setup.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Self

import aio_pika
import asyncpg

from tests.support.proxy import TcpProxy

PG_BIN = Path("/usr/lib/postgresql/15/bin")
RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
# The machine's broker: its ports and the ranges its node and CLI tools use (AMQP, dist = AMQP+20000,
# CLI = dist+10000..+10010, management): none of ours may fall there.
_MACHINE_PORTS = {4369, 5432, 5672, 15672, 25672, *range(35672, 35683)}
BOOT_SECONDS = 60  # a node boots in ~10 s on a loaded 2-core machine; three at once take longer


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def private_port() -> int:
    """A free port in 20000–30000: below the kernel's ephemeral range (so no outgoing connection takes
    it meanwhile), and its +10000 (where RabbitMQ's CLI tools listen) still a valid port."""
    while True:
        port = random.randrange(20000, 30000)
        if port not in _MACHINE_PORTS and _free(port):
            return port


async def _listening(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


class PrivatePostgres:
    """A PostgreSQL 15 cluster of its own: initdb'd in a temporary directory, listening on 127.0.0.1 at a
    free port, trust authentication for `postgres`, fsync off (a test's data need not survive a power
    cut, only a server stop or crash). `async with` starts it and always stops and removes it."""

    def __init__(self) -> None:
        self.port = private_port()
        self.base = Path(tempfile.mkdtemp(prefix="oia-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "postgres.log"
        self._initialised = False

    @property
    def url(self) -> str:
        """The server's `postgres` database, for asyncpg."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def database_url(self, name: str) -> str:
        """SQLAlchemy (asyncpg driver) URL of database `name` on this server."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{name}"

    async def create_database(self, prefix: str) -> str:
        """A new database named `<prefix>_<random>`; returns its SQLAlchemy asyncpg URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        conn = await asyncpg.connect(self.url, timeout=10)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.database_url(name)

    async def start(self) -> None:
        """Start the server (initdb'ing it the first time) and wait until it accepts connections."""
        await asyncio.to_thread(self._start)

    async def stop(self, mode: str = "fast") -> None:
        """Stop the server: `fast` (clients disconnected, a clean shutdown) or `immediate` (no shutdown
        checkpoint: as after a crash, recovery replays the WAL at the next start)."""
        await asyncio.to_thread(self._pg_ctl, "stop", "-m", mode)

    async def restart(self, mode: str = "fast") -> None:
        await self.stop(mode)
        await self.start()

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            self._remove()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self._remove)

    def _start(self) -> None:
        if not self._initialised:
            shutil.chown(self.base, "postgres", "postgres")
            _as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                          "--no-sync"])
            self._initialised = True
        options = (f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c max_connections=200")  # four services' pools, their replicas, the test's engines
        self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.log), "-o", options)

    def _pg_ctl(self, *args: str) -> None:
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), *args])

    def _remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(self.base, ignore_errors=True)


def _as_postgres(args: list[str]) -> None:
    result = subprocess.run(["runuser", "-u", "postgres", "--", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")


class _Started:
    """`async with` starts it and always closes it, also when starting fails half-way."""

    async def start(self) -> None:
        raise NotImplementedError

    async def _close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            await self._close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._close()


class PrivateRabbit(_Started):
    """One RabbitMQ node of its own: node `<name>@localhost`, AMQP on `.port` (127.0.0.1), distribution on
    `.dist_port`, data and logs under `.base`, guest/guest allowed from loopback. `async with` starts it
    and always stops it and removes its directory. Nodes meant to cluster share `cookie`."""

    def __init__(self, name: str | None = None, cookie: str | None = None, base: Path | None = None) -> None:
        self.name = name or f"oia-{uuid.uuid4().hex[:8]}"
        self.node = f"{self.name}@localhost"
        self.port, self.dist_port = private_port(), private_port()
        self.base = base or Path(tempfile.mkdtemp(prefix=f"oia-{self.name}-"))
        self._owns_base = base is None
        self.process: subprocess.Popen[bytes] | None = None
        self._prepare(cookie or uuid.uuid4().hex)

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _prepare(self, cookie: str) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        home = self.base / "home"
        home.mkdir(exist_ok=True)
        cookie_file = home / ".erlang.cookie"
        cookie_file.write_text(cookie)
        cookie_file.chmod(0o400)
        # Not a listeners.tcp line: with RABBITMQ_NODE_PORT as well the node would bind twice.
        (self.base / "rabbitmq.conf").write_text("loopback_users = none\n")
        (self.base / "enabled_plugins").write_text("[].\n")
        (self.base / "rabbitmq-env.conf").write_text("")  # not the machine's /etc/rabbitmq one
        self.env = {
            **os.environ,
            "HOME": str(home),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(self.base / "rabbitmq-env.conf"),
            "RABBITMQ_PID_FILE": str(self.base / "rabbitmq.pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            # Inter-node traffic on loopback only, as the machine's broker does.
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def boot(self) -> None:
        """Start the node's process; `start()` also waits until it takes AMQP connections."""
        assert not self.running, f"{self.node} is already running"
        out = open(self.base / "server.out", "ab")
        # `exec erl` all the way down: this process is the beam itself, so kill() is a real crash.
        self.process = subprocess.Popen([str(RABBIT_BIN / "rabbitmq-server")], env=self.env, stdout=out,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)
        out.close()

    async def wait_ready(self, timeout: float = BOOT_SECONDS) -> None:
        """Until the node takes an AMQP connection. Polled with AMQP, not rabbitmqctl: a CLI call
        while the node boots was measured to make it fail (eaddrinuse on its AMQP port)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            if not self.running:
                raise RuntimeError(f"{self.node} exited while starting:\n{self.output()}")
            try:
                if not await _listening(self.port):
                    raise ConnectionRefusedError(self.port)  # not yet: spare aio-pika's log a line
                connection = await aio_pika.connect(self.amqp_url, timeout=2)
            except Exception:  # aio-pika raises several types while the node is not listening yet
                if asyncio.get_running_loop().time() > deadline:
                    raise RuntimeError(f"{self.node} not ready after {timeout}s:\n{self.output()}") from None
                await asyncio.sleep(0.5)
                continue
            await connection.close()
            return

    async def start(self, timeout: float = BOOT_SECONDS) -> None:
        self.boot()
        await self.wait_ready(timeout)

    async def stop(self) -> None:
        """A graceful stop (`rabbitmqctl stop`): the node hands its queue leaderships over and exits."""
        if not self.running:
            return
        await self.ctl("stop")
        await self._reap(60)

    async def kill(self) -> None:
        """SIGKILL the node's Erlang VM: a crash, nothing handed over."""
        if self.process is not None and self.running:
            os.killpg(self.process.pid, signal.SIGKILL)
        await self._reap(30)

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def ctl(self, *args: str, tool: str = "rabbitmqctl", timeout: float = 120) -> str:
        """Run a RabbitMQ CLI tool against this node (only once it is up); its stdout."""
        process = await asyncio.create_subprocess_exec(
            str(RABBIT_BIN / tool), "-n", self.node, *args, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(process.communicate(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
        if process.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} on {self.node} failed ({process.returncode}):\n"
                               f"{out.decode()}\n{err.decode()}")
        return out.decode()

    def output(self) -> str:
        """The tail of the node's console output and log, for a failure's message."""
        parts = [self.base / "server.out", self.base / "log" / f"{self.node}.log"]
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in parts if p.exists())

    async def _reap(self, timeout: float) -> None:
        if self.process is None:
            return
        process = self.process
        try:
            await asyncio.to_thread(process.wait, timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            await asyncio.to_thread(process.wait, 10)
        # The VM's helpers (erl_child_setup, inet_gethost) share its process group; none outlives it.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # the group is gone already

    async def _close(self) -> None:
        try:
            if self.running:
                await self.kill()  # its data goes too: no need to stop it gracefully
        finally:
            if self._owns_base:
                shutil.rmtree(self.base, ignore_errors=True)


class RabbitCluster(_Started):
    """`size` PrivateRabbit nodes (one Erlang cookie) clustered with the first: each stopped its app,
    joined the first node and started again, so at the end every node knows all of them. A quorum
    queue declared then gets a replica on every node (its default initial group size is the cluster's
    size). `async with` starts the cluster and always removes every node."""

    def __init__(self, size: int = 3) -> None:
        cookie = uuid.uuid4().hex
        self.base = Path(tempfile.mkdtemp(prefix="oia-rabbit-cluster-"))
        prefix = f"oia-{uuid.uuid4().hex[:6]}"
        self.members = [PrivateRabbit(f"{prefix}-{n}", cookie, self.base / str(n)) for n in range(1, size + 1)]
        self.by_node = {rabbit.node: rabbit for rabbit in self.members}

    @property
    def nodes(self) -> list[str]:
        return [rabbit.node for rabbit in self.members]

    @property
    def urls(self) -> list[str]:
        return [rabbit.amqp_url for rabbit in self.members]

    @property
    def ports(self) -> list[int]:
        return [rabbit.port for rabbit in self.members]

    def front(self) -> TcpProxy:
        """A TCP front for the cluster (what a Kubernetes Service is to it): each new connection goes to
        the first node that accepts. Use it `with cluster.front() as front:`, AMQP at `front.port`."""
        (first, *others) = [("127.0.0.1", port) for port in self.ports]
        return TcpProxy(*first, *others)

    def running(self) -> list[PrivateRabbit]:
        return [rabbit for rabbit in self.members if rabbit.running]

    async def start(self) -> None:
        for rabbit in self.members:
            rabbit.boot()  # all at once: booting is most of the time
        await asyncio.gather(*(rabbit.wait_ready() for rabbit in self.members))
        first, *others = self.members
        for rabbit in others:
            await rabbit.ctl("stop_app")
            await rabbit.ctl("join_cluster", first.node)
            await rabbit.ctl("start_app")
        await self.wait_formed()

    async def wait_formed(self, timeout: float = BOOT_SECONDS) -> None:
        """Until the first running node sees every node of the cluster running."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            status = json.loads(await self.running()[0].ctl("cluster_status", "--formatter", "json"))
            if sorted(status["running_nodes"]) == sorted(self.nodes):
                return
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"cluster not formed after {timeout}s: {status}")
            await asyncio.sleep(1)

    async def queues(self, vhost: str = "/") -> list[dict[str, object]]:
        """Every queue as a running node lists it: `name`, `type`, `leader` and `members` (quorum queues)."""
        return list(json.loads(await self.running()[0].ctl(
            "list_queues", "-p", vhost, "name", "type", "leader", "members", "--formatter", "json")))

    async def leader_of(self, queue: str, vhost: str = "/", timeout: float = 30) -> str:
        """The running node leading quorum queue `queue`. Polled: just after a node went, the queue may
        be missing from the listing or still name the lost node until its replicas elect another."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            listed = await self.queues(vhost)
            leaders = [str(row["leader"]) for row in listed if row["name"] == queue]
            if leaders and leaders[0] in {rabbit.node for rabbit in self.running()}:
                return leaders[0]
            if asyncio.get_running_loop().time() > deadline:
                raise LookupError(f"no running node leads {queue!r} after {timeout}s: {listed}")
            await asyncio.sleep(0.5)

    async def members_of(self, queue: str, vhost: str = "/") -> list[str]:
        """The nodes holding a replica of quorum queue `queue`."""
        listed = await self.queues(vhost)
        for row in listed:
            if row["name"] == queue:
                members = row["members"]
                assert isinstance(members, list), row
                return sorted(str(m) for m in members)
        raise LookupError(f"no queue {queue!r} in {[row['name'] for row in listed]}")

    async def move_leader(self, queue: str, away_from: str, vhost: str = "/") -> str:
        """Have another node lead quorum queue `queue`: its replica on `away_from` is removed (the
        others elect a leader among themselves) and added back as a follower. Answers the new leader."""
        ctl = self.running()[0].ctl
        await ctl("delete_member", "--vhost", vhost, queue, away_from, tool="rabbitmq-queues")
        leader = await self.leader_of(queue, vhost)
        await ctl("add_member", "--vhost", vhost, queue, away_from, tool="rabbitmq-queues")
        assert leader != away_from, (queue, leader)
        return leader

    async def stop_node(self, node: str) -> None:
        """Stop `node` gracefully (`rabbitmqctl stop`); the others go on without it."""
        await self.by_node[node].stop()

    async def kill_node(self, node: str) -> None:
        """SIGKILL `node`'s VM: lost without a word to the others."""
        await self.by_node[node].kill()

    async def start_node(self, node: str) -> None:
        """Start `node` again; it rejoins the cluster it was part of (its membership is on its disk)."""
        await self.by_node[node].start()
        await self.wait_formed()

    async def _close(self) -> None:
        try:
            await asyncio.gather(*(rabbit._close() for rabbit in self.members))
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
