"""The naive peer for bench/alerts.py: a FastStream consumer that turns each overlap event into
the same Slack message our notifications service sends (the same Jinja template, rendered by
services/notifications/rendering.py) and posts it to the stand-in. No database, no dedupe, no
outbox, no retries: the least an alert can cost.

    AMQP_URL=… EXCHANGE=… QUEUE=… SLACK_URL=… python bench/peers/naive_alerts.py
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import httpx
from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange, RabbitMessage, RabbitQueue

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from services.notifications.rendering import render  # noqa: E402

EVENT = "travel.overlap.detected.v1"


async def main() -> None:
    broker = RabbitBroker(os.environ["AMQP_URL"], logger=None)
    slack = httpx.AsyncClient(timeout=10)
    # The queue goes with the consumer: nothing of the peer outlives the bench.
    queue = RabbitQueue(os.environ["QUEUE"], auto_delete=True, routing_key=EVENT)
    exchange = RabbitExchange(os.environ["EXCHANGE"], type=ExchangeType.TOPIC, durable=True)

    @broker.subscriber(queue, exchange)
    async def alert(body: bytes, message: RabbitMessage) -> None:
        event = json.loads(message.body)  # the structured CloudEvent our relay publishes
        posted = await slack.post(os.environ["SLACK_URL"], json=render(EVENT, event["data"], "en").slack)
        posted.raise_for_status()

    await broker.start()
    print("ready", flush=True)
    try:
        await asyncio.Event().wait()  # until the bench stops this process
    finally:
        await broker.stop()
        await slack.aclose()


if __name__ == "__main__":
    asyncio.run(main())
