"""A TCP stand-in in front of a real server (PostgreSQL, RabbitMQ) that a test can cut and restore.

Cutting it is an outage for whoever connects through it, and for nobody else: the server itself keeps
running for the other tests. `cut()` stops listening (new connections are refused) and aborts every
open connection; `restore()` listens again on the same port.

    with TcpProxy("127.0.0.1", 5432) as proxy:
        url = f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/db"
        proxy.cut(); ...; proxy.restore()

It runs its own event loop in a thread, so a test's loop (or a blocking test) can cut it at any time.

With several backends it stands in for the Service (a load balancer) in front of a RabbitMQ cluster: each
new client is connected to the first backend that accepts, so a client that lost its node reconnects,
through the same address, to a surviving one.

    with TcpProxy("127.0.0.1", cluster.ports[0], *[("127.0.0.1", p) for p in cluster.ports[1:]]) as front:
        amqp_url = f"amqp://guest:guest@127.0.0.1:{front.port}/"
"""

from __future__ import annotations

import asyncio
import threading
from typing import Self

from tests.support.processes import free_port


class TcpProxy:
    def __init__(self, host: str, port: int, *more: tuple[str, int]) -> None:
        """Front `host:port`, then each of `more` in turn for whoever the ones before refuse."""
        self.targets = [(host, port), *more]
        self.port = free_port()
        # Which backend each client was connected to, in order: a test can see the failover happen.
        self.connected_to: list[tuple[str, int]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"proxy:{port}", daemon=True)
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    def __enter__(self) -> Self:
        self._thread.start()
        self.restore()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def cut(self) -> None:
        self._call(self._cut())

    def restore(self) -> None:
        self._call(self._listen())

    def _call(self, coroutine: object) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)  # type: ignore[arg-type]

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._open):
            writer.transport.abort()  # a reset, as when a server or the network goes away
        self._open.clear()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        for target in self.targets:
            try:
                server_reader, server_writer = await asyncio.open_connection(*target)
            except OSError:
                continue  # down: the next one
            self.connected_to.append(target)
            break
        else:
            client_writer.transport.abort()  # none up: the client sees a reset, as with one backend
            return
        pair = {client_writer, server_writer}
        self._open |= pair
        try:
            await asyncio.gather(_pipe(client_reader, server_writer), _pipe(server_reader, client_writer))
        finally:
            for writer in pair:
                writer.transport.abort()
            self._open -= pair


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass  # the other side went (or the proxy was cut): the finally in _serve closes both
    finally:
        writer.transport.abort()
