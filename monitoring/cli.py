"""`promessa jeopardy`, `promessa exceptions`, `promessa report KIND` and
`promessa analytics cohorts|repeat|rfm|cross-sell` against an order book.

The order book is a SQLite file or a ``postgresql://`` URL (``--db``, default
``PROMESSA_STORE__URL``); the supply snapshot (``--snapshot``, default
``PROMESSA_SNAPSHOT__PATH``) adds node kinds, lanes, prices, brands, categories, countries and
suppliers - without it reports use the lines' own prices and jeopardy the default transit days.

Every command runs on the one business clock: ``--today``, else
``PROMESSA_CLOCK__BUSINESS_DATE``, else the snapshot's ``as_of`` day - never the wall clock.
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
    p.add_argument("--today", type=_date, metavar="YYYY-MM-DD",
                   help="the business day (default: PROMESSA_CLOCK__BUSINESS_DATE, else the snapshot's as_of day)")
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
    p.add_argument("--cash", action="store_true",
                   help="order to cash instead: invoices unpaid past their terms and returns not received by their due day")
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
    p.add_argument("--date-field", choices=["order_date", "created_at", "requested_date", "promised_date"],
                   default="order_date", help="the date that filters the range and groups trends and days "
                                              "(order_date: the business day the order was captured on)")
    p.add_argument("--period", choices=["day", "week", "month"], default="day")
    p.add_argument("--format", choices=["table", "json", "csv", "png"], default="table")
    p.set_defaults(func=_report)

    _register_analytics(sub)


ANALYTICS_VIEWS = {
    "cohorts": "retention by monthly cohort: of the customers who first ordered in a month, the share ordering again "
               "k months later",
    "repeat": "repeat-purchase rate: customers with two or more orders (overall, or --by-cohort)",
    "rfm": "recency-frequency-monetary quintile scores and named segments per customer (--segments: the summary)",
    "cross-sell": "items bought together: co-occurrence counts, support, confidence and lift, top N per item",
}


def _register_analytics(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analytics", help="customer-journey analytics: cohorts, repeat, rfm, cross-sell",
                       description="Customer-journey analytics over the order book (or an orders table with "
                                   "--orders), on the business day: lines dated after it are left out.")
    views = p.add_subparsers(dest="view", metavar="VIEW")
    views.required = True
    for name, text in ANALYTICS_VIEWS.items():
        q = views.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        _common(q)
        q.add_argument("--orders", metavar="FILE",
                       help="an orders table (parquet or csv: order, line, item, qty, requested_date, customer, "
                            "demand_class, zone, created_at[, unit_price]) instead of the order book")
        q.add_argument("--date-field", choices=["order_date", "created_at", "requested_date", "promised_date"],
                       default="order_date", help="the date that dates each line (order_date: the business day the "
                                                  "order was captured on; an orders table's order_date, else created_at's day)")
        q.add_argument("--currency", metavar="CODE", help="currency of the prices (default: the config's, EUR)")
        q.add_argument("--format", choices=["table", "json", "csv", "png"], default="table")
        q.add_argument("--limit", type=int, default=50, metavar="N", help="rows shown in a table (default 50)")
        if name == "cohorts":
            q.add_argument("--max-months", type=int, metavar="K", help="report months 0..K after the first order")
            q.add_argument("--long", action="store_true", help="one row per cohort and month instead of the triangle")
        elif name == "repeat":
            q.add_argument("--by-cohort", action="store_true", help="one row per monthly cohort")
        elif name == "rfm":
            q.add_argument("--segments", action="store_true", help="customers and net value per segment")
        else:
            q.add_argument("--item", action="append", metavar="ITEM", help="only suggestions for this item (repeatable)")
            q.add_argument("--top", type=int, metavar="N", help="suggestions per item (default: the config's, 5)")
            q.add_argument("--min-orders", type=int, metavar="N",
                           help="leave out pairs bought together in fewer orders (default: the config's, 2)")
        q.set_defaults(func=_analytics)


def _config(args: argparse.Namespace):
    from monitoring.config import MonitoringConfig

    config = MonitoringConfig.load(args.config) if args.config else MonitoringConfig()
    if getattr(args, "event_log", None):
        config = config.model_copy(update={"event_log": Path(args.event_log)})
    return config


def _snapshot(args: argparse.Namespace, settings):
    snap_dir = args.snapshot or settings.snapshot.path
    if not snap_dir:
        return None
    from supplydata import load_snapshot

    return load_snapshot(snap_dir)


def _monitor(args: argparse.Namespace):
    from monitoring.monitor import Monitor
    from orderbook.store import open_store
    from promessa.config import Settings
    from promessa.errors import ValidationError

    settings = Settings()
    db = args.db or settings.store.url
    if "://" not in db and not Path(db).exists():
        raise ValidationError("no order book at this path", field="db", value=db,
                              hint="give --db (a SQLite file or a postgresql:// URL) or set PROMESSA_STORE__URL")
    config = _config(args)
    snap = _snapshot(args, settings)
    store = open_store(db, pg_schema=args.pg_schema or settings.store.pg_schema)
    return Monitor(store=store, snapshot=lambda: snap, config=config, today=args.today, settings=settings)


def _emit(args: argparse.Namespace, df, *, title: str | None = None) -> None:
    import polars as pl

    from monitoring.reports import to_records

    limit = getattr(args, "limit", None)
    if args.format == "table" and limit is not None and df.height > limit:
        title = (title + "\n" if title else "") + f"(first {limit} of {df.height:,} rows; --limit N or --format csv for more)"
        df = df.head(limit)
    if args.format == "json":
        text = json.dumps(to_records(df), indent=1)
    elif args.format == "csv":
        text = df.write_csv()
    else:
        with pl.Config(tbl_rows=200, tbl_cols=30, tbl_width_chars=250, tbl_hide_dataframe_shape=True,
                       tbl_hide_column_data_types=True, thousands_separator=",", float_precision=4, fmt_str_lengths=120):
            text = (title + "\n" if title else "") + str(df)
    if args.out:
        Path(args.out).write_text(text + ("" if text.endswith("\n") else "\n"))
    else:
        sys.stdout.write(text + ("" if text.endswith("\n") else "\n"))


def _jeopardy(args: argparse.Namespace) -> int:
    import polars as pl

    mon = _monitor(args)
    if args.cash:
        return _cash_jeopardy(args, mon)
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
        source = "--today" if args.today else mon.clock_source()
        counts = dict(orders.group_by("level").len().iter_rows())
        levels = ", ".join(f"{n} {counts.get(n, 0)}" for n in mon.config.level_names)
        _emit(args, df, title=f"jeopardy as of {today} ({source}): {orders.height} open orders ({levels})")
    finally:
        mon.store.close()
    return 0


def _cash_jeopardy(args: argparse.Namespace, mon) -> int:
    """``promessa jeopardy --cash``: the order-to-cash items past due, from the cash source the ``promessa``
    command hands in (``args.open_cash_source``: this package sits below order to cash)."""
    import polars as pl

    from promessa.errors import ValidationError

    opener = getattr(args, "open_cash_source", None)
    if opener is None:
        mon.store.close()
        raise ValidationError("no order-to-cash source was handed in", field="cash", value=True,
                              hint="run it as `promessa jeopardy --cash`")
    close = None
    try:
        mon.cash, close = opener(store=mon.store, db=args.db, pg_schema=args.pg_schema)
        today = mon.resolve_today(None)
        rows = mon.cash_jeopardy(today)
        if args.scan:
            res = mon.scan(today, orders=False)
            print(f"{len(res.events)} cash level crossing(s) recorded" + (f"; webhook: {res.webhook}" if res.webhook else ""),
                  file=sys.stderr)
        if args.min_level:
            if args.min_level not in mon.config.level_names:
                raise ValidationError("unknown level", field="min_level", value=args.min_level,
                                      hint="one of " + ", ".join(mon.config.level_names))
            rows = [r for r in rows if r["level_rank"] >= mon.config.rank(args.min_level)]
        schema = {"level": pl.String, "days_late": pl.Int64, "kind": pl.String, "reason": pl.String, "order_id": pl.String,
                  "customer": pl.String, "ref": pl.String, "due_date": pl.Date, "amount": pl.String,
                  "currency": pl.String, "detail": pl.String}
        df = pl.DataFrame([{**{k: r[k] for k in schema if k in r}, "amount": str(r["amount"].rounded().amount),
                            "currency": r["amount"].currency} for r in rows], schema=schema)
        source = "--today" if args.today else mon.clock_source()
        _emit(args, df, title=f"order-to-cash jeopardy as of {today} ({source}): {df.height} item(s) past due")
    finally:
        if close is not None:
            close()
        mon.store.close()
    return 0


def _exceptions(args: argparse.Namespace) -> int:
    mon = _monitor(args)
    try:
        today = mon.resolve_today(None)
        if args.key is not None:
            df = mon.exception_lines(by=args.by, key=args.key, today=today)
        else:
            df = mon.exception_summary(by=args.by, today=today)
        source = "--today" if args.today else mon.clock_source()
        _emit(args, df, title=f"exceptions as of {today} ({source}) by {args.by}")
    finally:
        mon.store.close()
    return 0


def _report(args: argparse.Namespace) -> int:
    from monitoring import charts
    from monitoring.reports import KEY_NAMES, TREND_KINDS, Window

    mon = _monitor(args)
    try:
        window = Window(args.start, args.end, args.date_field)
        df = mon.report(args.kind, metric=args.metric, top=args.top, window=window, period=args.period)
        if args.format == "png":
            if not args.out:
                print("promessa: error: --format png needs --out FILE", file=sys.stderr)
                return 2
            if args.kind in TREND_KINDS:
                cols = {"on_time": ["on_time_rate"], "fill_rate": ["fill_rate"]}.get(args.kind, ["fill_rate", "on_time_rate"])
                png = charts.trend_chart(df, columns=cols, period=args.period,
                                         title=f"{args.kind.replace('_', ' ')} by {args.period} of "
                                               f"{window.date_field.replace('_', ' ')}")
            else:
                png = charts.top_chart(df, key=KEY_NAMES[args.kind], metric=args.metric,
                                       title=f"top {args.top} {args.kind} by {args.metric}")
            Path(args.out).write_bytes(png)
            return 0
        _emit(args, df)
    finally:
        mon.store.close()
    return 0


def _analytics_input(args: argparse.Namespace):
    """(analytics lines, business day, currency, config, the catalogue's items) from --orders FILE or the order book."""
    import polars as pl

    from monitoring import analytics as an
    from monitoring.frames import Catalogue, from_orders_frame
    from monitoring.monitor import business_day
    from promessa.config import Settings
    from promessa.errors import ValidationError

    config = _config(args)
    currency = args.currency or config.analytics.currency
    if args.orders:
        path = Path(args.orders)
        if not path.exists():
            raise ValidationError("no orders table at this path", field="orders", value=str(path),
                                  hint="a .parquet or .csv file with the orders table's columns")
        try:
            orders = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path, try_parse_dates=True)
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise ValidationError(f"cannot read the orders table: {exc}", field="orders", value=str(path)) from None
        settings = Settings()
        snap = _snapshot(args, settings)
        lines = from_orders_frame(orders, currency=currency).lines
        prices = Catalogue.of(snap).items
        data = an.lines_from_frames(lines, prices=prices, currency=currency, date_field=args.date_field)
        known = list(snap.item_ids) if snap is not None else []
        return data, business_day(today=args.today, settings=settings, snapshot=snap), currency, config, known
    mon = _monitor(args)
    try:
        mon.config = config.model_copy(update={"analytics": config.analytics.model_copy(update={"currency": currency})})
        snap = mon.snapshot()
        known = list(snap.item_ids) if snap is not None else []
        return mon.analytics_lines(date_field=args.date_field), mon.resolve_today(None), currency, config, known
    finally:
        mon.store.close()


def _analytics(args: argparse.Namespace) -> int:
    from monitoring import analytics as an
    from monitoring import charts

    lines, today, currency, config, known = _analytics_input(args)
    if getattr(args, "item", None):
        an.check_items(lines, args.item, known=known, field="item")
    late = an.lines_after(lines, today)
    note = f"{args.view} as of {today}, lines dated by {args.date_field}, net values in {currency}"
    if late:
        note += (f"; {late:,} of {lines.height:,} lines are dated after the business day and left out "
                 "(hint: --today or PROMESSA_CLOCK__BUSINESS_DATE)")
    print(note, file=sys.stderr)
    chart = None
    if args.view == "cohorts":
        df = an.cohort_retention(lines, today=today, max_months=args.max_months)
        if args.format == "png":
            chart = charts.cohort_chart(df, max_months=args.max_months if args.max_months is not None else 12)
        elif not args.long and args.format == "table":
            df = an.cohort_matrix(df)
    elif args.view == "repeat":
        df = an.repeat_purchase(lines, today=today, by_cohort=args.by_cohort or args.format == "png")
        if args.format == "png":
            chart = charts.repeat_chart(df)
    elif args.view == "rfm":
        df = an.rfm(lines, today=today, segments=config.analytics.segments)
        if args.segments or args.format == "png":
            df = an.rfm_segments(df, segments=config.analytics.segments)
        if args.format == "png":
            chart = charts.rfm_chart(df)
    else:
        df = an.cross_sell(lines, today=today, top=args.top or config.analytics.cross_sell_top,
                           min_orders=args.min_orders if args.min_orders is not None else config.analytics.cross_sell_min_orders,
                           items=args.item)
        if args.format == "png":
            item = args.item[0] if args.item else (df.sort("item_orders", descending=True)["item"][0] if df.height else "-")
            chart = charts.cross_sell_chart(df, item=item)
    if chart is not None:
        if not args.out:
            print("promessa: error: --format png needs --out FILE", file=sys.stderr)
            return 2
        Path(args.out).write_bytes(chart.png)
        print(chart.caption, file=sys.stderr)
        return 0
    _emit(args, df)
    return 0
