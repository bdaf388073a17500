"""Event pipeline benchmark against the raw broker limit and FastStream, in one run.

pipeline:   producer commits events to its outbox (PostgreSQL) → relay publishes with confirms →
            RabbitMQ → consumer process → inbox + effect committed (PostgreSQL) → ack
raw:        aio-pika publish with confirms → RabbitMQ → consumer process → ack (same queue type,
            same prefetch, one ack frame per batch as our consumer sends)
FastStream: the same publishing → FastStream's consumer, ack after its handler, no database

Producer and consumer are separate processes, as two services would be. Prints events/s for
each, the ratios, and the commit → handler-commit latency (p50/p99) paced at half the pipeline's
rate. Exactly once is counted per id (effect rows for the pipeline, arrivals for the others), so
a duplicate shows.

    python bench/bus.py [--events 20000] [--latency-events 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aio_pika  # noqa: E402
from sqlalchemy import text  # noqa: E402

from shared.bus.amqp import AmqpBus, _to_message  # noqa: E402
from shared.bus.base import Batcher, RetryPolicy  # noqa: E402
from shared.envelope import Envelope  # noqa: E402
from shared.logging import configure_logging  # noqa: E402
from shared.runtime import ServiceRuntime  # noqa: E402
from shared.settings import ServiceSettings  # noqa: E402
from shared.testing import AMQP_URL, asyncpg_url, create_database, drop_database, unique_name  # noqa: E402
from tests.support import probe  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from report import Row, Target, percentile, write_rows  # noqa: E402

POLICY = RetryPolicy(max_attempts=5, delays_ms=(200, 1000))
# Our consumer's settings, so the raw and FastStream consumers get the same: the prefetch a
# service runs with, and the batch whose messages one ack frame settles.
PREFETCH = ServiceSettings.model_fields["prefetch"].default
MAX_BATCH = inspect.signature(Batcher.__init__).parameters["max_batch"].default


# -- consumer processes --------------------------------------------------------------------------

async def pipeline_consumer(database_url: str, exchange: str, prefix: str, expected: int, out: str) -> None:
    settings = probe.probe_settings(database_url, exchange=exchange, queue_prefix=prefix)
    bus = AmqpBus(AMQP_URL, exchange, POLICY, prefetch=settings.prefetch)
    await bus.connect()
    runtime = ServiceRuntime(probe.beta_spec, settings, bus=bus)
    done: dict[str, float] = {}
    finished = asyncio.Event()

    async def handle(envelopes) -> None:
        await runtime.dispatcher(envelopes)
        now = time.time()  # after the handlers' transaction committed
        done.update((e.id, now) for e in envelopes)
        if len(done) >= expected:
            finished.set()

    await bus.subscribe(runtime.queue, runtime.spec.subscriptions.binding_keys, handle)
    print("ready", flush=True)
    await finished.wait()
    await asyncio.sleep(0.2)  # let the last acks go out
    Path(out).write_text(json.dumps(done))
    await bus.close()
    await runtime.engine.dispose()


async def raw_consumer(queue_name: str, expected: int, out: str) -> None:
    """The broker's limit for our consumer's shape: the same prefetch, and the same acks, one frame
    for whatever arrived together (up to the batcher's batch), with no work between."""
    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=PREFETCH)
    queue = await channel.declare_queue(queue_name, durable=True, arguments={"x-queue-type": "quorum"})
    arrivals: list[tuple[str, float]] = []
    waiting: asyncio.Queue[aio_pika.abc.AbstractIncomingMessage] = asyncio.Queue()
    seen: set[str] = set()

    async def settle() -> None:
        while len(seen) < expected:
            batch = [await waiting.get()]
            while len(batch) < MAX_BATCH and not waiting.empty():
                batch.append(waiting.get_nowait())
            await max(batch, key=lambda m: m.delivery_tag or 0).ack(multiple=True)
            now = time.time()
            for message in batch:
                arrivals.append((message.message_id or "", now))
                seen.add(message.message_id or "")

    await queue.consume(waiting.put)
    print("ready", flush=True)
    await settle()
    await asyncio.sleep(0.5)  # a duplicate still on its way shows as a second arrival
    while not waiting.empty():
        arrivals.append((waiting.get_nowait().message_id or "", time.time()))
    Path(out).write_text(json.dumps(arrivals))
    await connection.close()


async def faststream_consumer(queue_name: str, expected: int, out: str) -> None:
    """FastStream's consumer (ack after the handler, no database) on the same queue, prefetch alike."""
    from faststream.middlewares import AckPolicy
    from faststream.rabbit import Channel, QueueType, RabbitBroker, RabbitMessage, RabbitQueue

    broker = RabbitBroker(AMQP_URL, logger=None)
    arrivals: list[tuple[str, float]] = []
    seen: set[str] = set()
    finished = asyncio.Event()

    @broker.subscriber(RabbitQueue(queue_name, queue_type=QueueType.QUORUM, durable=True),
                       channel=Channel(prefetch_count=PREFETCH), ack_policy=AckPolicy.ACK)
    async def handle(body: bytes, message: RabbitMessage) -> None:
        arrivals.append((message.message_id, time.time()))
        seen.add(message.message_id)
        if len(seen) >= expected:
            finished.set()

    await broker.start()
    print("ready", flush=True)
    await finished.wait()
    await asyncio.sleep(0.5)  # a duplicate still on its way shows as a second arrival
    Path(out).write_text(json.dumps(arrivals))
    await broker.stop()


def spawn(*args: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, __file__, *args], cwd=ROOT, stdout=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "OIA_LOG_LEVEL": "WARNING"})
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != b"ready":
        raise SystemExit(f"consumer {args[0]} did not start")
    return proc


def collect(proc: subprocess.Popen, out: Path, timeout: float = 600):
    proc.wait(timeout=timeout)
    if proc.returncode != 0:
        raise SystemExit(f"consumer failed with exit code {proc.returncode}")
    return json.loads(out.read_text())


@dataclass
class Delivery:
    """What one run delivered: events/s, commit (or publish) → handled latencies, and the exactly-once
    check, counted per id: ids that never arrived, and arrivals beyond the first."""

    rate: float
    latencies: list[float]
    lost: int
    duplicated: int
    produced: float = 0.0  # the producers' achieved rate, for a paced run


# -- the runs ------------------------------------------------------------------------------------

async def run_raw(n: int, tmp: Path, *, consumer: str = "--raw-consumer", rate: float | None = None,
                  per_publish: int = 500) -> Delivery:
    """The broker's own limit, to the raw aio-pika consumer or FastStream's: as fast as it goes
    (rate=None), or paced to measure its latency (publish → consumer ack, `per_publish` messages at
    a time)."""
    queue_name = unique_name("bench.raw")
    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel(publisher_confirms=True)
    await channel.declare_queue(queue_name, durable=True, arguments={"x-queue-type": "quorum"})
    out = tmp / "raw.json"
    proc = spawn(consumer, queue_name, str(n), str(out))
    # The very messages the pipeline sends (a structured CloudEvent), built beforehand.
    data = probe.thing("raw").model_dump(mode="json")
    messages = [_to_message(Envelope(type=probe.EVENT, source="/alpha", data=data)) for _ in range(n)]
    sent: dict[str, float] = {}
    started = time.time()
    for offset in range(0, n, per_publish):
        if rate is not None:
            delay = started + offset / rate - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
        batch = messages[offset:offset + per_publish]
        now = time.time()
        sent.update((m.message_id or "", now) for m in batch)
        await asyncio.gather(*(channel.default_exchange.publish(m, routing_key=queue_name) for m in batch))
    arrivals = await asyncio.to_thread(collect, proc, out)
    await channel.queue_delete(queue_name)
    await connection.close()
    first: dict[str, float] = {}
    for message_id, at in arrivals:
        first.setdefault(message_id, at)
    return Delivery(n / (max(first.values()) - started), [(first[i] - sent[i]) * 1000 for i in sent if i in first],
                    lost=len(set(sent) - set(first)), duplicated=len(arrivals) - len(first))


async def run_pipeline(n: int, tmp: Path, *, rate: float | None = None, per_commit: int = 1) -> Delivery:
    """Throughput (rate=None: as fast as producers commit) or latency (paced at `rate` events/s,
    `per_commit` events per transaction). Exactly once is counted on the effects: beta's handler
    writes one row per handling (no unique constraint; only the inbox stops a duplicate)."""
    databases = [await create_database("oia_bench_alpha"), await create_database("oia_bench_beta")]
    exchange, prefix = unique_name("bench.events"), unique_name("bench") + "."
    out = tmp / "pipeline.json"
    try:
        alpha_bus = AmqpBus(AMQP_URL, exchange, POLICY)
        await alpha_bus.connect()
        alpha = ServiceRuntime(probe.alpha_spec, probe.probe_settings(
            asyncpg_url(databases[0]), exchange=exchange, queue_prefix=prefix), bus=alpha_bus)
        beta = ServiceRuntime(probe.beta_spec, probe.probe_settings(
            asyncpg_url(databases[1]), exchange=exchange, queue_prefix=prefix), bus=alpha_bus)
        await probe.create_schema(alpha)
        await probe.create_schema(beta)
        await alpha_bus.declare(prefix + "beta", probe.beta_spec.subscriptions.binding_keys)
        consumer = spawn("--pipeline-consumer", asyncpg_url(databases[1]), exchange, prefix, str(n), str(out))
        alpha.start_relay()
        committed: dict[str, float] = {}
        started = time.time()
        if rate is None:
            # Ten writers, 50 events per transaction: a busy set of API workers.
            per_writer = n // 10

            async def writer(w: int) -> None:
                for offset in range(0, per_writer, 50):
                    names = [f"w{w}-{i}" for i in range(offset, min(per_writer, offset + 50))]
                    for e in await probe.publish_things(alpha, names):
                        committed[e.id] = time.time()

            await asyncio.gather(*(writer(w) for w in range(10)))
        else:
            # Transactions of `per_commit` events on a fixed schedule, from a fixed pool of writers
            # (a writer that falls behind does not pile up more concurrent work).
            slots = iter(range(0, n, per_commit))

            async def paced_writer() -> None:
                for first in slots:
                    delay = started + first / rate - time.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    names = [f"p{i}" for i in range(first, min(n, first + per_commit))]
                    for e in await probe.publish_things(alpha, names):
                        committed[e.id] = time.time()

            await asyncio.gather(*(paced_writer() for _ in range(8)))
        done = await asyncio.to_thread(collect, consumer, out)
        await alpha.stop()
        await alpha_bus.close()
        async with beta.engine.connect() as conn:
            counted = await conn.execute(text("SELECT event_id, count(*) FROM effect GROUP BY event_id"))
            handled: dict[str, int] = {event_id: count for event_id, count in counted}
        await beta.engine.dispose()
        latencies = [(done[i] - committed[i]) * 1000 for i in committed if i in done]
        produced = n / max(max(committed.values()) - started, 1e-9)
        return Delivery(n / (max(done.values()) - started), latencies, lost=len(set(committed) - set(handled)),
                        duplicated=sum(count - 1 for count in handled.values()) + len(set(handled) - set(committed)),
                        produced=produced)
    finally:
        for name in databases:
            await drop_database(name)
        await _cleanup(exchange, prefix)


async def _cleanup(exchange: str, prefix: str) -> None:
    from tests.conftest import delete_amqp_objects

    await delete_amqp_objects(exchange, prefix)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--latency-events", type=int, default=5_000)
    args = parser.parse_args()
    configure_logging("WARNING")  # the producer's relay would log every event
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / unique_name("oia-bench")
    tmp.mkdir(parents=True)

    # Alternating, so neither side always runs on a cooler or a warmer machine.
    raw = await run_raw(args.events, tmp)
    pipeline = await run_pipeline(args.events, tmp)
    faststream = await run_raw(args.events, tmp, consumer="--faststream-consumer")
    print(f"bus: raw aio-pika publish-confirm/consume-ack   {raw.rate:8.0f} msg/s  ({args.events} messages; "
          f"prefetch {PREFETCH}, one ack frame per batch of up to {MAX_BATCH}, as our consumer)")
    print(f"bus: FastStream {faststream_version()} consume with ack, no database {faststream.rate:8.0f} msg/s")
    print(f"bus: outbox → RabbitMQ → consumer → inbox (PG)  {pipeline.rate:8.0f} events/s ({args.events} events, "
          f"10 writers × 50 events per transaction)")
    print(f"bus: ratio pipeline/raw {pipeline.rate / raw.rate:.2f} (target ≥ 0.50); pipeline/FastStream "
          f"{pipeline.rate / faststream.rate:.2f} (target ≥ 1)")
    # Latency at half the pipeline's highest rate, in transactions of 10 events (one producer process
    # cannot also commit hundreds of single-event transactions a second beside the relay on 2 cores).
    rate, per_commit = pipeline.rate / 2, 10
    raw_paced = await run_raw(args.latency_events, tmp, rate=rate, per_publish=per_commit)
    paced = await run_pipeline(args.latency_events, tmp, rate=rate, per_commit=per_commit)
    print(f"bus: commit → handler commit at {paced.produced:5.0f} events/s ({per_commit:2d} per commit, half the "
          f"pipeline's rate): p50 {statistics.median(paced.latencies):5.1f} ms, "
          f"p99 {percentile(paced.latencies, 99):5.1f} ms, max {max(paced.latencies):6.1f} ms  (target p99 ≤ 20 ms; "
          f"{args.latency_events} events)")
    print(f"bus:   raw publish → consumer ack, same pacing:        "
          f"p50 {statistics.median(raw_paced.latencies):5.1f} ms, p99 {percentile(raw_paced.latencies, 99):5.1f} ms, "
          f"max {max(raw_paced.latencies):6.1f} ms")
    runs = {"raw": raw, "pipeline": pipeline, "FastStream": faststream, "raw paced": raw_paced, "pipeline paced": paced}
    for name, run in runs.items():
        print(f"bus: {name}: {run.lost} lost, {run.duplicated} duplicated (counted per id)")
    rows = [
        Row("bus", "pipeline events/s vs raw aio-pika", "ev/s", pipeline.rate, raw.rate,
            "raw, same prefetch and acks", Target("ratio", ">=", 0.5)),
        Row("bus", "pipeline events/s vs FastStream (no database)", "ev/s", pipeline.rate, faststream.rate,
            f"FastStream {faststream_version()}", Target("ratio", ">=", 1)),
        Row("bus", "commit → handler commit p99, half rate", "ms",
            percentile(paced.latencies, 99), percentile(raw_paced.latencies, 99), "raw publish → ack",
            Target("ours", "<=", 20)),
        Row("bus", "commit → handler commit p50, half rate", "ms",
            statistics.median(paced.latencies), statistics.median(raw_paced.latencies), "raw publish → ack"),
        Row("bus", "pipeline events lost or duplicated", "events", float(pipeline.lost + pipeline.duplicated +
            paced.lost + paced.duplicated), target=Target("ours", "<=", 0)),
    ]
    write_rows("bus", rows)


def faststream_version() -> str:
    from importlib.metadata import version

    return version("faststream")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--pipeline-consumer":
        url, exchange, prefix, expected, out = sys.argv[2:7]
        asyncio.run(pipeline_consumer(url, exchange, prefix, int(expected), out))
    elif len(sys.argv) > 1 and sys.argv[1] in ("--raw-consumer", "--faststream-consumer"):
        queue, expected, out = sys.argv[2:5]
        consume = raw_consumer if sys.argv[1] == "--raw-consumer" else faststream_consumer
        asyncio.run(consume(queue, int(expected), out))
    else:
        asyncio.run(main())
