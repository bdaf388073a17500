"""The Slack stand-in for bench/alerts.py, in a process of its own (so it does not share an event
loop with the load generator): accepts every post as Slack does ("ok"), notes when each booking's
alert ("Bench <n>" in the message) first arrived, and tells the bench.

    PORT=… python bench/peers/slack_standin.py
    GET /arrived?first=<n>&count=<c>  →  {"<n>": <arrival, seconds since the epoch>, …}
"""

from __future__ import annotations

import os
import re
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

TITLE = re.compile(rb"Bench (\d+)")
arrived: dict[int, float] = {}


async def hook(request: Request) -> PlainTextResponse:
    now = time.time()
    for match in TITLE.finditer(await request.body()):
        arrived.setdefault(int(match.group(1)), now)
    return PlainTextResponse("ok")


async def report(request: Request) -> JSONResponse:
    first, count = int(request.query_params["first"]), int(request.query_params["count"])
    return JSONResponse({n: arrived[n] for n in range(first, first + count) if n in arrived})


async def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


app = Starlette(routes=[Route("/health", health), Route("/arrived", report),
                        Route("/{path:path}", hook, methods=["POST"])])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), log_level="warning", lifespan="off",
                access_log=False)
