"""Helpers for tests, demos and benchmarks: a hand-driven clock and a bounded loopback webhook receiver."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
from typing import Any

from .outbox import MESSAGE_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature

T0 = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)


class ManualClock:
    """A clock that moves only when told (``advance``)."""

    def __init__(self, start: dt.datetime = T0) -> None:
        self.t = start

    def now(self) -> dt.datetime:
        return self.t

    def advance(self, **delta: float) -> dt.datetime:
        """Move forward by ``timedelta(**delta)``; returns the new time."""
        self.t += dt.timedelta(**delta)
        return self.t


class WebhookReceiver:
    """A loopback HTTP server that records signed webhook POSTs (verifying each signature) until ``stop()``.

    ``fail_first`` answers 503 to that many requests first (to exercise retries); at most ``max_requests``
    are accepted (then 429), bodies above ``max_body`` bytes are refused (413). ``received`` holds the parsed
    envelopes of the accepted ones, in arrival order; ``bad_signatures`` counts refused signatures (401)."""

    def __init__(self, *, secret: bytes, fail_first: int = 0, max_requests: int = 10_000, max_body: int = 1_000_000) -> None:
        self.secret, self.fail_left, self.max_requests, self.max_body = secret, fail_first, max_requests, max_body
        self.received: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self.requests = 0
        self._lock = threading.Lock()
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                n = int(self.headers.get("Content-Length") or 0)
                if n > rec.max_body:
                    self.send_response(413)
                    self.end_headers()
                    return
                body = self.rfile.read(n)
                code = rec._accept(body, self.headers)
                self.send_response(code)
                self.end_headers()

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def _accept(self, body: bytes, headers: Any) -> int:
        with self._lock:
            self.requests += 1
            if self.requests > self.max_requests:
                return 429
            if self.fail_left > 0:
                self.fail_left -= 1
                return 503
            try:
                verify_signature(self.secret, headers.get(TIMESTAMP_HEADER, ""), body, headers.get(SIGNATURE_HEADER, ""),
                                 now=dt.datetime.now(dt.UTC), tolerance_s=10 ** 9)
            except Exception:  # noqa: BLE001 - any refusal is a bad signature here
                self.bad_signatures += 1
                return 401
            env = json.loads(body)
            if env.get("message_id") != headers.get(MESSAGE_ID_HEADER):
                return 400
            self.received.append(env)
            return 204

    def stop(self) -> None:
        """Shut the server down and join its thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> WebhookReceiver:
        return self

    def __exit__(self, *a: Any) -> None:
        self.stop()
