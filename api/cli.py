"""`promessa serve`: run the HTTP API with uvicorn.

The port is bound first, so a busy port fails at once (before the snapshot is loaded and the
kernels are compiled); demo mode listens on loopback only; once ready, one line says where it
listens, the mode, the snapshot, the store, the time to ready and the compile time.
"""

from __future__ import annotations

import argparse
import re
import socket
import sys

ROLES = "viewer, order_capture, fulfillment, planner or admin"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``serve`` command to the `promessa` parser."""
    p = sub.add_parser("serve", help="run the HTTP API (order capture, promising, fulfillment) with uvicorn",
                       description="Serve /v1 (OpenAPI at /docs). Settings also come from PROMESSA_* environment "
                                   "variables (see api/README.md); flags override them.")
    p.add_argument("--snapshot", metavar="DIR", help="supply snapshot directory (default: generate the small sample)")
    p.add_argument("--db", metavar="PATH_OR_URL", help="order book: SQLite file path or postgresql:// URL")
    p.add_argument("--watch", metavar="DIR", help="refresh the live snapshot without downtime whenever DIR/meta.json "
                                                 "changes (DIR is also the snapshot when --snapshot is not given)")
    p.add_argument("--pg-schema", metavar="NAME", help="PostgreSQL schema for the order-book tables")
    p.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default 8000)")
    p.add_argument("--demo", action="store_true",
                   help="demo mode: loopback only; requests without a key act as the demo admin")
    p.add_argument("--api-key", action="append", default=[], metavar="KEY=ROLE",
                   help=f"add an API key (plain, or sha256:<hex> of it) with role {ROLES} (repeatable)")
    p.add_argument("--snapshot-root", action="append", default=[], metavar="DIR",
                   help="a directory a snapshot refresh may read from (repeatable; the served snapshot's parent always is)")
    p.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument("--access-log", action="store_true", help="log every request (slower)")
    p.add_argument("--http", default="auto", choices=["auto", "h11", "httptools"],
                   help="HTTP parser (auto: httptools when installed)")
    p.add_argument("--loop", default="auto", choices=["auto", "asyncio", "uvloop"],
                   help="event loop (auto: uvloop when installed)")
    p.set_defaults(func=serve)


def settings_from_args(args: argparse.Namespace):
    """The settings `serve` runs with: the environment's, overridden by the flags. Refuses (with the
    flag and the value) an unknown role and demo mode on an address other than loopback."""
    from promessa.config import Role, is_loopback, settings_of
    from promessa.errors import ValidationError

    over: dict = {}
    if args.snapshot:
        over["snapshot"] = args.snapshot
    if args.db:
        over["db"] = args.db
    if getattr(args, "watch", None):
        over["watch"] = args.watch
        over.setdefault("snapshot", args.watch)
    if args.pg_schema:
        over["pg_schema"] = args.pg_schema
    if args.host:
        over["host"] = args.host
    if args.port is not None:
        over["port"] = args.port
    if args.demo:
        host = args.host or settings_of().api.host
        if not is_loopback(host):
            raise ValidationError("demo mode listens on loopback only (127.0.0.1, ::1 or localhost)", field="--host",
                                  value=host, hint="leave out --demo and give API keys (--api-key KEY=ROLE) to serve "
                                                   "other addresses")
        over["demo"] = True
    settings = settings_of(**over)
    if args.api_key or getattr(args, "snapshot_root", None):
        keys = dict(settings.api.keys)
        for spec in args.api_key:
            key, sep, role = spec.rpartition("=")
            try:
                if not sep or not key:
                    raise ValueError(spec)
                keys[key] = Role(role)
            except ValueError:
                raise ValidationError(f"expected KEY=ROLE with role {ROLES}", field="--api-key",
                                      value=_masked(spec)) from None
        roots = [*settings.snapshot.roots, *getattr(args, "snapshot_root", [])]
        settings = settings_of(**over, api_keys=keys, roots=roots)
    return settings


def _masked(spec: str) -> str:
    key, sep, role = spec.rpartition("=")
    return f"{key[:2]}…{sep}{role}" if sep else f"{spec[:2]}…"


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port), bound before anything is loaded; a busy port is refused at once."""
    from promessa.errors import PromessaError

    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise PromessaError(f"cannot listen on {host}:{port}: {exc.strerror}", hint="give an address of this machine") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise PromessaError(f"cannot listen on {host}:{port}: {exc.strerror}",
                            hint="is another server running there? pick another --port") from None
    sock.set_inheritable(True)
    return sock


def redacted(url: str) -> str:
    """A store URL without its password."""
    return re.sub(r"(://[^/:@]+):[^/@]*@", r"\1:***@", url)


def startup_line(engine, sock: socket.socket) -> str:
    """The line `serve` says once ready: URL, mode, snapshot, store, time to ready and compile time."""
    settings = engine.settings
    host, port = sock.getsockname()[:2]
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    snap = engine.snapshot
    if settings.api.demo:
        mode = "DEMO MODE: loopback only; requests without a key act as the demo admin"
    else:
        mode = f"{len(settings.api.keys)} API key(s)" + ("" if settings.api.keys else ": every request will be refused (401)")
    store = getattr(engine.store, "kind", "store")
    form = ", compact supply form" if snap.form == "compact" else ""
    return (f"promessa serving {url}/v1 (docs {url}/docs) · {mode}\n"
            f"  snapshot {snap.source} (as of {snap.as_of}, {snap.n_il} item-locations{form}) · store {store} "
            f"{redacted(settings.store.url)} · ready in {engine.ready_s:.1f} s (kernels compiled in {engine.compile_s:.1f} s)")


def serve(args: argparse.Namespace) -> int:
    """Run the server until interrupted."""
    import logging

    import uvicorn

    from api.runtime import tune_for_latency
    from server import create_app

    settings = settings_from_args(args)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if logging.getLogger().getEffectiveLevel() <= logging.WARNING:  # --watch says each refresh, as serve says ready
        logging.getLogger("promessa.watch").setLevel(logging.INFO)
    sock = bind(settings.api.host, settings.api.port)  # before loading anything: a busy port fails now
    app = create_app(settings)

    def announce(engine) -> None:
        # what start-up built (snapshot, models, the replayed book) lives as long as the server: keep it out of
        # the collector's full passes, which otherwise walk it again and again while orders are captured; and so
        # for what each full pass finds alive afterwards, with a GIL switch interval of 0.5 ms (api/runtime.py)
        tune_for_latency()
        print(startup_line(engine, sock), file=sys.stderr, flush=True)

    app.state.announce = announce
    config = uvicorn.Config(app, log_level=args.log_level, access_log=args.access_log, http=args.http, loop=args.loop,
                            timeout_graceful_shutdown=5)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
    return 0
