"""`promessa reschedule` (backlog) and `promessa whatif SCENARIO...`.

Both work on a snapshot directory plus an orders file (the orders are promised in creation
order to make the live plan, e.g. the generator's orders.parquet; with ``--start-from nothing``
no live plan is built: nothing is confirmed and every line is promised afresh), or on an order book
(`--db`: the open lines and their reservations; `reschedule --apply` commits through it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

_FIELDS = ("demand_class", "customer", "item", "location")
_SCALARS = ("priority_at_most", "priority_at_least", "created_before", "created_after")


def parse_rule(spec: str) -> dict:
    """`STRATEGY[:FIELD=V1,V2;FIELD=V]`, e.g. `win:demand_class=key_account`,
    `lose:customer=C000001,C000002`, `gain:priority_at_most=2`."""
    from promessa.errors import ValidationError

    strategy, _, conds = spec.partition(":")
    rule: dict = {"strategy": strategy.strip().lower()}
    for part in filter(None, (c.strip() for c in conds.split(";"))):
        key, eq, val = part.partition("=")
        key = key.strip()
        if not eq or key not in _FIELDS + _SCALARS:
            raise ValidationError(f"expected FIELD=VALUE with FIELD one of {', '.join(_FIELDS + _SCALARS)}",
                                  field="--rule", value=spec)
        rule[key] = [v.strip() for v in val.split(",")] if key in _FIELDS else val.strip()
    return rule


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--snapshot", metavar="DIR", required=True, help="supply snapshot directory")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--orders", metavar="FILE", help="orders table (parquet/csv); default DIR/orders.parquet")
    src.add_argument("--db", metavar="PATH_OR_URL", help="order book (SQLite path or postgresql:// URL) instead of an orders file")
    p.add_argument("--pg-schema", default="promessa", help="PostgreSQL schema of the order book")
    p.add_argument("--config", metavar="FILE", help="RescheduleConfig as YAML or JSON (rules, within, policy)")
    p.add_argument("--rule", action="append", default=[], metavar="STRATEGY:FIELD=V,..",
                   help="strategy rule, first match wins (repeatable), e.g. win:demand_class=key_account")
    p.add_argument("--default-strategy", choices=["win", "gain", "redistribute", "fill", "lose"])
    p.add_argument("--within", choices=["fcfs", "fair_share"], help="ordering within a group")
    p.add_argument("--allow-split", action="store_true", help="several schedule lines per line")
    p.add_argument("--start-from", choices=["confirmed", "nothing"],
                   help="nothing: promise every line afresh in group order, keeping no old confirmation; with an "
                        "orders file no live plan is built (nothing is confirmed before)")
    p.add_argument("--order-within-priority", choices=["created_at", "due_date"],
                   help="within a group and priority: creation time (default) or the earliest requested date first")
    p.add_argument("--min-ship-qty", type=float, metavar="Q", help="schedule lines below Q units are not confirmed")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reschedule", help="promise the open backlog again against current supply, by strategy group",
                       description="Reschedule every open, unshipped line in priority order. Strategy groups: win, gain, "
                                   "redistribute, fill, lose (see scenarios/README.md). Simulates unless --apply.")
    _add_common(p)
    p.add_argument("--apply", action="store_true", help="commit the changed lines through the order book (needs --db)")
    p.add_argument("--actor", default="cli", help="who applies (audit trail)")
    p.add_argument("--out", metavar="FILE", help="write the per-line result (.parquet, .csv or .json)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--html", metavar="FILE", help="write an HTML report (chart, summary, exceptions)")
    p.add_argument("--png", metavar="FILE", help="write the chart as PNG")
    p.add_argument("--executor", choices=["inprocess", "ray"],
                   help="where to plan (default: settings scenarios.executor, inprocess); ray needs promessa[scale]")
    p.add_argument("--parts", type=int, metavar="N",
                   help="partitions of independent clusters planned apart (default: settings scenarios.parts, 1)")
    p.add_argument("--ray-address", metavar="ADDR", help="a running Ray cluster (default: start a local one)")
    p.set_defaults(func=_reschedule)

    w = sub.add_parser("whatif", help="run what-if scenarios on a fork of the live state; nothing live changes",
                       description="Each SCENARIO file (YAML or JSON) describes changes (receipts delayed or cut, supply "
                                   "added, demand spikes, added orders, a node out, lanes, quotas). KPIs are compared with "
                                   "the baseline (the backlog rescheduled on the live state) side by side.")
    w.add_argument("scenario", nargs="+", metavar="SCENARIO")
    _add_common(w)
    w.add_argument("--html", metavar="FILE", help="write an HTML report with charts")
    w.add_argument("--png", metavar="FILE", help="write the charts as one PNG")
    w.add_argument("--json", metavar="FILE", help="write the results as JSON ('-': stdout)")
    w.add_argument("--curves", type=int, default=3, help="ATP curves of the N most affected item-locations")
    w.add_argument("--executor", choices=["inprocess", "ray"],
                   help="where the scenarios run (default: settings scenarios.executor, inprocess); ray: one task per "
                        "scenario, needs promessa[scale]")
    w.add_argument("--parts", type=int, metavar="N", help="CPUs of a local Ray started for the sweep (default: settings "
                                                          "scenarios.parts)")
    w.add_argument("--ray-address", metavar="ADDR", help="a running Ray cluster (default: start a local one)")
    w.set_defaults(func=_whatif)


def _config(args: argparse.Namespace):
    from promessa.errors import ValidationError
    from scenarios.backlog import RescheduleConfig

    data: dict = {}
    if args.config:
        text = Path(args.config).read_text()
        if args.config.endswith(".json"):
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text) or {}
    if args.rule:
        data["rules"] = list(data.get("rules", [])) + [parse_rule(r) for r in args.rule]
    for k in ("default_strategy", "within", "start_from", "order_within_priority", "min_ship_qty"):
        if getattr(args, k, None) is not None:
            data[k] = getattr(args, k)
    if args.allow_split:
        data["allow_split"] = True
    try:
        return RescheduleConfig.model_validate(data)
    except Exception as exc:  # pydantic error: say which field
        raise ValidationError(f"invalid reschedule configuration: {exc}", field="--config", value=args.config) from None


def _scaled(progress, lo: float, hi: float):
    """`progress` with its fractions mapped into ``lo..hi``: the steps after loading continue from where it left
    off instead of starting again at 0 %."""
    return lambda message, fraction: progress(message, lo + (hi - lo) * min(1.0, max(0.0, fraction)))


def backlog_source(args: argparse.Namespace, start_from: str = "confirmed") -> str:
    """What is planned, in words: an order book's open lines or an orders table's lines (the API always plans
    the order book)."""
    if args.db:
        return (f"the open, unshipped lines of the order book {_redacted(args.db)} (as the API's POST /v1/backlog/reschedule does)")
    path = Path(args.orders) if args.orders else Path(args.snapshot) / "orders.parquet"
    how = ("nothing confirmed before" if start_from == "nothing"
           else "promised in creation order to make the live plan")
    return (f"the lines of the orders table {path}, {how} "
            "(the API plans the order book: give --db to plan it here)")


def _redacted(url: str) -> str:
    """A store URL without its password."""
    import re

    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def _world(args: argparse.Namespace, progress, start_from: str = "confirmed"):
    """(snapshot, live state, backlog, schedule, engine or None). From an orders file the live plan is the
    orders promised in creation order, unless `start_from` is ``nothing`` (a new state, nothing confirmed).
    With ``--db`` the engine
    (``promessa.app.Engine``, opened by the `promessa` command) holds the order book: its
    ``service`` plans the book's open lines, and the caller closes it."""
    import polars as pl

    from promessa.errors import ValidationError
    from scenarios.service import assign_first_node, backlog_from_orders, check_orders
    from supplydata import load_snapshot

    if args.db:
        # the order book is opened by the one composition root (promessa.app.Engine.open), which the
        # `promessa` command hands in as args.open_engine: this package sits below it
        progress("opening the snapshot and the order book", 0.0)
        engine = args.open_engine(snapshot=args.snapshot, db=args.db, pg_schema=args.pg_schema)
        return engine.service.snap, None, None, None, engine
    progress("loading the snapshot", 0.0)
    snap = load_snapshot(args.snapshot)
    path = Path(args.orders) if args.orders else Path(args.snapshot) / "orders.parquet"
    if not path.exists():
        raise ValidationError("orders file not found", field="--orders", value=str(path),
                              hint="give --orders FILE or --db (an order book)")
    try:
        orders = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path, try_parse_dates=True)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise ValidationError(f"cannot read the orders table: {exc}", field="--orders", value=str(path),
                              hint="a .parquet or .csv file with the orders table's columns") from None
    check_orders(orders)
    if start_from == "nothing":
        # nothing is confirmed: no live plan to build; every line is promised afresh on the snapshot's supply
        # (an empty schedule: old_qty/old_date columns of the table, if any, hold nothing the new state holds)
        empty = pl.DataFrame(schema={"row": pl.Int64, "date": pl.Date, "qty": pl.Float64})
        return snap, snap.new_state(), assign_first_node(snap, orders), empty, None
    progress(f"promising {orders.height:,} order lines to make the live plan", 0.04)
    state, backlog, schedule = backlog_from_orders(snap, orders)
    return snap, state, backlog, schedule, None


def _print_summary(res, out=None, *, source: str | None = None, limit: int = 10) -> None:
    """The summary for people: what was planned, the counts, a table per strategy group and the first `limit`
    strategy exceptions with the requested date and the reason in full; aligned, no column types."""
    import polars as pl

    out = out or sys.stdout  # looked up at the call: a redirected stdout (tests, capture) is honoured
    c = res.counts()
    if source:
        out.write(f"planned: {source}\n")
    out.write(f"{c['lines']:,} open lines: {c['improved']:,} improved, {c['worsened']:,} worsened, "
              f"{c['unchanged']:,} unchanged, {c['mixed']:,} mixed; {c['exceptions']:,} strategy exceptions\n")
    with pl.Config(tbl_rows=40, tbl_cols=20, tbl_width_chars=1000, tbl_hide_dataframe_shape=True,
                   tbl_hide_column_data_types=True, fmt_str_lengths=200, thousands_separator=",",
                   tbl_formatting="UTF8_FULL_CONDENSED"):
        summary = res.summary.select(
            "strategy", *[x for x in ("demand_class",) if x in res.summary.columns],
            "lines", "improved", "worsened", "unchanged", "mixed", "exceptions",
            pl.col("old_on_time_qty").alias("on time before (units)"),
            pl.col("new_on_time_qty").alias("on time after (units)"))
        out.write(str(summary) + "\n")
        exc = res.exceptions
        if exc.height:
            cols = [x for x in ("order", "line", "item", "location", "strategy", "requested_date", "old_qty", "old_date",
                                "new_qty", "new_date", "exception") if x in exc.columns]
            shown = exc.select(cols).head(limit).with_columns(
                [pl.col(x).cast(pl.String) for x in ("strategy", "exception") if x in cols])
            more = "; --out FILE for all of them" if exc.height > limit else ""
            out.write(f"first {min(limit, exc.height)} of {exc.height:,} strategy exceptions{more}:\n{shown}\n")
    counted = ("skipped_lines", "replanned_lines", "dropped_lines")  # counts, not seconds
    if res.timings.get("replanned_lines"):
        out.write(f"{int(res.timings['replanned_lines']):,} lines with quota pools, capable-to-promise or substitutes "
                  "re-planned through the engine\n")
    out.write("timings: " + ", ".join(f"{k} {v:.3f} s" for k, v in res.timings.items() if k not in counted) + "\n")


def _scenario_settings(args: argparse.Namespace, svc):
    """The settings (the order book's, else the environment's) with --executor, --parts and
    --ray-address applied to their `scenarios` group. None (the defaults: in-process, one part) for an orders file
    when none of the three is given and no ``PROMESSA_SCENARIOS...`` variable is set: planning an orders file then
    does not import pydantic-settings only to learn the defaults."""
    from promessa.errors import ValidationError

    flags = (("executor", "executor"), ("parts", "parts"), ("ray_address", "ray_address"))
    if svc is None and all(getattr(args, flag, None) is None for flag, _ in flags) and not any(
            k.upper().startswith("PROMESSA_SCENARIOS") for k in os.environ):
        return None
    from promessa.config import Settings

    settings = svc.settings if svc is not None else Settings()
    for flag, name in flags:
        v = getattr(args, flag, None)
        if v is not None:
            try:
                setattr(settings.scenarios, name, v)
            except ValueError as exc:
                raise ValidationError(f"invalid --{flag.replace('_', '-')}: {exc}", field=f"--{flag.replace('_', '-')}",
                                      value=v) from None
    return settings


def _reschedule(args: argparse.Namespace) -> int:
    from promessa.errors import ValidationError
    from scenarios import service
    from scenarios.progress import TerminalProgress

    terminal = TerminalProgress(quiet=args.quiet)
    cfg = _config(args)
    if args.apply and not args.db:
        raise ValidationError("--apply needs an order book", field="--apply", value=True, hint="give --db")
    source = backlog_source(args, cfg.start_from)
    if not args.quiet:
        print(f"planning {source}", file=sys.stderr, flush=True)
    # planning an orders file leaves nothing open behind it: once the outputs are written the `promessa` program may
    # end without the interpreter's teardown (an order book, `--db`, is closed the ordinary way)
    args.exit_when_done = not args.db
    t0 = time.perf_counter()
    snap, state, backlog, schedule, engine = _world(args, _scaled(terminal, 0.0, 0.2), cfg.start_from)
    steps = {"read_inputs": time.perf_counter() - t0}  # the command's own steps (start-up and imports not counted)
    progress = _scaled(terminal, 0.2, 1.0)  # loading took the first 20 %
    settings = _scenario_settings(args, engine.service if engine is not None else None)
    if engine is not None:
        try:  # closing lets the order book write what is queued
            if args.apply:
                _status, body, _ = service.apply(engine.service, cfg, actor=args.actor, progress=progress)
                data = json.loads(body)
                print(json.dumps({"counts": data["counts"], "applied": data["applied"]}, indent=2))
                return 0
            res = service.simulate(engine.service, cfg, progress=progress)
        finally:
            engine.close()
    else:
        res = service.reschedule(snap, state, backlog, cfg, schedule=schedule, progress=progress, settings=settings)
    t1 = time.perf_counter()
    steps["plan"] = t1 - t0 - steps["read_inputs"]
    if args.out:
        _write(res.lines, args.out)
    if args.html:
        from scenarios.report import reschedule_html

        Path(args.html).write_text(reschedule_html(res))
    if args.png:
        from scenarios.report import reschedule_figure

        Path(args.png).write_bytes(reschedule_figure(res))
    steps["write_outputs"] = time.perf_counter() - t1
    if args.json:
        print(json.dumps({"source": source, "counts": res.counts(), "summary": res.summary.to_dicts(),
                          "timings": res.timings, "command_timings": steps}, indent=2, default=str))
    else:
        _print_summary(res, source=source)
        print("command: " + ", ".join(f"{k.replace('_', ' ')} {v:.3f} s" for k, v in steps.items())
              + " (start-up and imports not counted)")
    return 0


def kpi_table(table):
    """The what-if KPIs (one row per KPI, one column per plan) as text for people: counts with thousands
    separators, rates and shares as percentages (a share has no currency), amounts with two decimals."""
    import polars as pl

    def fmt(kpi: str, v: float | None) -> str:
        if v is None:
            return "–"
        if "rate" in kpi or "share" in kpi:
            return f"{100 * v:.1f}%"
        if "(" in kpi:  # an amount in the currency named in brackets
            return f"{v:,.2f}"
        return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.2f}"

    plans = [c for c in table.columns if c != "kpi"]
    rows = []
    for r in table.iter_rows(named=True):
        kpi = r["kpi"]
        label = kpi.split(" (")[0] if ("share" in kpi or "rate" in kpi) else kpi
        rows.append({"kpi": label.replace("_", " "), **{p: fmt(kpi, r[p]) for p in plans}})
    return pl.DataFrame(rows, schema={"kpi": pl.String, **{p: pl.String for p in plans}})


def _write(df, path: str) -> None:
    if path.endswith(".parquet"):
        df.write_parquet(path)
    elif path.endswith(".csv"):
        df.write_csv(path)
    else:
        df.write_json(path)


def _whatif(args: argparse.Namespace) -> int:
    from scenarios import service
    from scenarios.progress import TerminalProgress
    from scenarios.whatif import load_scenarios, run_whatif, sweep_options

    progress = TerminalProgress(quiet=args.quiet)
    scenarios = [s for path in args.scenario for s in load_scenarios(path)]
    cfg = _config(args)
    snap, state, backlog, schedule, engine = _world(args, progress, cfg.start_from)
    settings = _scenario_settings(args, engine.service if engine is not None else None)
    if engine is not None:
        try:
            rep = service.whatif(engine.service, scenarios, cfg, progress=progress, curves=args.curves)
        finally:
            engine.close()
    else:
        rep = run_whatif(snap, state, backlog, scenarios, config=cfg, schedule=schedule, progress=progress,
                         curves=args.curves, **sweep_options(settings))
    import polars as pl

    with pl.Config(tbl_rows=20, tbl_cols=12, tbl_width_chars=250, tbl_hide_dataframe_shape=True,
                   tbl_hide_column_data_types=True, fmt_str_lengths=60):
        print(kpi_table(rep.table()))
    for s in rep.scenarios:
        d = s.to_dict()
        by_class = ", ".join(f"{k} {v:,}" for k, v in sorted(d["orders_worsened_by_class"].items(), key=lambda kv: -kv[1]))
        print(f"{d['name']}: {d['lines_worse_than_baseline']:,} lines worse, {d['lines_better_than_baseline']:,} better "
              f"than the baseline; orders worsened by class: {by_class or 'none'}; fork "
              f"{d['fork_memory_bytes'] / 2**20:.1f} MiB in {d['fork_seconds']:.2f} s; run {d['seconds']:.2f} s")
        for n in d["notes"]:
            print(f"  note: {n}")
    if args.html:
        from scenarios.report import write_html

        print(f"HTML report: {write_html(rep, args.html)}")
    if args.png:
        from scenarios.report import write_png

        print(f"PNG: {write_png(rep, args.png)}")
    if args.json:
        text = json.dumps(rep.to_dict(), indent=2, default=str)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text)
    return 0
