"""A beta consumer in its own process that dies right after its transaction commits, before the ack.

Usage: python -m tests.support.crash_consumer DATABASE_URL AMQP_URL EXCHANGE QUEUE_PREFIX
Exit code 17 means: handled, committed, killed at the ack.
"""

import asyncio
import os
import sys

from aio_pika.message import IncomingMessage

from shared.bus.amqp import AmqpBus
from shared.bus.base import RetryPolicy
from shared.runtime import ServiceRuntime
from tests.support.probe import beta_spec, probe_settings

KILLED_AT_ACK = 17


async def _die(self, multiple: bool = False) -> None:
    sys.stdout.flush()
    os._exit(KILLED_AT_ACK)  # as abrupt as kill -9: no ack, no clean channel close


async def main(database_url: str, amqp_url: str, exchange: str, queue_prefix: str) -> None:
    IncomingMessage.ack = _die  # type: ignore[method-assign]
    bus = AmqpBus(amqp_url, exchange, RetryPolicy(4, (100, 200, 300)), prefetch=1)
    await bus.connect()
    runtime = ServiceRuntime(beta_spec, probe_settings(database_url, exchange=exchange, queue_prefix=queue_prefix),
                             bus=bus)
    await runtime.start_consuming()
    print("consuming", flush=True)
    await asyncio.sleep(60)
    sys.exit("no message arrived within 60 s")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
