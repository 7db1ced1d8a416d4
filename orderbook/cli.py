"""`promessa serve`: run the order capture and fulfillment API with uvicorn."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the HTTP API (order capture, promising, fulfillment) with uvicorn",
                       description="Serve /v1 (OpenAPI at /docs). Settings also come from PROMESSA_* environment "
                                   "variables (see orderbook/README.md); flags override them.")
    p.add_argument("--snapshot", metavar="DIR", help="supply snapshot directory (default: generate the small sample)")
    p.add_argument("--db", metavar="PATH_OR_URL", help="order book: SQLite file path or postgresql:// URL")
    p.add_argument("--watch", metavar="DIR", help="refresh the live snapshot without downtime whenever DIR/meta.json "
                                                 "changes (DIR is also the snapshot when --snapshot is not given)")
    p.add_argument("--pg-schema", metavar="NAME", help="PostgreSQL schema for the order-book tables")
    p.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default 8000)")
    p.add_argument("--demo", action="store_true", help="demo mode: writes need no API key")
    p.add_argument("--api-key", action="append", default=[], metavar="KEY=ROLE",
                   help="add an API key with role order_capture, planner or admin (repeatable)")
    p.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument("--access-log", action="store_true", help="log every request (slower)")
    p.add_argument("--http", default="auto", choices=["auto", "h11", "httptools"],
                   help="HTTP parser (auto: httptools when installed)")
    p.add_argument("--loop", default="auto", choices=["auto", "asyncio", "uvloop"],
                   help="event loop (auto: uvloop when installed)")
    p.set_defaults(func=_serve)


def settings_from_args(args: argparse.Namespace):
    from promessa.config import Role, Settings, settings_of
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
        over["demo"] = True
    settings = settings_of(**over)
    if args.api_key:
        keys = dict(settings.api.keys)
        for spec in args.api_key:
            key, _, role = spec.partition("=")
            try:
                keys[key] = Role(role)
            except ValueError:
                raise ValidationError("expected KEY=ROLE with role order_capture, planner or admin",
                                      field="--api-key", value=spec) from None
        settings = settings.model_copy(update={"api_keys": keys})
    return settings


def _serve(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from server import create_app

    settings = settings_from_args(args)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not settings.api.keys and not settings.api.demo:
        logging.getLogger("promessa.server").warning(
            "no API keys configured and not in demo mode: every write will be refused (401)")
    app = create_app(settings)
    uvicorn.run(app, host=settings.api.host, port=settings.api.port, log_level=args.log_level, access_log=args.access_log,
                http=args.http, loop=args.loop, timeout_graceful_shutdown=5, workers=None)
    return 0
