"""The HTTP ceiling of the server benchmark: a bare FastAPI app served by uvicorn like ``promessa serve``.

One POST endpoint, ``/v1/availability``, that checks the API key, parses a body shaped like the
inquiry (pydantic model, one or more lines) and answers a JSON shaped like the inquiry's answer
(status, promised quantity, one schedule line per request line), with no promising and no
order book behind it. ``/v1/livez`` answers like the real one so the benchmark waits for it the
same way. Served the same way as ``promessa serve`` (api/cli.py): a socket bound first, then
``uvicorn.Server(Config(..., log_level, access_log=False, http, loop))``.

Run: ``python -m benchmarks.bare_app PORT KEY``.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import sys
from typing import Annotated

import uvicorn
from fastapi import FastAPI, Header, HTTPException
from fastapi.responses import Response
from pydantic import BaseModel, Field


class Line(BaseModel):
    item: str = Field(min_length=1, max_length=100)
    location: str = Field(min_length=1, max_length=100)
    qty: float = Field(gt=0)
    requested_date: dt.date


class Inquiry(BaseModel):
    lines: list[Line] = Field(min_length=1, max_length=1000)
    explain: bool = False


def create_app(key: str) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/livez")
    def livez() -> dict:
        return {"status": "ok"}

    @app.post("/v1/availability")
    async def inquire(body: Inquiry, x_api_key: Annotated[str | None, Header()] = None) -> Response:
        if x_api_key != key:
            raise HTTPException(401, "unknown API key")
        lines = [{"item": ln.item, "location": ln.location, "qty": ln.qty, "requested_date": ln.requested_date.isoformat(),
                  "status": "full", "promised_qty": ln.qty, "reason": None,
                  "lines": [{"date": ln.requested_date.isoformat(), "qty": ln.qty}]} for ln in body.lines]
        return Response(content=json.dumps({"lines": lines}, separators=(",", ":")), media_type="application/json")

    return app


def main(argv: list[str]) -> int:
    port, key = int(argv[0]), argv[1]
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    config = uvicorn.Config(create_app(key), log_level="warning", access_log=False, http="auto", loop="auto",
                            timeout_graceful_shutdown=5)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
