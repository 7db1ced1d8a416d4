"""ASGI middleware: the request body limit, request metrics, and demo mode's loopback guard."""

from __future__ import annotations

import json
import time

from api.deps import role_of
from promessa.config import is_loopback


class BodyLimit:
    """Refuse request bodies larger than `max_bytes` with a 422 in the one error shape."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for k, v in scope.get("headers", ()):
            if k == b"content-length":
                try:
                    n = int(v)
                except ValueError:
                    n = 0
                if n > self.max_bytes:
                    return await _too_large(send, n, self.max_bytes)
        seen = 0
        started = False

        async def guarded_receive():
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge(seen)
            return msg

        async def tracking_send(msg):
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, guarded_receive, tracking_send)
        except _TooLarge as exc:
            if started:
                raise
            await _too_large(send, exc.size, self.max_bytes)


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


async def _json(send, status: int, content: dict, *, close: bool = False) -> None:
    body = json.dumps(content).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _too_large(send, size: int, limit: int) -> None:
    await _json(send, 422, {"detail": [{"type": "too_large", "loc": ["body"], "msg": f"request body larger than {limit} bytes",
                                        "input": size}]}, close=True)


class LoopbackOnly:
    """Demo mode: refuse (403) every request whose client address is not a loopback address."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            host = client[0] if client else ""
            if not is_loopback(host):
                if scope["type"] == "http":
                    return await _json(send, 403, {"detail": "demo mode serves loopback clients only",
                                                   "hint": "run with API keys (not --demo) to serve other addresses"})
                return None
        return await self.app(scope, receive, send)


class KeyGate:
    """401 before anything else (body parsing included) for a request to a non-public path without a
    known key; the route's ``require`` then checks the role (403). In demo mode a request without a
    key passes (it acts as the demo admin); an unknown key is still refused."""

    def __init__(self, app, settings, public: frozenset[str]) -> None:
        self.app = app
        self.settings = settings
        self.public = public

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("path") in self.public:
            return await self.app(scope, receive, send)
        key = None
        for k, v in scope.get("headers", ()):
            if k == b"x-api-key":
                key = v.decode("latin-1")
                break
            if k == b"authorization" and key is None:
                scheme, _, cred = v.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer":
                    key = cred.strip()
        if not key and self.settings.api.demo:
            return await self.app(scope, receive, send)
        if not key or role_of(self.settings, key) is None:
            msg = "unknown API key" if key else "an API key is required (X-API-Key header or Authorization: Bearer)"
            body = json.dumps({"detail": msg}).encode()
            await send({"type": "http.response.start", "status": 401,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                    (b"www-authenticate", b'Bearer realm="promessa"')]})
            await send({"type": "http.response.body", "body": body})
            return None
        return await self.app(scope, receive, send)


class RequestMetrics:
    """Count requests by route, method and status, and time them (Prometheus histograms)."""

    def __init__(self, app, metrics) -> None:
        self.app = app
        self.metrics = metrics
        self._paths: dict[int, str] | None = None  # route object -> its full path template (/v1/...)

    def _label(self, scope) -> str:
        route = scope.get("route")
        if route is None:
            return "unmatched"
        if self._paths is None and scope.get("app") is not None:
            from fastapi.routing import iter_route_contexts

            self._paths = {id(c.original_route): c.path for c in iter_route_contexts(scope["app"].routes)}
        return (self._paths or {}).get(id(route), getattr(route, "path", "unmatched"))

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        status = 500

        async def send_(msg):
            nonlocal status
            if msg["type"] == "http.response.start":
                status = msg["status"]
            await send(msg)

        try:
            await self.app(scope, receive, send_)
        finally:
            labels = {"route": self._label(scope), "method": scope.get("method", "")}
            self.metrics.observe("promessa_http_request_seconds", time.perf_counter() - t0, labels=labels)
            self.metrics.inc("promessa_http_requests_total", labels={**labels, "status": str(status)})
