"""`promessa jeopardy`, `promessa exceptions`, `promessa report KIND` against an order book.

The order book is a SQLite file or a ``postgresql://`` URL (``--db``, default
``PROMESSA_DB``); the supply snapshot (``--snapshot``, default ``PROMESSA_SNAPSHOT``) adds
node kinds, lanes, prices, brands, categories, countries and suppliers - without it reports
use the lines' own prices and jeopardy the default transit days.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path


def _date(s: str) -> dt.date:
    try:
        return dt.date.fromisoformat(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {s!r}") from None


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="PATH_OR_URL", help="order book: SQLite file or postgresql:// URL (default PROMESSA_DB)")
    p.add_argument("--pg-schema", metavar="NAME", default=None, help="PostgreSQL schema of the order-book tables")
    p.add_argument("--snapshot", metavar="DIR", help="supply snapshot directory (default PROMESSA_SNAPSHOT; optional)")
    p.add_argument("--config", metavar="FILE", help="monitoring config (JSON or YAML): steps, levels, webhook")
    p.add_argument("--today", type=_date, metavar="YYYY-MM-DD", help="evaluate as of this day (default: today, UTC)")
    p.add_argument("--out", metavar="FILE", help="write here instead of standard output")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("jeopardy", help="open orders in jeopardy: level, days late, expected completion",
                       description="List open orders by jeopardy level; --scan records level crossings in the "
                                   "event log and notifies the configured webhook.")
    _common(p)
    p.add_argument("--min-level", metavar="LEVEL", help="only orders at this level or above")
    p.add_argument("--lines", action="store_true", help="one row per open line instead of per order")
    p.add_argument("--scan", action="store_true", help="record level crossings (event log, webhook)")
    p.add_argument("--event-log", metavar="FILE", help="JSONL event log (overrides the config)")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.set_defaults(func=_jeopardy)

    p = sub.add_parser("exceptions", help="orders at risk and backorders by customer, item, node, supplier, receipt")
    _common(p)
    p.add_argument("--by", choices=["customer", "item", "node", "supplier", "receipt"], default="customer")
    p.add_argument("--key", help="drill down: the lines under this key")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.set_defaults(func=_exceptions)

    from monitoring.reports import KINDS

    p = sub.add_parser("report", help="top-N and trend reports (JSON, CSV, PNG chart)",
                       description="Top products, customers, orders, zones, countries, brands, categories, channels "
                                   "and days by revenue or units; on-time and fill-rate trends; over a date range.")
    p.add_argument("kind", choices=KINDS)
    _common(p)
    p.add_argument("--metric", choices=["revenue", "units"], default="revenue")
    p.add_argument("--top", type=int, default=10)
    p.add_argument("--start", type=_date, metavar="YYYY-MM-DD")
    p.add_argument("--end", type=_date, metavar="YYYY-MM-DD")
    p.add_argument("--date-field", choices=["order_date", "requested_date"], default="order_date")
    p.add_argument("--period", choices=["day", "week", "month"], default="day")
    p.add_argument("--format", choices=["table", "json", "csv", "png"], default="table")
    p.set_defaults(func=_report)


def _monitor(args: argparse.Namespace):
    from monitoring.config import MonitoringConfig
    from monitoring.monitor import Monitor
    from promessa.config import Settings, settings_of
    from orderbook.store import open_store
    from promessa.errors import ValidationError

    settings = Settings()
    db = args.db or settings.store.url
    if "://" not in db and not Path(db).exists():
        raise ValidationError("no order book at this path", field="db", value=db,
                              hint="give --db (a SQLite file or a postgresql:// URL) or set PROMESSA_DB")
    config = MonitoringConfig.load(args.config) if args.config else MonitoringConfig()
    if getattr(args, "event_log", None):
        config = config.model_copy(update={"event_log": Path(args.event_log)})
    snap = None
    snap_dir = args.snapshot or settings.snapshot.path
    if snap_dir:
        from supplydata import load_snapshot

        snap = load_snapshot(snap_dir)
    store = open_store(db, pg_schema=args.pg_schema or settings.store.pg_schema)
    kw = {"today": (lambda: args.today)} if args.today else {}
    return Monitor(store=store, snapshot=lambda: snap, config=config, **kw)


def _emit(args: argparse.Namespace, df, *, title: str | None = None) -> None:
    import polars as pl

    from monitoring.reports import to_records

    if args.format == "json":
        text = json.dumps(to_records(df), indent=1)
    elif args.format == "csv":
        text = df.write_csv()
    else:
        with pl.Config(tbl_rows=200, tbl_cols=30, tbl_width_chars=200, tbl_hide_dataframe_shape=True):
            text = (title + "\n" if title else "") + str(df)
    if args.out:
        Path(args.out).write_text(text + ("" if text.endswith("\n") else "\n"))
    else:
        sys.stdout.write(text + ("" if text.endswith("\n") else "\n"))


def _jeopardy(args: argparse.Namespace) -> int:
    import polars as pl

    mon = _monitor(args)
    try:
        today = mon.resolve_today(None)
        lines, orders = mon.jeopardy(today)
        if args.min_level:
            from promessa.errors import ValidationError

            if args.min_level not in mon.config.level_names:
                raise ValidationError("unknown level", field="min_level", value=args.min_level,
                                      hint="one of " + ", ".join(mon.config.level_names))
            floor = mon.config.rank(args.min_level)
            orders = orders.filter(pl.col("level_rank") >= floor)
            lines = lines.filter(pl.col("level_rank") >= floor)
        if args.scan:
            res = mon.scan(today)
            print(f"{len(res.events)} level crossing(s) recorded" + (f"; webhook: {res.webhook}" if res.webhook else ""),
                  file=sys.stderr)
        df = lines if args.lines else orders.drop("level_rank")
        _emit(args, df, title=f"jeopardy as of {today}: {orders.height} open orders")
    finally:
        mon.store.close()
    return 0


def _exceptions(args: argparse.Namespace) -> int:
    mon = _monitor(args)
    try:
        if args.key is not None:
            df = mon.exception_lines(by=args.by, key=args.key)
        else:
            df = mon.exception_summary(by=args.by)
        _emit(args, df)
    finally:
        mon.store.close()
    return 0


def _report(args: argparse.Namespace) -> int:
    from monitoring import charts
    from monitoring.reports import KEY_NAMES, TREND_KINDS, Window

    mon = _monitor(args)
    try:
        df = mon.report(args.kind, metric=args.metric, top=args.top,
                        window=Window(args.start, args.end, args.date_field), period=args.period)
        if args.format == "png":
            if not args.out:
                print("promessa: error: --format png needs --out FILE", file=sys.stderr)
                return 2
            if args.kind in TREND_KINDS:
                cols = {"on_time": ["on_time_rate"], "fill_rate": ["fill_rate"]}.get(args.kind, ["fill_rate", "on_time_rate"])
                png = charts.trend_chart(df, columns=cols, title=f"{args.kind} by {args.period}")
            else:
                png = charts.top_chart(df, key=KEY_NAMES[args.kind], metric=args.metric,
                                       title=f"top {args.top} {args.kind} by {args.metric}")
            Path(args.out).write_bytes(png)
            return 0
        _emit(args, df)
    finally:
        mon.store.close()
    return 0
